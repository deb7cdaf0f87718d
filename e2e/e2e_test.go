package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
)

var (
	teamA = localstack.AgentVPC{Account: "222222222222", VPC: "vpc-0a000000000000001"}
	teamB = localstack.AgentVPC{Account: "333333333333", VPC: "vpc-0b000000000000001"}
)

const tunnelPort = "50000"

func settle(t testing.TB, s *localstack.Stack) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), min(15*time.Second, time.Until(deadline)))
		err := s.Settle(ctx)
		cancel()
		if err == nil {
			return
		}
		// Messages left in flight (a failed batch, a copy SQS handed out
		// twice) come back after the queue's 30-minute visibility timeout,
		// delayed follow-ups after their delay: let that time pass, as it
		// would on AWS.
		moved, rerr := s.ReturnAbandoned(context.Background())
		if rerr != nil {
			t.Fatal(errors.Join(err, rerr))
		}
		if moved {
			t.Log("settling: let time pass for the onboarding queue's messages in flight or delayed")
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
}

func status(t *testing.T, s *localstack.Stack, v localstack.AgentVPC) localstack.VPCStatus {
	t.Helper()
	st, err := s.Status(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func tag(t *testing.T, s *localstack.Stack, v localstack.AgentVPC, on bool) {
	t.Helper()
	if err := s.Tag(context.Background(), v, on); err != nil {
		t.Fatal(err)
	}
}

// awsCLI runs the real AWS CLI (v1, first on PATH) as an account's
// administrator against the local AWS; the SDK stands in when it is absent
// (CI=true makes that a failure).
func awsCLI(t *testing.T, s *localstack.Stack, account string, args ...string) bool {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the AWS CLI is not on PATH")
		}
		t.Log("the AWS CLI is not on PATH: using the SDK")
		return false
	}
	cmd := exec.Command(bin, append([]string{"--endpoint-url", s.URL, "--region", s.Region}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_ACCESS_KEY_ID=" + account, "AWS_SECRET_ACCESS_KEY=local"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return true
}

// converge settles the stack and, when done() still says no, fires the
// reconcile schedule as an operator's schedule would and settles again:
// under AWS's delivery a VPC's tag events can all be lost, and the product
// relies on the reconciler for that, so the tests do too. Tests assert the
// end state, not how many invocations it took.
func converge(t *testing.T, s *localstack.Stack, done func() bool) {
	t.Helper()
	settle(t, s)
	// Look a moment later: EC2's reads lag its writes (the consistency
	// window), here as in AWS.
	s.Later()
	if done() || noReconcile != "" {
		return
	}
	t.Logf("not converged from events alone (delivery %+v): firing the reconcile schedule", s.AWS.DeliveryStats())
	if err := s.TriggerSchedules(); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	s.Later()
}

func ready(t *testing.T, s *localstack.Stack, vs ...localstack.AgentVPC) func() bool {
	return func() bool {
		for _, v := range vs {
			if !status(t, s, v).Ready(tunnelPort) {
				return false
			}
		}
		return true
	}
}

// onboardPacing is how long one onboard invocation may spend waiting for
// its share of the hub's write quotas: three parameters at 3/5 per second
// and one accept at 1/5 per second (the defaults SSM_WRITE_RATE 3,
// CONNECTION_RATE 1, ONBOARD_CONCURRENCY 5).
const onboardPacing = 10 * time.Second

// eventsFor returns the tag events about v (aws.tag, or a CloudTrail
// CreateTags/DeleteTags) that reached the onboard function from the bus:
// one per message of each batch from its queue, not one per invocation.
func eventsFor(s *localstack.Stack, v localstack.AgentVPC) [][]byte {
	var out [][]byte
	for _, inv := range s.Invocations() {
		if inv.Function != "OnboardFunction" || inv.Trigger == "direct" || inv.Trigger == "redelivery" {
			continue
		}
		for _, ev := range inv.Events() {
			if isTagEvent(ev) && strings.Contains(string(ev), v.VPC) {
				out = append(out, ev)
			}
		}
	}
	return out
}

// isTagEvent says whether an EventBridge event is a tag change of a
// resource or a CloudTrail tagging call.
func isTagEvent(ev []byte) bool {
	var e struct {
		Source string `json:"source"`
		Detail struct {
			EventName string `json:"eventName"`
		} `json:"detail"`
	}
	return json.Unmarshal(ev, &e) == nil && (e.Source == "aws.tag" || e.Detail.EventName == "CreateTags" || e.Detail.EventName == "DeleteTags")
}

func wantReady(t *testing.T, st localstack.VPCStatus) {
	t.Helper()
	if !st.Ready(tunnelPort) {
		t.Fatalf("%s not converged: %+v", st.AgentVPC, st)
	}
}

// The tag on a member VPC, set with the AWS CLI and nothing else, makes the
// tunnel appear in the hub's SSM; removing it removes everything.
func TestTagToTunnelAndBack(t *testing.T) {
	s := start(t, localstack.Options{})
	ctx := context.Background()
	tagged := time.Now()
	if !awsCLI(t, s, teamA.Account, "ec2", "create-tags", "--resources", teamA.VPC, "--tags", "Key=jenkins-agents,Value=true") {
		tag(t, s, teamA, true)
	}
	hub := s.SSM(s.Hub)
	name := s.ParameterPath(teamA) + "/tunnel"
	// Two seconds, plus how late strict delivery may bring the events, plus
	// the onboarding queue's batching window, plus the onboard function's
	// paced hub writes (its share of the PutParameter and accept rates,
	// 1/OnboardConcurrency of each: about ten seconds for one VPC).
	budget := 2*time.Second + onboardPacing
	if opts, strict := s.AWS.Delivery(); strict {
		budget += opts.CloudTrailDelay + opts.MaxDelay
	}
	if w, err := strconv.Atoi(s.Parameters["OnboardBatchingWindow"]); err == nil {
		budget += time.Duration(w) * time.Second
	}
	reconciled := false
	for {
		if _, err := hub.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)}); err == nil {
			break
		}
		if time.Since(tagged) > budget {
			if reconciled || noReconcile != "" || len(eventsFor(s, teamA)) > 0 {
				t.Fatalf("%s not readable %s after create-tags (%d events for it reached onboard, reconciled %v)", name, budget, len(eventsFor(s, teamA)), reconciled)
			}
			// Every event of the tag was lost: the schedule makes up for it.
			t.Logf("no event of the tag reached onboard in %s: firing the reconcile schedule", budget)
			if err := s.TriggerSchedules(); err != nil {
				t.Fatal(err)
			}
			reconciled, budget = true, time.Since(tagged)+30*time.Second
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("create-tags to readable tunnel parameter: %s (reconciled %v)", time.Since(tagged).Round(time.Millisecond), reconciled)
	tag(t, s, teamB, true)
	converge(t, s, ready(t, s, teamA, teamB))

	a := status(t, s, teamA)
	wantReady(t, a)
	// One subnet per AZ the service offers (a and b, not c), the first of
	// the two in eu-west-1a.
	if got, want := a.Endpoints[0].Subnets, []string{"subnet-0a000000000000011", "subnet-0a000000000000013"}; !slices.Equal(got, want) {
		t.Errorf("team A endpoint subnets %v, want %v", got, want)
	}
	if a.Document["tunnel"] != a.Tunnel || a.Document["vpcId"] != teamA.VPC {
		t.Errorf("document %v does not match tunnel %s", a.Document, a.Tunnel)
	}
	if conn, _ := s.Connection(ctx, a.Endpoints[0].ID); !strings.EqualFold(conn, "available") {
		t.Errorf("hub sees the connection as %q", conn)
	}
	b := status(t, s, teamB)
	wantReady(t, b)
	wantNotificationsDelivered(t, s)
	// Opted-in subnets only.
	if got, want := b.Endpoints[0].Subnets, []string{"subnet-0b000000000000012", "subnet-0b000000000000013"}; !slices.Equal(got, want) {
		t.Errorf("team B endpoint subnets %v, want %v", got, want)
	}

	if !awsCLI(t, s, teamA.Account, "ec2", "delete-tags", "--resources", teamA.VPC, "--tags", "Key=jenkins-agents") {
		tag(t, s, teamA, false)
	}
	converge(t, s, func() bool { a := status(t, s, teamA); return a.Clean() && !a.Principal })
	if a := status(t, s, teamA); !a.Clean() || a.Principal {
		t.Errorf("team A not cleaned up after untagging: %+v", a)
	}
	wantReady(t, status(t, s, teamB))
}

// At-least-once delivery: the same tag event arriving again changes nothing.
// (Strict delivery duplicates some events by itself; this test makes sure.)
func TestSameEventDeliveredTwice(t *testing.T) {
	s := start(t, localstack.Options{})
	tag(t, s, teamA, true)
	converge(t, s, ready(t, s, teamA))
	before := status(t, s, teamA)
	wantReady(t, before)

	var event []byte
	for _, ev := range eventsFor(s, teamA) {
		event = ev // the aws.tag event, or the CloudTrail one when the tag event was lost
	}
	if event == nil {
		t.Fatal("no event of the tag reached the onboard function")
	}
	s.InvokeAsync("OnboardFunction", event, "redelivery")
	s.InvokeAsync("OnboardFunction", event, "redelivery")
	settle(t, s)
	after := status(t, s, teamA)
	wantReady(t, after)
	if after.Endpoints[0].ID != before.Endpoints[0].ID || after.Tunnel != before.Tunnel {
		t.Errorf("redelivery changed the endpoint: %+v -> %+v", before.Endpoints, after.Endpoints)
	}
	for _, inv := range s.Invocations() {
		if inv.Trigger == "redelivery" && inv.Failed() {
			t.Errorf("redelivered event failed: %v %v", inv.Err, inv.Result.Error)
		}
	}
}

// Two invocations racing for one VPC in two execution environments, on top
// of the tag's own events: exactly one endpoint, one pair of groups.
func TestEventsRacingForOneVPC(t *testing.T) {
	s := start(t, localstack.Options{})
	direct, _ := json.Marshal(map[string]string{"account": teamA.Account, "region": s.Region, "vpcId": teamA.VPC})
	tag(t, s, teamA, true)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := s.Invoke(context.Background(), "OnboardFunction", direct); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	converge(t, s, ready(t, s, teamA))
	st := status(t, s, teamA)
	wantReady(t, st)
	// A retry of the loser is fine; a leftover is not: Ready checks one
	// endpoint, two groups, one tunnel. And one endpoint was ever created:
	// a deleted one stays described (state deleted) for an hour.
	out, err := s.EC2(teamA.Account).DescribeVpcEndpoints(context.Background(), &ec2.DescribeVpcEndpointsInput{
		Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{teamA.VPC}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.VpcEndpoints) != 1 {
		t.Errorf("%d endpoints ever created in %s, want 1", len(out.VpcEndpoints), teamA.VPC)
	}
}

// A payload the functions cannot decode is answered with an error and
// changes nothing.
func TestMalformedPayloadAnsweredWithErrorAndNothingChanged(t *testing.T) {
	s := start(t, localstack.Options{})
	cases := map[string][]string{
		"OnboardFunction": {`not json`, `[1,2]`},
		"AcceptFunction":  {`not json`, `{"Records":"nope"}`},
	}
	if noReconcile == "" {
		cases["ReconcileFunction"] = []string{`not json`}
	}
	s.AWS.ResetCalls()
	for fn, payloads := range cases {
		for _, p := range payloads {
			res, err := s.Invoke(context.Background(), fn, []byte(p))
			if err != nil {
				t.Fatalf("%s %s: %v", fn, p, err)
			}
			if res.Error == nil {
				t.Errorf("%s answered %q to %s, want an error", fn, res.Payload, p)
			}
		}
	}
	settle(t, s)
	for _, c := range s.AWS.Calls() {
		// Lambda's poller long-polls the onboarding queue all along.
		polls := c.Service == "sqs" && c.Action == "ReceiveMessage"
		if !strings.HasPrefix(c.Action, "Describe") && !strings.HasPrefix(c.Action, "Get") && c.Action != "AssumeRole" && !polls {
			t.Errorf("a malformed payload led to %s %s in %s", c.Service, c.Action, c.Account)
		}
	}
	if st := status(t, s, teamA); !st.Clean() {
		t.Errorf("state changed: %+v", st)
	}
}

// With a share of the calls throttled, the fleet still converges: the SDK's
// retryer, Lambda's retries of asynchronous invocations, and (when it
// exists) one reconcile.
func TestThrottledRunConverges(t *testing.T) {
	s := start(t, localstack.Options{})
	for _, acct := range []string{s.Hub, teamA.Account, teamB.Account} {
		s.AWS.InjectFault(localaws.Fault{Service: "ec2", Account: acct, Code: "RequestLimitExceeded", Ratio: 0.25})
	}
	s.AWS.InjectFault(localaws.Fault{Service: "ssm", Account: s.Hub, Code: "ThrottlingException", Ratio: 0.25})
	s.AWS.InjectFault(localaws.Fault{Service: "ec2", Action: "CreateVpcEndpoint", Code: "RequestLimitExceeded", Count: 2})
	ctx := context.Background()
	for _, v := range []localstack.AgentVPC{teamA, teamB} {
		var err error
		for range 10 { // the administrator's own call is throttled too
			if err = s.Tag(ctx, v, true); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	settle(t, s)
	if noReconcile == "" {
		if err := s.TriggerSchedules(); err != nil {
			t.Fatal(err)
		}
		settle(t, s)
	}
	s.AWS.ClearFaults()
	for _, v := range []localstack.AgentVPC{teamA, teamB} {
		wantReady(t, status(t, s, v))
	}
	if n := s.AWS.CallCount("ec2", "CreateVpcEndpoint", ""); n < 4 {
		t.Errorf("CreateVpcEndpoint called %d times: the injected throttling was not retried", n)
	}
}

// Each hand-made drift of the demo is repaired by one scheduled reconcile.
func TestEachDemoBreakageRepairedByOneReconcile(t *testing.T) {
	needReconcile(t)
	s := start(t, localstack.Options{})
	ctx := context.Background()
	tag(t, s, teamA, true)
	tag(t, s, teamB, true)
	converge(t, s, ready(t, s, teamA, teamB))
	wantReady(t, status(t, s, teamA))
	for _, b := range localstack.Breakages() {
		t.Run(b.Name, func(t *testing.T) {
			if err := b.Apply(ctx, s, teamA); err != nil {
				t.Fatal(err)
			}
			settle(t, s)
			if st := status(t, s, teamA); st.Ready(tunnelPort) {
				t.Fatalf("%s did not break anything: %+v", b.Story, st)
			}
			runs := len(reconcileRuns(s))
			if err := s.TriggerSchedules(); err != nil {
				t.Fatal(err)
			}
			settle(t, s)
			// One firing of the schedule; strict delivery may deliver it
			// twice, and every run it causes must succeed.
			got := reconcileRuns(s)[runs:]
			if len(got) == 0 {
				t.Fatal("the schedule fired and no reconcile ran")
			}
			for _, run := range got {
				if run.Failed() {
					t.Fatalf("reconcile failed: %v %v", run.Err, run.Result.Error)
				}
			}
			s.Later() // look a moment later, past EC2's consistency window
			wantReady(t, status(t, s, teamA))
			wantReady(t, status(t, s, teamB))
		})
	}
}

func reconcileRuns(s *localstack.Stack) []localstack.Invocation {
	var out []localstack.Invocation
	for _, inv := range s.Invocations() {
		if inv.Function == "ReconcileFunction" {
			out = append(out, inv)
		}
	}
	return out
}

// wantNotificationsDelivered fails unless the endpoint service's Connect
// notifications reached the accept function through the topic: the
// deployed ConnectionTopicPolicy lets PrivateLink publish, and the local
// AWS refused none of them.
func wantNotificationsDelivered(t *testing.T, s *localstack.Stack) {
	t.Helper()
	s.AWS.Flush(5 * time.Second)
	viaTopic := 0
	for _, inv := range s.Invocations() {
		if inv.Function == "AcceptFunction" && strings.HasPrefix(inv.Trigger, "sns:") {
			viaTopic++
		}
	}
	if viaTopic == 0 {
		t.Error("no connection notification reached the accept function through the topic")
	}
	for _, d := range s.AWS.Denials() {
		if d.Action == "sns:Publish" {
			t.Errorf("connection notification refused by the topic policy: %+v", d)
		}
	}
}
