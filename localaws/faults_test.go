package localaws

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestFaultsForCountRatioAndAccount(t *testing.T) {
	srv, url := startServer(t, Options{Seed: 7})
	hubSSM := ssm.NewFromConfig(awsConfig(url, hub, "x", ""))
	memberSSM := ssm.NewFromConfig(awsConfig(url, member, "x", ""))
	get := func(c *ssm.Client) error {
		_, err := c.GetParametersByPath(ctx(t), &ssm.GetParametersByPathInput{Path: aws.String("/x")})
		return err
	}
	srv.InjectFault(Fault{Service: "ssm", Action: "GetParametersByPath", Account: member, Code: "AccessDeniedException", Count: 2})
	wantCode(t, get(memberSSM), "AccessDeniedException")
	if err := get(hubSSM); err != nil {
		t.Fatalf("fault leaked to another account: %v", err)
	}
	wantCode(t, get(memberSSM), "AccessDeniedException")
	if err := get(memberSSM); err != nil {
		t.Fatalf("fault outlived its count: %v", err)
	}
	if len(srv.Faults()) != 0 {
		t.Fatalf("spent fault still listed: %+v", srv.Faults())
	}

	srv.InjectFault(Fault{Service: "ssm", Code: "ThrottlingException", Ratio: 0.5})
	failed := 0
	for range 200 {
		if get(hubSSM) != nil {
			failed++
		}
	}
	if failed < 70 || failed > 130 {
		t.Fatalf("ratio 0.5 failed %d of 200", failed)
	}
	srv.ClearFaults()

	srv.InjectFault(Fault{Service: "sts", Latency: Duration(30 * time.Millisecond)})
	start := time.Now()
	if _, err := sts.NewFromConfig(awsConfig(url, hub, "x", "")).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Fatal("latency not added")
	}
	if n := srv.CallCount("ssm", "GetParametersByPath", member); n != 3 {
		t.Fatalf("member GetParametersByPath count = %d, want 3", n)
	}
	if n := srv.CallCount("ssm", "GetParametersByPath", ""); n != 204 {
		t.Fatalf("total GetParametersByPath count = %d, want 204", n)
	}
	srv.ResetCalls()
	if len(srv.Calls()) != 0 {
		t.Fatal("counters not reset")
	}
}

func TestSSMThrottling(t *testing.T) {
	srv, url := startServer(t, Options{Throttle: true})
	srv.Clock().Set(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	c := ssm.NewFromConfig(awsConfig(url, hub, "x", ""))
	put := func(i int) error {
		_, err := c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String("/p"), Value: aws.String(strings.Repeat("v", i+1)), Type: types.ParameterTypeString, Overwrite: aws.Bool(true)})
		return err
	}
	for i := range 3 {
		if err := put(i); err != nil {
			t.Fatalf("put %d within burst: %v", i, err)
		}
	}
	wantCode(t, put(3), "ThrottlingException")
	srv.Clock().Advance(time.Second)
	if err := put(4); err != nil {
		t.Fatalf("put after refill: %v", err)
	}
	// Another account has its own bucket.
	if _, err := ssm.NewFromConfig(awsConfig(url, member, "x", "")).PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String("/p"), Value: aws.String("v"), Type: types.ParameterTypeString}); err != nil {
		t.Fatalf("member throttled by hub's bucket: %v", err)
	}
	for range 40 { // drain the bucket: the first calls pass, the rest are throttled
		if _, err := c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/p")}); err != nil {
			wantCode(t, err, "ThrottlingException")
		}
	}
	_, err := c.GetParameters(ctx(t), &ssm.GetParametersInput{Names: []string{"/p"}})
	wantCode(t, err, "ThrottlingException")
}

func TestEC2ThrottleBuckets(t *testing.T) {
	th := throttle{}
	th.set(true)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	take := func(action string, n int) (ok int, last error) {
		for range n {
			if err := th.take(now, "ec2", action, hub, region); err != nil {
				if err.Status != 503 || err.Code != "RequestLimitExceeded" {
					t.Fatalf("throttle error = %+v", err)
				}
				last = err
			} else {
				ok++
			}
		}
		return ok, last
	}
	for _, tc := range []struct {
		action string
		burst  int
	}{{"CreateVpcEndpoint", 4}, {"AcceptVpcEndpointConnections", 10}, {"CreateTags", 100}, {"DescribeVpcs", 100}, {"CreateSecurityGroup", 50}} {
		if ok, _ := take(tc.action, tc.burst+5); ok != tc.burst {
			t.Errorf("%s: %d calls passed, want burst %d", tc.action, ok, tc.burst)
		}
	}
	// DeleteVpcEndpoints shares CreateVpcEndpoint's empty bucket; 0.3/s refills one token in 3.4 s.
	if ok, _ := take("DeleteVpcEndpoints", 1); ok != 0 {
		t.Error("DeleteVpcEndpoints does not share the endpoint bucket")
	}
	now = now.Add(3400 * time.Millisecond)
	if ok, _ := take("ModifyVpcEndpoint", 2); ok != 1 {
		t.Errorf("after 3.4s %d endpoint calls passed, want 1", ok)
	}
}

