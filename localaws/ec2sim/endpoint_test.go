package ec2sim

import (
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

const (
	topicARN    = "arn:aws:sns:us-east-1:" + hub + ":vpce-events"
	spokeRole   = "arn:aws:iam::" + spoke + ":role/automation"
	spokeAccess = spoke + "-automation" // access key of the spoke role's session
)

// privateLink is a hub endpoint service offering three zones and a spoke
// VPC with one subnet in each of the spoke's six zones.
type privateLink struct {
	w        *world
	svc      EndpointService
	vpc      VPC
	offered  []string // spoke subnets in zones the service offers, one per zone
	outside  string   // a spoke subnet in a zone it does not offer
	bySubnet map[string]Subnet
}

func newPrivateLink(t *testing.T, acceptance bool) *privateLink {
	t.Helper()
	w := newWorld(t)
	svc, err := w.svc.AddEndpointService(hub, usEast1, EndpointService{
		AcceptanceRequired: acceptance, AZIDs: []string{"use1-az1", "use1-az2", "use1-az4"},
		AllowedPrincipals: []string{spokeRole}, NotificationTopicARN: topicARN, Ports: []int{50000, 8080},
	})
	mustNil(t, err)
	v, err := w.svc.AddVPC(spoke, usEast1, VPC{CIDR: "10.0.0.0/16", Tags: map[string]string{"jenkins-agents": "true"}})
	mustNil(t, err)
	p := &privateLink{w: w, svc: svc, vpc: v, bySubnet: map[string]Subnet{}}
	for i, az := range zoneNames(usEast1) {
		sn, err := w.svc.AddSubnet(spoke, usEast1, Subnet{VPCID: v.ID, CIDR: "10.0." + string(rune('0'+i)) + ".0/24", AZ: az})
		mustNil(t, err)
		p.bySubnet[sn.ID] = sn
		if slices.Contains(svc.AZIDs, sn.AZID) {
			p.offered = append(p.offered, sn.ID)
		} else {
			p.outside = sn.ID
		}
	}
	sort.Strings(p.offered)
	if len(p.offered) != 3 || p.outside == "" {
		t.Fatalf("setup: offered %v, outside %q", p.offered, p.outside)
	}
	return p
}

func (p *privateLink) create(t *testing.T, token string, subnets ...string) *types.VpcEndpoint {
	t.Helper()
	in := &ec2.CreateVpcEndpointInput{
		VpcEndpointType: types.VpcEndpointTypeInterface, VpcId: aws.String(p.vpc.ID), ServiceName: aws.String(p.svc.Name),
		SubnetIds: subnets, PrivateDnsEnabled: aws.Bool(false),
		TagSpecifications: tagSpec(types.ResourceTypeVpcEndpoint, "managed-by", "jenkins-agent-vpcs"),
	}
	if token != "" {
		in.ClientToken = aws.String(token)
	}
	out, err := p.w.client(spokeAccess).CreateVpcEndpoint(ctx, in)
	mustNil(t, err)
	return out.VpcEndpoint
}

func (p *privateLink) endpoint(t *testing.T, id string) types.VpcEndpoint {
	t.Helper()
	out, err := p.w.client(spokeAccess).DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{id}})
	mustNil(t, err)
	if len(out.VpcEndpoints) != 1 {
		t.Fatalf("%d endpoints for %s", len(out.VpcEndpoints), id)
	}
	return out.VpcEndpoints[0]
}

func (p *privateLink) wantState(t *testing.T, id, state string) {
	t.Helper()
	if got := string(p.endpoint(t, id).State); got != state {
		t.Fatalf("state %s, want %s", got, state)
	}
}

func (p *privateLink) notifications(t *testing.T) []connectionEvent {
	t.Helper()
	var out []connectionEvent
	for _, m := range p.w.sink.sns() {
		var ev connectionEvent
		if err := json.Unmarshal([]byte(m.message), &ev); err != nil {
			t.Fatalf("SNS message %q: %v", m.message, err)
		}
		if m.topic != topicARN {
			t.Fatalf("published to %s", m.topic)
		}
		out = append(out, ev)
	}
	return out
}

