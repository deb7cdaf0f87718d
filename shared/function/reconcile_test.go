package function_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/localawstest"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/reconcile"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

// redrive re-drives one VPC as an operator does. A re-drive says nothing
// of the VPC's tags: the onboard function acts on what EC2 shows, so
// callers let the tags they just wrote show first (env.w.Later).
func (e *env) redrive(acct, vpc string) {
	e.t.Helper()
	body := `{"account":"` + acct + `","region":"us-east-1","vpcId":"` + vpc + `"}`
	if err := invoke(e.t, e.core("onboard").Onboard(), []byte(body)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) reconcile(req reconcile.Request) reconcile.Report {
	e.t.Helper()
	body, _ := json.Marshal(req)
	out, err := e.core("reconcile").Reconcile().Invoke(context.Background(), body)
	if err != nil {
		e.t.Fatal(err)
	}
	var rep reconcile.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		e.t.Fatal(err)
	}
	return rep
}

// fleet onboards three VPCs in two accounts and lets the grace period pass.
func fleet(t *testing.T, vars map[string]string) (*env, []string) {
	return fleetWith(t, vars, localaws.Relax{})
}

// fleetWith is fleet on a local AWS with relax.
func fleetWith(t *testing.T, vars map[string]string, relax localaws.Relax) (*env, []string) {
	v := map[string]string{"GRACE_PERIOD": "1m", "ALLOWED_ACCOUNTS": member + "," + member2}
	for k, x := range vars {
		v[k] = x
	}
	e := newEnvWith(t, v, relax)
	one, two, three := e.vpcs[savedVPC], e.vpcs[savedVPC2], e.vpcs["vpc-member2"]
	fleet := []struct{ acct, vpc string }{{member, one}, {member, two}, {member2, three}}
	for _, x := range fleet {
		e.tag(x.acct, x.vpc, "true")
	}
	e.w.Later()
	for _, x := range fleet {
		e.redrive(x.acct, x.vpc)
	}
	e.w.Clock().Skip(5 * time.Minute)
	return e, []string{one, two, three}
}

func TestReconcileInSyncFleetWritesNothing(t *testing.T) {
	e, _ := fleet(t, nil)
	e.reconcile(reconcile.Request{Deep: reconcile.DeepAll}) // publishes the "available" state the endpoints reached
	e.w.Later()                                             // the next scheduled sweep
	mark := e.mark()
	rep := e.reconcile(reconcile.Request{Deep: reconcile.DeepAll})
	if rep.Drifts != 0 || rep.Repairs != 0 || rep.VPCs != 3 || rep.Accounts != 2 {
		t.Fatalf("in-sync fleet: %+v", rep)
	}
	for _, c := range e.writes(mark) {
		if c.Action != "PutEvents" { // the report itself
			t.Errorf("in-sync sweep wrote %s", c.Action)
		}
	}
}

