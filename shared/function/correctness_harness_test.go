package function_test

// The harness of the correctness tests: the product wired as main wires it,
// with real SDK clients, to an in-process local AWS behind a thin HTTP
// layer that counts the calls that succeeded and can make a call answer as
// EC2 answers while it is still catching up (eventual consistency). It
// names nothing the other function tests define, so those can change
// freely.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/status"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

const (
	cHub     = "111111111111"
	cMember  = "222222222222"
	cRegion  = "us-east-1"
	cService = "vpce-svc-0a1b2c3d4e5f60001"
	cVPC1    = "vpc-0aaaaaaaaaaaaaaa1"
	cVPC2    = "vpc-0aaaaaaaaaaaaaaa2"
	cVPC3    = "vpc-0aaaaaaaaaaaaaaa3"
)

// correctnessTopology is the shared local topology with a third VPC in
// the member account, so one account can own three connections.
var correctnessTopology = strings.Replace(localTopology, `      - id: vpc-0aaaaaaaaaaaaaaa2
        cidr: 10.2.0.0/16
        subnets: [{az: us-east-1a}, {az: us-east-1b}, {az: us-east-1c}]
`, `      - id: vpc-0aaaaaaaaaaaaaaa2
        cidr: 10.2.0.0/16
        subnets: [{az: us-east-1a}, {az: us-east-1b}, {az: us-east-1c}]
      - id: vpc-0aaaaaaaaaaaaaaa3
        cidr: 10.4.0.0/16
        subnets: [{az: us-east-1a}, {az: us-east-1b}]
`, 1)

// answer makes matching calls answer with a fixed response instead of
// reaching the local AWS: how EC2 answers while it has not caught up.
type answer struct {
	action string
	match  func(form url.Values) bool // nil matches every call of action
	times  int                        // remaining answers; negative: unlimited
	status int
	body   string
}

// world is the local AWS behind the counting layer.
type world struct {
	t      *testing.T
	srv    *localaws.Server
	url    string // through the counting layer: what the functions use
	direct string // the local AWS itself
	cfg    config.Config

	mu      sync.Mutex
	ok      map[string]int // successful calls by action
	answers []*answer
	after   func(action string) // called after each successful call
	before  func(action string) // called as each call arrives, before answers and faults
	jitter  *rand.Rand          // when set, each call waits 0-2 ms first
	// retryInterval is the functions' first pause before asking EC2 again
	// (10 ms when zero); with a consistency window, their five retries
	// must outlast it, as a second's do in AWS.
	retryInterval time.Duration
	// waitInterval is the pause between reads while an endpoint is being
	// deleted (5 ms when zero).
	waitInterval time.Duration
}

func newWorld(t *testing.T) *world {
	t.Helper()
	if !strings.Contains(correctnessTopology, cVPC3) {
		t.Fatal("the shared local topology changed: update correctnessTopology")
	}
	top, err := localaws.ParseTopology([]byte(correctnessTopology))
	if err != nil {
		t.Fatal(err)
	}
	withTemplatePolicies(t, top)
	// These tests place EC2's lag exactly (a describe that does not see the
	// new endpoint yet, a list without its connection) with canned answers
	// (see answer), so the local AWS's random window is off here, and so is
	// onboard's read delay (TAG_READ_DELAY below); the tests that turn a
	// window on (crash points, races) set the delay to match it. It runs
	// strict in the TestLocalAWS* tests and end to end.
	srv, err := localaws.NewServer(localaws.Options{Topology: top, TransitionDelay: 20 * time.Millisecond,
		Relax: localaws.Relax{Consistency: true}})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, srv: srv, ok: map[string]int{}}
	hs := httptest.NewServer(http.HandlerFunc(w.serve))
	direct := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); direct.Close(); _ = srv.Close() })
	w.url, w.direct = hs.URL, direct.URL
	m := map[string]string{"ENDPOINT_SERVICE_ID": cService, "EVENT_BUS_NAME": "jenkins-agent-vpcs",
		"SPOKE_EXTERNAL_ID": "jenkins-agent-vpcs", "HTTP_PORT": "8080", "GRACE_PERIOD": "0s", "TAG_READ_DELAY": "0s", "ALLOWED_ACCOUNTS": "222222222222,333333333333"}
	if w.cfg, err = config.Load(func(k string) string { return m[k] }); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) serve(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	action := ""
	var form url.Values
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		_, action, _ = strings.Cut(target, ".")
	} else if f, err := url.ParseQuery(string(body)); err == nil {
		form, action = f, f.Get("Action")
	}
	w.mu.Lock()
	if before := w.before; before != nil {
		w.mu.Unlock()
		before(action)
		w.mu.Lock()
	}
	if w.jitter != nil {
		d := time.Duration(w.jitter.IntN(2000)) * time.Microsecond
		w.mu.Unlock()
		time.Sleep(d)
		w.mu.Lock()
	}
	for _, a := range w.answers {
		if a.action == action && a.times != 0 && (a.match == nil || a.match(form)) {
			a.times--
			w.mu.Unlock()
			rw.Header().Set("Content-Type", "text/xml;charset=UTF-8")
			rw.WriteHeader(a.status)
			_, _ = io.WriteString(rw, a.body)
			return
		}
	}
	w.mu.Unlock()
	rec := &statusRecorder{ResponseWriter: rw, status: 200}
	w.srv.Handler().ServeHTTP(rec, r)
	if rec.status == 200 {
		w.mu.Lock()
		w.ok[action]++
		after := w.after
		w.mu.Unlock()
		if after != nil {
			after(action)
		}
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (w *world) answer(a *answer) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.answers = append(w.answers, a)
}

