package ec2sim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

const (
	euWest1      = "eu-west-1"
	euCentral1   = "eu-central-1"
	apSoutheast2 = "ap-southeast-2"
	xrTopic      = "arn:aws:sns:eu-west-1:" + hub + ":vpce-events"
)

// crossRegion is a hub endpoint service in eu-west-1 that also serves
// eu-central-1 and us-east-1, and spoke VPCs in those Regions and in
// ap-southeast-2, which it does not serve.
type crossRegion struct {
	w   *world
	svc EndpointService
	// vpc and subnets (one per zone, sorted by zone id) by Region.
	vpc     map[string]string
	subnets map[string][]Subnet
}

func newCrossRegion(t *testing.T) *crossRegion {
	t.Helper()
	w := newWorld(t)
	svc, err := w.svc.AddEndpointService(hub, euWest1, EndpointService{
		AcceptanceRequired: true, AllowedPrincipals: []string{spokeRole}, NotificationTopicARN: xrTopic,
		SupportedRegions: []string{euCentral1, usEast1},
	})
	mustNil(t, err)
	x := &crossRegion{w: w, svc: svc, vpc: map[string]string{}, subnets: map[string][]Subnet{}}
	for _, r := range []string{euCentral1, usEast1, apSoutheast2} {
		v, err := w.svc.AddVPC(spoke, r, VPC{CIDR: "10.0.0.0/16"})
		mustNil(t, err)
		x.vpc[r] = v.ID
		for i, az := range zoneNames(r) {
			sn, err := w.svc.AddSubnet(spoke, r, Subnet{VPCID: v.ID, CIDR: "10.0." + string(rune('0'+i)) + ".0/24", AZ: az})
			mustNil(t, err)
			x.subnets[r] = append(x.subnets[r], sn)
		}
		slices.SortFunc(x.subnets[r], func(a, b Subnet) int { return strings.Compare(a.AZID, b.AZID) })
	}
	return x
}

// subnet returns the spoke's subnet of region in zone id azID.
func (x *crossRegion) subnet(t *testing.T, region, azID string) string {
	t.Helper()
	for _, sn := range x.subnets[region] {
		if sn.AZID == azID {
			return sn.ID
		}
	}
	t.Fatalf("no subnet in %s %s", region, azID)
	return ""
}

// createIn creates the spoke's endpoint in region to the hub's service,
// naming serviceRegion ("" leaves it out).
func (x *crossRegion) createIn(region, serviceRegion string, subnets ...string) (*ec2.CreateVpcEndpointOutput, error) {
	in := &ec2.CreateVpcEndpointInput{VpcEndpointType: types.VpcEndpointTypeInterface, VpcId: aws.String(x.vpc[region]),
		ServiceName: aws.String(x.svc.Name), SubnetIds: subnets}
	if serviceRegion != "" {
		in.ServiceRegion = aws.String(serviceRegion)
	}
	return x.w.clientIn(spokeAccess, region).CreateVpcEndpoint(ctx, in)
}

// connection is the hub's view of one endpoint's connection.
func (x *crossRegion) connection(t *testing.T, id string) types.VpcEndpointConnection {
	t.Helper()
	out, err := x.w.clientIn(hub, euWest1).DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{
		Filters: []types.Filter{flt("vpc-endpoint-id", id)}})
	mustNil(t, err)
	if len(out.VpcEndpointConnections) != 1 {
		t.Fatalf("the hub sees %d connections of %s", len(out.VpcEndpointConnections), id)
	}
	return out.VpcEndpointConnections[0]
}

func (x *crossRegion) endpointIn(t *testing.T, region, id string) types.VpcEndpoint {
	t.Helper()
	out, err := x.w.clientIn(spokeAccess, region).DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{id}})
	mustNil(t, err)
	return out.VpcEndpoints[0]
}

