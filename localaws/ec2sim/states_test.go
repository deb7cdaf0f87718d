package ec2sim

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestUnacceptedConnectionExpires(t *testing.T) {
	p := newPrivateLink(t, true)
	id := aws.ToString(p.create(t, "", p.offered...).VpcEndpointId)
	p.w.clock.Advance(AcceptanceExpiry - time.Second)
	p.wantState(t, id, "pendingAcceptance")
	p.w.clock.Advance(time.Second)
	p.wantState(t, id, "expired")
	hubC := p.w.client(hub)
	conns, err := hubC.DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{Filters: []types.Filter{flt("vpc-endpoint-state", "expired")}})
	mustNil(t, err)
	if len(conns.VpcEndpointConnections) != 1 {
		t.Fatalf("%d expired connections, want 1", len(conns.VpcEndpointConnections))
	}
	acc, err := hubC.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(p.svc.ID), VpcEndpointIds: []string{id}})
	mustNil(t, err)
	if len(acc.Unsuccessful) != 1 || aws.ToString(acc.Unsuccessful[0].Error.Code) != "InvalidState" {
		t.Fatalf("accepting an expired connection: %+v", acc.Unsuccessful)
	}
	// An expired endpoint can still be deleted.
	del, err := p.w.client(spokeAccess).DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}})
	if err != nil || len(del.Unsuccessful) != 0 {
		t.Fatalf("delete: %+v, %v", del, err)
	}
}

func TestFailedAndPartialEndpoints(t *testing.T) {
	cases := []struct {
		state      string
		acceptance bool
		// rejectable: the hub can still reject the connection.
		rejectable bool
	}{
		{"failed", true, false},
		{"Partial", false, true},
	}
	for _, c := range cases {
		t.Run(c.state, func(t *testing.T) {
			p := newPrivateLink(t, c.acceptance)
			id := aws.ToString(p.create(t, "", p.offered...).VpcEndpointId)
			mustNil(t, p.w.svc.SetEndpointState(spoke, usEast1, id, c.state))
			e := p.endpoint(t, id)
			if string(e.State) != c.state || e.LastError == nil || aws.ToString(e.LastError.Code) == "" {
				t.Fatalf("endpoint %s, last error %+v; want %s with a last error", e.State, e.LastError, c.state)
			}
			conns, err := p.w.client(hub).DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{})
			mustNil(t, err)
			if len(conns.VpcEndpointConnections) != 1 || string(conns.VpcEndpointConnections[0].VpcEndpointState) != c.state {
				t.Fatalf("connections: %+v", conns.VpcEndpointConnections)
			}
			rej, err := p.w.client(hub).RejectVpcEndpointConnections(ctx, &ec2.RejectVpcEndpointConnectionsInput{ServiceId: aws.String(p.svc.ID), VpcEndpointIds: []string{id}})
			mustNil(t, err)
			if rejected := len(rej.Unsuccessful) == 0; rejected != c.rejectable {
				t.Fatalf("reject of a %s connection: unsuccessful %+v", c.state, rej.Unsuccessful)
			}
			if !c.rejectable {
				mustNil(t, p.w.svc.SetEndpointState(spoke, usEast1, id, ""))
				p.wantState(t, id, "pendingAcceptance")
			}
		})
	}
	w := newWorld(t)
	if err := w.svc.SetEndpointState(spoke, usEast1, "vpce-0000000000000dead", "failed"); err == nil {
		t.Fatal("SetEndpointState of an unknown endpoint succeeded")
	}
	p := newPrivateLink(t, true)
	id := aws.ToString(p.create(t, "", p.offered...).VpcEndpointId)
	if err := p.w.svc.SetEndpointState(spoke, usEast1, id, "available"); err == nil {
		t.Fatal("SetEndpointState accepted a state API calls reach")
	}
}

