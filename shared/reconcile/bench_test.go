package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/reconcile"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

const (
	benchHub    = "111111111111"
	benchRegion = "us-east-1"
	// lambdaTimeout is the reconcile function's Timeout (template.yaml),
	// Lambda's limit: every invocation of a sweep must end within it.
	lambdaTimeout = 15 * time.Minute
)

// BenchmarkInSyncSweep measures a scheduled sweep of an organization that
// is already in sync, as it runs in AWS: the scheduled invocation, and
// the fan-out invocations it starts through the bus (all at once, each a
// cold Lambda instance with its own clients and pacing), against the
// strict local AWS run as its own process (so the memory figures are the
// reconciler's alone) with AWS's default quotas enforced and 20 ms added
// to every call. Accounts have 3 agent VPCs each; BENCH_ACCOUNTS sets how
// many (1,000 by default). The configuration is the template's default
// (Concurrency 16, FanoutThreshold 50, FanoutBatchSize 25,
// ParameterStoreReadRate 35); the run is the one at minute 20 of the hour
// (the deep pass for a quarter of the accounts, no parameter listing).
//
// Each sub-benchmark is one way of reading Parameter Store
// (reconcile.ParameterReads). It reports the sweep's wall time, its
// longest invocation (what must fit Lambda's 15 minutes), calls per
// account by API, throttling errors, and the peak heap of the scheduled
// run and of all fan-out invocations together; it fails unless every
// agent VPC is seen in sync and nothing is written. Run it with:
//
//	BENCH_ACCOUNTS=1000 go test ./shared/reconcile -run '^$' -bench InSyncSweep -benchtime 1x -count 3 -timeout 120m
func BenchmarkInSyncSweep(b *testing.B) {
	accounts := 1000
	if n, err := fmt.Sscan(os.Getenv("BENCH_ACCOUNTS"), &accounts); n == 0 || err != nil {
		accounts = 1000
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	l := startLocalAWS(b, accounts)
	l.onboard(b)
	for _, reads := range []reconcile.ParameterReads{reconcile.ReadEachAccount, reconcile.ReadPrefix} {
		b.Run(string(reads), func(b *testing.B) {
			l.admin(b, "POST", "throttle", `{"enabled":true}`)
			l.admin(b, "DELETE", "faults", "")
			l.admin(b, "POST", "faults", `{"latency":"20ms"}`)
			defer l.admin(b, "DELETE", "faults", "")
			defer l.admin(b, "POST", "throttle", `{"enabled":false}`)
			for range b.N {
				s := l.sweep(b, reads, "")
				s.report(b, l.accounts)
				s.inSync(b, reads, l.accounts)
			}
		})
	}
}

// TestSweepOfTenAccounts runs the benchmark's sweep at 10 accounts,
// fanned out in batches of 3, with each way of reading Parameter Store:
// an in-sync organization is swept without drift or writes, and a drifted
// one shows the same drift either way, except that only paging the prefix
// finds, at every run, the parameters of an account nothing else names.
func TestSweepOfTenAccounts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local AWS as a process")
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	l := startLocalAWS(t, 10)
	l.env["FANOUT_THRESHOLD"], l.env["FANOUT_BATCH_SIZE"] = "4", "3"
	l.onboard(t)
	l.admin(t, "POST", "throttle", `{"enabled":true}`)
	for _, reads := range []reconcile.ParameterReads{reconcile.ReadEachAccount, reconcile.ReadPrefix} {
		s := l.sweep(t, reads, "")
		s.inSync(t, reads, l.accounts)
		if want := map[reconcile.ParameterReads]int{reconcile.ReadEachAccount: 4, reconcile.ReadPrefix: 0}[reads]; s.batches != want {
			t.Errorf("%s: %d fan-out invocations, want %d", reads, s.batches, want)
		}
		if want := map[reconcile.ParameterReads]int{reconcile.ReadEachAccount: 10, reconcile.ReadPrefix: 6}[reads]; s.byAPI["ssm:GetParametersByPath"] != want {
			t.Errorf("%s: %d GetParametersByPath calls, want %d", reads, s.byAPI["ssm:GetParametersByPath"], want)
		}
	}

	// One tunnel parameter is wrong, and an account that no allow list,
	// principal or connection names has parameters left.
	root := ssm.New(ssm.Options{Region: benchRegion, BaseEndpoint: aws.String(l.url),
		Credentials: credentials.NewStaticCredentialsProvider(benchHub, "secret", "")})
	ctx := context.Background()
	page, err := root.GetParametersByPath(ctx, &ssm.GetParametersByPathInput{Path: aws.String("/jenkins-agent-vpcs/" + member(0)), Recursive: aws.Bool(true)})
	if err != nil || len(page.Parameters) == 0 {
		t.Fatalf("reading the parameters of %s: %v", member(0), err)
	}
	name := aws.ToString(page.Parameters[0].Name)
	vpc := strings.Split(name, "/")[3]
	const leftover = "299999999999"
	for _, p := range []struct{ name, value string }{
		{"/jenkins-agent-vpcs/" + member(0) + "/" + vpc + "/tunnel", "wrong.example:50000"},
		{"/jenkins-agent-vpcs/" + leftover + "/vpc-0123456789abcdef0/tunnel", "gone.example:50000"},
	} {
		if _, err := root.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(p.name), Value: aws.String(p.value),
			Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
			t.Fatalf("putting %s: %v", p.name, err)
		}
	}
	wrong := member(0) + "/" + vpc + "/" + string(reconcile.WrongParameters)
	stale := leftover + "/vpc-0123456789abcdef0/" + string(reconcile.StaleParameters)
	for reads, want := range map[reconcile.ParameterReads][]string{
		reconcile.ReadEachAccount: {wrong},
		reconcile.ReadPrefix:      {wrong, stale},
	} {
		s := l.sweep(t, reads, `{"dryRun":true}`)
		var got []string
		for _, in := range s.runs() {
			if in.err != nil {
				t.Fatalf("%s: %v", reads, in.err)
			}
			for _, it := range in.rep.Items {
				got = append(got, it.Account+"/"+it.VPCID+"/"+string(it.Drift))
			}
		}
		slices.Sort(got)
		if slices.Sort(want); !slices.Equal(got, want) {
			t.Errorf("%s: the dry run found %v, want %v", reads, got, want)
		}
	}
}