func TestReconcileRepairsEveryDriftInOneRun(t *testing.T) {
	e, vpcs := fleet(t, map[string]string{"ALLOWED_ACCOUNTS": member + "," + member2 + ",555555555555"})
	one, two, three := vpcs[0], vpcs[1], vpcs[2]
	e.reconcile(reconcile.Request{Deep: reconcile.DeepAll})
	ctx := context.Background()
	hubEC2, spoke, spoke2 := e.w.EC2(hub), e.w.EC2(member), e.w.EC2(member2)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// A fourth VPC gets the tag but its event is lost: missing endpoint.
	four := e.addVPC(member2, "vpc-four", "10.5.0.0/16", map[string]string{"jenkins-agents": "true"})
	// VPC one: its endpoint deleted by hand.
	f1 := e.footprint(member, one)
	must(spoke.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{f1.Endpoints[0].ID}}))
	// VPC two: its connection rejected by hand, its tunnel overwritten, its status tag edited.
	f2 := e.footprint(member, two)
	must(hubEC2.RejectVpcEndpointConnections(ctx, &ec2.RejectVpcEndpointConnectionsInput{ServiceId: aws.String(e.service), VpcEndpointIds: []string{f2.Endpoints[0].ID}}))
	// VPC three: a subnet removed from the endpoint and a rule revoked.
	f3 := e.footprint(member2, three)
	must(spoke2.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(f3.Endpoints[0].ID), RemoveSubnetIds: f3.Endpoints[0].SubnetIDs[:1]}))
	var endpointGroup agentvpc.SecurityGroup
	for _, g := range f3.Groups {
		if g.Role == agentvpc.RoleEndpoint {
			endpointGroup = g
		}
	}
	must(spoke2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(endpointGroup.ID),
		IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8080),
			UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(endpointGroup.Ingress[0].SourceGroup)}}}}}))
	must(spoke2.CreateTags(ctx, createTags(three, agentvpc.TagStatus, "bogus")))
	// Parameters: one overwritten, and one left for a VPC that is not an agent VPC.
	hubSSM := e.w.SSM(hub)
	must(hubSSM.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(e.cfg.ParameterPrefix + "/" + member + "/" + two + "/tunnel"),
		Value: aws.String("wrong.example.com:1"), Overwrite: aws.Bool(true), Type: "String"}))
	stale := e.cfg.ParameterPrefix + "/" + member2 + "/vpc-0123456789abcdef0/tunnel"
	must(hubSSM.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(stale), Value: aws.String("old:50000"), Type: "String"}))
	// An agent VPC untagged while the onboard function was down: its endpoint is left behind.
	five := e.addVPC(member, "vpc-five", "10.6.0.0/16", nil)
	e.tag(member, five, "true")
	e.w.Later()
	e.redrive(member, five)
	e.untag(member, five)
	// Hub: member's principal removed by hand, a stale one for an account with no agent VPC.
	must(hubEC2.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: aws.String(e.service),
		RemoveAllowedPrincipals: []string{functionRolesSpoke(member)}, AddAllowedPrincipals: []string{localawstest.RoleARN("666666666666", "jenkins-agent-vpcs-spoke")}}))
	e.w.Clock().Skip(5 * time.Minute)

	mark := e.mark()
	rounds := &acceptRounds{}
	e.hubHook = rounds.wrap
	rep := e.reconcile(reconcile.Request{Deep: reconcile.DeepAll})
	e.hubHook = nil
	perms := 0
	for _, c := range e.w.CallsSince(mark) {
		if c.Action == "ModifyVpcEndpointServicePermissions" {
			perms++
		}
	}
	// The new endpoints' connections reach the service's list at different
	// moments (eventual consistency), so the sweep may accept them over
	// several looks at the list; each look's connections are accepted in
	// one call, not one call per VPC.
	if accepts := rounds.get(); perms != 1 || slices.Max(append(accepts, 0)) > 1 || slices.Index(accepts, 1) < 0 {
		t.Errorf("hub writes not batched: %d permission changes, accept calls after each listing of the connections %v", perms, accepts)
	}
	drifts := map[reconcile.Drift]int{}
	for _, it := range rep.Items {
		drifts[it.Drift]++
	}
	for _, d := range []reconcile.Drift{reconcile.MissingEndpoint, reconcile.DeadEndpoint, reconcile.SpokeDrift, reconcile.MissingPrincipal,
		reconcile.StalePrincipal, reconcile.StaleParameters, reconcile.UntaggedEndpoint} {
		if drifts[d] == 0 {
			t.Errorf("drift %s not found; plan:\n%v", d, rep.Items)
		}
	}
	if len(rep.FailedRepairs) > 0 || len(rep.FailedAccounts) > 1 {
		t.Fatalf("failures: %+v %+v", rep.FailedRepairs, rep.FailedAccounts)
	}
	if _, ok := rep.FailedAccounts["555555555555"]; !ok {
		t.Errorf("an allowed account without a spoke role should be reported: %+v", rep.FailedAccounts)
	}
	// Everything is repaired after this one run.
	e.w.Clock().Skip(2 * time.Minute) // endpoints finish their transitions
	for _, x := range []struct{ acct, vpc string }{{member, one}, {member, two}, {member2, three}, {member2, four}} {
		e.assertOnboarded(x.acct, x.vpc)
	}
	if f := e.footprint(member, five); len(f.Endpoints) != 0 || len(f.Groups) != 0 || f.Tunnel != "" {
		t.Errorf("untagged VPC keeps %+v", f)
	}
	if _, ok := e.w.Parameter(hub, stale); ok {
		t.Error("stale parameter kept")
	}
	if slices.Contains(e.w.AllowedPrincipals(e.service), localawstest.RoleARN("666666666666", "jenkins-agent-vpcs-spoke")) {
		t.Error("stale principal kept")
	}
	if got := e.footprint(member2, three).Tags[agentvpc.TagStatus]; got == "bogus" {
		t.Error("status tag not repaired")
	}
	// A second run repairs nothing. It may publish what a new endpoint
	// became since the first run published it (pending, as EC2 showed the
	// accepted connection then); a third run finds nothing.
	again := e.reconcile(reconcile.Request{Deep: reconcile.DeepAll})
	for _, it := range again.Items {
		if it.Repair != reconcile.Publish {
			t.Errorf("second run found drift:\n%v", again.Items)
			break
		}
	}
	e.w.Later()
	if third := e.reconcile(reconcile.Request{Deep: reconcile.DeepAll}); third.Drifts != 0 {
		t.Errorf("third run found drift:\n%v", third.Items)
	}
}