func TestEndpointServiceVisibility(t *testing.T) {
	p := newPrivateLink(t, true)
	w := p.w
	hubC := w.client(hub)

	cfg, err := hubC.DescribeVpcEndpointServiceConfigurations(ctx, &ec2.DescribeVpcEndpointServiceConfigurationsInput{})
	mustNil(t, err)
	if len(cfg.ServiceConfigurations) != 1 {
		t.Fatalf("%d configurations", len(cfg.ServiceConfigurations))
	}
	sc := cfg.ServiceConfigurations[0]
	if aws.ToString(sc.ServiceId) != p.svc.ID || aws.ToString(sc.ServiceName) != "com.amazonaws.vpce.us-east-1."+p.svc.ID ||
		!aws.ToBool(sc.AcceptanceRequired) || !slices.Equal(sc.AvailabilityZoneIds, p.svc.AZIDs) || sc.ServiceType[0].ServiceType != types.ServiceTypeInterface {
		t.Fatalf("configuration %+v", sc)
	}
	_, err = hubC.DescribeVpcEndpointServiceConfigurations(ctx, &ec2.DescribeVpcEndpointServiceConfigurationsInput{ServiceIds: []string{"vpce-svc-0000000000000000f"}})
	wantCode(t, err, "InvalidVpcEndpointServiceId.NotFound")
	filtered, err := hubC.DescribeVpcEndpointServiceConfigurations(ctx, &ec2.DescribeVpcEndpointServiceConfigurationsInput{Filters: []types.Filter{flt("service-name", "nope")}})
	mustNil(t, err)
	if len(filtered.ServiceConfigurations) != 0 {
		t.Fatal("service-name filter ignored")
	}

	// The allowed role sees it, with zone names of its own account.
	seen, err := w.client(spokeAccess).DescribeVpcEndpointServices(ctx, &ec2.DescribeVpcEndpointServicesInput{ServiceNames: []string{p.svc.Name}})
	mustNil(t, err)
	if len(seen.ServiceDetails) != 1 {
		t.Fatalf("%d details", len(seen.ServiceDetails))
	}
	d := seen.ServiceDetails[0]
	var wantZones []string
	for _, id := range p.offered {
		wantZones = append(wantZones, p.bySubnet[id].AZ)
	}
	sort.Strings(wantZones)
	if !slices.Equal(d.AvailabilityZones, wantZones) || !slices.Equal(d.AvailabilityZoneIds, p.svc.AZIDs) || aws.ToString(d.Owner) != hub {
		t.Fatalf("detail zones %v ids %v owner %s, want zones %v", d.AvailabilityZones, d.AvailabilityZoneIds, aws.ToString(d.Owner), wantZones)
	}

	// The spoke's root and other accounts do not.
	for _, key := range []string{spoke, other, spoke + "-someone-else"} {
		_, err = w.client(key).DescribeVpcEndpointServices(ctx, &ec2.DescribeVpcEndpointServicesInput{ServiceNames: []string{p.svc.Name}})
		wantCode(t, err, "InvalidServiceName")
		all, err := w.client(key).DescribeVpcEndpointServices(ctx, &ec2.DescribeVpcEndpointServicesInput{})
		mustNil(t, err)
		if len(all.ServiceDetails) != 0 || len(all.ServiceNames) != 0 {
			t.Fatalf("%s sees %v", key, all.ServiceNames)
		}
	}
	owner, err := hubC.DescribeVpcEndpointServices(ctx, &ec2.DescribeVpcEndpointServicesInput{})
	mustNil(t, err)
	if len(owner.ServiceNames) != 1 {
		t.Fatal("the owner does not see its service")
	}

	// Permissions: adding twice is fine; account root admits every principal of the account.
	otherRoot := "arn:aws:iam::" + other + ":root"
	for range 2 {
		mod, err := hubC.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: aws.String(p.svc.ID), AddAllowedPrincipals: []string{otherRoot}})
		mustNil(t, err)
		if !aws.ToBool(mod.ReturnValue) || len(mod.AddedPrincipals) != 1 || aws.ToString(mod.AddedPrincipals[0].Principal) != otherRoot {
			t.Fatalf("modify returned %+v", mod)
		}
	}
	perms, err := hubC.DescribeVpcEndpointServicePermissions(ctx, &ec2.DescribeVpcEndpointServicePermissionsInput{ServiceId: aws.String(p.svc.ID)})
	mustNil(t, err)
	got := map[string]types.PrincipalType{}
	for _, ap := range perms.AllowedPrincipals {
		got[aws.ToString(ap.Principal)] = ap.PrincipalType
	}
	if len(got) != 2 || got[otherRoot] != types.PrincipalTypeAccount || got[spokeRole] != types.PrincipalTypeRole {
		t.Fatalf("principals %v", got)
	}
	if _, err := w.client(other+"-anyrole").DescribeVpcEndpointServices(ctx, &ec2.DescribeVpcEndpointServicesInput{ServiceNames: []string{p.svc.Name}}); err != nil {
		t.Fatalf("a role of an allowed account: %v", err)
	}
	_, err = hubC.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: aws.String(p.svc.ID), RemoveAllowedPrincipals: []string{otherRoot}})
	mustNil(t, err)
	_, err = w.client(other).DescribeVpcEndpointServices(ctx, &ec2.DescribeVpcEndpointServicesInput{ServiceNames: []string{p.svc.Name}})
	wantCode(t, err, "InvalidServiceName")

	_, err = hubC.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: aws.String(p.svc.ID), AddAllowedPrincipals: []string{"*"}})
	mustNil(t, err)
	if _, err := w.client(other).DescribeVpcEndpointServices(ctx, &ec2.DescribeVpcEndpointServicesInput{ServiceNames: []string{p.svc.Name}}); err != nil {
		t.Fatalf("with *: %v", err)
	}
	_, err = hubC.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: aws.String(p.svc.ID), AddAllowedPrincipals: []string{"arn:aws:iam::12:root"}})
	wantCode(t, err, "InvalidPrincipal")
	_, err = w.client(spoke).ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: aws.String(p.svc.ID), AddAllowedPrincipals: []string{"*"}})
	wantCode(t, err, "InvalidVpcEndpointServiceId.NotFound")
}