func TestAdminEndpoints(t *testing.T) {
	srv, url := startServer(t, Options{})
	do := func(method, path, body string) map[string]any {
		req, _ := http.NewRequest(method, url+path, bytes.NewBufferString(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		decodeBody(t, resp, &v)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s = %d", method, path, resp.StatusCode)
		}
		m, _ := v.(map[string]any)
		return m
	}
	do("POST", "/_localaws/faults", `{"service":"sts","action":"GetCallerIdentity","code":"AccessDenied","count":1}`)
	_, err := sts.NewFromConfig(awsConfig(url, hub, "x", "")).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	wantCode(t, err, "AccessDenied")
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 403 {
		t.Fatalf("AccessDenied status: %v", err)
	}
	resp, err := http.Get(url + "/_localaws/calls")
	if err != nil {
		t.Fatal(err)
	}
	var calls []CallCount
	decodeBody(t, resp, &calls)
	if len(calls) != 1 || calls[0] != (CallCount{Service: "sts", Action: "GetCallerIdentity", Account: hub, Count: 1}) {
		t.Fatalf("calls = %+v", calls)
	}
	do("DELETE", "/_localaws/calls", "")
	if len(srv.Calls()) != 0 {
		t.Fatal("calls not reset")
	}
	got := do("POST", "/_localaws/clock", `{"set":"2030-01-01T00:00:00Z"}`)
	if got["now"] != "2030-01-01T00:00:00Z" || !srv.Clock().Frozen() {
		t.Fatalf("clock = %v", got)
	}
	if got = do("POST", "/_localaws/clock", `{"advance":"90s"}`); got["now"] != "2030-01-01T00:01:30Z" {
		t.Fatalf("advanced clock = %v", got)
	}
	do("POST", "/_localaws/throttle", `{"enabled":true}`)
	if do("GET", "/_localaws/throttle", "")["enabled"] != true {
		t.Fatal("throttle not enabled")
	}
	do("POST", "/_localaws/topology", "accounts:\n- id: \"444444444444\"\n  roles:\n  - name: r\n    trust: {principals: [\"*\"]}\n")
	creds := do("POST", "/_localaws/credentials", `{"account":"444444444444","role":"r","session":"fn"}`)
	if creds["AssumedRoleARN"] != "arn:aws:sts::444444444444:assumed-role/r/fn" {
		t.Fatalf("credentials = %v", creds)
	}
}

// An after-effect fault on CreateVpcEndpoint: the endpoint exists while
// the client sees an error (or a dropped connection); the SDK's retry of
// the same request (same ClientToken) gets the same endpoint back, and no
// second one is made. A fault before the call changes nothing.
func TestAfterEffectFaultOnCreateVpcEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fault     Fault
		wantCode  string // "" when the connection is dropped
		wantAfter int    // endpoints after the failed call
	}{
		{"answer lost", Fault{After: true}, "InternalError", 1},
		{"connection dropped after", Fault{After: true, Drop: true}, "", 1},
		{"connection dropped before", Fault{Drop: true}, "", 0},
		{"error before", Fault{Code: "InternalError"}, "InternalError", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, url := startServer(t, Options{Topology: privateLinkTopology()})
			spoke := spokeEC2(t, url)
			vpcs, err := spoke.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{})
			if err != nil {
				t.Fatal(err)
			}
			vpc := aws.ToString(vpcs.Vpcs[0].VpcId)
			subnets, err := spoke.DescribeSubnets(ctx(t), &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
			if err != nil {
				t.Fatal(err)
			}
			in := &ec2.CreateVpcEndpointInput{VpcId: aws.String(vpc), ServiceName: aws.String("com.amazonaws.vpce." + region + ".vpce-svc-0123456789abcdef0"),
				VpcEndpointType: ec2types.VpcEndpointTypeInterface, SubnetIds: []string{aws.ToString(subnets.Subnets[0].SubnetId)},
				PrivateDnsEnabled: aws.Bool(false), ClientToken: aws.String("agent-vpc-" + vpc)}
			// endpoints lists the member's endpoints a consistency window
			// after the call, when a filtered describe shows what it made.
			endpoints := func() []string {
				later(srv)
				out, err := spoke.DescribeVpcEndpoints(ctx(t), &ec2.DescribeVpcEndpointsInput{})
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, e := range out.VpcEndpoints {
					ids = append(ids, aws.ToString(e.VpcEndpointId))
				}
				return ids
			}

			f := tc.fault
			f.Service, f.Action, f.Count = "ec2", "CreateVpcEndpoint", 1
			srv.InjectFault(f)
			_, err = spoke.CreateVpcEndpoint(ctx(t), in)
			if tc.wantCode != "" {
				wantCode(t, err, tc.wantCode)
				var re *smithyhttp.ResponseError
				if !errors.As(err, &re) || re.HTTPStatusCode() != 500 {
					t.Errorf("status of %v, want 500", err)
				}
			} else if err == nil || errors.As(err, new(smithy.APIError)) {
				t.Fatalf("want a broken connection, got %v", err)
			}
			if got := endpoints(); len(got) != tc.wantAfter {
				t.Fatalf("endpoints after the failed call: %v, want %d", got, tc.wantAfter)
			}

			// The same fault again, and a client that retries as the SDK's
			// standard retryer does (InternalError and broken connections
			// are retryable), without waiting.
			srv.InjectFault(f)
			retrying := ec2.New(spoke.Options(), func(o *ec2.Options) {
				o.RetryMaxAttempts = 0
				o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = 3; so.Backoff = noBackoff{} })
			})
			out, err := retrying.CreateVpcEndpoint(ctx(t), in)
			if err != nil {
				t.Fatalf("retried create: %v", err)
			}
			got := endpoints()
			if len(got) != 1 || got[0] != aws.ToString(out.VpcEndpoint.VpcEndpointId) {
				t.Errorf("after the retry: endpoints %v, answer %s; want the one endpoint", got, aws.ToString(out.VpcEndpoint.VpcEndpointId))
			}
			if n := srv.CallCount("ec2", "CreateVpcEndpoint", member); n != 3 {
				t.Errorf("CreateVpcEndpoint called %d times, want 3 (failed, failed, retried)", n)
			}
		})
	}
}

