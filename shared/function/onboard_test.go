package function_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/localawstest"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function"
)

var tunnelRE = regexp.MustCompile(`^vpce-[0-9a-f]+-[a-z0-9]+\.vpce-svc-[0-9a-f]+\.us-east-1\.vpce\.amazonaws\.com:50000$`)

// assertOnboarded checks the whole footprint of a tagged VPC.
func (e *env) assertOnboarded(acct, vpc string) footprint {
	e.t.Helper()
	f := e.footprint(acct, vpc)
	if len(f.Endpoints) != 1 {
		e.t.Fatalf("%s: want exactly one endpoint, got %+v", vpc, f.Endpoints)
	}
	ep := f.Endpoints[0]
	if len(f.Groups) != 2 {
		e.t.Fatalf("%s: want two managed groups, got %+v", vpc, f.Groups)
	}
	if !tunnelRE.MatchString(f.Tunnel) {
		e.t.Errorf("%s: tunnel %q is not the regional DNS name and port", vpc, f.Tunnel)
	}
	if !strings.HasPrefix(f.Tunnel, ep.ID+"-") {
		e.t.Errorf("%s: tunnel %q is not endpoint %s's", vpc, f.Tunnel, ep.ID)
	}
	if f.Document["endpointId"] != ep.ID || f.Document["tunnel"] != f.Tunnel || f.Document["vpcId"] != vpc ||
		f.Document["jenkinsUrl"] != "http://"+strings.TrimSuffix(f.Tunnel, ":50000")+":8080/" {
		e.t.Errorf("%s: document %v does not match endpoint %s", vpc, f.Document, ep.ID)
	}
	if f.JenkinsURL != f.Document["jenkinsUrl"] {
		e.t.Errorf("%s: jenkins-url parameter %q, document says %v", vpc, f.JenkinsURL, f.Document["jenkinsUrl"])
	}
	if f.Tags[agentvpc.TagEndpoint] != ep.ID || f.Tags[agentvpc.TagStatus] == "" {
		e.t.Errorf("%s: status tags %v", vpc, f.Tags)
	}
	if !slices.Contains(f.Principals, functionRolesSpoke(acct)) {
		e.t.Errorf("principal for %s missing: %v", acct, f.Principals)
	}
	// One subnet per offered AZ, matched by AZ ID: the service offers three AZ IDs,
	// the VPC spans four AZs, and the names map to other IDs in each account.
	for _, s := range ep.SubnetIDs {
		if !slices.Contains(e.subnets[vpc], s) {
			e.t.Errorf("endpoint subnet %s is not in %s", s, vpc)
		}
	}
	offered := 0
	for _, az := range []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"} {
		if id := e.w.AZID(acct, az); id == "use1-az1" || id == "use1-az2" || id == "use1-az4" {
			offered++
		}
	}
	if len(ep.SubnetIDs) != offered {
		e.t.Errorf("endpoint has %d subnets, want %d (one per offered AZ)", len(ep.SubnetIDs), offered)
	}
	return f
}

func functionRolesSpoke(acct string) string {
	return localawstest.RoleARN(acct, "jenkins-agent-vpcs-spoke")
}

func TestTagToTunnel(t *testing.T) {
	e := newEnv(t, nil)
	vpc := e.vpcs[savedVPC]
	e.tag(member, vpc, "TRUE")
	if err := e.onboard("tag-change-tagged.json"); err != nil {
		t.Fatal(err)
	}
	f := e.assertOnboarded(member, vpc)
	ep := f.Endpoints[0]
	if got := e.w.EndpointState(member, ep.ID); !agentvpc.StateIs(got, agentvpc.StatePending, agentvpc.StateAvailable) {
		t.Errorf("connection not accepted: endpoint is %s", got)
	}
	if e.statusEvents("connecting")+e.statusEvents("ready") != 1 {
		t.Errorf("want one status event, got %v", e.w.Events(hub))
	}
	// The endpoint was created as the spoke role asked: private DNS off, managed tags.
	out, _ := e.w.EC2(member).DescribeVpcEndpoints(context.Background(), &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{ep.ID}})
	got := out.VpcEndpoints[0]
	if aws.ToBool(got.PrivateDnsEnabled) || agentvpc.TagMap(got.Tags)[agentvpc.TagManaged] != "true" {
		t.Errorf("endpoint %+v", got)
	}
	if !strings.Contains(e.logs.String(), `"CloudWatchMetrics"`) || !strings.Contains(e.logs.String(), `"VPCsOnboarded":1`) {
		t.Errorf("no embedded metrics in output:\n%s", e.logs.String())
	}

	// Once the endpoint is available, a re-drive publishes the new state and nothing else.
	e.w.Later()
	mark := e.mark()
	if err := e.onboard("redrive.json"); err != nil {
		t.Fatal(err)
	}
	for _, c := range leaseless(t, e.writes(mark)) {
		if c.Action != "PutParameter" && c.Action != "CreateTags" && c.Action != "PutEvents" {
			t.Errorf("re-drive of an onboarded VPC wrote %s", c.Action)
		}
	}
	// A third run, once the second's writes show, has nothing left to
	// write but the outcome's event (re-sent so that a lost one is not
	// lost for good) and its lease.
	e.w.Later()
	mark = e.mark()
	if err := e.onboard("redrive.json"); err != nil {
		t.Fatal(err)
	}
	for _, c := range leaseless(t, e.writes(mark)) {
		if c.Action != "PutEvents" {
			t.Errorf("converged VPC still written: %+v", c)
		}
	}
}