var (
	regionalName = regexp.MustCompile(`^vpce-[0-9a-f]{17}-[a-z0-9]{8}\.vpce-svc-[0-9a-f]{17}\.us-east-1\.vpce\.amazonaws\.com$`)
	zonalName    = regexp.MustCompile(`^vpce-[0-9a-f]{17}-[a-z0-9]{8}-us-east-1[a-f]\.vpce-svc-[0-9a-f]{17}\.us-east-1\.vpce\.amazonaws\.com$`)
)

func TestEndpointLifecycleWithAcceptance(t *testing.T) {
	p := newPrivateLink(t, true)
	w := p.w
	w.svc.SetTransitionDelay(2 * time.Minute)
	spokeC, hubC := w.client(spokeAccess), w.client(hub)

	e := p.create(t, "agents-vpc-1", p.offered...)
	id := aws.ToString(e.VpcEndpointId)
	if e.State != "pendingAcceptance" {
		t.Fatalf("created in %s", e.State)
	}
	if len(e.NetworkInterfaceIds) != 3 || len(e.SubnetIds) != 3 || len(e.Groups) != 1 {
		t.Fatalf("enis %v subnets %v groups %v", e.NetworkInterfaceIds, e.SubnetIds, e.Groups)
	}
	if len(e.DnsEntries) != 4 || !zonalName.MatchString(aws.ToString(e.DnsEntries[0].DnsName)) {
		t.Fatalf("DNS entries %+v: want a zonal name first", e.DnsEntries)
	}
	regional := 0
	for _, d := range e.DnsEntries {
		name := aws.ToString(d.DnsName)
		if !regionalName.MatchString(name) && !zonalName.MatchString(name) {
			t.Fatalf("DNS name %s", name)
		}
		if regionalName.MatchString(name) {
			regional++
		}
		if aws.ToString(d.HostedZoneId) == "" {
			t.Fatalf("no hosted zone for %s", name)
		}
	}
	if regional != 1 {
		t.Fatalf("%d regional names", regional)
	}

	// The same token and request is the same endpoint; other parameters are refused.
	again := p.create(t, "agents-vpc-1", p.offered[2], p.offered[0], p.offered[1])
	if aws.ToString(again.VpcEndpointId) != id {
		t.Fatalf("retry created %s, want %s", aws.ToString(again.VpcEndpointId), id)
	}
	_, err := spokeC.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{
		VpcEndpointType: types.VpcEndpointTypeInterface, VpcId: aws.String(p.vpc.ID), ServiceName: aws.String(p.svc.Name),
		SubnetIds: p.offered[:1], ClientToken: aws.String("agents-vpc-1"),
	})
	wantCode(t, err, "IdempotentParameterMismatch")
	all, err := spokeC.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{})
	mustNil(t, err)
	if len(all.VpcEndpoints) != 1 {
		t.Fatalf("%d endpoints after retries", len(all.VpcEndpoints))
	}

	conns, err := hubC.DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{Filters: []types.Filter{flt("vpc-endpoint-state", "pendingAcceptance")}})
	mustNil(t, err)
	if len(conns.VpcEndpointConnections) != 1 {
		t.Fatalf("%d pending connections", len(conns.VpcEndpointConnections))
	}
	conn := conns.VpcEndpointConnections[0]
	if aws.ToString(conn.VpcEndpointOwner) != spoke || aws.ToString(conn.VpcEndpointId) != id || len(conn.DnsEntries) != 4 || aws.ToString(conn.ServiceId) != p.svc.ID {
		t.Fatalf("connection %+v", conn)
	}

	// Only the owner accepts; per-endpoint failures are in Unsuccessful.
	_, err = spokeC.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(p.svc.ID), VpcEndpointIds: []string{id}})
	wantCode(t, err, "InvalidVpcEndpointServiceId.NotFound")
	acc, err := hubC.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(p.svc.ID), VpcEndpointIds: []string{id, "vpce-0000000000000000f"}})
	mustNil(t, err)
	if len(acc.Unsuccessful) != 1 || aws.ToString(acc.Unsuccessful[0].ResourceId) != "vpce-0000000000000000f" || aws.ToString(acc.Unsuccessful[0].Error.Code) != "InvalidVpcEndpointId.NotFound" {
		t.Fatalf("unsuccessful %+v", acc.Unsuccessful)
	}
	p.wantState(t, id, "pending")
	w.clock.Advance(time.Minute)
	p.wantState(t, id, "pending")
	w.clock.Advance(time.Minute)
	p.wantState(t, id, "available")
	acc, err = hubC.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(p.svc.ID), VpcEndpointIds: []string{id}})
	mustNil(t, err)
	if len(acc.Unsuccessful) != 1 || aws.ToString(acc.Unsuccessful[0].Error.Code) != "InvalidState" {
		t.Fatalf("accepting an available endpoint: %+v", acc.Unsuccessful)
	}

	// The owner tearing its VPC down trips over the endpoint.
	_, err = spokeC.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(p.offered[0])})
	wantCode(t, err, "DependencyViolation")
	_, err = spokeC.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(p.vpc.ID)})
	wantCode(t, err, "DependencyViolation")
	if !strings.Contains(err.Error(), id) {
		t.Fatalf("DependencyViolation does not name the endpoint: %v", err)
	}
	sg, err := spokeC.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("e"), Description: aws.String("e"), VpcId: aws.String(p.vpc.ID)})
	mustNil(t, err)
	_, err = spokeC.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(id), AddSecurityGroupIds: []string{aws.ToString(sg.GroupId)}})
	mustNil(t, err)
	_, err = spokeC.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: sg.GroupId})
	wantCode(t, err, "DependencyViolation")

	del, err := spokeC.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id, "vpce-0000000000000000f"}})
	mustNil(t, err)
	if len(del.Unsuccessful) != 1 || aws.ToString(del.Unsuccessful[0].ResourceId) != "vpce-0000000000000000f" {
		t.Fatalf("delete unsuccessful %+v", del.Unsuccessful)
	}
	p.wantState(t, id, "deleting")
	w.clock.Advance(2 * time.Minute)
	p.wantState(t, id, "deleted")
	conns, err = hubC.DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{Filters: []types.Filter{flt("vpc-endpoint-id", id)}})
	mustNil(t, err)
	if len(conns.VpcEndpointConnections) != 1 || conns.VpcEndpointConnections[0].VpcEndpointState != "deleted" {
		t.Fatalf("deleted connection %+v", conns.VpcEndpointConnections)
	}
	_, err = spokeC.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(p.offered[0])})
	mustNil(t, err)
	w.clock.Advance(DeletedRetention)
	_, err = spokeC.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{id}})
	wantCode(t, err, "InvalidVpcEndpointId.NotFound")

	var events []string
	for _, n := range p.notifications(t) {
		if n.ServiceID != p.svc.ID || n.VpcEndpointID != id || n.VpcEndpointOwner != spoke {
			t.Fatalf("notification %+v", n)
		}
		events = append(events, n.Event+":"+n.VpcEndpointState)
	}
	if want := []string{"Connect:pendingAcceptance", "Accept:pending", "Delete:deleting"}; !slices.Equal(events, want) {
		t.Fatalf("notifications %v, want %v", events, want)
	}
}

