package connections_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/ec2sim"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/localawstest"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/arn"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/connections"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/spoke"
)

const (
	hub      = "111111111111"
	member   = "222222222222"
	member2  = "333333333333"
	stranger = "444444444444" // no member stack: no spoke role to assume
	region   = "us-east-1"
	extID    = "jenkins-agent-vpcs-test"
	service  = "vpce-svc-0a1b2c3d4e5f60001"
)

// world is the local AWS with the templates deployed (the hub's accept
// role, the members' spoke roles) and the hub's endpoint service allowing
// every account's root, so that any account can ask for a connection.
type world struct {
	aws *localawstest.AWS
}

func newWorld(t *testing.T, relax localaws.Relax) *world {
	t.Helper()
	topo := &localaws.Topology{Region: region,
		Organization: &localaws.Organization{ID: "o-jenkinsagents", Accounts: []string{hub, member, member2}},
		Accounts: []localaws.Account{{ID: hub, EndpointServices: []localaws.EndpointService{{ID: service, AcceptanceRequired: true,
			AZs: []string{"use1-az1", "use1-az2", "use1-az4"}, Ports: []int{50000}}}}}}
	a := localawstest.New(t, localawstest.Options{Topology: topo, Relax: relax, Now: time.Now().UTC().Truncate(time.Second),
		Deploy: &localstack.DeployOptions{HubAccount: hub, Members: []string{member, member2},
			Parameters: map[string]string{"SpokeExternalId": extID}}})
	var roots []string
	for _, acct := range []string{member, member2, stranger} {
		roots = append(roots, arn.Root(region, acct))
	}
	if _, err := a.EC2(hub).ModifyVpcEndpointServicePermissions(context.Background(), &ec2.ModifyVpcEndpointServicePermissionsInput{
		ServiceId: aws.String(service), AddAllowedPrincipals: roots}); err != nil {
		t.Fatal(err)
	}
	return &world{aws: a}
}

// guard is the acceptance guard as the accept function builds it: the hub
// role's session, the spoke role assumed through STS. The SDK does not
// retry, so that an injected failure reaches the guard at once.
func (w *world) guard(t *testing.T, vars map[string]string) *connections.Guard {
	t.Helper()
	env := map[string]string{"ENDPOINT_SERVICE_ID": service, "EVENT_BUS_NAME": "jenkins-agent-vpcs", "SPOKE_EXTERNAL_ID": extID}
	for k, v := range vars {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	base := w.aws.Session(hub, "jenkins-agent-vpcs-accept", "accept")
	base.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	spokes := spoke.New(base, sts.NewFromConfig(base), cfg.SpokeRoleName, cfg.SpokeExternalID, "accept",
		func(c aws.Config) agentvpc.EC2 { return ec2.NewFromConfig(c) })
	return &connections.Guard{Hub: ec2.NewFromConfig(base), ServiceID: service, Region: region, Spokes: spokes, Config: cfg}
}

// endpoint is a connection request from a VPC of owner: the VPC carries
// vpcTags, the endpoint endpointTags. It returns the VPC, the subnet and
// the endpoint.
func (w *world) endpoint(t *testing.T, owner string, vpcTags, endpointTags map[string]string) (vpc, subnet, id string) {
	t.Helper()
	vpc = w.aws.AddVPC(owner, "10.1.0.0/16", vpcTags)
	for _, az := range []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"} {
		if id := w.aws.AZID(owner, az); subnet == "" && (id == "use1-az1" || id == "use1-az2" || id == "use1-az4") {
			subnet = w.aws.AddSubnet(owner, vpc, az, nil)
		}
	}
	var tags []ec2types.Tag
	for k, v := range endpointTags {
		tags = append(tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := w.aws.EC2(owner).CreateVpcEndpoint(context.Background(), &ec2.CreateVpcEndpointInput{
		VpcEndpointType: ec2types.VpcEndpointTypeInterface, VpcId: aws.String(vpc), SubnetIds: []string{subnet},
		ServiceName:       aws.String("com.amazonaws.vpce." + region + "." + service),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeVpcEndpoint, Tags: tags}}})
	if err != nil {
		t.Fatalf("creating an endpoint in %s of %s: %v", vpc, owner, err)
	}
	return vpc, subnet, aws.ToString(out.VpcEndpoint.VpcEndpointId)
}