// leaseless drops from an invocation's writes the taking and giving back
// of its lease (one PutParameter, then one DeleteParameters: see
// converge.AgentVPCs.lease), failing the test when they are not there.
func leaseless(t *testing.T, writes []localaws.Call) []localaws.Call {
	t.Helper()
	put := slices.IndexFunc(writes, func(c localaws.Call) bool { return c.Action == "PutParameter" })
	del := slices.IndexFunc(writes, func(c localaws.Call) bool { return c.Action == "DeleteParameters" })
	if put < 0 || del < put {
		t.Errorf("no lease taken and given back in %+v", writes)
		return writes
	}
	out := slices.Delete(slices.Clone(writes), del, del+1)
	return slices.Delete(out, put, put+1)
}

func TestSameEventTwiceConverges(t *testing.T) {
	e := newEnv(t, nil)
	vpc := e.vpcs[savedVPC]
	e.tag(member, vpc, "true")
	for range 2 {
		if err := e.onboard("tag-change-tagged.json"); err != nil {
			t.Fatal(err)
		}
	}
	e.assertOnboarded(member, vpc)
	if n := e.w.CallCount("ec2", "CreateVpcEndpoint"); n != 1 {
		t.Errorf("CreateVpcEndpoint called %d times", n)
	}
}

func TestRacingInvocationsMakeOneEndpoint(t *testing.T) {
	e := newEnv(t, nil)
	vpc := e.vpcs[savedVPC]
	e.tag(member, vpc, "true")
	// Two function instances, each with its own clients and caches, as Lambda runs them.
	a, b := e.core("onboard").Onboard(), e.core("onboard").Onboard()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := a
			if i%2 == 1 {
				h = b
			}
			errs[i] = invoke(t, h, e.event([]string{"tag-change-tagged.json", "cloudtrail-createtags-mixed.json"}[i%2]))
		}()
	}
	wg.Wait()
	// A loser of the race may fail (its accept came second, say); Lambda
	// retries it, and the retry converges.
	for i, err := range errs {
		if err != nil {
			t.Logf("invocation %d: %v (retrying, as Lambda would)", i, err)
			if err := e.onboard("redrive.json"); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.assertOnboarded(member, vpc)
	// Not one endpoint left, one ever created: deleted endpoints stay
	// described (state deleted) for an hour, so a loser's endpoint that was
	// created and cleaned up again would show here.
	o, err := agentvpc.Observe(context.Background(), e.w.EC2(member), member, region, vpc)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Endpoints) != 1 {
		t.Errorf("%d endpoints ever created in %s, want 1: %+v", len(o.Endpoints), vpc, o.Endpoints)
	}
}

func TestCreateTagsOnManyResources(t *testing.T) {
	e := newEnv(t, nil)
	one, two := e.vpcs[savedVPC], e.vpcs[savedVPC2]
	e.tag(member, one, "true")
	e.tag(member, two, "true")
	if err := e.onboard("cloudtrail-createtags-mixed.json"); err != nil {
		t.Fatal(err)
	}
	e.assertOnboarded(member, one)
	e.assertOnboarded(member, two)
}