// TestCrossRegionEndpointLifecycle: a consumer in eu-central-1 connects to
// the hub's eu-west-1 service; the hub sees the request with the
// endpoint's Region, accepts it, and the endpoint becomes available with
// the service Region's regional DNS name only; then it is deleted.
func TestCrossRegionEndpointLifecycle(t *testing.T) {
	x := newCrossRegion(t)
	x.w.svc.SetTransitionDelay(time.Minute)
	a, b := x.subnets[euCentral1][0].ID, x.subnets[euCentral1][1].ID

	out, err := x.createIn(euCentral1, euWest1, a, b)
	mustNil(t, err)
	ep := out.VpcEndpoint
	id := aws.ToString(ep.VpcEndpointId)
	if aws.ToString(ep.ServiceRegion) != euWest1 || ep.State != "pendingAcceptance" || len(ep.SubnetIds) != 2 {
		t.Fatalf("created %+v", ep)
	}
	want := id + "-"
	if len(ep.DnsEntries) != 1 {
		t.Fatalf("DNS entries %+v, want the regional name only", ep.DnsEntries)
	}
	name, zone := aws.ToString(ep.DnsEntries[0].DnsName), aws.ToString(ep.DnsEntries[0].HostedZoneId)
	if !strings.HasPrefix(name, want) || !strings.HasSuffix(name, "."+x.svc.ID+".eu-west-1.vpce.amazonaws.com") || zone != vpceHostedZone(euWest1) {
		t.Fatalf("DNS entry %s in %s, want %s<label>.%s.eu-west-1.vpce.amazonaws.com in %s", name, zone, want, x.svc.ID, vpceHostedZone(euWest1))
	}

	c := x.connection(t, id)
	if aws.ToString(c.VpcEndpointRegion) != euCentral1 || c.VpcEndpointState != "pendingAcceptance" || aws.ToString(c.VpcEndpointOwner) != spoke {
		t.Fatalf("the hub's connection %+v", c)
	}
	byRegion, err := x.w.clientIn(hub, euWest1).DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{
		Filters: []types.Filter{flt("vpc-endpoint-region", usEast1)}})
	mustNil(t, err)
	if len(byRegion.VpcEndpointConnections) != 0 {
		t.Fatalf("vpc-endpoint-region=us-east-1 found %+v", byRegion.VpcEndpointConnections)
	}

	acc, err := x.w.clientIn(hub, euWest1).AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{
		ServiceId: aws.String(x.svc.ID), VpcEndpointIds: []string{id}})
	mustNil(t, err)
	if len(acc.Unsuccessful) != 0 {
		t.Fatalf("accept: %+v", acc.Unsuccessful)
	}
	if got := x.endpointIn(t, euCentral1, id).State; got != "pending" {
		t.Fatalf("after accept: %s", got)
	}
	x.w.clock.Advance(time.Minute)
	got := x.endpointIn(t, euCentral1, id)
	if got.State != "available" || aws.ToString(got.ServiceRegion) != euWest1 || len(got.DnsEntries) != 1 || aws.ToString(got.DnsEntries[0].DnsName) != name {
		t.Fatalf("available endpoint %+v", got)
	}
	filtered, err := x.w.clientIn(spokeAccess, euCentral1).DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{
		Filters: []types.Filter{flt("service-region", euWest1)}})
	mustNil(t, err)
	if len(filtered.VpcEndpoints) != 1 {
		t.Fatalf("service-region=eu-west-1 found %d endpoints", len(filtered.VpcEndpoints))
	}
	if other, err := x.w.clientIn(spokeAccess, euWest1).DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{}); err != nil || len(other.VpcEndpoints) != 0 {
		t.Fatalf("the endpoint shows in the service's Region: %+v, %v", other, err)
	}

	del, err := x.w.clientIn(spokeAccess, euCentral1).DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}})
	mustNil(t, err)
	if len(del.Unsuccessful) != 0 {
		t.Fatalf("delete: %+v", del.Unsuccessful)
	}
	x.w.clock.Advance(time.Minute)
	if c := x.connection(t, id); c.VpcEndpointState != "deleted" {
		t.Fatalf("the hub sees %s after the delete", c.VpcEndpointState)
	}

	var events []string
	for _, m := range x.w.sink.sns() {
		ev := decode(t, []byte(m.message))
		if m.topic != xrTopic || ev["VpcEndpointRegion"] != euCentral1 || ev["VpcEndpointId"] != id {
			t.Fatalf("notification to %s: %s", m.topic, m.message)
		}
		events = append(events, ev["Event"].(string))
	}
	if !slices.Equal(events, []string{"Connect", "Accept", "Delete"}) {
		t.Fatalf("notifications %v", events)
	}
}

