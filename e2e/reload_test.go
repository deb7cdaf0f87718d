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
	Time   time.Time // the local AWS's time it was put
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
		e := statusEvent{ID: ev.ID, Time: ev.Time}
		_ = json.Unmarshal(ev.Detail, &e.Detail)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.list = append(r.list, e)
	})
}

// changes are the events the reload rule matches (a change to ready or
// removed), in the order put.
func (r *statusEvents) changes() []statusEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []statusEvent
	for _, e := range r.list {
		if e.Detail.Changed && (e.Detail.Status == "ready" || e.Detail.Status == "removed") {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b statusEvent) int { return a.Time.Compare(b.Time) })
	return out
}

// reloadDelay is the fold queue's delay (template.yaml's
// JenkinsReloadQueue): a reload comes this long after the first change it
// stands for. dedupInterval is SQS's deduplication interval: at most one
// reload comes per interval.
const (
	reloadDelay   = 360 * time.Second
	dedupInterval = 300 * time.Second
)

// awaitReloads lets the pipe poll until Jenkins has answered n calls.
func awaitReloads(t *testing.T, jenkins *localstack.Jenkins, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); len(jenkins.Calls()) < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Jenkins got %d calls, want %d: %+v", len(jenkins.Calls()), n, jenkins.Calls())
		}
	}
}

// checkFold checks the reloads against the changes, on the local AWS's
// clock: none before the first change's window ended, every change
// followed by a reload, and no two reloads in one window.
func checkFold(t *testing.T, changes []statusEvent, calls []localstack.ReloadCall) {
	t.Helper()
	if len(changes) == 0 {
		t.Fatal("no change to ready or removed was reported")
	}
	for i, c := range calls {
		if c.Status != http.StatusOK {
			t.Errorf("call %d answered %d", i, c.Status)
		}
		// Event times are whole seconds.
		if c.AWSTime.Before(changes[0].Time.Add(reloadDelay)) {
			t.Errorf("reload %d at %s, before the first change's delay ended (%s + %s)", i, c.AWSTime, changes[0].Time, reloadDelay)
		}
		if i > 0 && c.AWSTime.Sub(calls[i-1].AWSTime) < dedupInterval-time.Second {
			t.Errorf("reloads %d and %d %s apart, within one window", i-1, i, c.AWSTime.Sub(calls[i-1].AWSTime))
		}
	}
	for _, ch := range changes {
		if len(calls) == 0 || calls[len(calls)-1].AWSTime.Before(ch.Time) {
			t.Errorf("change %s (%s %s at %s) has no reload after it", ch.ID, ch.Detail.VPCID, ch.Detail.Status, ch.Time)
		}
	}
}

// A burst of tagged VPCs reloads Jenkins once: the rule sends every change
// to the fold queue, which keeps one message (content-based deduplication)
// and delivers it 5 minutes later, after the burst, through the pipe. No
// reload before the window ends (unless settling let that time pass), one
// after it; a sweep that finds everything in sync reloads nothing; a later
// change (an untag) one more.
func TestBurstOfTaggedVPCsReloadsJenkinsOnce(t *testing.T) {
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
	changes := events.changes()
	if now := s.AWS.Clock().Now(); len(changes) > 0 && now.Before(changes[0].Time.Add(reloadDelay)) {
		if n := len(jenkins.Calls()); n != 0 {
			t.Errorf("%d reloads before the window ended", n)
		}
		s.AWS.Clock().Skip(changes[0].Time.Add(reloadDelay).Sub(now) + time.Second)
	}
	awaitReloads(t, jenkins, 1)
	time.Sleep(200 * time.Millisecond) // a second call would be on its way by now
	calls := jenkins.Calls()
	t.Logf("burst of %d VPCs: %d status events, %d changes to ready, %d reload calls, the first %s after the first change (local AWS clock)",
		len(vpcs), len(events.list), len(changes), len(calls), calls[0].AWSTime.Sub(changes[0].Time))
	if len(calls) != 1 {
		t.Errorf("the burst reloaded Jenkins %d times, want once: %+v", len(calls), calls)
	}
	checkFold(t, changes, calls)
	if d, _ := s.AWS.QueueDepth(s.Queues["JenkinsReloadQueue"]); d != (localaws.QueueDepth{}) {
		t.Errorf("the reload queue holds %+v after the reload", d)
	}

	if noReconcile == "" {
		if err := s.TriggerSchedules(); err != nil {
			t.Fatal(err)
		}
		settle(t, s)
		s.AWS.Clock().Skip(reloadDelay + time.Second)
		time.Sleep(200 * time.Millisecond)
		if n := len(jenkins.Calls()); n != len(calls) {
			t.Errorf("a sweep of agent VPCs in sync reloaded Jenkins %d times", n-len(calls))
		}
	}

	tag(t, s, vpcs[0], false)
	converge(t, s, func() bool { return status(t, s, vpcs[0]).Clean() })
	settle(t, s)
	s.AWS.Clock().Skip(reloadDelay + time.Second)
	awaitReloads(t, jenkins, len(calls)+1)
	time.Sleep(200 * time.Millisecond)
	calls, changes = jenkins.Calls(), events.changes()
	if len(calls) != 2 || changes[len(changes)-1].Detail.Status != "removed" {
		t.Errorf("after untagging %s: %d reloads (want 2), last change %+v", vpcs[0], len(calls), changes[len(changes)-1])
	}
	checkFold(t, changes, calls)
}

// A reload token Jenkins does not know is refused (401, as the JCasC
// plugin answers); the pipe leaves the message, which comes back after the
// queue's visibility timeout, and after 12 receives it is in the fold
// queue's dead-letter queue. Onboarding is not affected.
func TestWrongReloadTokenIsRefusedRetriedAndDeadLettered(t *testing.T) {
	jenkins := localstack.StartJenkins("reload-t0ken")
	defer jenkins.Close()
	s := start(t, localstack.Options{Jenkins: jenkins, Parameters: map[string]string{"GracePeriod": "0s"},
		Secrets: map[string]string{localstack.DefaultReloadTokenSecret: "not-the-token"}})
	tag(t, s, teamA, true)
	converge(t, s, ready(t, s, teamA))
	wantReady(t, status(t, s, teamA))
	settle(t, s)

	ctx := context.Background()
	s.AWS.Clock().Skip(reloadDelay + time.Second)
	for i := 1; i <= 12; i++ {
		awaitReloads(t, jenkins, i)
		s.AWS.Clock().Skip(301 * time.Second) // the queue's visibility timeout
	}
	var depths map[string]int
	for deadline := time.Now().Add(30 * time.Second); depths["JenkinsReloadQueueDeadLetterQueue"] == 0; time.Sleep(20 * time.Millisecond) {
		var err error
		if depths, err = s.DeadLetterDepths(ctx); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter after 12 refusals: %v", depths)
		}
	}
	calls := jenkins.Calls()
	for _, c := range calls {
		if c.Status != http.StatusUnauthorized {
			t.Errorf("call answered %d, want 401: %+v", c.Status, c)
		}
	}
	if len(calls) != 12 || depths["JenkinsReloadQueueDeadLetterQueue"] != 1 || jenkins.Reloads() != 0 {
		t.Errorf("%d refused calls, dead-letter queues %v: want 12 refusals and the one message dead-lettered", len(calls), depths)
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
