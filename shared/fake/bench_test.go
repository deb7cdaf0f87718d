package fake_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/fake"
)

// BenchmarkDescribeVpcEndpointsAtScale measures one filtered describe in a
// world of 100 spoke accounts with 10 endpoints each: the cost an
// organization-scale reconcile test pays per call.
func BenchmarkDescribeVpcEndpointsAtScale(b *testing.B) {
	w := fake.NewWorld(fake.Options{})
	_, svcName := w.AddEndpointService(hub, fake.ServiceSpec{AvailabilityZoneIDs: []string{"use1-az1", "use1-az2", "use1-az3", "use1-az4", "use1-az5", "use1-az6"}, AllowedPrincipals: []string{"*"}})
	first := ""
	for i := range 100 {
		acct := fmt.Sprintf("%012d", 200000000000+i)
		if first == "" {
			first = acct
		}
		for range 10 {
			vpc := w.AddVPC(acct, "10.0.0.0/16", map[string]string{"jenkins-agents": "true"})
			sub := w.AddSubnet(acct, vpc, "us-east-1a", nil)
			if _, err := w.EC2(acct).CreateVpcEndpoint(b.Context(), &ec2.CreateVpcEndpointInput{
				VpcId: &vpc, ServiceName: &svcName, VpcEndpointType: types.VpcEndpointTypeInterface,
				SubnetIds: []string{sub}, PrivateDnsEnabled: aws.Bool(false),
			}); err != nil {
				b.Fatal(err)
			}
		}
	}
	api := w.EC2(first)
	in := &ec2.DescribeVpcEndpointsInput{Filters: []types.Filter{{Name: aws.String("service-name"), Values: []string{svcName}}}}
	for b.Loop() {
		out, err := api.DescribeVpcEndpoints(b.Context(), in)
		if err != nil || len(out.VpcEndpoints) != 10 {
			b.Fatal(err, len(out.VpcEndpoints))
		}
	}
}
