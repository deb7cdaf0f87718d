package function_test

// Issue 9, adversarial: every mutating call of onboarding and of removal
// fails once, before it takes effect and after it took effect with its
// answer lost, and Lambda's redelivery of the same event must converge with
// nothing created twice and nothing left behind. Concurrent duplicate
// deliveries of one tag event must create one endpoint.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/status"
)

// crashWindow is the local EC2's consistency window in these tests:
// shorter than the default so the suite stays fast, still six times
// crashRetryInterval so the product's reads after its writes meet stale
// answers and must ride them out. The product's five tries double the
// pause from crashRetryInterval (750 ms in all), outlasting the window as
// production's 1 s (15 s in all) outlasts EC2's usual propagation delay.
const (
	crashWindow        = 300 * time.Millisecond
	crashRetryInterval = 50 * time.Millisecond
)

// crashPoint is one mutating call of a flow: the nth successful call of
// an action (1-based), in the order a clean run makes them.
type crashPoint struct {
	service, action, account string
	nth                      int
}

func (c crashPoint) String() string {
	if c.nth > 1 {
		return fmt.Sprintf("%s#%d", c.action, c.nth)
	}
	return c.action
}

// crashWorld is a world with the shorter consistency window, whose
// functions pause crashRetryInterval between their own retries.
func crashWorld(t *testing.T) *world {
	w := newWorld(t)
	w.srv.SetConsistency(localaws.Consistency{Window: crashWindow, Seed: 2026})
	w.cfg.ReadDelay = crashWindow
	w.retryInterval, w.waitInterval = crashRetryInterval, 10*time.Millisecond
	return w
}

// tagEvent is the saved aws.tag event for cVPC1, as the hub rule delivers
// it: tagged (the jenkins-agents tag set) or not.
func tagEvent(t *testing.T, tagged bool) []byte {
	t.Helper()
	file := "tag-change-untagged.json"
	if tagged {
		file = "tag-change-tagged.json"
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", file))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.ReplaceAll(string(b), "vpc-0a11b22c33d44e55f", cVPC1))
}

// mutating reports whether an action changes something: the crash points.
func mutating(service, action string) bool {
	if service == "sts" {
		return false
	}
	for _, p := range []string{"Describe", "Get", "List"} {
		if strings.HasPrefix(action, p) {
			return false
		}
	}
	return true
}

// crashPoints lists the successful mutating calls the functions made
// since the call-log mark, in order.
func crashPoints(w *world, mark int64) []crashPoint {
	var out []crashPoint
	seen := map[string]int{}
	for _, c := range w.srv.CallLog() {
		if c.Seq <= mark || c.Code != "" || !strings.Contains(c.Principal, ":assumed-role/") || !mutating(c.Service, c.Action) {
			continue
		}
		seen[c.Action]++
		out = append(out, crashPoint{service: c.Service, action: c.Action, account: c.Account, nth: seen[c.Action]})
	}
	return out
}

func lastSeq(w *world) int64 {
	log := w.srv.CallLog()
	if len(log) == 0 {
		return 0
	}
	return log[len(log)-1].Seq
}

// settle lets the local AWS's clock pass its consistency window so the
// checks read what was written.
func settle(w *world) { w.srv.Clock().Skip(crashWindow + time.Second) }

// onboardCleanly tags cVPC1 and delivers the tag event until it succeeds.
func onboardCleanly(t *testing.T, w *world) {
	t.Helper()
	w.setTag(cVPC1, true)
	if err := deliverUntilSuccess(w, tagEvent(t, true)); err != nil {
		t.Fatalf("clean onboarding: %v", err)
	}
}

// lambdaRetryPauses are the pauses before Lambda's two retries of a
// failed asynchronous invocation: "by default Lambda attempts to run it
// two more times, with a one-minute wait between the first two attempts,
// and two minutes between the second and third attempts"
// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
var lambdaRetryPauses = []time.Duration{time.Minute, 2 * time.Minute}

// redeliver retries a failed invocation as Lambda does: twice, the local
// AWS's clock passing Lambda's pause first. It returns the last error.
func redeliver(w *world, event []byte, err error) error {
	for _, pause := range lambdaRetryPauses {
		if err == nil {
			return nil
		}
		w.srv.Clock().Skip(pause)
		err = run(w.core("onboard", 0).Onboard(), event)
	}
	if err != nil {
		return fmt.Errorf("still failing after Lambda's retries: %w", err)
	}
	return nil
}

// deliverUntilSuccess delivers an event to the onboard function, retried
// as Lambda retries a failed asynchronous invocation.
func deliverUntilSuccess(w *world, event []byte) error {
	return redeliver(w, event, run(w.core("onboard", 0).Onboard(), event))
}

// managedGroups lists the product's security groups in vpc.
func managedGroups(w *world, vpc string) []string {
	w.t.Helper()
	out, err := w.admin(cMember).DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}, agentvpc.ManagedFilter()}})
	if err != nil {
		w.t.Fatal(err)
	}
	var ids []string
	for _, g := range out.SecurityGroups {
		ids = append(ids, aws.ToString(g.GroupId))
	}
	return ids
}