func TestCrossRegionEndpointRefusals(t *testing.T) {
	x := newCrossRegion(t)
	az := func(region string, i int) string { return x.subnets[region][i].ID }
	tests := []struct {
		name                  string
		region, serviceRegion string
		subnets               func() []string
		code                  string
	}{
		{"no ServiceRegion: the service is not in the caller's Region", euCentral1, "", func() []string { return []string{az(euCentral1, 0)} }, "InvalidServiceName"},
		{"a Region the service is not in", euCentral1, usEast1, func() []string { return []string{az(euCentral1, 0)} }, "InvalidServiceName"},
		{"a Region the service does not support", apSoutheast2, euWest1, func() []string { return []string{az(apSoutheast2, 0)} }, "InvalidServiceName"},
		{"not a Region", euCentral1, "eu-west", func() []string { return []string{az(euCentral1, 0)} }, "InvalidParameterValue"},
		{"a zone without cross-Region access", usEast1, euWest1, func() []string { return []string{x.subnet(t, usEast1, "use1-az3")} }, "InvalidParameterValue"},
		{"two subnets in one zone", euCentral1, euWest1, func() []string { return []string{az(euCentral1, 0), az(euCentral1, 0)} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := x.createIn(tt.region, tt.serviceRegion, tt.subnets()...)
			if tt.code == "" {
				mustNil(t, err) // the same subnet twice is one subnet
				return
			}
			wantCode(t, err, tt.code)
		})
	}

	// Zones need not match the service's: us-east-1's use1-az1 is not a
	// zone of eu-west-1, and any supported zone of the consumer will do.
	out, err := x.createIn(usEast1, euWest1, x.subnet(t, usEast1, "use1-az1"), x.subnet(t, usEast1, "use1-az6"))
	mustNil(t, err)
	if len(out.VpcEndpoint.SubnetIds) != 2 {
		t.Fatalf("subnets %v", out.VpcEndpoint.SubnetIds)
	}

	// A principal the service does not allow cannot reach it from another
	// Region either.
	_, err = x.w.clientIn(other, euCentral1).CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcEndpointType: types.VpcEndpointTypeInterface,
		VpcId: aws.String(x.vpc[euCentral1]), ServiceName: aws.String(x.svc.Name), ServiceRegion: aws.String(euWest1)})
	wantCode(t, err, "InvalidVpcID.NotFound") // its own VPC check comes first ...
	v, err := x.w.svc.AddVPC(other, euCentral1, VPC{CIDR: "10.9.0.0/16"})
	mustNil(t, err)
	_, err = x.w.clientIn(other, euCentral1).CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcEndpointType: types.VpcEndpointTypeInterface,
		VpcId: aws.String(v.ID), ServiceName: aws.String(x.svc.Name), ServiceRegion: aws.String(euWest1)})
	wantCode(t, err, "InvalidServiceName") // ... then the service's permissions
}

// TestDescribeEndpointServicesAcrossRegions: DescribeVpcEndpointServices
// lists a service of another Region only when the caller names that
// Region (ServiceRegions) and the service supports the caller's Region.
func TestDescribeEndpointServicesAcrossRegions(t *testing.T) {
	x := newCrossRegion(t)
	tests := []struct {
		name    string
		region  string
		regions []string
		names   []string
		want    []string
		code    string
	}{
		{"own Region only by default", euCentral1, nil, nil, nil, ""},
		{"the service's Region named", euCentral1, []string{euWest1}, nil, []string{x.svc.Name}, ""},
		{"by name and Region", euCentral1, []string{euWest1}, []string{x.svc.Name}, []string{x.svc.Name}, ""},
		{"by name without its Region", euCentral1, nil, []string{x.svc.Name}, nil, "InvalidServiceName"},
		{"an unsupported caller Region", apSoutheast2, []string{euWest1}, nil, nil, ""},
		{"an unsupported caller Region, by name", apSoutheast2, []string{euWest1}, []string{x.svc.Name}, nil, "InvalidServiceName"},
		{"not a Region", euCentral1, []string{"west"}, nil, nil, "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := x.w.clientIn(spokeAccess, tt.region).DescribeVpcEndpointServices(ctx, &ec2.DescribeVpcEndpointServicesInput{
				ServiceRegions: tt.regions, ServiceNames: tt.names})
			if tt.code != "" {
				wantCode(t, err, tt.code)
				return
			}
			mustNil(t, err)
			if !slices.Equal(out.ServiceNames, tt.want) {
				t.Fatalf("service names %v, want %v", out.ServiceNames, tt.want)
			}
			for _, d := range out.ServiceDetails {
				if aws.ToString(d.ServiceRegion) != euWest1 || !slices.Equal(d.AvailabilityZoneIds, x.svc.AZIDs) || len(d.AvailabilityZones) != len(x.svc.AZIDs) {
					t.Fatalf("service detail %+v", d)
				}
				for _, z := range d.AvailabilityZones {
					if !strings.HasPrefix(z, euWest1) {
						t.Fatalf("zone %s is not a zone of the service's Region", z)
					}
				}
			}
		})
	}
}