func TestCreateVpcWithTags(t *testing.T) {
	e := newEnv(t, nil)
	vpc := e.vpcs[savedVPC]
	e.tag(member, vpc, "true")
	if err := e.onboard("cloudtrail-createvpc-tagged.json"); err != nil {
		t.Fatal(err)
	}
	e.assertOnboarded(member, vpc)
}

func TestUntagRemovesEverything(t *testing.T) {
	for _, evt := range []string{"tag-change-untagged.json", "cloudtrail-deletetags.json"} {
		t.Run(evt, func(t *testing.T) {
			e, vpc := onboarded(t, nil)
			ep := e.assertOnboarded(member, vpc).Endpoints[0].ID
			e.untag(member, vpc)
			if err := e.onboard(evt); err != nil {
				t.Fatal(err)
			}
			f := e.footprint(member, vpc)
			if len(f.Endpoints) != 0 || len(f.Groups) != 0 || f.Tunnel != "" || f.Document != nil || f.JenkinsURL != "" {
				t.Errorf("left behind: %+v", f)
			}
			if f.Tags[agentvpc.TagStatus] != "" || f.Tags[agentvpc.TagEndpoint] != "" {
				t.Errorf("status tags left: %v", f.Tags)
			}
			if slices.Contains(f.Principals, functionRolesSpoke(member)) {
				t.Errorf("principal of the last agent VPC's account kept: %v", f.Principals)
			}
			if got := e.w.EndpointState(member, ep); !agentvpc.StateIs(got, agentvpc.StateDeleted, agentvpc.StateDeleting, agentvpc.StateRejected) {
				t.Errorf("endpoint %s is %s", ep, got)
			}
			if names := e.w.ParameterNames(hub); len(names) != 0 {
				t.Errorf("parameters left: %v", names)
			}
			if e.statusEvents("removed") != 1 {
				t.Errorf("want one removed event")
			}
			// Removing again finds nothing to do.
			mark := e.mark()
			if err := e.onboard(evt); err != nil {
				t.Fatal(err)
			}
			if w := leaseless(t, e.writes(mark)); len(w) != 0 {
				t.Errorf("second removal wrote %+v", w)
			}
		})
	}
}

func TestUntagKeepsPrincipalWhileAnotherAgentVPCRemains(t *testing.T) {
	e := newEnv(t, nil)
	one, two := e.vpcs[savedVPC], e.vpcs[savedVPC2]
	e.tag(member, one, "true")
	e.tag(member, two, "true")
	if err := e.onboard("cloudtrail-createtags-mixed.json"); err != nil {
		t.Fatal(err)
	}
	e.untag(member, one)
	if err := e.onboard("tag-change-untagged.json"); err != nil {
		t.Fatal(err)
	}
	if f := e.footprint(member, one); len(f.Endpoints) != 0 {
		t.Errorf("untagged VPC keeps %v", f.Endpoints)
	}
	f := e.assertOnboarded(member, two)
	if got := e.w.EndpointState(member, f.Endpoints[0].ID); agentvpc.StateIs(got, agentvpc.StateRejected) {
		t.Errorf("the other VPC's connection was rejected")
	}
}

func TestDeleteVpcBlockedByOurEndpointCleansUp(t *testing.T) {
	e, vpc := onboarded(t, nil)
	ctx := context.Background()
	spokeEC2 := e.deleter(member)
	// The owner tears the VPC down: subnets first, then the VPC. Our endpoint blocks both.
	deleteSubnets := func() error {
		for _, s := range e.subnets[vpc] {
			if _, err := spokeEC2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(s)}); err != nil && !strings.Contains(err.Error(), "NotFound") {
				return err
			}
		}
		return nil
	}
	_ = deleteSubnets
	if _, err := spokeEC2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(vpc)}); err == nil {
		t.Fatal("DeleteVpc should be blocked while the endpoint and groups exist")
	}
	if err := e.onboard("cloudtrail-deletevpc-dependency.json"); err != nil {
		t.Fatal(err)
	}
	f := e.footprint(member, vpc)
	if len(f.Endpoints) != 0 || len(f.Groups) != 0 || f.Tunnel != "" {
		t.Fatalf("left behind: %+v", f)
	}
	if err := deleteSubnets(); err != nil {
		t.Fatalf("the owner's retry of DeleteSubnet still fails: %v", err)
	}
	if _, err := spokeEC2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(vpc)}); err != nil {
		t.Fatalf("the owner's retry of DeleteVpc still fails: %v", err)
	}
	// The successful DeleteVpc's record is handled as a no-op removal.
	if err := e.onboard("cloudtrail-deletevpc.json"); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteSubnetBlockedByOurEndpointReleasesIt(t *testing.T) {
	e, vpc := onboarded(t, nil)
	f := e.assertOnboarded(member, vpc)
	victim := f.Endpoints[0].SubnetIDs[0]
	e.vpcs[savedSubnet] = victim // the saved event names the subnet by this id
	ctx := context.Background()
	if _, err := e.deleter(member).DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(victim)}); err == nil {
		t.Fatal("DeleteSubnet should be blocked by the endpoint's interface")
	}
	if err := e.onboard("cloudtrail-deletesubnet-dependency.json"); err != nil {
		t.Fatal(err)
	}
	after := e.footprint(member, vpc)
	if len(after.Endpoints) != 1 || slices.Contains(after.Endpoints[0].SubnetIDs, victim) {
		t.Fatalf("endpoint still holds %s: %+v", victim, after.Endpoints)
	}
	if _, err := e.deleter(member).DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(victim)}); err != nil {
		t.Fatalf("the owner's retry still fails: %v", err)
	}
}