// everEndpoints lists the ids of the product's endpoints in vpc in any
// state: deleted ones stay visible for an hour (ec2sim.DeletedRetention),
// longer than any of these tests lets pass, so this is every endpoint
// ever created. Counting successful CreateVpcEndpoint calls would count an
// idempotent replay of the same ClientToken (which returns the endpoint
// already created) as a second endpoint.
func everEndpoints(w *world, vpc string) []string {
	w.t.Helper()
	eps, err := agentvpc.DescribeEndpoints(context.Background(), w.admin(cMember),
		types.Filter{Name: aws.String("vpc-id"), Values: []string{vpc}}, agentvpc.ManagedFilter())
	if err != nil {
		w.t.Fatal(err)
	}
	var ids []string
	for _, e := range eps {
		ids = append(ids, e.ID)
	}
	return ids
}

// holdingEndpoints counts the product's endpoints in vpc that hold it.
func holdingEndpoints(w *world, vpc string) int {
	n := 0
	for _, e := range w.endpoints(vpc) {
		if agentvpc.Holds(e.State) {
			n++
		}
	}
	return n
}

func lastStatus(w *world, vpc string) string {
	evs := w.statusEvents(vpc)
	if len(evs) == 0 {
		return ""
	}
	return evs[len(evs)-1].Status
}

// crashOutcome is one cell of the report.
type crashOutcome struct {
	converged bool
	orphans   int
}

// crashFlow is onboarding or removal of cVPC1.
type crashFlow struct {
	name   string
	tagged bool // the tag the event reports
	setup  func(t *testing.T, w *world)
	check  func(w *world) (problems []string, orphans int)
}

var crashFlows = []crashFlow{
	{
		name: "onboard", tagged: true,
		setup: func(_ *testing.T, w *world) { w.setTag(cVPC1, true) },
		check: func(w *world) ([]string, int) {
			p := w.onboardedProblems(cVPC1)
			for _, name := range []string{"tunnel", "document", "jenkins-url"} {
				if w.parameter(cVPC1, name) == "" {
					p = append(p, "parameter "+name+" missing")
				}
			}
			if st := lastStatus(w, cVPC1); st != status.Connecting && st != status.Ready {
				p = append(p, fmt.Sprintf("last status event %q, want %s or %s", st, status.Connecting, status.Ready))
			}
			groups := managedGroups(w, cVPC1)
			if len(groups) != 2 {
				p = append(p, fmt.Sprintf("%d managed security groups, want 2: %v", len(groups), groups))
			}
			orphans := max(0, len(groups)-2) + max(0, holdingEndpoints(w, cVPC1)-1)
			return p, orphans
		},
	},
	{
		name: "removal", tagged: false,
		setup: func(t *testing.T, w *world) {
			onboardCleanly(t, w)
			w.setTag(cVPC1, false)
		},
		check: func(w *world) ([]string, int) {
			p := w.removedProblems(cVPC1)
			if st := lastStatus(w, cVPC1); st != status.Removed {
				p = append(p, fmt.Sprintf("last status event %q, want %s", st, status.Removed))
			}
			groups := managedGroups(w, cVPC1)
			if len(groups) > 0 {
				p = append(p, fmt.Sprintf("managed security groups left: %v", groups))
			}
			return p, len(groups) + holdingEndpoints(w, cVPC1)
		},
	},
}