// acceptRounds counts, on the functions' hub EC2 client, the accept calls
// that follow each listing of the service's connections.
type acceptRounds struct {
	mu     sync.Mutex
	rounds []int
}

func (a *acceptRounds) wrap(h function.HubEC2) function.HubEC2 {
	return acceptCounter{HubEC2: h, rounds: a}
}

func (a *acceptRounds) get() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.rounds)
}

type acceptCounter struct {
	function.HubEC2
	rounds *acceptRounds
}

func (c acceptCounter) DescribeVpcEndpointConnections(ctx context.Context, in *ec2.DescribeVpcEndpointConnectionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointConnectionsOutput, error) {
	c.rounds.mu.Lock()
	if in.NextToken == nil {
		c.rounds.rounds = append(c.rounds.rounds, 0)
	}
	c.rounds.mu.Unlock()
	return c.HubEC2.DescribeVpcEndpointConnections(ctx, in, optFns...)
}

func (c acceptCounter) AcceptVpcEndpointConnections(ctx context.Context, in *ec2.AcceptVpcEndpointConnectionsInput, optFns ...func(*ec2.Options)) (*ec2.AcceptVpcEndpointConnectionsOutput, error) {
	c.rounds.mu.Lock()
	if n := len(c.rounds.rounds); n > 0 {
		c.rounds.rounds[n-1]++
	}
	c.rounds.mu.Unlock()
	return c.HubEC2.AcceptVpcEndpointConnections(ctx, in, optFns...)
}

