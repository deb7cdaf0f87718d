package ec2sim

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

const window = 2 * time.Second

// eventual turns consistency on in p's world.
func eventual(p *privateLink, seed int64) {
	p.w.svc.SetConsistency(Consistency{Window: window, Seed: seed})
}

// wantFaults fails unless the service counted exactly n consistency
// faults since the last call, and resets the counter.
func wantFaults(t *testing.T, s *Service, n int64) {
	t.Helper()
	if got := s.ConsistencyFaults(); got != n {
		t.Fatalf("consistency faults = %d, want %d", got, n)
	}
	s.ResetConsistencyFaults()
}

func TestCreatedResourcesAreUnknownWithinTheWindow(t *testing.T) {
	cases := []struct {
		name string
		// create makes the resource and returns its id.
		create func(t *testing.T, p *privateLink) string
		// byID reads it by id; filtered reads it by a filter and returns
		// how many it found.
		byID     func(p *privateLink, id string) error
		filtered func(t *testing.T, p *privateLink, id string) int
		notFound string
	}{
		{
			name: "vpc endpoint",
			create: func(t *testing.T, p *privateLink) string {
				return aws.ToString(p.create(t, "", p.offered...).VpcEndpointId)
			},
			byID: func(p *privateLink, id string) error {
				_, err := p.w.client(spokeAccess).DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{id}})
				return err
			},
			filtered: func(t *testing.T, p *privateLink, _ string) int {
				out, err := p.w.client(spokeAccess).DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []types.Filter{flt("vpc-id", p.vpc.ID)}})
				mustNil(t, err)
				return len(out.VpcEndpoints)
			},
			notFound: "InvalidVpcEndpointId.NotFound",
		},
		{
			name: "security group",
			create: func(t *testing.T, p *privateLink) string {
				out, err := p.w.client(spokeAccess).CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("agents"), Description: aws.String("agents"), VpcId: aws.String(p.vpc.ID)})
				mustNil(t, err)
				return aws.ToString(out.GroupId)
			},
			byID: func(p *privateLink, id string) error {
				_, err := p.w.client(spokeAccess).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{id}})
				return err
			},
			filtered: func(t *testing.T, p *privateLink, _ string) int {
				out, err := p.w.client(spokeAccess).DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{flt("group-name", "agents")}})
				mustNil(t, err)
				return len(out.SecurityGroups)
			},
			notFound: "InvalidGroup.NotFound",
		},
		{
			name: "security group rule",
			create: func(t *testing.T, p *privateLink) string {
				c := p.w.client(spokeAccess)
				g, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{flt("vpc-id", p.vpc.ID)}})
				mustNil(t, err)
				out, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.SecurityGroups[0].GroupId, IpPermissions: []types.IpPermission{{
					IpProtocol: aws.String("tcp"), FromPort: aws.Int32(50000), ToPort: aws.Int32(50000), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/16")}}}}})
				mustNil(t, err)
				return aws.ToString(out.SecurityGroupRules[0].SecurityGroupRuleId)
			},
			byID: func(p *privateLink, id string) error {
				_, err := p.w.client(spokeAccess).DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{SecurityGroupRuleIds: []string{id}})
				return err
			},
			filtered: func(t *testing.T, p *privateLink, id string) int {
				out, err := p.w.client(spokeAccess).DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{})
				mustNil(t, err)
				n := 0
				for _, r := range out.SecurityGroupRules {
					if aws.ToString(r.SecurityGroupRuleId) == id {
						n++
					}
				}
				return n
			},
			notFound: "InvalidSecurityGroupRuleId.NotFound",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPrivateLink(t, true)
			eventual(p, 1)
			id := c.create(t, p)
			// The writer reads at once: not found by id, left out of filters.
			wantCode(t, c.byID(p, id), c.notFound)
			if n := c.filtered(t, p, id); n != 0 {
				t.Fatalf("filtered describe shows %d just-created, want 0", n)
			}
			wantFaults(t, p.w.svc, 2)
			p.w.clock.Advance(window)
			mustNil(t, c.byID(p, id))
			if n := c.filtered(t, p, id); n != 1 {
				t.Fatalf("filtered describe shows %d after the window, want 1", n)
			}
			wantFaults(t, p.w.svc, 0)
		})
	}
}

