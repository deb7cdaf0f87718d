package function_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/localawstest"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/connections"
)

// handMade creates an endpoint to the service as acct's administrator
// would by hand, optionally wearing the managed tag.
func (e *env) handMade(acct, vpc string, managedTag bool) string {
	e.t.Helper()
	ctx := context.Background()
	cfgs, err := e.w.EC2(hub).DescribeVpcEndpointServiceConfigurations(ctx, &ec2.DescribeVpcEndpointServiceConfigurationsInput{ServiceIds: []string{e.service}})
	if err != nil {
		e.t.Fatal(err)
	}
	name := aws.ToString(cfgs.ServiceConfigurations[0].ServiceName)
	var subnet string
	for _, s := range e.subnets[vpc] {
		if id := e.w.AZID(acct, subnetAZ(e, acct, s)); id == "use1-az1" || id == "use1-az2" || id == "use1-az4" {
			subnet = s
			break
		}
	}
	in := &ec2.CreateVpcEndpointInput{VpcId: aws.String(vpc), ServiceName: aws.String(name), VpcEndpointType: types.VpcEndpointTypeInterface,
		SubnetIds: []string{subnet}, PrivateDnsEnabled: aws.Bool(false)}
	if managedTag {
		in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeVpcEndpoint,
			Tags: []types.Tag{{Key: aws.String(agentvpc.TagManaged), Value: aws.String("true")}}}}
	}
	out, err := e.w.EC2(acct).CreateVpcEndpoint(ctx, in)
	if err != nil {
		e.t.Fatalf("creating a hand-made endpoint in %s: %v", acct, err)
	}
	return aws.ToString(out.VpcEndpoint.VpcEndpointId)
}

func subnetAZ(e *env, acct, subnet string) string {
	out, err := e.w.EC2(acct).DescribeSubnets(context.Background(), &ec2.DescribeSubnetsInput{SubnetIds: []string{subnet}})
	if err != nil {
		e.t.Fatal(err)
	}
	return aws.ToString(out.Subnets[0].AvailabilityZone)
}

// allow adds principals to the service as the hub's administrator would,
// and lets the change propagate before anyone uses it: a principal just
// allowed may be refused by CreateVpcEndpoint for a while (eventual
// consistency), and the member's administrator connects later.
func (e *env) allow(principals ...string) {
	e.t.Helper()
	_, err := e.w.EC2(hub).ModifyVpcEndpointServicePermissions(context.Background(), &ec2.ModifyVpcEndpointServicePermissionsInput{
		ServiceId: aws.String(e.service), AddAllowedPrincipals: principals})
	if err != nil {
		e.t.Fatal(err)
	}
	e.w.Later()
}

// accept runs the accept function a while after the connections were made
// (past EC2's consistency window), so that the service lists them all: the
// saved notification names another service's endpoint, a nudge on which
// the function settles every pending connection of its own service. These
// tests are about its decisions; notify delivers a notification before
// the service lists its connection.
func (e *env) accept() error {
	e.w.Later()
	return invoke(e.t, e.core("accept").Accept(), e.event("sns-connection-notification.json"))
}

// notify delivers the service's notification of owner's new connection id
// to the accept function at once, as SNS may deliver it before the
// service lists the connection.
func (e *env) notify(owner, id string) error {
	note := strings.NewReplacer("vpce-svc-0123456789abcdef0", e.service, "vpce-0fedcba9876543210", id,
		`VpcEndpointOwner\":\"222222222222`, `VpcEndpointOwner\":\"`+owner).Replace(string(e.event("sns-connection-notification.json")))
	return invoke(e.t, e.core("accept").Accept(), []byte(note))
}