func TestReconcileDryRunChangesNothing(t *testing.T) {
	e, vpcs := fleet(t, nil)
	f := e.footprint(member, vpcs[0])
	if _, err := e.w.EC2(member).DeleteVpcEndpoints(context.Background(), &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{f.Endpoints[0].ID}}); err != nil {
		t.Fatal(err)
	}
	e.w.Later() // the next sweep
	mark := e.mark()
	rep, err := e.core("reconcile").Reconciler().Run(context.Background(), reconcile.Request{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Drifts == 0 || rep.Repairs != 0 || !rep.DryRun {
		t.Fatalf("dry run: %+v", rep)
	}
	for _, c := range e.writes(mark) {
		if c.Action != "PutEvents" {
			t.Errorf("dry run wrote %s", c.Action)
		}
	}
	var table strings.Builder
	if err := reconcile.WriteTable(&table, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "missing-endpoint") && !strings.Contains(table.String(), "dead-endpoint") {
		t.Errorf("table lacks the drift:\n%s", table.String())
	}
}

func TestReconcileRespectsGracePeriod(t *testing.T) {
	e, vpcs := fleet(t, map[string]string{"GRACE_PERIOD": "1h"})
	e.untag(member, vpcs[0]) // the untag event is "in flight": the onboard function has not run yet
	rep := e.reconcile(reconcile.Request{Deep: reconcile.DeepAll})
	for _, it := range rep.Items {
		if it.Repair == reconcile.Remove || it.Repair == reconcile.DeleteParameters {
			t.Errorf("young resources planned for removal: %v", it)
		}
	}
	if f := e.footprint(member, vpcs[0]); len(f.Endpoints) != 1 {
		t.Errorf("young endpoint removed")
	}
}

func TestReconcileNeverRemovesWhatItDidNotCreate(t *testing.T) {
	e, vpcs := fleet(t, nil)
	e.allow(localawstest.RootARN(member), "arn:aws:iam::"+member+":role/someone-else")
	theirs := e.handMade(member, vpcs[0], false) // unmanaged, in an agent VPC
	e.untag(member, vpcs[1])
	theirs2 := e.handMade(member, vpcs[1], false) // unmanaged, in a VPC that is no longer an agent VPC
	e.w.Clock().Skip(time.Hour)
	e.reconcile(reconcile.Request{Deep: reconcile.DeepAll})
	e.w.Later()
	for _, id := range []string{theirs, theirs2} {
		if got := e.w.EndpointState(member, id); agentvpc.StateIs(got, agentvpc.StateDeleted, agentvpc.StateDeleting) {
			t.Errorf("unmanaged endpoint %s deleted", id)
		}
	}
	if !slices.Contains(e.w.AllowedPrincipals(e.service), "arn:aws:iam::"+member+":role/someone-else") {
		t.Error("a principal the product did not add was removed")
	}
}

func TestReconcileIsolatesFailingAccounts(t *testing.T) {
	e, vpcs := fleet(t, map[string]string{"ALLOWED_ACCOUNTS": member + "," + member2 + "," + stranger})
	for _, x := range []struct{ acct, vpc string }{{member, vpcs[0]}, {member2, vpcs[2]}} {
		f := e.footprint(x.acct, x.vpc)
		if _, err := e.w.EC2(x.acct).DeleteVpcEndpoints(context.Background(), &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{f.Endpoints[0].ID}}); err != nil {
			t.Fatal(err)
		}
	}
	e.w.Clock().Skip(2 * time.Minute)
	// member2's EC2 refuses everything: AccessDenied on its role's calls.
	e.w.Fail(localaws.Fault{Account: member2, Service: "ec2", Code: "UnauthorizedOperation"})
	rep := e.reconcile(reconcile.Request{})
	if rep.FailedAccounts[stranger] == "" || rep.FailedAccounts[member2] == "" {
		t.Errorf("failures not reported by account: %+v", rep.FailedAccounts)
	}
	e.w.Clock().Skip(2 * time.Minute)
	e.assertOnboarded(member, vpcs[0])
	e.w.ClearFaults()
}

func TestReconcileFansOutAboveTheThreshold(t *testing.T) {
	e, _ := fleet(t, map[string]string{"FANOUT_THRESHOLD": "1", "FANOUT_BATCH_SIZE": "1", "PARAMETER_READS": "account"})
	rep := e.reconcile(reconcile.Request{})
	if rep.FanoutBatches != 2 {
		t.Fatalf("want 2 batches, got %+v", rep)
	}
	var batches []string
	for _, ev := range e.w.Events(hub) {
		if ev.DetailType == "Reconcile Accounts" {
			batches = append(batches, string(ev.Detail))
			// Each batch, delivered back to the function, sweeps its accounts.
			envelope := `{"version":"0","id":"x","detail-type":"Reconcile Accounts","source":"jenkins-agent-vpcs","account":"` + hub +
				`","time":"2026-11-27T10:00:00Z","region":"us-east-1","resources":[],"detail":` + string(ev.Detail) + `}`
			out, err := e.core("reconcile").Reconcile().Invoke(context.Background(), []byte(envelope))
			if err != nil {
				t.Fatal(err)
			}
			var r reconcile.Report
			_ = json.Unmarshal(out, &r)
			if r.Accounts != 1 || r.FanoutBatches != 0 {
				t.Errorf("batch run %+v", r)
			}
		}
	}
	if len(batches) != 2 {
		t.Errorf("batches on the bus: %v", batches)
	}
}

