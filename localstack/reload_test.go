package localstack

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
)

// deployReload deploys the templates into a new local AWS (exactly-once
// delivery, so deliveries can be counted) with the reload parameters and
// secrets given, and returns it, its URL and the deployment.
func deployReload(t *testing.T, jenkins *Jenkins, params, secrets map[string]string) (*localaws.Server, string, *Deployment) {
	t.Helper()
	srv, url, topo := serveTopology(t)
	if jenkins != nil {
		srv.SetAPIDestinationClient(jenkins.Client())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := Deploy(ctx, srv, url, DeployOptions{RepoRoot: "..", Topology: topo, Parameters: params, Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	return srv, url, d
}

// putStatus puts an Agent VPC Status event on the hub bus as account.
func putStatus(t *testing.T, url, account, detail string) {
	t.Helper()
	eb := eventbridge.NewFromConfig(AdminConfig(url, "eu-west-1", account))
	out, err := eb.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String("arn:aws:events:eu-west-1:" + HubAccount + ":event-bus/jenkins-agent-vpcs"),
		Source:       aws.String("jenkins-agent-vpcs"), DetailType: aws.String("Agent VPC Status"), Detail: aws.String(detail)}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("putting %s as %s: %+v, %v", detail, account, out, err)
	}
}

// runPipe runs the deployment's one pipe until the test ends and returns
// what it delivered so far, as a function.
func runPipe(t *testing.T, srv *localaws.Server, url string, d *Deployment) func() []PipeDelivery {
	t.Helper()
	if len(d.Pipes) != 1 {
		t.Fatalf("pipes %+v, want the reload pipe", d.Pipes)
	}
	p, err := NewPipe(srv, url, d.Region, d.Pipes[0])
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []PipeDelivery
	p.Done = func(d PipeDelivery) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return func() []PipeDelivery {
		mu.Lock()
		defer mu.Unlock()
		return append([]PipeDelivery(nil), got...)
	}
}

// eventually polls cond for up to 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The reload rule queues a reload for status changes to ready or removed
// put by the hub, and for nothing else.
func TestReloadRuleQueuesOnlyChangesToReadyOrRemoved(t *testing.T) {
	for _, tt := range []struct {
		name, account, detail string
		queued                int
	}{
		{"became ready", HubAccount, `{"status":"ready","changed":true}`, 1},
		{"removed", HubAccount, `{"status":"removed","changed":true}`, 1},
		{"ready again, unchanged (retry or sweep)", HubAccount, `{"status":"ready","changed":false}`, 0},
		{"connecting", HubAccount, `{"status":"connecting","changed":true}`, 0},
		{"put by a member account", "222222222222", `{"status":"ready","changed":true}`, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, url, d := deployReload(t, nil, map[string]string{"JenkinsUrl": "https://jenkins.example", "JenkinsReloadTokenSecret": "casc"}, map[string]string{"casc": "t0ken"})
			putStatus(t, url, tt.account, tt.detail)
			if !srv.Flush(10 * time.Second) {
				t.Fatal("deliveries did not finish")
			}
			if got, _ := srv.QueueDepth(d.Queues["JenkinsReloadQueue"]); got != (localaws.QueueDepth{Delayed: tt.queued}) {
				t.Errorf("reload queue %+v, want %d delayed", got, tt.queued)
			}
		})
	}
}

// A burst of changes is one reload, 5 minutes after the first change (the
// queue's delay, passed on the server clock); the pipe calls Jenkins as its
// role with the connection's token and deletes the message. A change after
// the deduplication interval is one more reload.
func TestReloadFoldsABurstIntoOneCall(t *testing.T) {
	jenkins := StartJenkins("t0ken")
	defer jenkins.Close()
	srv, url, d := deployReload(t, jenkins, map[string]string{"JenkinsUrl": jenkins.URL, "JenkinsReloadTokenSecret": "casc"}, map[string]string{"casc": "t0ken"})
	delivered := runPipe(t, srv, url, d)
	for range 8 {
		putStatus(t, url, HubAccount, `{"status":"ready","changed":true}`)
	}
	if !srv.Flush(10 * time.Second) {
		t.Fatal("deliveries did not finish")
	}
	queue := d.Queues["JenkinsReloadQueue"]
	if got, _ := srv.QueueDepth(queue); got != (localaws.QueueDepth{Delayed: 1}) {
		t.Fatalf("after 8 changes the reload queue holds %+v, want one delayed message", got)
	}
	time.Sleep(100 * time.Millisecond)
	if len(jenkins.Calls()) != 0 {
		t.Fatalf("Jenkins called before the window ended: %+v", jenkins.Calls())
	}
	srv.Clock().Skip(360 * time.Second) // the queue's delay
	eventually(t, "the reload", func() bool { return len(delivered()) == 1 && delivered()[0].Deleted })
	if calls := jenkins.Calls(); len(calls) != 1 || calls[0].Status != http.StatusOK || calls[0].From != "reload" {
		t.Fatalf("Jenkins calls %+v, want one reload with the connection's header", calls)
	}
	if got, _ := srv.QueueDepth(queue); got != (localaws.QueueDepth{}) {
		t.Fatalf("after the reload the queue holds %+v", got)
	}
	putStatus(t, url, HubAccount, `{"status":"removed","changed":true}`)
	srv.Flush(10 * time.Second)
	srv.Clock().Skip(360 * time.Second) // the queue's delay
	eventually(t, "the second reload", func() bool { return jenkins.Reloads() == 2 })
}

