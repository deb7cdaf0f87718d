package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
)

// burstTopology is the documented topology with two more VPCs in each
// team account, so a burst tags seven.
func burstTopology(t *testing.T) (*localaws.Topology, []localstack.AgentVPC) {
	t.Helper()
	topo, err := localstack.Topology()
	if err != nil {
		t.Fatal(err)
	}
	vpcs := []localstack.AgentVPC{teamA, {Account: teamA.Account, VPC: "vpc-0a000000000000002"}, teamB}
	extra := map[string][]localaws.VPC{
		teamA.Account: {burstVPC("0a", "7", "10.7.0.0/16"), burstVPC("0a", "8", "10.8.0.0/16")},
		teamB.Account: {burstVPC("0b", "7", "10.17.0.0/16"), burstVPC("0b", "8", "10.18.0.0/16")},
	}
	for i := range topo.Accounts {
		a := &topo.Accounts[i]
		for _, v := range extra[a.ID] {
			a.VPCs = append(a.VPCs, v)
			vpcs = append(vpcs, localstack.AgentVPC{Account: a.ID, VPC: v.ID})
		}
	}
	return topo, vpcs
}

// burstVPC is a VPC with an opted-in subnet in each AZ the service offers.
func burstVPC(team, n, cidr string) localaws.VPC {
	optIn := map[string]string{"jenkins-agents-subnet": "true"}
	return localaws.VPC{ID: "vpc-" + team + "00000000000000" + n, CIDR: cidr, Subnets: []localaws.Subnet{
		{ID: "subnet-" + team + "0000000000000" + n + "1", AZ: "eu-west-1a", Tags: optIn},
		{ID: "subnet-" + team + "0000000000000" + n + "2", AZ: "eu-west-1b", Tags: optIn}}}
}

// statusEvent is an Agent VPC Status event as the reload rule sees it.
type statusEvent struct {
	ID     string
	Detail struct {
		VPCID   string `json:"vpcId"`
		Status  string `json:"status"`
		Changed bool   `json:"changed"`
	}
}

// statusEvents records the Agent VPC Status events put on the hub bus.
type statusEvents struct {
	mu   sync.Mutex
	list []statusEvent
}

func (r *statusEvents) watch(s *localstack.Stack) func() {
	return s.AWS.Watch(s.Hub, s.Region, s.Parameters["EventBusName"], func(ev awsproto.Event) {
		if ev.DetailType != "Agent VPC Status" {
			return
		}
		e := statusEvent{ID: ev.ID}
		_ = json.Unmarshal(ev.Detail, &e.Detail)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.list = append(r.list, e)
	})
}

func (r *statusEvents) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.list)
}

// reloadChanges are the ids of the events the reload rule matches (a
// change to ready or removed), and the VPCs they are about.
func (r *statusEvents) reloadChanges() (ids map[string]bool, vpcs map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids, vpcs = map[string]bool{}, map[string]int{}
	for _, e := range r.list {
		if e.Detail.Changed && (e.Detail.Status == "ready" || e.Detail.Status == "removed") {
			ids[e.ID] = true
			vpcs[e.Detail.VPCID+"/"+e.Detail.Status]++
		}
	}
	return ids, vpcs
}

// reloadedEvents are the ids of the events whose call reloaded Jenkins
// (a duplicated delivery calls twice for one event).
func reloadedEvents(s *localstack.Stack) map[string]bool {
	out := map[string]bool{}
	for _, c := range s.AWS.APICalls() {
		if c.Status == http.StatusOK {
			out[c.EventID] = true
		}
	}
	return out
}

