package ec2sim

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func tcp(port int32, groupID, cidr string) types.IpPermission {
	p := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port)}
	if groupID != "" {
		p.UserIdGroupPairs = []types.UserIdGroupPair{{GroupId: aws.String(groupID)}}
	}
	if cidr != "" {
		p.IpRanges = []types.IpRange{{CidrIp: aws.String(cidr)}}
	}
	return p
}

func TestSecurityGroups(t *testing.T) {
	w := newWorld(t)
	c := w.client(spoke)
	v, err := w.svc.AddVPC(spoke, usEast1, VPC{CIDR: "10.0.0.0/16"})
	mustNil(t, err)

	// A VPC comes with its default group.
	out, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{flt("vpc-id", v.ID), flt("group-name", "default")}})
	mustNil(t, err)
	if len(out.SecurityGroups) != 1 {
		t.Fatalf("%d default groups", len(out.SecurityGroups))
	}
	defaultID := aws.ToString(out.SecurityGroups[0].GroupId)

	agents, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("jenkins-agents"), Description: aws.String("agents"), VpcId: aws.String(v.ID),
		TagSpecifications: tagSpec(types.ResourceTypeSecurityGroup, "managed-by", "jenkins-agent-vpcs"),
	})
	mustNil(t, err)
	endpointSG, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("jenkins-endpoint"), Description: aws.String("endpoint"), VpcId: aws.String(v.ID),
	})
	mustNil(t, err)
	_, err = c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("jenkins-agents"), Description: aws.String("again"), VpcId: v2ptr(v.ID)})
	wantCode(t, err, "InvalidGroup.Duplicate")
	_, err = c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("x"), Description: aws.String("x"), VpcId: aws.String("vpc-0000000000000000f")})
	wantCode(t, err, "InvalidVpcID.NotFound")

	eid, aid := aws.ToString(endpointSG.GroupId), aws.ToString(agents.GroupId)
	auth, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId:       aws.String(eid),
		IpPermissions: []types.IpPermission{tcp(50000, aid, ""), tcp(8080, aid, "10.0.0.0/16")},
	})
	mustNil(t, err)
	if !aws.ToBool(auth.Return) || len(auth.SecurityGroupRules) != 3 {
		t.Fatalf("authorize returned %v with %d rules", aws.ToBool(auth.Return), len(auth.SecurityGroupRules))
	}
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(eid), IpPermissions: []types.IpPermission{tcp(50000, aid, "")}})
	wantCode(t, err, "InvalidPermission.Duplicate")
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(eid), IpPermissions: []types.IpPermission{tcp(1, "sg-0000000000000000f", "")}})
	wantCode(t, err, "InvalidGroup.NotFound")
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String("sg-0000000000000000f"), IpPermissions: []types.IpPermission{tcp(1, "", "10.0.0.0/8")}})
	wantCode(t, err, "InvalidGroup.NotFound")

	desc, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{eid}})
	mustNil(t, err)
	g := desc.SecurityGroups[0]
	if len(g.IpPermissions) != 2 || len(g.IpPermissionsEgress) != 1 {
		t.Fatalf("permissions %+v", g.IpPermissions)
	}
	p := g.IpPermissions[0]
	if aws.ToInt32(p.FromPort) != 50000 || len(p.UserIdGroupPairs) != 1 || aws.ToString(p.UserIdGroupPairs[0].GroupId) != aid {
		t.Fatalf("first permission %+v", p)
	}
	if q := g.IpPermissions[1]; len(q.IpRanges) != 1 || len(q.UserIdGroupPairs) != 1 {
		t.Fatalf("8080 permission %+v", q)
	}

	for _, tc := range []struct {
		name    string
		filters []types.Filter
		want    int
	}{
		{"vpc", []types.Filter{flt("vpc-id", v.ID)}, 3},
		{"group-id", []types.Filter{flt("group-id", eid)}, 1},
		{"tag", []types.Filter{flt("tag:managed-by", "jenkins-agent-vpcs")}, 1},
		{"tag-key", []types.Filter{flt("tag-key", "managed-by")}, 1},
		{"name wildcard", []types.Filter{flt("group-name", "jenkins-*")}, 2},
		{"referencing", []types.Filter{flt("ip-permission.group-id", aid)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: tc.filters})
			mustNil(t, err)
			if len(out.SecurityGroups) != tc.want {
				t.Fatalf("got %d groups, want %d", len(out.SecurityGroups), tc.want)
			}
		})
	}
	_, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0000000000000000f"}})
	wantCode(t, err, "InvalidGroup.NotFound")

	rules, err := c.DescribeSecurityGroupRules(ctx, &ec2.DescribeSecurityGroupRulesInput{Filters: []types.Filter{flt("group-id", eid)}})
	mustNil(t, err)
	if len(rules.SecurityGroupRules) != 4 { // three ingress, one egress
		t.Fatalf("%d rules", len(rules.SecurityGroupRules))
	}

	// The agents group is referenced by the endpoint group's rules.
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(aid)})
	wantCode(t, err, "DependencyViolation")
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(defaultID)})
	wantCode(t, err, "CannotDelete")

	_, err = c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(eid), IpPermissions: []types.IpPermission{tcp(50000, aid, ""), tcp(8080, aid, "10.0.0.0/16")}})
	mustNil(t, err)
	_, err = c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(eid), IpPermissions: []types.IpPermission{tcp(50000, aid, "")}})
	wantCode(t, err, "InvalidPermission.NotFound")
	desc, err = c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{eid}})
	mustNil(t, err)
	if n := len(desc.SecurityGroups[0].IpPermissions); n != 0 {
		t.Fatalf("%d permissions left after revoke", n)
	}
	del, err := c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(aid)})
	mustNil(t, err)
	if aws.ToString(del.GroupId) != aid {
		t.Fatalf("deleted %s", aws.ToString(del.GroupId))
	}
	_, err = c.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(aid)})
	wantCode(t, err, "InvalidGroup.NotFound")
}

func TestSecurityGroupLegacyIngressParameters(t *testing.T) {
	w := newWorld(t)
	c := w.client(spoke)
	v, err := w.svc.AddVPC(spoke, usEast1, VPC{CIDR: "10.0.0.0/16"})
	mustNil(t, err)
	g, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("g"), Description: aws.String("g"), VpcId: aws.String(v.ID)})
	mustNil(t, err)
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
		GroupId: g.GroupId, IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), CidrIp: aws.String("192.168.0.0/24"),
	})
	mustNil(t, err)
	out, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{flt("ip-permission.cidr", "192.168.0.0/24")}})
	mustNil(t, err)
	if len(out.SecurityGroups) != 1 {
		t.Fatalf("%d groups with the rule", len(out.SecurityGroups))
	}
	_, err = c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: g.GroupId, IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}}})
	wantCode(t, err, "InvalidParameterValue")
}

func v2ptr(s string) *string { return &s }