// The notification of a new connection may come before the service lists
// it or its owner's describe shows its endpoint (EC2 is eventually
// consistent): the accept function asks again, and accepts it.
func TestAcceptNotifiedConnectionNotListedYet(t *testing.T) {
	e := newEnv(t, nil)
	e.allow(localawstest.RootARN(member))
	vpc := e.vpcs[savedVPC]
	e.tag(member, vpc, "true")
	e.w.Later() // the owner tagged the VPC a while before making the endpoint
	faults := e.w.Server.ConsistencyFaults()
	id := e.handMade(member, vpc, true)
	if err := e.notify(member, id); err != nil {
		t.Fatal(err)
	}
	if e.w.Server.ConsistencyFaults() == faults {
		t.Log("the connection was listed at once this time (the draw made it visible)")
	}
	e.w.Later()
	if got := e.w.EndpointState(member, id); !agentvpc.StateIs(got, agentvpc.StatePending, agentvpc.StateAvailable) {
		t.Errorf("notified connection is %s, want accepted", got)
	}
	if n := strings.Count(e.logs.String(), `"verdict":"reject"`); n != 0 {
		t.Errorf("a connection not visible yet was rejected:\n%s", e.logs.String())
	}
}

func TestAcceptOnlyWhatItCanTieToATaggedVPC(t *testing.T) {
	e := newEnv(t, map[string]string{"DENIED_ACCOUNTS": member2})
	// An operator opened the service to everyone (or a principal leaked): acceptance must gate.
	e.allow("*")
	tagged, untagged := e.vpcs[savedVPC], e.vpcs[savedVPC2]
	e.tag(member, tagged, "true")
	e.tag(member2, e.vpcs["vpc-member2"], "true")

	ours := e.handMade(member, tagged, true)                        // managed tag, tagged VPC, allowed account
	unmanaged := e.handMade(member, tagged, false)                  // tagged VPC but not ours
	wrongVPC := e.handMade(member, untagged, true)                  // wears our tag, VPC not opted in
	denied := e.handMade(member2, e.vpcs["vpc-member2"], true)      // denied account
	strangers := e.handMade(stranger, e.vpcs["vpc-stranger"], true) // no spoke role there

	// The stranger's connection stays pending: a role that cannot be
	// assumed is no evidence (IAM propagation), and pending carries no
	// traffic. The invocation fails naming it, so Lambda retries it (and
	// its dead-letter queue and alarm tell the operator, if it lasts).
	requireUnsettled(t, e.accept(), strangers)
	want := map[string]string{ours: "pending|available", unmanaged: "rejected", wrongVPC: "rejected", denied: "rejected", strangers: "pendingAcceptance"}
	e.w.Later()
	owners := map[string]string{ours: member, unmanaged: member, wrongVPC: member, denied: member2, strangers: stranger}
	for id, states := range want {
		got := e.w.EndpointState(owners[id], id)
		if !agentvpc.StateIs(got, strings.Split(states, "|")...) {
			t.Errorf("endpoint %s in %s is %s, want %s", id, owners[id], got, states)
		}
	}
	// Every decision is logged with its reason: once, except the one left
	// pending, which the function decides again a few times before leaving
	// it to the reconciler.
	if n := strings.Count(e.logs.String(), `"msg":"connection decision"`); n != 4+5 {
		t.Errorf("want 9 decision log lines (4 decided, 1 left pending after 5 tries), got %d", n)
	}
	if !strings.Contains(e.logs.String(), `"ConnectionsAccepted":1`) || !strings.Contains(e.logs.String(), `"ConnectionsRejected":3`) || !strings.Contains(e.logs.String(), `"ConnectionsLeftPending":1`) {
		t.Errorf("metrics missing:\n%s", e.logs.String())
	}
	// All decisions were settled in one accept and one reject call.
	if a, r := e.w.CallCount("ec2", "AcceptVpcEndpointConnections"), e.w.CallCount("ec2", "RejectVpcEndpointConnections"); a != 1 || r != 1 {
		t.Errorf("accept/reject calls %d/%d, want 1/1", a, r)
	}
}