func TestMutationOfAJustCreatedResourceFailsNotFound(t *testing.T) {
	p := newPrivateLink(t, true)
	eventual(p, 2)
	c := p.w.client(spokeAccess)
	g, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("endpoint"), Description: aws.String("endpoint"), VpcId: aws.String(p.vpc.ID)})
	mustNil(t, err)
	rule := []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(50000), ToPort: aws.Int32(50000), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/16")}}}}
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: rule})
	wantCode(t, err, "InvalidGroup.NotFound")
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{aws.ToString(g.GroupId)}, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}})
	wantCode(t, err, "InvalidGroup.NotFound")

	e := p.create(t, "", p.offered...)
	_, err = c.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: e.VpcEndpointId, RemoveSubnetIds: p.offered[:1]})
	wantCode(t, err, "InvalidVpcEndpointId.NotFound")
	acc, err := p.w.client(hub).AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(p.svc.ID), VpcEndpointIds: []string{aws.ToString(e.VpcEndpointId)}})
	mustNil(t, err)
	if len(acc.Unsuccessful) != 1 || aws.ToString(acc.Unsuccessful[0].Error.Code) != "InvalidVpcEndpointId.NotFound" {
		t.Fatalf("accept of a just-created endpoint: %+v", acc.Unsuccessful)
	}

	p.w.clock.Advance(window)
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: rule})
	mustNil(t, err)
	_, err = c.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: e.VpcEndpointId, RemoveSubnetIds: p.offered[:1]})
	mustNil(t, err)
}

func TestChangesAreSeenLate(t *testing.T) {
	p := newPrivateLink(t, true)
	w := p.w
	e := p.create(t, "", p.offered...)
	id := aws.ToString(e.VpcEndpointId)
	eventual(p, 3)
	spokeC, hubC := w.client(spokeAccess), w.client(hub)

	// Tags: a filter on the new value misses, the old set is shown.
	_, err := spokeC.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{p.vpc.ID}, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("ci")}}})
	mustNil(t, err)
	tagged := func() int {
		out, err := spokeC.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{flt("tag:team", "ci")}})
		mustNil(t, err)
		return len(out.Vpcs)
	}
	if n := tagged(); n != 0 {
		t.Fatalf("tag filter matched %d VPCs within the window", n)
	}
	// Acceptance: both sides still see pendingAcceptance.
	acc, err := hubC.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(p.svc.ID), VpcEndpointIds: []string{id}})
	if err != nil || len(acc.Unsuccessful) != 0 {
		t.Fatalf("accept: %+v, %v", acc, err)
	}
	p.wantState(t, id, "pendingAcceptance")
	conns, err := hubC.DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{})
	mustNil(t, err)
	if len(conns.VpcEndpointConnections) != 1 || conns.VpcEndpointConnections[0].VpcEndpointState != "pendingAcceptance" {
		t.Fatalf("connections within the window: %+v", conns.VpcEndpointConnections)
	}
	// Permissions: a principal just allowed cannot see the service yet.
	otherRole := "arn:aws:iam::" + other + ":role/automation"
	_, err = hubC.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: aws.String(p.svc.ID), AddAllowedPrincipals: []string{otherRole}})
	mustNil(t, err)
	perms := func() []string {
		out, err := hubC.DescribeVpcEndpointServicePermissions(ctx, &ec2.DescribeVpcEndpointServicePermissionsInput{ServiceId: aws.String(p.svc.ID)})
		mustNil(t, err)
		var ps []string
		for _, a := range out.AllowedPrincipals {
			ps = append(ps, aws.ToString(a.Principal))
		}
		return ps
	}
	if slices.Contains(perms(), otherRole) {
		t.Fatal("permission visible within the window")
	}
	ov, err := w.svc.AddVPC(other, usEast1, VPC{CIDR: "10.5.0.0/16"})
	mustNil(t, err)
	createOther := func() error {
		_, err := w.client(other+"-automation").CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcEndpointType: types.VpcEndpointTypeInterface,
			VpcId: aws.String(ov.ID), ServiceName: aws.String(p.svc.Name), PrivateDnsEnabled: aws.Bool(false)})
		return err
	}
	wantCode(t, createOther(), "InvalidServiceName")
	wantFaults(t, w.svc, 5)

	w.clock.Advance(window)
	if n := tagged(); n != 1 {
		t.Fatalf("tag filter matched %d VPCs after the window", n)
	}
	p.wantState(t, id, "available")
	if !slices.Contains(perms(), otherRole) {
		t.Fatal("permission not visible after the window")
	}
	mustNil(t, createOther())
	wantFaults(t, w.svc, 0)
}