func (w *world) clearAnswers() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.answers = nil
}

func (w *world) succeeded(action string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ok[action]
}

// ec2Error is EC2's error document.
func ec2Error(code, message string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n<Response><Errors><Error><Code>" + code + "</Code><Message>" + message +
		"</Message></Error></Errors><RequestID>00000000-0000-4000-8000-000000000000</RequestID></Response>"
}

// namesEndpoint reports whether an EC2 query names endpoint id in
// VpcEndpointId.N.
func namesEndpoint(id string) func(url.Values) bool {
	return func(f url.Values) bool {
		for k, vs := range f {
			if strings.HasPrefix(k, "VpcEndpointId.") && len(vs) > 0 && vs[0] == id {
				return true
			}
		}
		return false
	}
}

// core builds a function's graph as main does. attempts bounds the SDK's
// own retries (0: the functions' retryer).
func (w *world) core(fn string, attempts int) *function.Core {
	w.t.Helper()
	creds, err := w.srv.RoleCredentials(cHub, "jenkins-agent-vpcs-"+fn, fn, time.Hour)
	if err != nil {
		w.t.Fatal(err)
	}
	retryer := function.Retryer
	if attempts > 0 {
		retryer = func() aws.Retryer { return retry.AddWithMaxAttempts(retry.NewStandard(), attempts) }
	}
	base := aws.Config{Region: cRegion, BaseEndpoint: aws.String(w.url), Retryer: retryer,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)}
	return function.NewCore(w.cfg, function.ClientsFrom(base, w.cfg), function.Options{Region: cRegion,
		Log: telemetry.NewLogger(io.Discard, "error"), MetricsOut: io.Discard, WaitTimeout: 5 * time.Second,
		WaitInterval: cmp.Or(w.waitInterval, 5*time.Millisecond), RetryInterval: cmp.Or(w.retryInterval, 10*time.Millisecond), SessionName: fn})
}

// run drives a handler through aws-lambda-go's real handler entry.
func run(handler any, payload []byte) error {
	_, err := lambda.NewHandler(handler).Invoke(context.Background(), payload)
	return err
}

func redrive(vpc string) []byte {
	return []byte(fmt.Sprintf(`{"account": %q, "region": %q, "vpcId": %q}`, cMember, cRegion, vpc))
}

// onboard invokes the onboard function for a VPC, as a re-drive.
func (w *world) onboard(vpc string, attempts int) error {
	return run(w.core("onboard", attempts).Onboard(), redrive(vpc))
}

// admin is an account administrator's EC2 client; it reaches the local
// AWS directly, past the answers and the counters.
func (w *world) admin(acct string) *ec2.Client {
	return ec2.New(ec2.Options{Region: cRegion, BaseEndpoint: aws.String(w.direct),
		Credentials: credentials.NewStaticCredentialsProvider(acct, "secret", "")})
}

func (w *world) setTag(vpc string, on bool) {
	w.t.Helper()
	ctx := context.Background()
	var err error
	if on {
		_, err = w.admin(cMember).CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{vpc},
			Tags: []types.Tag{{Key: aws.String("jenkins-agents"), Value: aws.String("true")}}})
	} else {
		_, err = w.admin(cMember).DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{vpc},
			Tags: []types.Tag{{Key: aws.String("jenkins-agents")}}})
	}
	if err != nil {
		w.t.Fatal(err)
	}
}

// endpoints lists the managed endpoints of a VPC that are not deleted.
func (w *world) endpoints(vpc string) []agentvpc.Endpoint {
	w.t.Helper()
	eps, err := agentvpc.DescribeEndpoints(context.Background(), w.admin(cMember),
		types.Filter{Name: aws.String("vpc-id"), Values: []string{vpc}}, agentvpc.ManagedFilter())
	if err != nil {
		w.t.Fatal(err)
	}
	var out []agentvpc.Endpoint
	for _, e := range eps {
		if !agentvpc.StateIs(e.State, agentvpc.StateDeleted) {
			out = append(out, e)
		}
	}
	return out
}

func (w *world) vpcTags(vpc string) map[string]string {
	w.t.Helper()
	_, tags, err := agentvpc.VPCTags(context.Background(), w.admin(cMember), vpc)
	if err != nil {
		w.t.Fatal(err)
	}
	return tags
}

func (w *world) parameter(vpc, name string) string {
	v, _, _ := w.srv.Parameter(cHub, cRegion, "/jenkins-agent-vpcs/"+cMember+"/"+vpc+"/"+name)
	return v
}

func (w *world) principals() []string {
	w.t.Helper()
	out, err := w.admin(cHub).DescribeVpcEndpointServicePermissions(context.Background(),
		&ec2.DescribeVpcEndpointServicePermissionsInput{ServiceId: aws.String(cService)})
	if err != nil {
		w.t.Fatal(err)
	}
	var ps []string
	for _, p := range out.AllowedPrincipals {
		ps = append(ps, aws.ToString(p.Principal))
	}
	return ps
}

// statusEvents are the Agent VPC Status details the bus received for vpc.
func (w *world) statusEvents(vpc string) []status.VPC {
	var out []status.VPC
	for _, ev := range w.srv.RecentEvents() {
		if ev.Source != status.Source || ev.DetailType != status.AgentVPCStatus {
			continue
		}
		var d status.VPC
		if err := json.Unmarshal(ev.Detail, &d); err == nil && d.VPCID == vpc {
			out = append(out, d)
		}
	}
	return out
}