func TestClientTokensArePerAccount(t *testing.T) {
	p := newPrivateLink(t, false)
	e := p.create(t, "same-token", p.offered[0])
	hubVPC, err := p.w.svc.AddVPC(hub, usEast1, VPC{CIDR: "10.9.0.0/16"})
	mustNil(t, err)
	out, err := p.w.client(hub).CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{
		VpcEndpointType: types.VpcEndpointTypeInterface, VpcId: aws.String(hubVPC.ID), ServiceName: aws.String(p.svc.Name), ClientToken: aws.String("same-token"),
	})
	mustNil(t, err)
	if aws.ToString(out.VpcEndpoint.VpcEndpointId) == aws.ToString(e.VpcEndpointId) {
		t.Fatal("another account's token returned the spoke's endpoint")
	}
}

func TestEndpointWithoutAcceptanceAndReject(t *testing.T) {
	p := newPrivateLink(t, false)
	w := p.w
	w.svc.SetTransitionDelay(30 * time.Second)
	e := p.create(t, "", p.offered[1])
	id := aws.ToString(e.VpcEndpointId)
	if e.State != "pending" {
		t.Fatalf("created in %s", e.State)
	}
	w.clock.Advance(30 * time.Second)
	p.wantState(t, id, "available")

	rej, err := w.client(hub).RejectVpcEndpointConnections(ctx, &ec2.RejectVpcEndpointConnectionsInput{ServiceId: aws.String(p.svc.ID), VpcEndpointIds: []string{id}})
	mustNil(t, err)
	if len(rej.Unsuccessful) != 0 {
		t.Fatalf("unsuccessful %+v", rej.Unsuccessful)
	}
	p.wantState(t, id, "rejected")
	rej, err = w.client(hub).RejectVpcEndpointConnections(ctx, &ec2.RejectVpcEndpointConnectionsInput{ServiceId: aws.String(p.svc.ID), VpcEndpointIds: []string{id}})
	mustNil(t, err)
	if len(rej.Unsuccessful) != 1 {
		t.Fatal("rejecting twice succeeded")
	}
	var events []string
	for _, n := range p.notifications(t) {
		events = append(events, n.Event+":"+n.VpcEndpointState)
	}
	if want := []string{"Connect:pending", "Reject:rejected"}; !slices.Equal(events, want) {
		t.Fatalf("notifications %v, want %v", events, want)
	}
}

