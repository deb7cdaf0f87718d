package function_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/localawstest"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function/core"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

const (
	hub      = "111111111111"
	member   = "222222222222"
	member2  = "333333333333"
	stranger = "444444444444" // has no spoke role
	region   = "us-east-1"
	extID    = "jenkins-agent-vpcs-test"
	// The ids the saved events name; tests swap in the local AWS's ids.
	savedVPC    = "vpc-0a11b22c33d44e55f"
	savedVPC2   = "vpc-0b22c33d44e55f66a"
	savedSubnet = "subnet-0b22c33d44e55f66a"
)

// serviceID is the hub's endpoint service (the NLB's, outside the templates).
const serviceID = "vpce-svc-0a1b2c3d4e5f60001"

// env is a local AWS with a hub and members, the product's templates
// deployed into it, and the functions wired to it exactly as main wires
// them: real SDK clients, the function role's credentials, the spoke role
// assumed through STS.
type env struct {
	t       *testing.T
	w       *localawstest.AWS
	cfg     config.Config
	service string
	logs    *syncBuffer
	vpcs    map[string]string // saved id -> local AWS id
	subnets map[string][]string
	// hubHook, when set, wraps the hub EC2 client of the functions built next.
	hubHook func(function.HubEC2) function.HubEC2
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// envTopology is the hub's endpoint service; the templates add the roles
// and the bus, and newEnv the VPCs. The stranger has no member stack.
var envTopology = &localaws.Topology{Region: region,
	Organization: &localaws.Organization{ID: "o-jenkinsagents", Accounts: []string{hub, member, member2}}, Accounts: []localaws.Account{{ID: hub,
		EndpointServices: []localaws.EndpointService{{ID: serviceID, AcceptanceRequired: true,
			AZs: []string{"use1-az1", "use1-az2", "use1-az4"}, Ports: []int{50000, 8080}}}}}}

func newEnv(t *testing.T, vars map[string]string) *env {
	t.Helper()
	return newEnvWith(t, vars, localaws.Relax{})
}

// The env's EC2 consistency window and the functions' first pause before
// asking EC2 again: the crash-point suite's (crashWindow,
// crashRetryInterval), for the same reasons: short enough that the suite
// stays fast, long enough that the functions' reads after their writes
// meet stale answers and must ride them out as in AWS.
const (
	envWindow        = crashWindow
	envRetryInterval = crashRetryInterval
)

// newEnvWith is newEnv on a local AWS with relax. The local AWS runs on a
// running clock with its consistency window on (envWindow): reads lag
// writes as in AWS, and the functions must cope. Tests let time pass with
// Skip (Later, to read what was written), never by stopping the clock,
// which would keep a consistency window open for ever. The server clock is
// never behind the wall clock, on which the SDK checks session expiry.
//
// The test runs in parallel with the package's other parallel tests: its
// local AWS is its own, and it spends most of its time waiting out
// consistency windows.
func newEnvWith(t *testing.T, vars map[string]string, relax localaws.Relax) *env {
	t.Helper()
	t.Parallel()
	w := localawstest.New(t, localawstest.Options{Topology: envTopology, Relax: relax,
		Consistency: localaws.Consistency{Window: envWindow, Seed: 2026},
		Deploy: &localstack.DeployOptions{HubAccount: hub, Members: []string{member, member2},
			Parameters: map[string]string{"SpokeExternalId": extID}}})
	e := &env{t: t, w: w, service: serviceID, logs: &syncBuffer{}, vpcs: map[string]string{}, subnets: map[string][]string{}}
	e.addVPC(member, savedVPC, "10.1.0.0/16", map[string]string{"Name": "ci"})
	e.addVPC(member, savedVPC2, "10.2.0.0/16", map[string]string{"Name": "ci-2"})
	e.addVPC(member2, "vpc-member2", "10.3.0.0/16", nil)
	e.addVPC(stranger, "vpc-stranger", "10.4.0.0/16", map[string]string{"jenkins-agents": "true"})

	m := map[string]string{
		"ENDPOINT_SERVICE_ID": serviceID, "EVENT_BUS_NAME": "jenkins-agent-vpcs", "SPOKE_EXTERNAL_ID": extID,
		"HTTP_PORT": "8080", "DENIED_ACCOUNTS": "999999999999",
		// Onboard's read delay outlasts the window, as 2 s outlasts EC2's.
		"TAG_READ_DELAY": envWindow.String(),
	}
	for k, v := range vars {
		m[k] = v
	}
	cfg, err := config.Load(func(k string) string { return m[k] })
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	return e
}

// addVPC adds a VPC with subnets over four AZs (at least one the service
// does not offer in this account's AZ mapping, as often happens) and
// records its id.
func (e *env) addVPC(acct, saved, cidr string, tags map[string]string) string {
	id := e.w.AddVPC(acct, cidr, tags)
	e.vpcs[saved] = id
	for _, az := range []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"} {
		e.subnets[id] = append(e.subnets[id], e.w.AddSubnet(acct, id, az, nil))
	}
	return id
}