// localProcess is the local AWS running as its own process, seeded with
// an organization of accounts.
type localProcess struct {
	url      string
	accounts int
	env      map[string]string // the functions' environment
	// client is every simulated Lambda instance's HTTP client: one pool of
	// loopback connections, as the instances' own pools would be.
	client *http.Client
	// delivered are the ids of the events already delivered (runs in the
	// same second have the same run id).
	delivered map[string]bool
}

func startLocalAWS(tb testing.TB, accounts int) *localProcess {
	tb.Helper()
	dir := tb.TempDir()
	bin := filepath.Join(dir, "localaws")
	build := exec.Command("go", "build", "-o", bin, "github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/cmd/localaws")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		tb.Fatalf("building the local AWS: %v", err)
	}
	raw, err := json.Marshal(topology(tb, accounts))
	if err != nil {
		tb.Fatal(err)
	}
	topFile := filepath.Join(dir, "topology.json")
	if err := os.WriteFile(topFile, raw, 0o644); err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-addr", addr, "-topology", topFile)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	allowed := make([]string, accounts)
	for i := range accounts {
		allowed[i] = member(i)
	}
	l := &localProcess{url: "http://" + addr, accounts: accounts,
		env: map[string]string{"ENDPOINT_SERVICE_ID": "vpce-svc-0a1b2c3d4e5f60001", "EVENT_BUS_NAME": "jenkins-agent-vpcs",
			"SPOKE_EXTERNAL_ID": "bench", "GRACE_PERIOD": "0s", "ALLOWED_ACCOUNTS": strings.Join(allowed, ",")},
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}, delivered: map[string]bool{}}
	for deadline := time.Now().Add(5 * time.Minute); ; {
		resp, err := http.Get(l.url + "/_localaws/health")
		if err == nil {
			if err := resp.Body.Close(); err != nil {
				tb.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the local AWS did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return l
}

func member(i int) string { return fmt.Sprintf("%012d", 200000000000+i) }

// topology is the hub and accounts member accounts of 3 tagged VPCs each,
// their roles with the policies the templates give them.
func topology(tb testing.TB, accounts int) localaws.Topology {
	tb.Helper()
	hubPolicies, err := localstack.RolePolicies("../../template.yaml", "jenkins-agent-vpcs", benchHub, benchRegion, map[string]string{
		"OrganizationId": "o-jenkinsagents", "EndpointServiceId": "vpce-svc-0a1b2c3d4e5f60001", "SpokeExternalId": "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	// The member policies name their own account: resolve them once for a
	// placeholder and put each account's id in (resolving the template
	// 10,000 times would take longer than the sweep).
	const placeholder = "999999999999"
	memberPolicies, err := localstack.RolePolicies("../../member-template.yaml", "jenkins-agent-vpcs-member", placeholder, benchRegion, map[string]string{
		"HubAccountId": benchHub, "HubEventBusArn": "arn:aws:events:" + benchRegion + ":" + benchHub + ":event-bus/jenkins-agent-vpcs",
		"HubFunctionRoleArns": "arn:aws:iam::" + benchHub + ":role/jenkins-agent-vpcs-reconcile", "ExternalId": "bench",
		"EndpointServiceName": "com.amazonaws.vpce." + benchRegion + ".vpce-svc-0a1b2c3d4e5f60001"})
	if err != nil {
		tb.Fatal(err)
	}
	spokePolicies := memberPolicies["jenkins-agent-vpcs-spoke"]
	if len(spokePolicies) == 0 || len(hubPolicies["jenkins-agent-vpcs-reconcile"]) == 0 {
		tb.Fatal("the templates give the reconcile or the spoke role no policy")
	}
	top := localaws.Topology{Region: benchRegion, Organization: &localaws.Organization{ID: "o-jenkinsagents"}, Accounts: []localaws.Account{{
		ID: benchHub,
		Roles: []localaws.Role{{Name: "jenkins-agent-vpcs-reconcile", Trust: localaws.Trust{Principals: []string{"lambda.amazonaws.com"}},
			Policies: hubPolicies["jenkins-agent-vpcs-reconcile"]}},
		EventBuses: []localaws.EventBus{{Name: "jenkins-agent-vpcs"}},
		EndpointServices: []localaws.EndpointService{{ID: "vpce-svc-0a1b2c3d4e5f60001", AcceptanceRequired: true,
			AZs: []string{"use1-az1", "use1-az2", "use1-az4"}, Ports: []int{50000}}},
	}}}
	// The service allows each account's spoke role from the start, as the
	// onboard function leaves it: the set-up's first run would otherwise
	// allow them all in one call of 10,000 principals, which the local AWS
	// refuses as a query string of more than 10,000 parameters (Go's
	// net/url limit).
	service := &top.Accounts[0].EndpointServices[0]
	for i := range accounts {
		id := member(i)
		service.AllowedPrincipals = append(service.AllowedPrincipals, "arn:aws:iam::"+id+":role/jenkins-agent-vpcs-spoke")
		policies := make([]localaws.RolePolicy, len(spokePolicies))
		for j, p := range spokePolicies {
			policies[j] = localaws.RolePolicy{Name: p.Name, Document: []byte(strings.ReplaceAll(string(p.Document), placeholder, id))}
		}
		a := localaws.Account{ID: id, Roles: []localaws.Role{{Name: "jenkins-agent-vpcs-spoke", Policies: policies,
			Trust: localaws.Trust{ExternalID: "bench", Principals: []string{"arn:aws:iam::" + benchHub + ":role/jenkins-agent-vpcs-reconcile"}}}}}
		for v := range 3 {
			a.VPCs = append(a.VPCs, localaws.VPC{CIDR: fmt.Sprintf("10.%d.0.0/16", v), Tags: map[string]string{"jenkins-agents": "true"},
				Subnets: []localaws.Subnet{{AZ: "us-east-1a"}, {AZ: "us-east-1b"}, {AZ: "us-east-1c"}}})
		}
		top.Accounts = append(top.Accounts, a)
	}
	return top
}

// onboard brings every agent VPC in sync: reconciler runs over a
// thousand accounts at a time that onboard all their VPCs, unpaced and
// unthrottled (set-up, not the measure), until a run finds nothing to do.
// One run over 10,000 accounts would settle 30,000 connections at once,
// naming them all in one DescribeVpcEndpointConnections filter.
func (l *localProcess) onboard(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	env := maps.Clone(l.env)
	env["FANOUT_THRESHOLD"], env["CONCURRENCY"] = "1000000", "1024"
	// A quarter of production's pause before asking EC2 again, as the
	// scenario tests of shared/function do.
	rec := l.core(tb, env, time.Now, 250*time.Millisecond).Reconciler()
	rec.Store.Pace, rec.VPCs.Store.Pace, rec.Store.ReadPace, rec.VPCs.Store.ReadPace = nil, nil, nil, nil
	rec.Guard.Pace, rec.VPCs.Guard.Pace = nil, nil
	rec.Store.SSM = advancedTier{rec.Store.SSM}
	rec.VPCs.Store = rec.Store
	for start := 0; start < l.accounts; start += 1000 {
		var chunk []string
		for i := start; i < min(start+1000, l.accounts); i++ {
			chunk = append(chunk, member(i))
		}
		for i := 0; ; i++ {
			rep, err := rec.Run(ctx, reconcile.Request{Accounts: chunk, Deep: reconcile.DeepAll})
			if err != nil {
				tb.Fatalf("set-up run %d of accounts %d+: %v", i, start, err)
			}
			if rep.Drifts == 0 && len(rep.FailedAccounts) == 0 {
				break
			}
			if i == 5 {
				tb.Fatalf("set-up run %d of accounts %d+: %d drifts, failed: %v %v", i, start, rep.Drifts, rep.FailedRepairs, rep.FailedAccounts)
			}
			time.Sleep(localaws.DefaultConsistencyWindow + 500*time.Millisecond) // what was written is visible
		}
	}
}

// advancedTier stores new parameters in the advanced tier: 10,000
// accounts of 3 agent VPCs publish 60,000 parameters, and the standard
// tier holds 10,000 per account and Region, the advanced tier 100,000
// (the SDK's ssm.PutParameterInput.Tier; "Managing parameter tiers",
// https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html).
// Reads are the same calls in either tier.
type advancedTier struct{ tunnel.SSM }

func (a advancedTier) PutParameter(ctx context.Context, in *ssm.PutParameterInput, optFns ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	if in.Tier == "" {
		in.Tier = ssmtypes.ParameterTierAdvanced
	}
	return a.SSM.PutParameter(ctx, in, optFns...)
}

// core builds the reconcile function's graph as main does, with the
// credentials Lambda gives its role: one Lambda instance.
func (l *localProcess) core(tb testing.TB, env map[string]string, now func() time.Time, retry time.Duration) *function.Core {
	tb.Helper()
	var creds localaws.Credentials
	raw := l.admin(tb, "POST", "credentials", `{"account":"`+benchHub+`","role":"jenkins-agent-vpcs-reconcile","session":"reconcile"}`)
	if err := json.Unmarshal(raw, &creds); err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		tb.Fatal(err)
	}
	base := aws.Config{Region: benchRegion, BaseEndpoint: aws.String(l.url), Retryer: function.Retryer, HTTPClient: l.client,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)}
	return function.NewCore(cfg, function.ClientsFrom(base, cfg), function.Options{Region: benchRegion,
		Log: telemetry.NewLogger(io.Discard, "error"), MetricsOut: io.Discard, SessionName: "reconcile", Now: now, RetryInterval: retry})
}

// invocation is what one reconcile invocation came to.
type invocation struct {
	wall time.Duration
	rep  reconcile.Report
	err  error
}

// invoke runs one cold reconcile invocation through the handler's entry,
// with Lambda's context and timeout.
func (l *localProcess) invoke(tb testing.TB, reads reconcile.ParameterReads, now func() time.Time, payload []byte) invocation {
	h := l.core(tb, l.env, now, 0).Reconcile()
	h.Reconciler.Parameters = reads
	ctx, cancel := context.WithTimeout(context.Background(), lambdaTimeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("bench-%p", h),
		InvokedFunctionArn: "arn:aws:lambda:" + benchRegion + ":" + benchHub + ":function:jenkins-agent-vpcs-reconcile"})
	start := time.Now()
	out, err := h.Invoke(ctx, payload)
	in := invocation{wall: time.Since(start), err: err}
	if err == nil {
		in.err = json.Unmarshal(out, &in.rep)
	}
	return in
}

// sweep is one scheduled sweep: its invocations and what they cost.
type sweep struct {
	wall          time.Duration
	scheduled     invocation
	fanout        []invocation
	batches       int
	byAPI         map[string]int // calls by service:action
	throttled     map[string]int // throttling errors by service:action
	scheduledHeap uint64         // peak heap during the scheduled invocation
	fanoutHeap    uint64         // peak heap of all fan-out invocations together
}

// sweep runs the scheduled invocation (the schedule's event at minute 20
// of an hour, or the request given), then every fan-out batch it put on
// the bus, all at once as Lambda would start them.
func (l *localProcess) sweep(tb testing.TB, reads reconcile.ParameterReads, request string) sweep {
	tb.Helper()
	hour := time.Now().UTC().Truncate(time.Hour).Add(20 * time.Minute)
	skew := time.Until(hour)
	now := func() time.Time { return time.Now().Add(skew) }
	scheduled := fmt.Sprintf(`{"version":"0","id":"bench","detail-type":"Scheduled Event","source":"aws.events","account":%q,`+
		`"time":%q,"region":%q,"resources":["arn:aws:events:%s:%s:rule/jenkins-agent-vpcs-reconcile"],"detail":{}}`,
		benchHub, hour.Format(time.RFC3339), benchRegion, benchRegion, benchHub)
	if request != "" {
		scheduled = request
	}
	l.admin(tb, "DELETE", "calls", "")
	var s sweep
	peak := watchHeap()
	start := time.Now()
	s.scheduled = l.invoke(tb, reads, now, []byte(scheduled))
	s.scheduledHeap = peak()
	if s.scheduled.err != nil {
		tb.Fatalf("%s: the scheduled invocation failed: %v", reads, s.scheduled.err)
	}
	batches := l.fanoutEvents(tb, s.scheduled.rep.RunID)
	if len(batches) != s.scheduled.rep.FanoutBatches {
		tb.Fatalf("%s: the scheduled run put %d fan-out batches, the bus has %d", reads, s.scheduled.rep.FanoutBatches, len(batches))
	}
	s.batches = len(batches)
	if len(batches) > 0 {
		s.fanout = make([]invocation, len(batches))
		peak = watchHeap()
		var wg sync.WaitGroup
		for i, ev := range batches {
			wg.Go(func() { s.fanout[i] = l.invoke(tb, reads, now, ev) })
		}
		wg.Wait()
		s.fanoutHeap = peak()
	}
	s.wall = time.Since(start)
	s.byAPI, s.throttled = l.calls(tb)
	return s
}

// fanoutEvents are the fan-out batches of run on the bus not delivered
// yet, as EventBridge delivers them to the function.
func (l *localProcess) fanoutEvents(tb testing.TB, run string) [][]byte {
	tb.Helper()
	var recent []json.RawMessage
	if err := json.Unmarshal(l.admin(tb, "GET", "events", ""), &recent); err != nil {
		tb.Fatalf("decoding the bus's events: %v", err)
	}
	var out [][]byte
	for _, raw := range recent {
		var ev struct {
			ID         string `json:"id"`
			DetailType string `json:"detail-type"`
			Detail     struct {
				RunID string `json:"runId"`
			} `json:"detail"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			tb.Fatalf("decoding an event of the bus: %v", err)
		}
		if ev.DetailType == "Reconcile Accounts" && strings.HasPrefix(ev.Detail.RunID, run+"-") && !l.delivered[ev.ID] {
			l.delivered[ev.ID] = true
			out = append(out, raw)
		}
	}
	return out
}

// runs are the invocations that swept accounts: the fan-out batches, or
// the scheduled run when it swept them itself.
func (s sweep) runs() []invocation {
	if s.batches == 0 {
		return []invocation{s.scheduled}
	}
	return s.fanout
}

// inSync fails unless the sweep's invocations all succeeded, together saw
// every account and agent VPC, found no drift, and wrote nothing (the
// fan-out batches and the reports are events, not writes).
func (s sweep) inSync(tb testing.TB, reads reconcile.ParameterReads, accounts int) {
	tb.Helper()
	swept, vpcs := 0, 0
	for i, in := range s.runs() {
		if in.err != nil {
			tb.Errorf("%s: invocation %d failed after %s: %v", reads, i, in.wall, in.err)
			continue
		}
		if in.rep.Drifts != 0 || len(in.rep.FailedAccounts)+len(in.rep.FailedRepairs) > 0 {
			tb.Errorf("%s: invocation %d of an in-sync organization found %d drifts; failed accounts %v, repairs %v",
				reads, i, in.rep.Drifts, in.rep.FailedAccounts, in.rep.FailedRepairs)
		}
		swept += in.rep.Accounts
		vpcs += in.rep.VPCs
	}
	if swept != accounts || vpcs != 3*accounts {
		tb.Errorf("%s: the sweep saw %d accounts and %d agent VPCs, want %d and %d", reads, swept, vpcs, accounts, 3*accounts)
	}
	for api, n := range s.byAPI {
		action := api[strings.Index(api, ":")+1:]
		if !strings.HasPrefix(action, "Describe") && !strings.HasPrefix(action, "Get") && action != "AssumeRole" && action != "PutEvents" {
			tb.Errorf("%s: the sweep of an in-sync organization called %s %d times", reads, api, n)
		}
	}
}

// report logs the sweep's calls by API and reports its figures.
func (s sweep) report(b *testing.B, accounts int) {
	longest := s.scheduled.wall
	for _, in := range s.fanout {
		longest = max(longest, in.wall)
	}
	total, throttled := 0, 0
	var lines []string
	for _, api := range slices.Sorted(maps.Keys(s.byAPI)) {
		total += s.byAPI[api]
		throttled += s.throttled[api]
		lines = append(lines, fmt.Sprintf("%s %d (%.2f/account, %d throttled)", api, s.byAPI[api], float64(s.byAPI[api])/float64(accounts), s.throttled[api]))
	}
	failed := 0
	for _, in := range s.runs() {
		if in.err != nil {
			failed++
		}
	}
	// Logged too: a failed benchmark's metrics are not printed.
	b.Logf("%d accounts: wall %.1f s, longest invocation %.1f s, %d fan-out invocations (%d failed), %.2f calls/account, %d throttled, "+
		"peak heap %.0f MB (scheduled run), %.0f MB (fan-out invocations together); calls: %s",
		accounts, s.wall.Seconds(), longest.Seconds(), s.batches, failed, float64(total)/float64(accounts), throttled,
		float64(s.scheduledHeap)/(1<<20), float64(s.fanoutHeap)/(1<<20), strings.Join(lines, "; "))
	b.ReportMetric(s.wall.Seconds(), "wall-s")
	b.ReportMetric(longest.Seconds(), "longest-invocation-s")
	b.ReportMetric(float64(s.batches), "fanout-invocations")
	b.ReportMetric(float64(total)/float64(accounts), "calls/account")
	b.ReportMetric(float64(s.byAPI["ssm:GetParametersByPath"])/float64(accounts), "ssm-reads/account")
	b.ReportMetric(float64(throttled), "throttled")
	b.ReportMetric(float64(s.scheduledHeap)/(1<<20), "scheduled-peak-heap-MB")
	b.ReportMetric(float64(s.fanoutHeap)/(1<<20), "fanout-peak-heap-MB")
}

func (l *localProcess) admin(tb testing.TB, method, path, body string) []byte {
	tb.Helper()
	req, err := http.NewRequest(method, l.url+"/_localaws/"+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	if resp.StatusCode >= 300 {
		tb.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
	return out
}

// calls totals the local AWS's call counters by service:action: calls
// made, and those answered with a throttling error.
func (l *localProcess) calls(tb testing.TB) (byAPI, throttled map[string]int) {
	tb.Helper()
	var counts []localaws.CallCount
	if err := json.Unmarshal(l.admin(tb, "GET", "calls", ""), &counts); err != nil {
		tb.Fatalf("decoding calls: %v", err)
	}
	byAPI, throttled = map[string]int{}, map[string]int{}
	for _, c := range counts {
		byAPI[c.Service+":"+c.Action] += c.Count
		throttled[c.Service+":"+c.Action] += c.Throttled
	}
	return byAPI, throttled
}

// watchHeap samples the heap until the returned func is called, which
// returns the peak in bytes.
func watchHeap() func() uint64 {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(stop); <-done; return peak.Load() }
}