func TestRefusedEventsChangeNothing(t *testing.T) {
	for _, tc := range []struct{ file, reason string }{
		{"tag-change-forged-account.json", "account-mismatch"},
		{"tag-change-missing-resources.json", "bad-resources"},
		{"tag-change-denied-account.json", "account-not-allowed"},
		{"tag-change-other-region.json", "other-region"}, // ap-southeast-4 is not in AGENT_REGIONS
	} {
		t.Run(tc.file, func(t *testing.T) {
			e := newEnv(t, map[string]string{"ALLOWED_ACCOUNTS": member + "," + member2, "AGENT_REGIONS": "us-west-2"})
			e.tag(member, e.vpcs[savedVPC], "true")
			mark := e.mark()
			if err := e.onboard(tc.file); err != nil {
				t.Fatalf("a refused event must not be retried, got %v", err)
			}
			if calls := e.w.CallsSince(mark); len(calls) != 0 {
				t.Errorf("refused event made AWS calls: %+v", calls)
			}
			logs := e.logs.String()
			if !strings.Contains(logs, `"msg":"event refused"`) || !strings.Contains(logs, `"reason":"`+tc.reason+`"`) {
				t.Errorf("no refusal log naming %s:\n%s", tc.reason, logs)
			}
			if !strings.Contains(logs, `"Reason":"`+tc.reason+`"`) || !strings.Contains(logs, `"EventsRefused":1`) {
				t.Errorf("no refusal metric for %s:\n%s", tc.reason, logs)
			}
		})
	}
}

func TestMalformedPayloadIsAnErrorAndChangesNothing(t *testing.T) {
	for _, file := range []string{"malformed-not-json.txt", "malformed-redrive.json", "malformed-detail.json"} {
		t.Run(file, func(t *testing.T) {
			e := newEnv(t, nil)
			mark := e.mark()
			err := e.onboard(file)
			if err == nil || !strings.Contains(err.Error(), "malformed event") {
				t.Fatalf("want a malformed-event error, got %v", err)
			}
			if calls := e.w.CallsSince(mark); len(calls) != 0 {
				t.Errorf("malformed event made AWS calls: %+v", calls)
			}
		})
	}
}

func TestUnknownEventIsANoOp(t *testing.T) {
	e := newEnv(t, nil)
	for _, file := range []string{"unknown-source.json", "tag-change-other-key.json"} {
		mark := e.mark()
		if err := e.onboard(file); err != nil {
			t.Fatal(err)
		}
		if calls := e.w.CallsSince(mark); len(calls) != 0 {
			t.Errorf("%s made AWS calls: %+v", file, calls)
		}
	}
	if !strings.Contains(e.logs.String(), `"msg":"event ignored"`) {
		t.Error("ignored events are not logged")
	}
}

func TestTaggedFalseIsNotAnAgentVPC(t *testing.T) {
	e := newEnv(t, nil)
	vpc := e.vpcs[savedVPC]
	e.tag(member, vpc, "false")
	if err := e.onboard("tag-change-tagged.json"); err != nil { // the event claims "TRUE"; the VPC says otherwise
		t.Fatal(err)
	}
	if f := e.footprint(member, vpc); len(f.Endpoints)+len(f.Groups) != 0 || f.Tunnel != "" {
		t.Errorf("the event was trusted over the VPC: %+v", f)
	}
}