type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

// Target matches the account of what the call names: the role AssumeRole
// assumes, the bus PutEvents puts on; Account (the caller) cannot say that.
func TestFaultTargetsTheAccountOfWhatTheCallNames(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology()})
	fn, err := sts.NewFromConfig(awsConfig(url, hub, "x", "")).AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + hub + ":role/jenkins-agent-vpcs-onboard"), RoleSessionName: aws.String("onboard")})
	if err != nil {
		t.Fatal(err)
	}
	c := fn.Credentials
	onboard := sts.NewFromConfig(awsConfig(url, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken))
	assume := func(account string) error {
		_, err := onboard.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + account + ":role/jenkins-agent-vpcs-spoke"),
			RoleSessionName: aws.String("onboard"), ExternalId: aws.String("jenkins-agent-vpcs")})
		return err
	}
	memberEB := eventbridge.NewFromConfig(awsConfig(url, member, "x", ""))
	put := func(bus string) error {
		out, err := memberEB.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			Source: aws.String("jav.test"), DetailType: aws.String("x"), Detail: aws.String(`{}`), EventBusName: aws.String(bus)}}})
		if err == nil && out.FailedEntryCount != 0 {
			err = errors.New(aws.ToString(out.Entries[0].ErrorCode))
		}
		return err
	}
	hubBus := "arn:aws:events:" + region + ":" + hub + ":event-bus/jenkins-agent-vpcs"

	srv.InjectFault(Fault{Service: "sts", Action: "AssumeRole", Account: member, Code: "AccessDenied"})
	if err := assume(member); err != nil {
		t.Fatalf("a fault on the caller account %s matched the hub's call: %v", member, err)
	}
	srv.ClearFaults()
	srv.InjectFault(Fault{Service: "sts", Action: "AssumeRole", Target: member, Code: "AccessDenied"})
	wantCode(t, assume(member), "AccessDenied")
	if err := assume(member2); err != nil {
		t.Errorf("the fault on %s's role refused %s's: %v", member, member2, err)
	}
	srv.ClearFaults()
	srv.InjectFault(Fault{Service: "events", Action: "PutEvents", Target: hub, Code: "AccessDeniedException"})
	wantCode(t, put(hubBus), "AccessDeniedException")
	if err := put("default"); err != nil {
		t.Errorf("the fault on the hub's bus refused the member's own: %v", err)
	}
}

// The admin endpoint takes the new fields as JSON and lists them.
func TestAdminFaultFields(t *testing.T) {
	srv, url := startServer(t, Options{})
	resp, err := http.Post(url+"/_localaws/faults", "application/json",
		strings.NewReader(`{"service":"sts","action":"AssumeRole","target":"222222222222","after":true,"count":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	got := srv.Faults()
	if len(got) != 1 || got[0].Target != member || !got[0].After || got[0].Code != "InternalError" || got[0].Status != 500 {
		t.Errorf("faults = %+v, want an after-effect InternalError fault on target %s", got, member)
	}
}

// TestPutParameterRateOption: the PutParameter rate is an option (AWS
// raises it with the higher throughput setting): at 10 per second, ten
// calls pass in a burst and the eleventh is throttled.
func TestPutParameterRateOption(t *testing.T) {
	th := throttle{putParameterRate: 10}
	th.set(true)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	passed := 0
	for range 11 {
		if err := th.take(now, "ssm", "PutParameter", hub, region); err == nil {
			passed++
		} else if err.Code != "ThrottlingException" {
			t.Fatalf("throttle error = %+v", err)
		}
	}
	if passed != 10 {
		t.Errorf("%d PutParameter calls passed at 10 per second, want 10", passed)
	}
	if err := th.take(now.Add(100*time.Millisecond), "ssm", "PutParameter", hub, region); err != nil {
		t.Errorf("a call a tenth of a second later was throttled: %v", err)
	}
}