// pending is the endpoint's connection as the hub lists it.
func (w *world) pending(t *testing.T, g *connections.Guard, id string) connections.Connection {
	t.Helper()
	conns, err := g.Connections(context.Background(), []string{id}, agentvpc.StatePendingAcceptance)
	if err != nil || len(conns) != 1 {
		t.Fatalf("listing the connection of %s: %v, %+v", id, err, conns)
	}
	return conns[0]
}

var (
	tagged  = map[string]string{"jenkins-agents": "true", "Name": "ci"}
	managed = map[string]string{agentvpc.TagManaged: "true"}
)

// TestDecide is the decision on one pending connection: accept only a
// managed endpoint in a tagged VPC of an allowed account, reject what is
// shown to be someone else's, leave pending (never reject) what cannot be
// read yet, and give no verdict when reading the account failed.
func TestDecide(t *testing.T) {
	w := newWorld(t, localaws.Relax{Consistency: true})
	tests := []struct {
		name         string
		owner        string
		vars         map[string]string // the function's environment
		vpcTags      map[string]string
		endpointTags map[string]string
		// gone deletes the endpoint and then its VPC, as an owner tearing
		// down does: the endpoint stays visible as deleted, the VPC is gone.
		gone   bool
		fault  *localaws.Fault // on the owner account's calls, for this case only
		want   connections.Verdict
		reason string // in the decision's reason, or in the error when want is ""
	}{
		{name: "managed endpoint in tagged VPC of allowed account", owner: member, vpcTags: tagged, endpointTags: managed,
			want: connections.Accept, reason: "managed endpoint in tagged VPC"},
		{name: "tag value in another case, with spaces", owner: member, vpcTags: map[string]string{"jenkins-agents": " TRUE "}, endpointTags: managed,
			want: connections.Accept},
		{name: "account on the allow list", owner: member2, vars: map[string]string{"ALLOWED_ACCOUNTS": member2}, vpcTags: tagged, endpointTags: managed,
			want: connections.Accept},
		{name: "unmanaged endpoint", owner: member, vpcTags: tagged, endpointTags: map[string]string{"Name": "mine"},
			want: connections.Reject, reason: "endpoint not created by jenkins-agent-vpcs"},
		{name: "managed tag not true", owner: member, vpcTags: tagged, endpointTags: map[string]string{agentvpc.TagManaged: "false"},
			want: connections.Reject, reason: "endpoint not created by jenkins-agent-vpcs"},
		{name: "untagged VPC", owner: member, vpcTags: map[string]string{"Name": "ci"}, endpointTags: managed,
			want: connections.Reject, reason: "does not carry jenkins-agents=true"},
		{name: "VPC tagged false", owner: member, vpcTags: map[string]string{"jenkins-agents": "false"}, endpointTags: managed,
			want: connections.Reject, reason: "does not carry jenkins-agents=true"},
		{name: "account not on the allow list", owner: member, vars: map[string]string{"ALLOWED_ACCOUNTS": member2}, vpcTags: tagged, endpointTags: managed,
			want: connections.Reject, reason: "account not in allow list"},
		{name: "account denied", owner: member, vars: map[string]string{"DENIED_ACCOUNTS": member}, vpcTags: tagged, endpointTags: managed,
			want: connections.Reject, reason: "account denied"},
		{name: "manual approval", owner: member, vars: map[string]string{"APPROVAL_MODE": "manual"}, vpcTags: tagged, endpointTags: managed,
			want: connections.Hold, reason: "manual approval mode"},
		{name: "spoke role missing: AccessDenied", owner: stranger, vpcTags: tagged, endpointTags: managed,
			want: connections.Leave, reason: "spoke role of the owner account cannot be assumed yet (AccessDenied)"},
		{name: "spoke role not trusting us yet: AccessDenied", owner: member, vpcTags: tagged, endpointTags: managed,
			fault: &localaws.Fault{Service: "sts", Action: "AssumeRole", Target: member, Code: "AccessDenied"},
			want:  connections.Leave, reason: "cannot be assumed yet"},
		{name: "endpoint not visible to its owner", owner: member, vpcTags: tagged, endpointTags: managed,
			fault: &localaws.Fault{Service: "ec2", Action: "DescribeVpcEndpoints", Account: member, Code: "InvalidVpcEndpointId.NotFound"},
			want:  connections.Leave, reason: "endpoint not visible in its owner account yet"},
		{name: "VPC not found", owner: member, vpcTags: tagged, endpointTags: managed, gone: true,
			want: connections.Leave, reason: "not visible in its owner account yet"},
		{name: "unmanaged endpoint of an account without a spoke role", owner: stranger, vpcTags: tagged, endpointTags: nil,
			want: connections.Leave, reason: "cannot be assumed yet"},
		{name: "reading the endpoints fails", owner: member, vpcTags: tagged, endpointTags: managed,
			fault:  &localaws.Fault{Service: "ec2", Action: "DescribeVpcEndpoints", Account: member, Code: "InternalError"},
			reason: "describing endpoints"},
		{name: "reading the VPCs fails", owner: member, vpcTags: tagged, endpointTags: managed,
			fault:  &localaws.Fault{Service: "ec2", Action: "DescribeVpcs", Account: member, Code: "RequestLimitExceeded"},
			reason: "describing VPCs of endpoints in " + member},
		{name: "assuming the spoke role throttled", owner: member2, vpcTags: tagged, endpointTags: managed,
			fault:  &localaws.Fault{Service: "sts", Action: "AssumeRole", Target: member2, Code: "Throttling"},
			reason: "reading owner account " + member2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			g := w.guard(t, tt.vars)
			vpc, subnet, id := w.endpoint(t, tt.owner, tt.vpcTags, tt.endpointTags)
			conn := w.pending(t, g, id)
			if conn.Owner != tt.owner {
				t.Fatalf("connection of %s is owned by %s, want %s", id, conn.Owner, tt.owner)
			}
			if tt.gone {
				c := w.aws.EC2(tt.owner)
				if _, err := c.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}}); err != nil {
					t.Fatal(err)
				}
				if _, err := c.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(subnet)}); err != nil {
					t.Fatal(err)
				}
				if _, err := c.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(vpc)}); err != nil {
					t.Fatal(err)
				}
			}
			if tt.fault != nil {
				w.aws.Fail(*tt.fault)
				defer w.aws.ClearFaults()
			}
			mark := w.aws.Mark()
			decisions, err := g.Decide(ctx, []connections.Connection{conn})
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), tt.reason) || len(decisions) != 0 {
					t.Fatalf("want no verdict and an error about %q, got %+v, %v", tt.reason, decisions, err)
				}
				return
			}
			if err != nil || len(decisions) != 1 {
				t.Fatalf("want one decision, got %+v, %v", decisions, err)
			}
			d := decisions[0]
			if d.Verdict != tt.want || !strings.Contains(d.Reason, tt.reason) || d.EndpointID != id || d.Owner != tt.owner {
				t.Fatalf("decision %+v, want %s for %s because %q", d, tt.want, id, tt.reason)
			}
			if d.Verdict == connections.Accept && d.VPCID != vpc {
				t.Errorf("accepted for VPC %q, want %s", d.VPCID, vpc)
			}
			// A refused account is not read at all: its spoke role is not
			// even assumed.
			if strings.HasPrefix(tt.reason, "account ") {
				for _, c := range w.aws.CallsSince(mark) {
					if c.Service == "sts" || c.Account == tt.owner {
						t.Errorf("deciding on a refused account called %s %s as %s", c.Service, c.Action, c.Account)
					}
				}
			}
		})
	}
}

