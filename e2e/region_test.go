package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
)

// oregon is team-b's VPC in the second Region of localstack/topology.yaml.
var oregon = localstack.AgentVPC{Account: "333333333333", VPC: "vpc-0b000000000000002", Region: "us-west-2"}

// statusTag is the tag the product keeps the VPC's status in
// (shared/agentvpc.TagStatus), read here as the VPC's owner sees it.
const statusTag = "jenkins-agent-vpcs:status"

// A VPC in another Region than the hub's, tagged by its owner in its own
// Region, gets an interface endpoint there to the hub's endpoint service,
// with the service's Region named (ServiceRegion); its tunnel is that
// endpoint's regional DNS name, published under the same parameter
// namespace as any other; untagged, all of it goes, while a tagged VPC of
// the hub's Region in the same account stays as it was.
func TestSecondRegionVPCOnboardedAndCleanedUp(t *testing.T) {
	s := start(t, localstack.Options{})
	if !slices.Contains(s.Regions, oregon.Region) || s.Region == oregon.Region {
		t.Fatalf("the stack serves %v from %s; want %s among the others", s.Regions, s.Region, oregon.Region)
	}
	ctx := context.Background()
	tag(t, s, oregon, true)
	tag(t, s, teamB, true)
	converge(t, s, ready(t, s, oregon, teamB))

	st := status(t, s, oregon)
	wantReady(t, st)
	local := s.EC2In(oregon.Account, oregon.Region)
	out, err := local.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{st.Endpoints[0].ID}})
	if err != nil || len(out.VpcEndpoints) != 1 {
		t.Fatalf("describing %s in %s: %+v, %v", st.Endpoints[0].ID, oregon.Region, out, err)
	}
	ep := out.VpcEndpoints[0]
	if got, want := aws.ToString(ep.ServiceName), "com.amazonaws.vpce."+s.Region+"."+s.Parameters["EndpointServiceId"]; got != want {
		t.Errorf("endpoint service name %s, want the hub's %s", got, want)
	}
	if got := aws.ToString(ep.ServiceRegion); got != s.Region {
		t.Errorf("endpoint ServiceRegion %q, want the hub's Region %s", got, s.Region)
	}
	// One subnet per Availability Zone of the VPC's own Region.
	if got, want := st.Endpoints[0].Subnets, []string{"subnet-0b000000000000021", "subnet-0b000000000000022"}; !slices.Equal(got, want) {
		t.Errorf("endpoint subnets %v, want %v", got, want)
	}
	// The regional name is endpoint_id.endpoint_service_id.service_region.vpce.amazonaws.com
	// (PrivateLink guide, "DNS hostnames"): the service's Region, not the VPC's; and a
	// cross-Region endpoint has no zonal names (wantReady holds the tunnel to the
	// endpoint's regional name).
	if !strings.Contains(st.Tunnel, "."+s.Parameters["EndpointServiceId"]+"."+s.Region+".vpce.amazonaws.com:") {
		t.Errorf("tunnel %s, want the endpoint's regional DNS name, which names the service and its Region %s", st.Tunnel, s.Region)
	}
	if st.Document["region"] != oregon.Region || st.Document["vpcId"] != oregon.VPC || st.Document["tunnel"] != st.Tunnel {
		t.Errorf("document %v, want region %s, vpcId %s and the tunnel", st.Document, oregon.Region, oregon.VPC)
	}
	if conn, _ := s.Connection(ctx, st.Endpoints[0].ID); !strings.EqualFold(conn, "available") {
		t.Errorf("the hub sees the connection of %s as %q, want available", st.Endpoints[0].ID, conn)
	}
	if got := vpcTag(t, local, oregon.VPC, statusTag); got != "ready" {
		t.Errorf("%s tag on %s is %q, want ready", statusTag, oregon.VPC, got)
	}

	if noReconcile == "" {
		sweepRepairs(t, s, oregon, st.Endpoints[0].ID)
	}

	tag(t, s, oregon, false)
	converge(t, s, func() bool { return status(t, s, oregon).Clean() })
	if st := status(t, s, oregon); !st.Clean() {
		t.Errorf("%s not cleaned up after untagging: %+v", oregon, st)
	}
	if got := vpcTag(t, local, oregon.VPC, statusTag); got != "" && got != "removed" {
		t.Errorf("%s tag on untagged %s is %q, want it gone or removed", statusTag, oregon.VPC, got)
	}
	wantReady(t, status(t, s, teamB))
}

// vpcTag reads one tag of a VPC as its owner ("" when absent).
func vpcTag(t *testing.T, c *ec2.Client, vpc, key string) string {
	t.Helper()
	out, err := c.DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{VpcIds: []string{vpc}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out.Vpcs {
		for _, tg := range v.Tags {
			if aws.ToString(tg.Key) == key {
				return aws.ToString(tg.Value)
			}
		}
	}
	return ""
}

// sweepRepairs deletes v's endpoint by hand, in v's Region, and checks that
// one scheduled sweep, which reads every served Region, puts a new one
// there and publishes it.
func sweepRepairs(t *testing.T, s *localstack.Stack, v localstack.AgentVPC, old string) {
	t.Helper()
	var deleted localstack.Breakage
	for _, b := range localstack.Breakages() {
		if b.Name == "endpoint-deleted" {
			deleted = b
		}
	}
	if err := deleted.Apply(context.Background(), s, v); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	runs := len(reconcileRuns(s))
	if err := s.TriggerSchedules(); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	for _, run := range reconcileRuns(s)[runs:] {
		if run.Failed() {
			t.Fatalf("reconcile failed: %v %v", run.Err, run.Result.Error)
		}
	}
	s.Later()
	st := status(t, s, v)
	wantReady(t, st)
	if st.Endpoints[0].ID == old {
		t.Errorf("%s still has the deleted endpoint %s after the sweep", v, old)
	}
}