func TestCreateEndpointRefusals(t *testing.T) {
	p := newPrivateLink(t, true)
	w := p.w
	extra, err := w.svc.AddSubnet(spoke, usEast1, Subnet{VPCID: p.vpc.ID, CIDR: "10.0.100.0/24", AZ: p.bySubnet[p.offered[0]].AZ})
	mustNil(t, err)
	base := func() *ec2.CreateVpcEndpointInput {
		return &ec2.CreateVpcEndpointInput{VpcEndpointType: types.VpcEndpointTypeInterface, VpcId: aws.String(p.vpc.ID), ServiceName: aws.String(p.svc.Name), SubnetIds: p.offered[:1]}
	}
	for _, tc := range []struct {
		name   string
		key    string
		change func(in *ec2.CreateVpcEndpointInput)
		code   string
	}{
		{"zone not offered", spokeAccess, func(in *ec2.CreateVpcEndpointInput) { in.SubnetIds = []string{p.outside} }, "InvalidParameterValue"},
		{"two subnets in a zone", spokeAccess, func(in *ec2.CreateVpcEndpointInput) { in.SubnetIds = []string{p.offered[0], extra.ID} }, "DuplicateSubnetsInSameZone"},
		{"principal not allowed", spoke, func(*ec2.CreateVpcEndpointInput) {}, "InvalidServiceName"},
		{"unknown service", spokeAccess, func(in *ec2.CreateVpcEndpointInput) {
			in.ServiceName = aws.String("com.amazonaws.vpce.us-east-1.vpce-svc-0000000000000000f")
		}, "InvalidServiceName"},
		{"gateway", spokeAccess, func(in *ec2.CreateVpcEndpointInput) { in.VpcEndpointType = "" }, "InvalidParameter"},
		{"private DNS", spokeAccess, func(in *ec2.CreateVpcEndpointInput) { in.PrivateDnsEnabled = aws.Bool(true) }, "InvalidParameter"},
		{"unknown VPC", spokeAccess, func(in *ec2.CreateVpcEndpointInput) { in.VpcId = aws.String("vpc-0000000000000000f") }, "InvalidVpcID.NotFound"},
		{"unknown subnet", spokeAccess, func(in *ec2.CreateVpcEndpointInput) { in.SubnetIds = []string{"subnet-0000000000000000f"} }, "InvalidSubnetID.NotFound"},
		{"unknown group", spokeAccess, func(in *ec2.CreateVpcEndpointInput) { in.SecurityGroupIds = []string{"sg-0000000000000000f"} }, "InvalidGroup.NotFound"},
		{"no service name", spokeAccess, func(in *ec2.CreateVpcEndpointInput) { in.ServiceName = nil }, "MissingParameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			tc.change(in)
			_, err := w.client(tc.key).CreateVpcEndpoint(ctx, in)
			wantCode(t, err, tc.code)
		})
	}
	out, err := w.client(spokeAccess).DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{})
	mustNil(t, err)
	if len(out.VpcEndpoints) != 0 {
		t.Fatalf("refused creates left %d endpoints", len(out.VpcEndpoints))
	}
}