func TestManualApprovalHoldsTheConnection(t *testing.T) {
	e, vpc := onboarded(t, map[string]string{"APPROVAL_MODE": "manual"})
	f := e.footprint(member, vpc)
	if len(f.Endpoints) != 1 || !agentvpc.StateIs(e.w.EndpointState(member, f.Endpoints[0].ID), agentvpc.StatePendingAcceptance) {
		t.Fatalf("connection should stay pending: %+v", f.Endpoints)
	}
	if f.Document["status"] != "pending-acceptance" {
		t.Errorf("document status %v", f.Document["status"])
	}
	held := 0
	for _, ev := range e.w.Events(hub) {
		if ev.DetailType == "Connection Approval Needed" && strings.Contains(string(ev.Detail), f.Endpoints[0].ID) {
			held++
		}
	}
	if held != 1 {
		t.Errorf("want one approval-needed event, got %d", held)
	}
}

func TestPrincipalModes(t *testing.T) {
	for mode, want := range map[string]string{"role": localawstest.RoleARN(member, "jenkins-agent-vpcs-spoke"), "account": localawstest.RootARN(member), "any": "*"} {
		t.Run(mode, func(t *testing.T) {
			e, vpc := onboarded(t, map[string]string{"PRINCIPAL_MODE": mode})
			e.w.Later()
			if got := e.w.AllowedPrincipals(e.service); !slices.Equal(got, []string{want}) {
				t.Errorf("principals %v, want [%s]", got, want)
			}
			e.untag(member, vpc)
			if err := e.onboard("tag-change-untagged.json"); err != nil {
				t.Fatal(err)
			}
			e.w.Later()
			got := e.w.AllowedPrincipals(e.service)
			if mode == "any" && !slices.Equal(got, []string{"*"}) {
				t.Errorf("'*' belongs to no account and must stay: %v", got)
			}
			if mode != "any" && len(got) != 0 {
				t.Errorf("principal kept after the last agent VPC left: %v", got)
			}
		})
	}
}

func TestRepairsAfterEndpointRejectedOrDeleted(t *testing.T) {
	// "failed" (and "expired") have no API path in the local AWS; the
	// plan's table tests (agentvpc) classify them as dead like "rejected".
	for _, state := range []string{"rejected", "deleted"} {
		t.Run(state, func(t *testing.T) {
			e, vpc := onboarded(t, nil)
			old := e.footprint(member, vpc).Endpoints[0].ID
			e.w.SetEndpointState(member, old, state)
			if err := e.onboard("redrive.json"); err != nil {
				t.Fatal(err)
			}
			f := e.assertOnboarded(member, vpc)
			if f.Endpoints[0].ID == old {
				t.Errorf("endpoint %s not replaced", old)
			}
		})
	}
}

func TestNoOfferedSubnetReportsFailure(t *testing.T) {
	e := newEnv(t, nil)
	vpc := e.w.AddVPC(member, "10.9.0.0/16", map[string]string{"jenkins-agents": "true"})
	// Only an AZ whose ID the service does not offer in this account.
	for _, az := range []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"} {
		if id := e.w.AZID(member, az); id != "use1-az1" && id != "use1-az2" && id != "use1-az4" {
			e.w.AddSubnet(member, vpc, az, nil)
			break
		}
	}
	e.vpcs[savedVPC] = vpc
	if err := e.onboard("redrive.json"); err != nil {
		t.Fatal(err)
	}
	f := e.footprint(member, vpc)
	if len(f.Endpoints) != 0 || f.Tags[agentvpc.TagStatus] != "failed" || e.statusEvents("failed") != 1 {
		t.Errorf("want a failed status and no endpoint: %+v", f)
	}
}

func TestThrottledCallIsReturnedAndTheRetryConverges(t *testing.T) {
	e := newEnv(t, nil)
	vpc := e.vpcs[savedVPC]
	e.tag(member, vpc, "true")
	e.w.Fail(localaws.Fault{Action: "CreateVpcEndpoint", Code: "RequestLimitExceeded", Count: sdkAttempts})
	if err := e.onboard("tag-change-tagged.json"); err == nil || !strings.Contains(err.Error(), "RequestLimitExceeded") {
		t.Fatalf("want the throttling error returned for Lambda to retry, got %v", err)
	}
	if err := e.onboard("tag-change-tagged.json"); err != nil {
		t.Fatal(err)
	}
	e.assertOnboarded(member, vpc)
}