func TestReconcileMalformedRequest(t *testing.T) {
	e := newEnv(t, nil)
	for _, bad := range []string{`nope`, `{"accounts":["12"]}`, `{"acounts":["222222222222"]}`} {
		if _, err := e.core("reconcile").Reconcile().Invoke(context.Background(), []byte(bad)); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("%s: got %v", bad, err)
		}
	}
}

func TestReconcileFindsAccountsOnlyTheParametersRemember(t *testing.T) {
	// ALLOWED_ACCOUNTS: the two members. Each account's path is read (a
	// paged prefix finds such accounts at every run).
	e, _ := fleet(t, map[string]string{"PARAMETER_READS": "account"})
	// Left behind for an account the hub has otherwise forgotten (no principal, no connection).
	name := e.cfg.ParameterPrefix + "/777777777777/vpc-0123456789abcdef0/tunnel"
	if _, err := e.w.SSM(hub).PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String("old:50000"), Type: "String"}); err != nil {
		t.Fatal(err)
	}
	e.w.Clock().Skip(time.Hour)
	if rep := e.reconcile(reconcile.Request{Deep: reconcile.DeepNone}); rep.Accounts != 2 {
		t.Errorf("the cheap sweep lists no parameters, yet swept %d accounts", rep.Accounts)
	}
	rep := e.reconcile(reconcile.Request{Deep: reconcile.DeepAll})
	if rep.Accounts != 3 {
		t.Errorf("swept %d accounts, want the parameters' account too", rep.Accounts)
	}
	if _, ok := e.w.Parameter(hub, name); ok {
		t.Error("the forgotten account's parameter was kept")
	}
}

// A VPC an onboard invocation is converging (it holds the VPC's lease) is
// left to that invocation: the sweep repairs nothing there and says why;
// once the lease is given back, the next sweep repairs it.
func TestReconcileLeavesAVPCBeingConvergedToItsInvocation(t *testing.T) {
	e, vpcs := fleet(t, nil)
	e.untag(member, vpcs[0])
	e.w.Clock().Skip(time.Hour) // past the grace period
	ctx := context.Background()
	store := tunnel.Store{SSM: e.w.SSM(hub), Prefix: e.cfg.ParameterPrefix}
	if err := store.TakeLease(ctx, member, vpcs[0], tunnel.Lease{Holder: "onboard-elsewhere", Until: time.Now().Add(48 * time.Hour)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	rep := e.reconcile(reconcile.Request{Deep: reconcile.DeepAll})
	left := false
	for item, why := range rep.FailedRepairs {
		if strings.Contains(item, vpcs[0]) && strings.Contains(why, "left to the invocation converging it") {
			left = true
		}
	}
	if !left {
		t.Errorf("the sweep did not leave %s to its invocation: %+v", vpcs[0], rep.FailedRepairs)
	}
	if f := e.footprint(member, vpcs[0]); len(f.Endpoints) != 1 {
		t.Fatalf("the sweep removed the endpoint of a VPC another invocation holds: %+v", f.Endpoints)
	}
	if err := store.ReleaseLease(ctx, member, vpcs[0], "onboard-elsewhere"); err != nil {
		t.Fatal(err)
	}
	e.w.Later()
	e.reconcile(reconcile.Request{Deep: reconcile.DeepAll})
	if f := e.footprint(member, vpcs[0]); len(f.Endpoints) != 0 {
		t.Errorf("once the lease was given back the sweep still left %+v", f.Endpoints)
	}
}