func TestModifyEndpoint(t *testing.T) {
	p := newPrivateLink(t, true)
	c := p.w.client(spokeAccess)
	e := p.create(t, "", p.offered[0], p.offered[1])
	id := aws.ToString(e.VpcEndpointId)
	defaultSG := aws.ToString(e.Groups[0].GroupId)
	sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("endpoint"), Description: aws.String("e"), VpcId: aws.String(p.vpc.ID)})
	mustNil(t, err)
	_, err = c.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{
		VpcEndpointId: aws.String(id), RemoveSubnetIds: []string{p.offered[0]}, AddSubnetIds: []string{p.offered[2]},
		AddSecurityGroupIds: []string{aws.ToString(sg.GroupId)}, RemoveSecurityGroupIds: []string{defaultSG}, PrivateDnsEnabled: aws.Bool(false),
	})
	mustNil(t, err)
	got := p.endpoint(t, id)
	subnets := slices.Clone(got.SubnetIds)
	sort.Strings(subnets)
	if !slices.Equal(subnets, []string{p.offered[1], p.offered[2]}) || len(got.NetworkInterfaceIds) != 2 || len(got.DnsEntries) != 3 {
		t.Fatalf("subnets %v enis %v dns %d", subnets, got.NetworkInterfaceIds, len(got.DnsEntries))
	}
	if len(got.Groups) != 1 || aws.ToString(got.Groups[0].GroupId) != aws.ToString(sg.GroupId) || aws.ToString(got.Groups[0].GroupName) != "endpoint" {
		t.Fatalf("groups %+v", got.Groups)
	}
	// The removed subnet is free again.
	_, err = c.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: aws.String(p.offered[0])})
	mustNil(t, err)

	_, err = c.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(id), AddSubnetIds: []string{p.outside}})
	wantCode(t, err, "InvalidParameterValue")
	_, err = c.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(id), PrivateDnsEnabled: aws.Bool(true)})
	wantCode(t, err, "InvalidParameter")
	_, err = c.ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String("vpce-0000000000000000f")})
	wantCode(t, err, "InvalidVpcEndpointId.NotFound")
	_, err = p.w.client(other).ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(id)})
	wantCode(t, err, "InvalidVpcEndpointId.NotFound")
}