// Only pending connections get a verdict; every connection of one owner
// is decided with one read of that account.
func TestDecideSkipsSettledConnectionsAndReadsEachOwnerOnce(t *testing.T) {
	w := newWorld(t, localaws.Relax{Consistency: true})
	g := w.guard(t, nil)
	_, _, a := w.endpoint(t, member, tagged, managed)
	_, _, b := w.endpoint(t, member, map[string]string{"Name": "other"}, managed)
	_, _, settled := w.endpoint(t, member, tagged, managed)
	conns := []connections.Connection{w.pending(t, g, a), w.pending(t, g, b), w.pending(t, g, settled)}
	w.aws.SetEndpointState(member, settled, "available")
	conns[2].State = "available"

	mark := w.aws.Mark()
	decisions, err := g.Decide(context.Background(), conns)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]connections.Verdict{}
	for _, d := range decisions {
		got[d.EndpointID] = d.Verdict
	}
	if len(got) != 2 || got[a] != connections.Accept || got[b] != connections.Reject {
		t.Errorf("verdicts %v, want %s accepted and %s rejected, %s not decided", got, a, b, settled)
	}
	describes := 0
	for _, c := range w.aws.CallsSince(mark) {
		if c.Action == "DescribeVpcEndpoints" {
			describes++
		}
	}
	if describes != 1 {
		t.Errorf("%d DescribeVpcEndpoints calls, want 1 for both endpoints of %s", describes, member)
	}
}