// A token Jenkins does not know is refused (401, as the JCasC plugin
// answers); the message comes back after the queue's visibility timeout,
// and after maxReceiveCount receives it is in the FIFO dead-letter queue.
func TestWrongReloadTokenIsRetriedThenDeadLettered(t *testing.T) {
	jenkins := StartJenkins("t0ken")
	defer jenkins.Close()
	srv, url, d := deployReload(t, jenkins, map[string]string{"JenkinsUrl": jenkins.URL, "JenkinsReloadTokenSecret": "casc"}, map[string]string{"casc": "not-the-token"})
	delivered := runPipe(t, srv, url, d)
	putStatus(t, url, HubAccount, `{"status":"ready","changed":true}`)
	srv.Flush(10 * time.Second)
	srv.Clock().Skip(360 * time.Second) // the queue's delay
	for i := 1; i <= 12; i++ {
		eventually(t, "receive "+strconv.Itoa(i), func() bool { return len(delivered()) == i })
		if got := delivered()[i-1]; got.Call.Status != http.StatusUnauthorized || got.Deleted || got.Receives != i {
			t.Fatalf("delivery %d: %+v, want a 401 left on the queue", i, got)
		}
		srv.Clock().Skip(301 * time.Second) // the visibility timeout
	}
	dlq := d.Queues["JenkinsReloadQueueDeadLetterQueue"]
	eventually(t, "the dead letter", func() bool { got, _ := srv.QueueDepth(dlq); return got.Visible == 1 })
	if !strings.HasSuffix(dlq, "/jenkins-agent-vpcs-reload-dead-letters.fifo") || len(jenkins.Calls()) != 12 || jenkins.Reloads() != 0 {
		t.Fatalf("dead-letter queue %s, Jenkins calls %d (reloads %d), want 12 refused", dlq, len(jenkins.Calls()), jenkins.Reloads())
	}
}

// Without JenkinsUrl there is no reload rule, connection or destination;
// a missing secret fails the deployment as it fails the stack.
func TestReloadIsOffWithoutJenkinsUrl(t *testing.T) {
	_, url, d := deployReload(t, nil, nil, nil)
	if len(d.Pipes) != 0 || d.Queues["JenkinsReloadQueue"] != "" {
		t.Errorf("pipes %+v, reload queue %q without JenkinsUrl", d.Pipes, d.Queues["JenkinsReloadQueue"])
	}
	eb := eventbridge.NewFromConfig(AdminConfig(url, "eu-west-1", HubAccount))
	rules, err := eb.ListRules(context.Background(), &eventbridge.ListRulesInput{EventBusName: aws.String("jenkins-agent-vpcs")})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules.Rules {
		if strings.Contains(aws.ToString(r.Name), "Reload") {
			t.Errorf("rule %s exists without JenkinsUrl", aws.ToString(r.Name))
		}
	}
	_, err = eb.DescribeApiDestination(context.Background(), &eventbridge.DescribeApiDestinationInput{Name: aws.String("jenkins-agent-vpcs-JenkinsReloadDestination")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ResourceNotFoundException" {
		t.Errorf("DescribeApiDestination without JenkinsUrl: %v", err)
	}

	topo, _ := Topology()
	srv, err := localaws.NewServer(localaws.Options{Topology: topo})
	if err != nil {
		t.Fatal(err)
	}
	url2, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	_, err = Deploy(context.Background(), srv, url2, DeployOptions{RepoRoot: "..", Topology: topo,
		Parameters: map[string]string{"JenkinsUrl": "https://jenkins.example", "JenkinsReloadTokenSecret": "absent"}})
	if err == nil || !strings.Contains(err.Error(), "secret absent does not exist") {
		t.Errorf("deploying with a missing secret: %v", err)
	}
}

// serveTopology starts a local AWS seeded with the local stack's topology,
// delivering events reliably (the tests count deliveries), closed with
// the test.
func serveTopology(t *testing.T) (*localaws.Server, string, *localaws.Topology) {
	t.Helper()
	topo, err := Topology()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := localaws.NewServer(localaws.Options{Topology: topo, Relax: localaws.Relax{Delivery: true}})
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, url, topo
}