// TestRemovingASupportedRegionKeepsItsEndpoints: existing endpoints from a
// Region the provider stops supporting stay and can still be accepted;
// new ones are refused.
func TestRemovingASupportedRegionKeepsItsEndpoints(t *testing.T) {
	x := newCrossRegion(t)
	hubC := x.w.clientIn(hub, euWest1)
	out, err := x.createIn(euCentral1, euWest1, x.subnets[euCentral1][0].ID)
	mustNil(t, err)
	id := aws.ToString(out.VpcEndpoint.VpcEndpointId)

	_, err = hubC.ModifyVpcEndpointServiceConfiguration(ctx, &ec2.ModifyVpcEndpointServiceConfigurationInput{
		ServiceId: aws.String(x.svc.ID), RemoveSupportedRegions: []string{euCentral1}})
	mustNil(t, err)
	cfg, err := hubC.DescribeVpcEndpointServiceConfigurations(ctx, &ec2.DescribeVpcEndpointServiceConfigurationsInput{ServiceIds: []string{x.svc.ID}})
	mustNil(t, err)
	var regions []string
	for _, r := range cfg.ServiceConfigurations[0].SupportedRegions {
		regions = append(regions, aws.ToString(r.Region))
	}
	if !slices.Equal(regions, []string{euWest1, usEast1}) {
		t.Fatalf("supported Regions %v", regions)
	}

	_, err = x.createIn(euCentral1, euWest1, x.subnets[euCentral1][1].ID)
	wantCode(t, err, "InvalidServiceName")
	acc, err := hubC.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(x.svc.ID), VpcEndpointIds: []string{id}})
	mustNil(t, err)
	if len(acc.Unsuccessful) != 0 {
		t.Fatalf("accept of an existing endpoint: %+v", acc.Unsuccessful)
	}
	if st := x.endpointIn(t, euCentral1, id).State; st != "available" {
		t.Fatalf("state %s", st)
	}
	_, err = hubC.ModifyVpcEndpointServiceConfiguration(ctx, &ec2.ModifyVpcEndpointServiceConfigurationInput{
		ServiceId: aws.String(x.svc.ID), RemoveSupportedRegions: []string{euWest1}})
	wantCode(t, err, "InvalidParameterValue")
}

func TestCrossRegionServicesNeedTwoEligibleZones(t *testing.T) {
	w := newWorld(t)
	_, err := w.svc.AddEndpointService(hub, usEast1, EndpointService{AZIDs: []string{"use1-az1", "use1-az3"}, SupportedRegions: []string{euWest1}})
	if err == nil || !strings.Contains(err.Error(), "at least two Availability Zones") {
		t.Fatalf("a service in one eligible zone offered in another Region: %v", err)
	}
	_, err = w.svc.AddEndpointService(hub, usEast1, EndpointService{AZIDs: []string{"use1-az1", "use1-az3"}})
	mustNil(t, err) // same-Region only: any zones
	_, err = w.svc.AddEndpointService(hub, usEast1, EndpointService{SupportedRegions: []string{"mars"}})
	if err == nil {
		t.Fatal("seeded a supported Region that is not a Region name")
	}
}

// TestSameRegionEndpointsNameTheirRegion: an endpoint without
// ServiceRegion reports its own Region as the service's, and keeps zonal
// names.
func TestSameRegionEndpointsNameTheirRegion(t *testing.T) {
	p := newPrivateLink(t, false)
	ep := p.create(t, "", p.offered[0], p.offered[1])
	if aws.ToString(ep.ServiceRegion) != usEast1 || len(ep.DnsEntries) != 3 {
		t.Fatalf("endpoint %+v", ep)
	}
	out, err := p.w.client(spokeAccess).CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcEndpointType: types.VpcEndpointTypeInterface,
		VpcId: aws.String(p.vpc.ID), ServiceName: aws.String(p.svc.Name), ServiceRegion: aws.String(usEast1), SubnetIds: p.offered[2:]})
	mustNil(t, err)
	if aws.ToString(out.VpcEndpoint.ServiceRegion) != usEast1 || len(out.VpcEndpoint.DnsEntries) != 2 {
		t.Fatalf("endpoint naming its own Region %+v", out.VpcEndpoint)
	}
}