func TestDescribeEndpointsAndConnectionsFilterAndPage(t *testing.T) {
	p := newPrivateLink(t, true)
	var ids []string
	for range 7 {
		ids = append(ids, aws.ToString(p.create(t, "", p.offered[0]).VpcEndpointId))
	}
	c, hubC := p.w.client(spokeAccess), p.w.client(hub)
	_, err := hubC.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(p.svc.ID), VpcEndpointIds: ids[:2]})
	mustNil(t, err)
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: ids[:1], Tags: tags("vpc", p.vpc.ID)})
	mustNil(t, err)

	for _, tc := range []struct {
		name    string
		filters []types.Filter
		want    int
	}{
		{"vpc-id", []types.Filter{flt("vpc-id", p.vpc.ID)}, 7},
		{"service-name", []types.Filter{flt("service-name", p.svc.Name)}, 7},
		{"state", []types.Filter{flt("vpc-endpoint-state", "available")}, 2},
		{"state any casing", []types.Filter{flt("vpc-endpoint-state", "PendingAcceptance")}, 5},
		{"type", []types.Filter{flt("vpc-endpoint-type", "Interface")}, 7},
		{"id", []types.Filter{flt("vpc-endpoint-id", ids[3])}, 1},
		{"tag", []types.Filter{flt("tag:vpc", p.vpc.ID)}, 1},
		{"tag-key", []types.Filter{flt("tag-key", "managed-by")}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: tc.filters})
			mustNil(t, err)
			if len(out.VpcEndpoints) != tc.want {
				t.Fatalf("got %d, want %d", len(out.VpcEndpoints), tc.want)
			}
		})
	}
	_, err = c.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []types.Filter{flt("vpc-endpoint-colour", "x")}})
	wantCode(t, err, "InvalidParameterValue")

	var paged []string
	pager := ec2.NewDescribeVpcEndpointsPaginator(c, &ec2.DescribeVpcEndpointsInput{MaxResults: aws.Int32(3)})
	for i := 0; pager.HasMorePages() && i < 10; i++ {
		out, err := pager.NextPage(ctx)
		mustNil(t, err)
		if len(out.VpcEndpoints) > 3 {
			t.Fatalf("page of %d", len(out.VpcEndpoints))
		}
		for _, e := range out.VpcEndpoints {
			paged = append(paged, aws.ToString(e.VpcEndpointId))
		}
	}
	sort.Strings(ids)
	if !slices.Equal(paged, ids) {
		t.Fatalf("paged %v, want %v", paged, ids)
	}

	var conns []string
	cp := ec2.NewDescribeVpcEndpointConnectionsPaginator(hubC, &ec2.DescribeVpcEndpointConnectionsInput{MaxResults: aws.Int32(3), Filters: []types.Filter{flt("service-id", p.svc.ID), flt("vpc-endpoint-owner", spoke)}})
	for i := 0; cp.HasMorePages() && i < 10; i++ {
		out, err := cp.NextPage(ctx)
		mustNil(t, err)
		for _, e := range out.VpcEndpointConnections {
			conns = append(conns, aws.ToString(e.VpcEndpointId))
		}
	}
	if !slices.Equal(conns, ids) {
		t.Fatalf("connections %v, want %v", conns, ids)
	}
	none, err := hubC.DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{Filters: []types.Filter{flt("vpc-endpoint-owner", other)}})
	mustNil(t, err)
	if len(none.VpcEndpointConnections) != 0 {
		t.Fatal("owner filter ignored")
	}
	theirs, err := c.DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{})
	mustNil(t, err)
	if len(theirs.VpcEndpointConnections) != 0 {
		t.Fatal("the spoke sees the hub's connections")
	}
}

