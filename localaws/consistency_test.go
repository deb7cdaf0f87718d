package localaws

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// memberVPC is the one VPC testTopology gives member.
func memberVPC(t *testing.T, c *ec2.Client) string {
	t.Helper()
	out, err := c.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{})
	if err != nil || len(out.Vpcs) != 1 {
		t.Fatalf("describe vpcs = %+v, %v", out, err)
	}
	return aws.ToString(out.Vpcs[0].VpcId)
}

func TestEventualConsistencyOptions(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		// visibleAfter is how far the clock must move before a new group
		// is seen (0: at once).
		visibleAfter time.Duration
	}{
		{"default window", Options{}, DefaultConsistencyWindow},
		{"longer window", Options{Consistency: Consistency{Window: time.Minute, Seed: 3}}, time.Minute},
		{"relaxed", Options{Relax: Relax{Consistency: true}}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Topology = testTopology()
			srv, url := startServer(t, c.opts)
			srv.Clock().Set(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
			e := ec2.NewFromConfig(awsConfig(url, member, "x", ""))
			g, err := e.CreateSecurityGroup(ctx(t), &ec2.CreateSecurityGroupInput{GroupName: aws.String("agents"), Description: aws.String("agents"), VpcId: aws.String(memberVPC(t, e))})
			if err != nil {
				t.Fatal(err)
			}
			describe := func() error {
				_, err := e.DescribeSecurityGroups(ctx(t), &ec2.DescribeSecurityGroupsInput{GroupIds: []string{aws.ToString(g.GroupId)}})
				return err
			}
			if c.visibleAfter == 0 {
				if err := describe(); err != nil {
					t.Fatal(err)
				}
				if n := srv.ConsistencyFaults(); n != 0 {
					t.Fatalf("%d consistency faults with consistency relaxed", n)
				}
				return
			}
			wantCode(t, describe(), "InvalidGroup.NotFound")
			if n := srv.ConsistencyFaults(); n != 1 {
				t.Fatalf("consistency faults = %d, want 1", n)
			}
			srv.Clock().Advance(c.visibleAfter)
			if err := describe(); err != nil {
				t.Fatalf("after the window: %v", err)
			}
		})
	}
}

func TestRelaxAndRestoreConsistency(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology()})
	srv.Clock().Set(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	e := ec2.NewFromConfig(awsConfig(url, member, "x", ""))
	vpc := memberVPC(t, e)
	tagged := func() int {
		out, err := e.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("tag:team"), Values: []string{"ci"}}}})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Vpcs)
	}
	tag := func(v string) {
		if _, err := e.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: []string{vpc}, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String(v)}}}); err != nil {
			t.Fatal(err)
		}
	}
	srv.RelaxConsistency()
	tag("ci")
	if n := tagged(); n != 1 {
		t.Fatalf("relaxed: tag filter matched %d", n)
	}
	srv.SetConsistency(Consistency{Seed: 5})
	tag("qa")
	if n := tagged(); n != 1 {
		t.Fatalf("strict: the retag is visible at once (%d match the old value)", n)
	}
	srv.Clock().Advance(DefaultConsistencyWindow)
	if n := tagged(); n != 0 {
		t.Fatalf("strict: the retag is not visible after the window (%d match the old value)", n)
	}
}

func TestEndpointServiceByAPIAndEndpointStates(t *testing.T) {
	// Each step reads what the previous one wrote a consistency window
	// later, as a person would.
	srv, url := startServer(t, Options{Topology: testTopology()})
	hubEC2 := ec2.NewFromConfig(awsConfig(url, hub, "x", ""))
	memberEC2 := ec2.NewFromConfig(awsConfig(url, member, "x", ""))
	out, err := hubEC2.CreateVpcEndpointServiceConfiguration(ctx(t), &ec2.CreateVpcEndpointServiceConfigurationInput{
		NetworkLoadBalancerArns: []string{"arn:aws:elasticloadbalancing:" + region + ":" + hub + ":loadbalancer/net/jenkins/0123456789abcdef"},
		AcceptanceRequired:      aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	svc := out.ServiceConfiguration
	if _, err := hubEC2.ModifyVpcEndpointServicePermissions(ctx(t), &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: svc.ServiceId,
		AddAllowedPrincipals: []string{"arn:aws:iam::" + member + ":root"}}); err != nil {
		t.Fatal(err)
	}
	later(srv)
	vpc := memberVPC(t, memberEC2)
	subnets, err := memberEC2.DescribeSubnets(ctx(t), &ec2.DescribeSubnetsInput{})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := memberEC2.CreateVpcEndpoint(ctx(t), &ec2.CreateVpcEndpointInput{VpcEndpointType: types.VpcEndpointTypeInterface, VpcId: aws.String(vpc),
		ServiceName: svc.ServiceName, SubnetIds: []string{aws.ToString(subnets.Subnets[0].SubnetId)}, PrivateDnsEnabled: aws.Bool(false)})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(ep.VpcEndpoint.VpcEndpointId)
	if err := srv.SetEndpointState(member, region, id, "Partial"); err != nil {
		t.Fatal(err)
	}
	later(srv)
	d, err := memberEC2.DescribeVpcEndpoints(ctx(t), &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{id}})
	if err != nil || len(d.VpcEndpoints) != 1 || d.VpcEndpoints[0].State != types.StatePartial || d.VpcEndpoints[0].LastError == nil {
		t.Fatalf("describe = %+v, %v", d, err)
	}
	del, err := hubEC2.DeleteVpcEndpointServiceConfigurations(ctx(t), &ec2.DeleteVpcEndpointServiceConfigurationsInput{ServiceIds: []string{aws.ToString(svc.ServiceId)}})
	if err != nil || len(del.Unsuccessful) != 1 {
		t.Fatalf("delete with a Partial connection = %+v, %v", del, err)
	}
}