func TestDescribeOfSeveralIDsFailsWholeWhenOneIsUnknown(t *testing.T) {
	p := newPrivateLink(t, true)
	c := p.w.client(spokeAccess)
	e := p.create(t, "", p.offered...)
	groups, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{flt("vpc-id", p.vpc.ID)}})
	mustNil(t, err)
	group := aws.ToString(groups.SecurityGroups[0].GroupId)
	rules, err := c.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{})
	mustNil(t, err)
	rule := aws.ToString(rules.SecurityGroupRules[0].SecurityGroupRuleId)
	cases := []struct {
		name, code string
		call       func() error
	}{
		{"DescribeVpcEndpoints", "InvalidVpcEndpointId.NotFound", func() error {
			_, err := c.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{aws.ToString(e.VpcEndpointId), "vpce-0000000000000dead"}})
			return err
		}},
		{"DescribeVpcs", "InvalidVpcID.NotFound", func() error {
			_, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{p.vpc.ID, "vpc-0000000000000dead"}})
			return err
		}},
		{"DescribeSubnets", "InvalidSubnetID.NotFound", func() error {
			_, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{p.offered[0], "subnet-0000000000000dead"}})
			return err
		}},
		{"DescribeSecurityGroups", "InvalidGroup.NotFound", func() error {
			_, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{group, "sg-0000000000000dead"}})
			return err
		}},
		{"DescribeSecurityGroupRules", "InvalidSecurityGroupRuleId.NotFound", func() error {
			_, err := c.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{SecurityGroupRuleIds: []string{rule, "sgr-0000000000000dead"}})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
}

// visibility creates groups and records, step by step through the window,
// which of them reads see.
func visibility(t *testing.T, seed int64) string {
	w := newWorld(t)
	w.svc.SetConsistency(Consistency{Window: window, Seed: seed})
	v, err := w.svc.AddVPC(spoke, usEast1, VPC{CIDR: "10.0.0.0/16"})
	mustNil(t, err)
	c := w.client(spoke)
	for i := range 8 {
		_, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(fmt.Sprint("g", i)), Description: aws.String("g"), VpcId: aws.String(v.ID)})
		mustNil(t, err)
	}
	var trace string
	for range 9 {
		out, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{flt("vpc-id", v.ID)}})
		mustNil(t, err)
		var names []string
		for _, g := range out.SecurityGroups {
			names = append(names, aws.ToString(g.GroupName))
		}
		slices.Sort(names)
		trace += fmt.Sprint(names)
		w.clock.Advance(window / 8)
	}
	return trace
}

func TestConsistencyIsDeterministicGivenTheSeed(t *testing.T) {
	a, b, c := visibility(t, 7), visibility(t, 7), visibility(t, 8)
	if a != b {
		t.Fatalf("same seed, different visibility:\n%s\n%s", a, b)
	}
	if a == c {
		t.Fatalf("seeds 7 and 8 gave the same visibility: %s", a)
	}
}

func TestConsistencyOff(t *testing.T) {
	p := newPrivateLink(t, true)
	eventual(p, 1)
	p.w.svc.SetConsistency(Consistency{})
	e := p.create(t, "", p.offered...)
	p.wantState(t, aws.ToString(e.VpcEndpointId), "pendingAcceptance")
	wantFaults(t, p.w.svc, 0)
}
