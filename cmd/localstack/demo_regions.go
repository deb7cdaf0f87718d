package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
)

// oregon is team B's VPC in the topology's second Region.
var oregon = localstack.AgentVPC{Account: "333333333333", VPC: "vpc-0b000000000000002", Region: "us-west-2"}

// otherRegion onboards a VPC of another Region than the hub's and removes
// it again: the member template's forwarding rules of that Region carry
// the tag event to the hub bus, the endpoint is created in the VPC's own
// Region naming the hub's service and Region, and untagging cleans it up.
func (d *demo) otherRegion() error {
	d.say("Team B also runs agents in %s. The member stack set deployed the forwarding rules in every", oregon.Region)
	d.say("Region the hub serves (%s), the roles in the hub's only.", strings.Join(d.s.Regions, ", "))
	d.say("$ AWS_ACCESS_KEY_ID=%s aws ec2 create-tags --region %s --resources %s --tags Key=jenkins-agents,Value=true", oregon.Account, oregon.Region, oregon.VPC)
	if err := d.s.Tag(d.ctx, oregon, true); err != nil {
		return err
	}
	took, err := d.waitTunnel(oregon, 30*time.Second)
	if err != nil {
		return err
	}
	d.say("  -> tunnel parameter readable in the hub (%s) %s after create-tags", d.s.Region, took.Round(time.Millisecond))
	if err := d.settle(); err != nil {
		return err
	}
	d.s.Later() // look a moment later, past EC2's consistency window
	st, err := d.s.Status(d.ctx, oregon)
	if err != nil {
		return err
	}
	if !st.Ready("50000") {
		return fmt.Errorf("%s (%s) is not ready: %+v", oregon, oregon.Region, st)
	}
	ep, err := d.endpoint(oregon, st.Endpoints[0].ID)
	if err != nil {
		return err
	}
	d.say("  endpoint %s in %s: service %s, ServiceRegion %s, subnets %s",
		aws.ToString(ep.VpcEndpointId), oregon.Region, aws.ToString(ep.ServiceName), aws.ToString(ep.ServiceRegion), strings.Join(st.Endpoints[0].Subnets, ","))
	d.say("  %s/tunnel = %s", d.s.ParameterPath(oregon), st.Tunnel)
	if got := aws.ToString(ep.ServiceRegion); got != d.s.Region {
		return fmt.Errorf("endpoint %s names ServiceRegion %q, want the hub's %s", aws.ToString(ep.VpcEndpointId), got, d.s.Region)
	}

	d.say("$ AWS_ACCESS_KEY_ID=%s aws ec2 delete-tags --region %s --resources %s --tags Key=jenkins-agents", oregon.Account, oregon.Region, oregon.VPC)
	if err := d.s.Tag(d.ctx, oregon, false); err != nil {
		return err
	}
	if err := d.settle(); err != nil {
		return err
	}
	d.s.Later()
	if st, err = d.s.Status(d.ctx, oregon); err != nil {
		return err
	}
	if !st.Clean() {
		return fmt.Errorf("%s (%s) not cleaned up: %+v", oregon, oregon.Region, st)
	}
	left, err := d.s.SSM(d.s.Hub).GetParametersByPath(d.ctx, &ssm.GetParametersByPathInput{Path: aws.String(d.s.ParameterPath(oregon)), Recursive: aws.Bool(true)})
	if err != nil {
		return err
	}
	d.say("  -> endpoints left in %s's VPC: %d; parameters left under %s: %d", oregon.Region, len(st.Endpoints), d.s.ParameterPath(oregon), len(left.Parameters))
	if len(left.Parameters) != 0 {
		return errors.New("parameters left behind")
	}
	return nil
}

// endpoint describes one endpoint as its owner, in the VPC's Region.
func (d *demo) endpoint(v localstack.AgentVPC, id string) (ec2types.VpcEndpoint, error) {
	out, err := d.s.EC2In(v.Account, d.s.RegionOf(v)).DescribeVpcEndpoints(d.ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{id}})
	if err != nil {
		return ec2types.VpcEndpoint{}, fmt.Errorf("describing %s in %s, %w", id, d.s.RegionOf(v), err)
	}
	if len(out.VpcEndpoints) != 1 {
		return ec2types.VpcEndpoint{}, fmt.Errorf("describing %s in %s: %d endpoints", id, d.s.RegionOf(v), len(out.VpcEndpoints))
	}
	return out.VpcEndpoints[0], nil
}