func TestMissingSpokeRoleIsAnError(t *testing.T) {
	e := newEnv(t, nil)
	e.vpcs[savedVPC] = "vpc-stranger"
	err := invoke(t, e.core("onboard").Onboard(), []byte(`{"account":"`+stranger+`","region":"us-east-1","vpcId":"`+e.vpcs["vpc-stranger"]+`"}`))
	if err == nil || !strings.Contains(err.Error(), "spoke role") {
		t.Fatalf("want an error naming the spoke role, got %v", err)
	}
	e.w.Later()
	if len(e.w.AllowedPrincipals(e.service)) != 0 {
		t.Error("a principal was allowed for an account whose role cannot be assumed")
	}
}

// vpcDeleter is what a VPC owner calls to tear down; the product never does.
type vpcDeleter interface {
	DeleteVpc(ctx context.Context, in *ec2.DeleteVpcInput, optFns ...func(*ec2.Options)) (*ec2.DeleteVpcOutput, error)
	DeleteSubnet(ctx context.Context, in *ec2.DeleteSubnetInput, optFns ...func(*ec2.Options)) (*ec2.DeleteSubnetOutput, error)
}

func (e *env) deleter(acct string) vpcDeleter {
	e.t.Helper()
	d, ok := any(e.w.EC2(acct)).(vpcDeleter)
	if !ok {
		e.t.Fatal("the EC2 fake lacks DeleteVpc/DeleteSubnet")
	}
	return d
}

func TestWithoutHTTPForwardingPublishesNoJenkinsURL(t *testing.T) {
	e, vpc := onboarded(t, map[string]string{"HTTP_PORT": "0"})
	f := e.footprint(member, vpc)
	if !tunnelRE.MatchString(f.Tunnel) || f.JenkinsURL != "" || f.Document["jenkinsUrl"] != nil {
		t.Errorf("tunnel %q, jenkins-url %q, document %v", f.Tunnel, f.JenkinsURL, f.Document)
	}
	for _, g := range f.Groups {
		if g.Role == agentvpc.RoleEndpoint && len(g.Ingress) != 1 {
			t.Errorf("endpoint group admits %d ports, want only the tunnel port", len(g.Ingress))
		}
	}
}

// onboarded is an env whose first VPC was tagged and onboarded by its
// tag-change event.
func onboarded(t *testing.T, vars map[string]string) (*env, string) {
	t.Helper()
	e := newEnv(t, vars)
	vpc := e.vpcs[savedVPC]
	e.tag(member, vpc, "true")
	if err := e.onboard("tag-change-tagged.json"); err != nil {
		t.Fatal(err)
	}
	return e, vpc
}

// acceptFirst lets the accept function settle a connection just before
// onboarding's own accept call reaches the hub.
type acceptFirst struct {
	function.HubEC2
	before func()
}

func (a acceptFirst) AcceptVpcEndpointConnections(ctx context.Context, in *ec2.AcceptVpcEndpointConnectionsInput, optFns ...func(*ec2.Options)) (*ec2.AcceptVpcEndpointConnectionsOutput, error) {
	a.before()
	return a.HubEC2.AcceptVpcEndpointConnections(ctx, in, optFns...)
}

func TestOnboardLosesTheAcceptRaceToTheAcceptFunction(t *testing.T) {
	e := newEnv(t, nil)
	vpc := e.vpcs[savedVPC]
	e.tag(member, vpc, "true")
	acceptFn := e.core("accept").Accept()
	e.hubHook = func(h function.HubEC2) function.HubEC2 {
		return acceptFirst{HubEC2: h, before: func() {
			if err := invoke(t, acceptFn, e.event("sns-connection-notification.json")); err != nil {
				t.Errorf("accept function: %v", err)
			}
		}}
	}
	if err := e.onboard("tag-change-tagged.json"); err != nil {
		t.Fatalf("an endpoint accepted by someone else is not a failure: %v", err)
	}
	f := e.assertOnboarded(member, vpc)
	if f.Document["endpointState"] == "pendingAcceptance" {
		t.Errorf("published a stale state: %v", f.Document)
	}
}
