package fake_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/fake"
)

const (
	hub   = "111111111111"
	spoke = "222222222222"
	other = "333333333333"
)

var epoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// code returns the API error code of err, "" for nil.
func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "not an API error: " + err.Error()
	}
	return ""
}

// fixture is a hub with one endpoint service and a spoke VPC with subnets in
// three AZs (the service offers two of them) and a second subnet in the first AZ.
type fixture struct {
	w                           *fake.World
	clock                       *fake.Clock
	vpc                         string
	subA, subB, subC, subA2, sg string
	svcID, svcName              string
}

func setup(t *testing.T, acceptance bool, principals ...string) fixture {
	t.Helper()
	clock := fake.NewClock(epoch)
	w := fake.NewWorld(fake.Options{Region: "us-east-1", Clock: clock, TransitionDelay: 2 * time.Minute})
	f := fixture{w: w, clock: clock}
	f.vpc = w.AddVPC(spoke, "10.1.0.0/16", map[string]string{"jenkins-agents": "true"})
	f.subA = w.AddSubnet(spoke, f.vpc, "us-east-1a", map[string]string{"tier": "private"})
	f.subB = w.AddSubnet(spoke, f.vpc, "us-east-1b", nil)
	f.subC = w.AddSubnet(spoke, f.vpc, "us-east-1c", nil)
	f.subA2 = w.AddSubnet(spoke, f.vpc, "us-east-1a", nil)
	if principals == nil {
		principals = []string{fake.RootARN(spoke)}
	}
	f.svcID, f.svcName = w.AddEndpointService(hub, fake.ServiceSpec{
		AcceptanceRequired:  acceptance,
		AvailabilityZoneIDs: []string{w.AZID(spoke, "us-east-1a"), w.AZID(spoke, "us-east-1b")},
		AllowedPrincipals:   principals,
		Ports:               []int32{50000, 8080},
	})
	out, err := w.EC2(spoke).CreateSecurityGroup(t.Context(), &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("jenkins-endpoint"), Description: aws.String("endpoint"), VpcId: aws.String(f.vpc),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.sg = *out.GroupId
	return f
}

func (f fixture) endpointInput(token string, subnets ...string) *ec2.CreateVpcEndpointInput {
	return &ec2.CreateVpcEndpointInput{
		VpcId: aws.String(f.vpc), ServiceName: aws.String(f.svcName), VpcEndpointType: types.VpcEndpointTypeInterface,
		SubnetIds: subnets, SecurityGroupIds: []string{f.sg}, PrivateDnsEnabled: aws.Bool(false),
		ClientToken: optToken(token),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVpcEndpoint, Tags: []types.Tag{
			{Key: aws.String("managed-by"), Value: aws.String("jenkins-agent-vpcs")},
		}}},
	}
}

func optToken(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func (f fixture) createEndpoint(t *testing.T) types.VpcEndpoint {
	t.Helper()
	out, err := f.w.EC2(spoke).CreateVpcEndpoint(t.Context(), f.endpointInput("", f.subA, f.subB))
	if err != nil {
		t.Fatal(err)
	}
	return *out.VpcEndpoint
}

func (f fixture) endpoint(t *testing.T, acct, id string) types.VpcEndpoint {
	t.Helper()
	out, err := f.w.EC2(acct).DescribeVpcEndpoints(t.Context(), &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.VpcEndpoints) != 1 {
		t.Fatalf("DescribeVpcEndpoints(%s) returned %d endpoints", id, len(out.VpcEndpoints))
	}
	return out.VpcEndpoints[0]
}