// A connection request can reach the hub before its endpoint is visible
// to its owner (EC2 is eventually consistent): the guard leaves it pending
// and accepts it once the owner sees it.
func TestDecideLeavesAnEndpointNotVisibleYetThenAcceptsIt(t *testing.T) {
	w := newWorld(t, localaws.Relax{Consistency: true})
	g := w.guard(t, nil)
	w.aws.Server.EC2().SetConsistency(ec2sim.Consistency{Window: localaws.DefaultConsistencyWindow, Seed: 1})
	_, _, id := w.endpoint(t, member, tagged, managed)
	conn := connections.Connection{EndpointID: id, Owner: member, State: agentvpc.StatePendingAcceptance}

	decisions, err := g.Decide(context.Background(), []connections.Connection{conn})
	if err != nil || len(decisions) != 1 || decisions[0].Verdict != connections.Leave {
		t.Fatalf("before the endpoint is visible: want it left pending, got %+v, %v", decisions, err)
	}
	w.aws.Clock().Advance(localaws.DefaultConsistencyWindow)
	decisions, err = g.Decide(context.Background(), []connections.Connection{conn})
	if err != nil || len(decisions) != 1 || decisions[0].Verdict != connections.Accept {
		t.Fatalf("once visible: want it accepted, got %+v, %v", decisions, err)
	}
}

// A connection from an endpoint in a Region the product does not serve is
// rejected, even when the same endpoint id in a served Region would be an
// agent VPC's: the spoke is read in the endpoint's own Region, and a Region
// outside AGENT_REGIONS is no agent VPC's.
func TestDecideRejectsAnEndpointInARegionNotServed(t *testing.T) {
	w := newWorld(t, localaws.Relax{Consistency: true})
	g := w.guard(t, nil)
	_, _, id := w.endpoint(t, member, tagged, managed)
	served := connections.Connection{EndpointID: id, Owner: member, State: agentvpc.StatePendingAcceptance, Region: g.Region}
	elsewhere := served
	elsewhere.Region = "ap-south-2"
	decisions, err := g.Decide(context.Background(), []connections.Connection{served, elsewhere})
	if err != nil || len(decisions) != 2 {
		t.Fatalf("Decide = %+v, %v; want two decisions", decisions, err)
	}
	for _, d := range decisions {
		want := connections.Accept
		if d.Region == "ap-south-2" {
			want = connections.Reject
		}
		if d.Verdict != want {
			t.Errorf("connection in %s: verdict %s (%s), want %s", d.Region, d.Verdict, d.Reason, want)
		}
		if d.Verdict == connections.Reject && !strings.Contains(d.Reason, "Region ap-south-2, which is not served") {
			t.Errorf("reject reason %q does not name the Region", d.Reason)
		}
	}
}