func sameKeys(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// A burst of tagged VPCs reloads Jenkins once per change of an agent
// VPC's status to ready (at least one per VPC, one more when two
// invocations both saw the change), never for the connecting step, the
// repeats of an outcome or a sweep that finds everything in sync; removing
// one reloads it again.
func TestBurstOfTaggedVPCsReloadsJenkinsOncePerChange(t *testing.T) {
	topo, vpcs := burstTopology(t)
	jenkins := localstack.StartJenkins("reload-t0ken")
	defer jenkins.Close()
	s := start(t, localstack.Options{Topology: topo, Jenkins: jenkins, Parameters: map[string]string{"GracePeriod": "0s"}})
	var events statusEvents
	defer events.watch(s)()

	var wg sync.WaitGroup
	for _, v := range vpcs {
		wg.Go(func() { tag(t, s, v, true) })
	}
	wg.Wait()
	converge(t, s, ready(t, s, vpcs...))
	for _, v := range vpcs {
		wantReady(t, status(t, s, v))
	}
	settle(t, s)

	changes, perVPC := events.reloadChanges()
	reloaded := reloadedEvents(s)
	calls := jenkins.Calls()
	t.Logf("burst of %d VPCs: %d status events, %d changes to ready, %d reload calls (%d events; the rest duplicated deliveries), %d dead letters",
		len(vpcs), events.count(), len(changes), len(calls), len(reloaded), len(s.AWS.DeadLetters()))
	if !sameKeys(reloaded, changes) {
		t.Errorf("events that reloaded Jenkins %v, want exactly the changes to ready %v", reloaded, changes)
	}
	for _, v := range vpcs {
		if perVPC[v.VPC+"/ready"] < 1 {
			t.Errorf("%s: no change to ready reported (%v)", v, perVPC)
		}
	}
	if jenkins.Reloads() != len(calls) || len(s.AWS.DeadLetters()) != 0 {
		t.Errorf("Jenkins refused calls: %+v; dead letters %+v", calls, s.AWS.DeadLetters())
	}
	// JenkinsReloadRate (default 1): one call a second at most.
	api := s.AWS.APICalls()
	slices.SortFunc(api, func(a, b localaws.APICall) int { return a.Time.Compare(b.Time) })
	for i := 1; i < len(api); i++ {
		if gap := api[i].Time.Sub(api[i-1].Time); gap < 900*time.Millisecond {
			t.Errorf("reload calls %d and %d %s apart, at a rate limit of 1 a second", i-1, i, gap)
		}
	}

	if noReconcile == "" {
		before := len(jenkins.Calls())
		if err := s.TriggerSchedules(); err != nil {
			t.Fatal(err)
		}
		settle(t, s)
		if after := len(jenkins.Calls()); after != before {
			t.Errorf("a sweep of agent VPCs in sync reloaded Jenkins %d times", after-before)
		}
	}

	before := reloadedEvents(s)
	tag(t, s, vpcs[0], false)
	converge(t, s, func() bool { return status(t, s, vpcs[0]).Clean() })
	settle(t, s)
	changes, perVPC = events.reloadChanges()
	if !sameKeys(reloadedEvents(s), changes) || perVPC[vpcs[0].VPC+"/removed"] < 1 || len(reloadedEvents(s)) <= len(before) {
		t.Errorf("after untagging %s: events that reloaded %d, changes %d (%v)", vpcs[0], len(reloadedEvents(s)), len(changes), perVPC)
	}
}

// A reload token Jenkins does not know is refused (401, as the JCasC
// plugin answers), not retried, and every refused event is in the reload
// rule's dead-letter queue; onboarding is not affected.
func TestWrongReloadTokenIsRefusedAndDeadLettered(t *testing.T) {
	jenkins := localstack.StartJenkins("reload-t0ken")
	defer jenkins.Close()
	s := start(t, localstack.Options{Jenkins: jenkins, Parameters: map[string]string{"GracePeriod": "0s"},
		Secrets: map[string]string{localstack.DefaultReloadTokenSecret: "not-the-token"}})
	tag(t, s, teamA, true)
	converge(t, s, ready(t, s, teamA))
	wantReady(t, status(t, s, teamA))
	settle(t, s)

	calls := jenkins.Calls()
	if len(calls) == 0 || jenkins.Reloads() != 0 {
		t.Fatalf("Jenkins calls %+v, want only refused ones", calls)
	}
	dead := map[string]bool{}
	for _, dl := range s.AWS.DeadLetters() {
		if dl.ErrorCode != "HTTP_STATUS_401" || dl.Attempts != 1 || !strings.HasSuffix(dl.QueueARN, ":jenkins-agent-vpcs-JenkinsReloadDeadLetterQueue") {
			t.Errorf("dead letter %+v, want a 401 in the reload queue after one attempt", dl)
		}
		dead[dl.Event.ID] = true
	}
	refused := 0
	for _, c := range s.AWS.APICalls() {
		if c.Status == http.StatusUnauthorized && !dead[c.EventID] {
			t.Errorf("refused call for event %s is not dead-lettered", c.EventID)
		}
		refused++
	}
	if refused != len(calls) {
		t.Errorf("local AWS made %d calls, Jenkins saw %d", refused, len(calls))
	}
}

// Without JenkinsUrl the template creates no reload rule.
func TestNoJenkinsUrlNoReloadRule(t *testing.T) {
	s := start(t, localstack.Options{Functions: []string{"AcceptFunction"}})
	eb := eventbridge.NewFromConfig(localstack.AdminConfig(s.URL, s.Region, s.Hub))
	rules, err := eb.ListRules(context.Background(), &eventbridge.ListRulesInput{EventBusName: aws.String(s.Parameters["EventBusName"])})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules.Rules {
		if strings.Contains(aws.ToString(r.Name), "JenkinsReload") {
			t.Errorf("reload rule %s exists without JenkinsUrl", aws.ToString(r.Name))
		}
	}
	if len(rules.Rules) == 0 {
		t.Error("no rule on the hub bus at all: the listing proves nothing")
	}
}