func TestEndpointServicesByAPI(t *testing.T) {
	w := newWorld(t)
	hubC := w.client(hub)
	nlb := "arn:aws:elasticloadbalancing:us-east-1:" + hub + ":loadbalancer/net/jenkins/0123456789abcdef"
	in := &ec2.CreateVpcEndpointServiceConfigurationInput{
		NetworkLoadBalancerArns: []string{nlb}, AcceptanceRequired: aws.Bool(true), ClientToken: aws.String("svc-1"),
		SupportedRegions:  []string{"eu-west-1"},
		TagSpecifications: tagSpec(types.ResourceTypeVpcEndpointService, "Name", "jenkins"),
	}
	out, err := hubC.CreateVpcEndpointServiceConfiguration(ctx, in)
	mustNil(t, err)
	sc := out.ServiceConfiguration
	id := aws.ToString(sc.ServiceId)
	if aws.ToString(sc.ServiceName) != "com.amazonaws.vpce.us-east-1."+id || sc.ServiceState != types.ServiceStateAvailable ||
		!aws.ToBool(sc.AcceptanceRequired) || len(sc.AvailabilityZones) != zoneCount(usEast1) || len(sc.SupportedRegions) != 2 ||
		len(sc.Tags) != 1 || len(sc.NetworkLoadBalancerArns) != 1 || aws.ToString(out.ClientToken) != "svc-1" {
		t.Fatalf("service configuration: %+v", sc)
	}
	again, err := hubC.CreateVpcEndpointServiceConfiguration(ctx, in)
	if err != nil || aws.ToString(again.ServiceConfiguration.ServiceId) != id {
		t.Fatalf("retry with the same token: %+v, %v", again, err)
	}

	refusals := []struct {
		name string
		in   *ec2.CreateVpcEndpointServiceConfigurationInput
		code string
	}{
		{"no load balancer", &ec2.CreateVpcEndpointServiceConfigurationInput{}, "InvalidParameter"},
		{"another account's load balancer", &ec2.CreateVpcEndpointServiceConfigurationInput{NetworkLoadBalancerArns: []string{
			"arn:aws:elasticloadbalancing:us-east-1:" + spoke + ":loadbalancer/net/jenkins/0123456789abcdef"}}, "InvalidParameterValue"},
		{"not an ARN", &ec2.CreateVpcEndpointServiceConfigurationInput{NetworkLoadBalancerArns: []string{"jenkins"}}, "InvalidParameterValue"},
		{"private DNS", &ec2.CreateVpcEndpointServiceConfigurationInput{NetworkLoadBalancerArns: []string{nlb}, PrivateDnsName: aws.String("jenkins.example.com")}, "InvalidParameter"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			_, err := hubC.CreateVpcEndpointServiceConfiguration(ctx, r.in)
			wantCode(t, err, r.code)
		})
	}

	nlb2 := "arn:aws:elasticloadbalancing:us-east-1:" + hub + ":loadbalancer/net/jenkins2/fedcba9876543210"
	_, err = hubC.ModifyVpcEndpointServiceConfiguration(ctx, &ec2.ModifyVpcEndpointServiceConfigurationInput{ServiceId: aws.String(id),
		AcceptanceRequired: aws.Bool(false), AddNetworkLoadBalancerArns: []string{nlb2}, RemoveNetworkLoadBalancerArns: []string{nlb}, RemoveSupportedRegions: []string{"eu-west-1"}})
	mustNil(t, err)
	_, err = hubC.ModifyVpcEndpointServiceConfiguration(ctx, &ec2.ModifyVpcEndpointServiceConfigurationInput{ServiceId: aws.String(id), RemoveNetworkLoadBalancerArns: []string{nlb2}})
	wantCode(t, err, "InvalidParameter")
	desc, err := hubC.DescribeVpcEndpointServiceConfigurations(ctx, &ec2.DescribeVpcEndpointServiceConfigurationsInput{ServiceIds: []string{id}})
	mustNil(t, err)
	got := desc.ServiceConfigurations[0]
	if aws.ToBool(got.AcceptanceRequired) || len(got.NetworkLoadBalancerArns) != 1 || got.NetworkLoadBalancerArns[0] != nlb2 || len(got.SupportedRegions) != 1 {
		t.Fatalf("after modify: %+v", got)
	}

	// A consumer connects once allowed; the connection blocks deletion
	// until it is rejected.
	_, err = hubC.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: aws.String(id), AddAllowedPrincipals: []string{spokeRole}})
	mustNil(t, err)
	v, err := w.svc.AddVPC(spoke, usEast1, VPC{CIDR: "10.0.0.0/16"})
	mustNil(t, err)
	sn, err := w.svc.AddSubnet(spoke, usEast1, Subnet{VPCID: v.ID, CIDR: "10.0.1.0/24", AZ: "us-east-1a"})
	mustNil(t, err)
	ep, err := w.client(spokeAccess).CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcEndpointType: types.VpcEndpointTypeInterface,
		VpcId: aws.String(v.ID), ServiceName: got.ServiceName, SubnetIds: []string{sn.ID}, PrivateDnsEnabled: aws.Bool(false)})
	mustNil(t, err)
	if ep.VpcEndpoint.State != "available" {
		t.Fatalf("endpoint of a service without acceptance: %s", ep.VpcEndpoint.State)
	}
	del, err := hubC.DeleteVpcEndpointServiceConfigurations(ctx, &ec2.DeleteVpcEndpointServiceConfigurationsInput{ServiceIds: []string{id, "vpce-svc-0000000000000dead"}})
	mustNil(t, err)
	codes := map[string]string{}
	for _, u := range del.Unsuccessful {
		codes[aws.ToString(u.ResourceId)] = aws.ToString(u.Error.Code)
	}
	if codes[id] != "ExistingVpcEndpointConnections" || codes["vpce-svc-0000000000000dead"] != "InvalidVpcEndpointServiceId.NotFound" {
		t.Fatalf("delete with a connection: %v", codes)
	}
	_, err = hubC.RejectVpcEndpointConnections(ctx, &ec2.RejectVpcEndpointConnectionsInput{ServiceId: aws.String(id), VpcEndpointIds: []string{aws.ToString(ep.VpcEndpoint.VpcEndpointId)}})
	mustNil(t, err)
	del, err = hubC.DeleteVpcEndpointServiceConfigurations(ctx, &ec2.DeleteVpcEndpointServiceConfigurationsInput{ServiceIds: []string{id}})
	if err != nil || len(del.Unsuccessful) != 0 {
		t.Fatalf("delete after reject: %+v, %v", del, err)
	}
	_, err = hubC.DescribeVpcEndpointServiceConfigurations(ctx, &ec2.DescribeVpcEndpointServiceConfigurationsInput{ServiceIds: []string{id}})
	wantCode(t, err, "InvalidVpcEndpointServiceId.NotFound")
}