func TestConnectionNotifications(t *testing.T) {
	p := newPrivateLink(t, true)
	w := p.w
	hubC, c := w.client(hub), w.client(spokeAccess)
	listed, err := hubC.DescribeVpcEndpointConnectionNotifications(ctx, &ec2.DescribeVpcEndpointConnectionNotificationsInput{})
	mustNil(t, err)
	if len(listed.ConnectionNotificationSet) != 1 || aws.ToString(listed.ConnectionNotificationSet[0].ConnectionNotificationArn) != topicARN {
		t.Fatalf("seeded notifications %+v", listed.ConnectionNotificationSet)
	}
	seeded := aws.ToString(listed.ConnectionNotificationSet[0].ConnectionNotificationId)
	del, err := hubC.DeleteVpcEndpointConnectionNotifications(ctx, &ec2.DeleteVpcEndpointConnectionNotificationsInput{ConnectionNotificationIds: []string{seeded, "vpce-nfn-0000000000000000f"}})
	mustNil(t, err)
	if len(del.Unsuccessful) != 1 || aws.ToString(del.Unsuccessful[0].ResourceId) != "vpce-nfn-0000000000000000f" {
		t.Fatalf("delete unsuccessful %+v", del.Unsuccessful)
	}

	created, err := hubC.CreateVpcEndpointConnectionNotification(ctx, &ec2.CreateVpcEndpointConnectionNotificationInput{
		ServiceId: aws.String(p.svc.ID), ConnectionNotificationArn: aws.String(topicARN), ConnectionEvents: []string{"Accept", "Reject"},
	})
	mustNil(t, err)
	n := created.ConnectionNotification
	if n.ConnectionNotificationState != types.ConnectionNotificationStateEnabled || n.ConnectionNotificationType != types.ConnectionNotificationTypeTopic || len(n.ConnectionEvents) != 2 {
		t.Fatalf("notification %+v", n)
	}
	_, err = hubC.CreateVpcEndpointConnectionNotification(ctx, &ec2.CreateVpcEndpointConnectionNotificationInput{
		ServiceId: aws.String(p.svc.ID), ConnectionNotificationArn: aws.String(topicARN), ConnectionEvents: []string{"Explode"},
	})
	wantCode(t, err, "InvalidParameterValue")
	_, err = c.CreateVpcEndpointConnectionNotification(ctx, &ec2.CreateVpcEndpointConnectionNotificationInput{
		ServiceId: aws.String(p.svc.ID), ConnectionNotificationArn: aws.String(topicARN), ConnectionEvents: []string{"Accept"},
	})
	wantCode(t, err, "InvalidVpcEndpointServiceId.NotFound")
	byService, err := hubC.DescribeVpcEndpointConnectionNotifications(ctx, &ec2.DescribeVpcEndpointConnectionNotificationsInput{Filters: []types.Filter{flt("service-id", p.svc.ID)}})
	mustNil(t, err)
	if len(byService.ConnectionNotificationSet) != 1 || aws.ToString(byService.ConnectionNotificationSet[0].ConnectionNotificationId) != aws.ToString(n.ConnectionNotificationId) {
		t.Fatalf("notifications by service %+v", byService.ConnectionNotificationSet)
	}

	e := p.create(t, "", p.offered[0])
	id := aws.ToString(e.VpcEndpointId)
	if msgs := w.sink.sns(); len(msgs) != 0 {
		t.Fatalf("Connect published without a subscription: %v", msgs)
	}
	// The spoke subscribes to its endpoint's events too.
	spokeTopic := "arn:aws:sns:us-east-1:" + spoke + ":mine"
	_, err = c.CreateVpcEndpointConnectionNotification(ctx, &ec2.CreateVpcEndpointConnectionNotificationInput{
		VpcEndpointId: aws.String(id), ConnectionNotificationArn: aws.String(spokeTopic), ConnectionEvents: []string{"Accept"},
	})
	mustNil(t, err)
	_, err = hubC.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(p.svc.ID), VpcEndpointIds: []string{id}})
	mustNil(t, err)
	msgs := w.sink.sns()
	topics := []string{}
	// PrivateLink publishes as vpce.amazonaws.com on behalf of the
	// resource the notification belongs to: the topic policy's
	// aws:SourceAccount and aws:SourceArn.
	wantFrom := map[string]awsproto.Publisher{
		topicARN:   {Service: "vpce.amazonaws.com", SourceAccount: hub, SourceARN: "arn:aws:ec2:us-east-1:" + hub + ":vpc-endpoint-service/" + p.svc.ID},
		spokeTopic: {Service: "vpce.amazonaws.com", SourceAccount: spoke, SourceARN: "arn:aws:ec2:us-east-1:" + spoke + ":vpc-endpoint/" + id},
	}
	for _, m := range msgs {
		topics = append(topics, m.topic)
		var ev connectionEvent
		mustNil(t, json.Unmarshal([]byte(m.message), &ev))
		if ev.Event != "Accept" || ev.VpcEndpointID != id || ev.VpcEndpointState != "available" {
			t.Fatalf("message %s", m.message)
		}
		if m.from != wantFrom[m.topic] {
			t.Errorf("message to %s published by %+v, want %+v", m.topic, m.from, wantFrom[m.topic])
		}
	}
	sort.Strings(topics)
	if !slices.Equal(topics, []string{topicARN, spokeTopic}) {
		t.Fatalf("published to %v", topics)
	}
}