// sdkAttempts is how many times the functions' retryer tries a call: a
// fault must outlast them to reach the handler.
var sdkAttempts = function.Retryer().MaxAttempts()

// testRetryer retries what main's retryer retries, as many times (more
// for throttling than for other errors), without its client-side rate
// limiting (adaptive mode) and backoff, which only pace the calls: a
// throttled test would otherwise sleep for seconds.
func testRetryer() aws.Retryer {
	return core.Patient(retry.NewStandard(core.PatientOptions, func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	}))
}

// core builds the graph of one function as main does (function.ClientsFrom
// over the credentials Lambda gives the function's role), acting as that
// function's role in the hub.
func (e *env) core(fn string) *function.Core {
	base := e.w.Session(hub, "jenkins-agent-vpcs-"+fn, fn)
	base.Retryer = testRetryer
	clients := function.ClientsFrom(base, e.cfg)
	if e.hubHook != nil {
		clients.HubEC2 = e.hubHook(clients.HubEC2)
	}
	return function.NewCore(e.cfg, clients, function.Options{
		Region: region, Log: telemetry.NewLogger(e.logs, "debug"), MetricsOut: e.logs,
		Now: e.w.Clock().Now, WaitTimeout: 5 * time.Second, WaitInterval: 10 * time.Millisecond, RetryInterval: envRetryInterval, SessionName: fn,
	})
}

// event reads a saved event and swaps in the local AWS's ids.
func (e *env) event(name string) []byte {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", name))
	if err != nil {
		e.t.Fatal(err)
	}
	s := string(b)
	for saved, id := range e.vpcs {
		s = strings.ReplaceAll(s, saved, id)
	}
	return []byte(s)
}

// invoke drives a handler through aws-lambda-go's real handler entry.
func invoke(t *testing.T, handler any, payload []byte) error {
	t.Helper()
	_, err := lambda.NewHandler(handler).Invoke(context.Background(), payload)
	return err
}

func (e *env) onboard(name string) error {
	return invoke(e.t, e.core("onboard").Onboard(), e.event(name))
}

func (e *env) tag(acct, vpc, value string) {
	e.t.Helper()
	if _, err := e.w.EC2(acct).CreateTags(context.Background(), createTags(vpc, "jenkins-agents", value)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) untag(acct, vpc string) {
	e.t.Helper()
	if _, err := e.w.EC2(acct).DeleteTags(context.Background(), deleteTags(vpc, "jenkins-agents")); err != nil {
		e.t.Fatal(err)
	}
}

// writes lists the successful calls that change something since a mark.
func (e *env) writes(since int64) []localaws.Call {
	var out []localaws.Call
	for _, c := range e.w.CallsSince(since) {
		if c.Code != "" {
			continue
		}
		if !strings.HasPrefix(c.Action, "Describe") && !strings.HasPrefix(c.Action, "Get") && c.Action != "AssumeRole" {
			out = append(out, c)
		}
	}
	return out
}

func (e *env) mark() int64 { return e.w.Mark() }

// footprint is the product's footprint in one agent VPC.
type footprint struct {
	Endpoints  []agentvpc.Endpoint // managed, not deleted
	Groups     []agentvpc.SecurityGroup
	Tags       map[string]string
	Tunnel     string
	JenkinsURL string
	Document   map[string]any
	Principals []string
}

// footprint reads the product's footprint as a person looks at it: a
// while after the last change (past EC2's consistency window), so that it
// shows what was written, not a lagging view.
func (e *env) footprint(acct, vpc string) footprint {
	e.t.Helper()
	e.w.Later()
	ctx := context.Background()
	o, err := agentvpc.Observe(ctx, e.w.EC2(acct), acct, region, vpc)
	if err != nil {
		e.t.Fatal(err)
	}
	f := footprint{Groups: o.Groups, Tags: o.Tags, Principals: e.w.AllowedPrincipals(e.service)}
	for _, ep := range o.Endpoints {
		if !agentvpc.StateIs(ep.State, agentvpc.StateDeleted) {
			f.Endpoints = append(f.Endpoints, ep)
		}
	}
	prefix := e.cfg.ParameterPrefix + "/" + acct + "/" + vpc
	f.Tunnel, _ = e.w.Parameter(hub, prefix+"/tunnel")
	f.JenkinsURL, _ = e.w.Parameter(hub, prefix+"/jenkins-url")
	if doc, ok := e.w.Parameter(hub, prefix+"/document"); ok {
		if err := json.Unmarshal([]byte(doc), &f.Document); err != nil {
			e.t.Fatalf("document is not JSON: %v", err)
		}
	}
	return f
}

func (e *env) statusEvents(status string) int {
	n := 0
	for _, ev := range e.w.Events(hub) {
		if ev.Source == "jenkins-agent-vpcs" && strings.Contains(string(ev.Detail), `"status":"`+status+`"`) {
			n++
		}
	}
	return n
}
