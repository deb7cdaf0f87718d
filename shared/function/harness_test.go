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

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/fake"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

const (
	hub      = "111111111111"
	member   = "222222222222"
	member2  = "333333333333"
	stranger = "444444444444" // has no spoke role
	region   = "us-east-1"
	extID    = "jenkins-agent-vpcs-test"
	// The ids the saved events name; tests swap in the fakes' ids.
	savedVPC    = "vpc-0a11b22c33d44e55f"
	savedVPC2   = "vpc-0b22c33d44e55f66a"
	savedSubnet = "subnet-0b22c33d44e55f66a"
)

var functionRoles = map[string]string{
	"onboard":   "arn:aws:iam::" + hub + ":role/jenkins-agent-vpcs-onboard",
	"accept":    "arn:aws:iam::" + hub + ":role/jenkins-agent-vpcs-accept",
	"reconcile": "arn:aws:iam::" + hub + ":role/jenkins-agent-vpcs-reconcile",
}

// env is a world with a hub and members, and the functions wired to it
// exactly as main wires them, with fakes in place of the SDK clients.
type env struct {
	t       *testing.T
	w       *fake.World
	cfg     config.Config
	service string
	logs    *syncBuffer
	vpcs    map[string]string // saved id -> fake id
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

func newEnv(t *testing.T, vars map[string]string) *env {
	t.Helper()
	w := fake.NewWorld(fake.Options{Region: region, Clock: fake.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))})
	w.SetTransitionDelay(0)
	svcID, _ := w.AddEndpointService(hub, fake.ServiceSpec{AcceptanceRequired: true,
		AvailabilityZoneIDs: []string{"use1-az1", "use1-az2", "use1-az4"}, Ports: []int32{50000, 8080}})
	w.AddEventBus(hub, "jenkins-agent-vpcs")
	e := &env{t: t, w: w, service: svcID, logs: &syncBuffer{}, vpcs: map[string]string{}, subnets: map[string][]string{}}
	for _, acct := range []string{member, member2} {
		w.AddRole(acct, "jenkins-agent-vpcs-spoke", fake.Trust{ExternalID: extID,
			Principals: []string{functionRoles["onboard"], functionRoles["accept"], functionRoles["reconcile"]}})
	}
	e.addVPC(member, savedVPC, "10.1.0.0/16", map[string]string{"Name": "ci"})
	e.addVPC(member, savedVPC2, "10.2.0.0/16", map[string]string{"Name": "ci-2"})
	e.addVPC(member2, "vpc-member2", "10.3.0.0/16", nil)
	e.addVPC(stranger, "vpc-stranger", "10.4.0.0/16", map[string]string{"jenkins-agents": "true"})

	m := map[string]string{
		"ENDPOINT_SERVICE_ID": svcID, "EVENT_BUS_NAME": "jenkins-agent-vpcs", "SPOKE_EXTERNAL_ID": extID,
		"HTTP_PORT": "8080", "DENIED_ACCOUNTS": "999999999999",
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

// addVPC adds a VPC with subnets over three AZs (one the service does not offer
// in this account's AZ mapping, as often happens) and records its id.
func (e *env) addVPC(acct, saved, cidr string, tags map[string]string) string {
	id := e.w.AddVPC(acct, cidr, tags)
	e.vpcs[saved] = id
	for _, az := range []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"} {
		e.subnets[id] = append(e.subnets[id], e.w.AddSubnet(acct, id, az, nil))
	}
	return id
}

// core builds the graph of one function as main does, acting as that
// function's role in the hub.
func (e *env) core(fn string) *function.Core {
	principal := strings.Replace(functionRoles[fn], ":iam::", ":sts::", 1)
	principal = strings.Replace(principal, ":role/", ":assumed-role/", 1) + "/" + fn
	clients := function.Clients{
		Base:   aws.Config{Region: region},
		HubEC2: function.HubEC2(e.w.EC2As(hub, principal)),
		SSM:    e.w.SSMAs(hub, principal),
		Bus:    e.w.EventBridgeAs(hub, principal),
		STS:    e.w.STS(hub, principal),
		NewSpokeEC2: func(c aws.Config) agentvpc.EC2 {
			creds, err := c.Credentials.Retrieve(context.Background())
			if err != nil {
				e.t.Fatalf("spoke credentials: %v", err)
			}
			acct, p, ok := e.w.AccountOfKey(creds.AccessKeyID)
			if !ok {
				e.t.Fatalf("unknown access key %s", creds.AccessKeyID)
			}
			return e.w.EC2As(acct, p)
		},
	}
	if e.hubHook != nil {
		clients.HubEC2 = e.hubHook(clients.HubEC2)
	}
	return function.NewCore(e.cfg, clients, function.Options{
		Region: region, Log: telemetry.NewLogger(e.logs, "debug"), MetricsOut: e.logs,
		Now: e.w.Clock().Now, WaitTimeout: time.Second, WaitInterval: time.Millisecond, SessionName: fn,
	})
}

// event reads a saved event and swaps in the fakes' ids.
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

// writes counts the calls that change something, optionally since a mark.
func (e *env) writes(since int) []fake.Call {
	var out []fake.Call
	for _, c := range e.w.Calls()[since:] {
		if c.Code != "" {
			continue
		}
		if !strings.HasPrefix(c.Action, "Describe") && !strings.HasPrefix(c.Action, "Get") && c.Action != "AssumeRole" {
			out = append(out, c)
		}
	}
	return out
}

func (e *env) mark() int { return len(e.w.Calls()) }

// world is the product's footprint in one agent VPC.
type footprint struct {
	Endpoints  []agentvpc.Endpoint // managed, not deleted
	Groups     []agentvpc.SecurityGroup
	Tags       map[string]string
	Tunnel     string
	JenkinsURL string
	Document   map[string]any
	Principals []string
}

func (e *env) footprint(acct, vpc string) footprint {
	e.t.Helper()
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
		if ev.Source == "jenkins-agent-vpcs" && strings.Contains(ev.Detail, `"status":"`+status+`"`) {
			n++
		}
	}
	return n
}