func TestAcceptManualModeHoldsAndAnnounces(t *testing.T) {
	e := newEnv(t, map[string]string{"APPROVAL_MODE": "manual"})
	e.allow(localawstest.RoleARN(member, "jenkins-agent-vpcs-spoke"), localawstest.RootARN(member))
	vpc := e.vpcs[savedVPC]
	e.tag(member, vpc, "true")
	id := e.handMade(member, vpc, true)
	if err := e.accept(); err != nil {
		t.Fatal(err)
	}
	e.w.Later()
	if got := e.w.EndpointState(member, id); !agentvpc.StateIs(got, agentvpc.StatePendingAcceptance) {
		t.Errorf("held connection is %s", got)
	}
	found := false
	for _, ev := range e.w.Events(hub) {
		found = found || (ev.DetailType == "Connection Approval Needed" && strings.Contains(string(ev.Detail), id))
	}
	if !found {
		t.Error("no approval-needed event")
	}
}

func TestAcceptReadsUnsuccessful(t *testing.T) {
	e := newEnv(t, nil)
	e.allow(localawstest.RootARN(member))
	vpc := e.vpcs[savedVPC]
	e.tag(member, vpc, "true")
	id := e.handMade(member, vpc, true)
	core := e.core("accept")
	ctx := context.Background()
	// Someone accepts it by hand between our describe and our accept.
	d := []connections.Decision{{Connection: connections.Connection{EndpointID: id, Owner: member, State: "pendingAcceptance"}, Verdict: connections.Accept},
		{Connection: connections.Connection{EndpointID: "vpce-0000000000000dead", Owner: member, State: "pendingAcceptance"}, Verdict: connections.Accept}}
	if _, err := e.w.EC2(hub).AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(e.service), VpcEndpointIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	rep, err := core.Guard.Settle(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Accepted) != 0 || len(rep.Failed) != 2 || rep.Failed["vpce-0000000000000dead"] == "" {
		t.Errorf("per-endpoint failures not read from Unsuccessful[]: %+v", rep)
	}
}

func TestAcceptMalformedNotification(t *testing.T) {
	e := newEnv(t, nil)
	mark := e.mark()
	for _, bad := range []string{`{"Records": "nope"}`, `not json`, `{}`} {
		if err := invoke(t, e.core("accept").Accept(), []byte(bad)); err == nil || !strings.Contains(err.Error(), "malformed event") {
			t.Errorf("%s: want a malformed-event error, got %v", bad, err)
		}
	}
	if calls := e.w.CallsSince(mark); len(calls) != 0 {
		t.Errorf("malformed notifications made AWS calls: %+v", calls)
	}
}

func TestAcceptThrottledOwnerLeavesConnectionPending(t *testing.T) {
	e := newEnv(t, nil)
	e.allow(localawstest.RootARN(member))
	vpc := e.vpcs[savedVPC]
	e.tag(member, vpc, "true")
	id := e.handMade(member, vpc, true)
	e.w.Fail(localaws.Fault{Account: member, Action: "DescribeVpcEndpoints", Code: "RequestLimitExceeded", Count: sdkAttempts})
	if err := e.accept(); err == nil {
		t.Fatal("a connection that could not be checked must make the invocation fail, for a retry")
	}
	e.w.Later()
	if got := e.w.EndpointState(member, id); !agentvpc.StateIs(got, agentvpc.StatePendingAcceptance) {
		t.Fatalf("unchecked connection was settled: %s", got)
	}
	if err := e.accept(); err != nil {
		t.Fatal(err)
	}
	e.w.Later()
	if got := e.w.EndpointState(member, id); agentvpc.StateIs(got, agentvpc.StatePendingAcceptance, agentvpc.StateRejected) {
		t.Errorf("retry did not accept: %s", got)
	}
}

// requireUnsettled checks that an invocation failed with the acceptance
// flow's error naming exactly the connections left pending.
func requireUnsettled(t *testing.T, err error, left ...string) {
	t.Helper()
	var u *connections.UnsettledError
	if !errors.As(err, &u) {
		t.Fatalf("error %v, want the connections %v named unsettled", err, left)
	}
	if !slices.Equal(slices.Sorted(slices.Values(u.Left)), slices.Sorted(slices.Values(left))) || len(u.Failed)+len(u.Unlisted) > 0 {
		t.Fatalf("unsettled %+v, want left %v only", u, left)
	}
}