// TestCrashPointsConverge fails each mutating call of onboarding and of
// removal once, before it takes effect and after (its answer lost), and
// redelivers the event as Lambda would until the invocation succeeds.
//
// The fault is InternalError (HTTP 500), which the SDK retries: the
// faulted invocation runs with one SDK attempt, so the single fault
// stands for the retryer's attempts exhausted and reaches Lambda as a
// failed invocation, as TestLostStatusIsSentAgain does. Redeliveries run
// with the functions' own retryer.
func TestCrashPointsConverge(t *testing.T) {
	var mu sync.Mutex
	results := map[string]map[string]crashOutcome{} // "point phase" -> flow -> outcome
	var order []string
	// The subtests run in parallel, each on its own local AWS: most of
	// their time is spent waiting. The group returns when all are done.
	t.Run("group", func(t *testing.T) {
		for _, flow := range crashFlows {
			// Discover the crash points from one clean run of the flow.
			w := crashWorld(t)
			flow.setup(t, w)
			mark := lastSeq(w)
			if err := deliverUntilSuccess(w, tagEvent(t, flow.tagged)); err != nil {
				t.Fatalf("clean %s: %v", flow.name, err)
			}
			points := crashPoints(w, mark)
			if len(points) == 0 {
				t.Fatalf("clean %s made no mutating call", flow.name)
			}
			t.Logf("%s crash points: %v", flow.name, points)
			for _, point := range points {
				for _, after := range []bool{false, true} {
					phase := "before"
					if after {
						phase = "after"
					}
					key := point.String() + " " + phase
					if results[key] == nil {
						results[key] = map[string]crashOutcome{}
						order = append(order, key)
					}
					t.Run(flow.name+"/"+point.String()+"/"+phase, func(t *testing.T) {
						t.Parallel()
						out := crashOutcome{orphans: -1}
						defer func() {
							mu.Lock()
							results[key][flow.name] = out
							mu.Unlock()
						}()
						w := crashWorld(t)
						flow.setup(t, w)
						endpointsBefore := len(everEndpoints(w, cVPC1))
						groupsBefore := w.succeeded("CreateSecurityGroup")
						var hook sync.Mutex
						succeeded, injected := 0, false
						w.mu.Lock()
						w.after = func(action string) {
							hook.Lock()
							defer hook.Unlock()
							if action == point.action {
								succeeded++
							}
						}
						w.before = func(action string) {
							hook.Lock()
							defer hook.Unlock()
							if action == point.action && !injected && succeeded == point.nth-1 {
								injected = true
								w.srv.InjectFault(localaws.Fault{Service: point.service, Action: point.action, Account: point.account,
									Code: "InternalError", Count: 1, After: after})
							}
						}
						w.mu.Unlock()
						event := tagEvent(t, flow.tagged)
						firstErr := run(w.core("onboard", 1).Onboard(), event)
						w.mu.Lock()
						w.before = nil
						w.mu.Unlock()
						if !injected {
							t.Fatalf("the faulted run never reached %s", point)
						}
						if firstErr == nil {
							t.Logf("the invocation succeeded despite the fault at %s", point)
						}
						if err := redeliver(w, event, firstErr); err != nil {
							t.Errorf("redelivery: %v", err)
						}
						settle(w)
						created := len(everEndpoints(w, cVPC1)) - endpointsBefore
						// Groups ever created: the successful calls, and the one
						// whose answer the fault lost (a group name is unique in a
						// VPC, so a replay fails as a duplicate: it never
						// succeeds twice for one group).
						groups := w.succeeded("CreateSecurityGroup") - groupsBefore
						if after && point.action == "CreateSecurityGroup" {
							groups++
						}
						var problems []string
						wantCreated, wantGroups := 0, 0
						if flow.tagged {
							wantCreated, wantGroups = 1, 2
						}
						if created != wantCreated {
							problems = append(problems, fmt.Sprintf("%d endpoints created, want %d", created, wantCreated))
						}
						if groups != wantGroups {
							problems = append(problems, fmt.Sprintf("%d security groups created, want %d", groups, wantGroups))
						}
						p, orphans := flow.check(w)
						problems = append(problems, p...)
						for _, p := range problems {
							t.Error(p)
						}
						out = crashOutcome{converged: len(problems) == 0, orphans: orphans}
					})
				}
			}
		}
	})
	report := crashReport(order, results)
	t.Log("\n" + report)
	if path := os.Getenv("CRASHPOINTS_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// crashReport is the Markdown table of the outcomes: a row per crash
// point and phase, a column pair per flow ("-": the flow makes no such
// call).
func crashReport(order []string, results map[string]map[string]crashOutcome) string {
	var b strings.Builder
	b.WriteString("| crash point | onboard converged | onboard orphans | removal converged | removal orphans |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, key := range order {
		b.WriteString("| " + key)
		for _, flow := range []string{"onboard", "removal"} {
			out, ok := results[key][flow]
			switch {
			case !ok:
				b.WriteString(" | - | -")
			case out.orphans < 0:
				b.WriteString(" | no (aborted) | ?")
			case out.converged:
				fmt.Fprintf(&b, " | yes | %d", out.orphans)
			default:
				fmt.Fprintf(&b, " | **no** | %d", out.orphans)
			}
		}
		b.WriteString(" |\n")
	}
	return b.String()
}

// TestConcurrentDuplicateTagDeliveriesCreateOneEndpoint delivers the same
// tag event three times at once, as at-least-once delivery may, each
// delivery retried as Lambda retries: exactly one endpoint is ever
// created, and the VPC ends onboarded.
func TestConcurrentDuplicateTagDeliveriesCreateOneEndpoint(t *testing.T) {
	trials := 5
	if testing.Short() {
		trials = 2
	}
	w := crashWorld(t)
	tagged, untagged := tagEvent(t, true), tagEvent(t, false)
	createCalls := 0 // successful CreateVpcEndpoint calls, replays of one ClientToken included
	for trial := range trials {
		w.setTag(cVPC1, true)
		before := everEndpoints(w, cVPC1)
		calls := w.succeeded("CreateVpcEndpoint")
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = deliverUntilSuccess(w, tagged)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("trial %d, delivery %d: %v", trial, i, err)
			}
		}
		settle(w)
		var created []string
		for _, id := range everEndpoints(w, cVPC1) {
			if !slices.Contains(before, id) {
				created = append(created, id)
			}
		}
		if len(created) != 1 {
			t.Errorf("trial %d: endpoints %v created, want 1", trial, created)
		}
		createCalls += w.succeeded("CreateVpcEndpoint") - calls
		for _, p := range w.onboardedProblems(cVPC1) {
			t.Errorf("trial %d: %s", trial, p)
		}
		w.setTag(cVPC1, false)
		if err := deliverUntilSuccess(w, untagged); err != nil {
			t.Fatalf("trial %d: removal: %v", trial, err)
		}
		settle(w)
		if p := w.removedProblems(cVPC1); len(p) > 0 {
			t.Fatalf("trial %d: removal left %s", trial, strings.Join(p, "; "))
		}
	}
	t.Logf("%d trials of 3 concurrent deliveries: %d successful CreateVpcEndpoint calls, one endpoint each", trials, createCalls)
}

// A CreateSecurityGroup whose answer was lost, and the same event
// delivered again at once (at-least-once delivery does not wait for
// Lambda's retry pause): the replay's duplicate proves the group exists
// while EC2 does not show it yet, and the function waits for it instead of
// failing the invocation.
func TestLostGroupAnswerRedeliveredAtOnce(t *testing.T) {
	w := crashWorld(t)
	w.setTag(cVPC1, true)
	event := tagEvent(t, true)
	w.srv.InjectFault(localaws.Fault{Service: "ec2", Action: "CreateSecurityGroup", Account: cMember, Code: "InternalError", Count: 1, After: true})
	// One SDK attempt: the fault stands for the retryer's attempts exhausted.
	if err := run(w.core("onboard", 1).Onboard(), event); err == nil {
		t.Fatal("the lost answer was not reported to Lambda")
	}
	if err := run(w.core("onboard", 0).Onboard(), event); err != nil {
		t.Fatalf("immediate redelivery: %v", err)
	}
	settle(w)
	if groups := managedGroups(w, cVPC1); len(groups) != 2 {
		t.Errorf("managed security groups %v, want 2", groups)
	}
	w.requireOnboarded(cVPC1)
}
