package fake_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/fake"
)

func TestCreateVpcEndpointShapesTheEndpointLikeAWS(t *testing.T) {
	f := setup(t, true)
	ep := f.createEndpoint(t)

	if !regexp.MustCompile(`^vpce-[0-9a-f]{17}$`).MatchString(*ep.VpcEndpointId) {
		t.Errorf("endpoint id %q is not vpce-<17 hex>", *ep.VpcEndpointId)
	}
	if ep.State != types.State("pendingAcceptance") {
		t.Errorf("state = %q, want the wire value pendingAcceptance", ep.State)
	}
	if got := *ep.CreationTimestamp; !got.Equal(epoch) {
		t.Errorf("CreationTimestamp = %v, want the clock's %v", got, epoch)
	}
	if len(ep.NetworkInterfaceIds) != 2 || ep.NetworkInterfaceIds[0] == ep.NetworkInterfaceIds[1] {
		t.Errorf("NetworkInterfaceIds = %v, want one per subnet", ep.NetworkInterfaceIds)
	}
	if len(ep.Groups) != 1 || *ep.Groups[0].GroupId != f.sg || *ep.Groups[0].GroupName != "jenkins-endpoint" {
		t.Errorf("Groups = %+v", ep.Groups)
	}
	if aws.ToBool(ep.PrivateDnsEnabled) {
		t.Error("PrivateDnsEnabled should be stored false")
	}

	svc := strings.TrimPrefix(f.svcName, "com.amazonaws.vpce.us-east-1.")
	regional := regexp.MustCompile(`^vpce-[0-9a-f]{17}-[a-z0-9]{8}\.` + svc + `\.us-east-1\.vpce\.amazonaws\.com$`)
	zonal := regexp.MustCompile(`^vpce-[0-9a-f]{17}-[a-z0-9]{8}-us-east-1[ab]\.` + svc + `\.us-east-1\.vpce\.amazonaws\.com$`)
	if len(ep.DnsEntries) != 3 {
		t.Fatalf("DnsEntries = %d, want regional + one per subnet", len(ep.DnsEntries))
	}
	if !zonal.MatchString(*ep.DnsEntries[0].DnsName) {
		t.Errorf("first DNS entry %q should be zonal, so callers must choose by name", *ep.DnsEntries[0].DnsName)
	}
	var regionals int
	for _, d := range ep.DnsEntries {
		name := *d.DnsName
		switch {
		case regional.MatchString(name):
			regionals++
			if !strings.HasPrefix(name, *ep.VpcEndpointId+"-") {
				t.Errorf("regional name %q does not start with the endpoint id", name)
			}
		case zonal.MatchString(name):
		default:
			t.Errorf("DNS entry %q has neither AWS shape", name)
		}
		if aws.ToString(d.HostedZoneId) == "" {
			t.Errorf("DNS entry %q has no hosted zone", name)
		}
	}
	if regionals != 1 {
		t.Errorf("%d regional entries, want 1", regionals)
	}
}

func TestCreateVpcEndpointRefusals(t *testing.T) {
	tests := []struct {
		name string
		edit func(f fixture, in *ec2.CreateVpcEndpointInput)
		want string
	}{
		{"unknown service", func(f fixture, in *ec2.CreateVpcEndpointInput) {
			in.ServiceName = aws.String("com.amazonaws.vpce.us-east-1.vpce-svc-00000000000000000")
		}, "InvalidServiceName"},
		{"subnet in an AZ the service does not offer", func(f fixture, in *ec2.CreateVpcEndpointInput) { in.SubnetIds = []string{f.subA, f.subC} }, "InvalidParameterValue"},
		{"two subnets in one AZ", func(f fixture, in *ec2.CreateVpcEndpointInput) { in.SubnetIds = []string{f.subA, f.subA2} }, "DuplicateSubnetsInSameZone"},
		{"unknown subnet", func(f fixture, in *ec2.CreateVpcEndpointInput) { in.SubnetIds = []string{"subnet-00000000000000000"} }, "InvalidSubnetID.NotFound"},
		{"unknown VPC", func(f fixture, in *ec2.CreateVpcEndpointInput) { in.VpcId = aws.String("vpc-00000000000000000") }, "InvalidVpcID.NotFound"},
		{"unknown security group", func(f fixture, in *ec2.CreateVpcEndpointInput) {
			in.SecurityGroupIds = []string{"sg-00000000000000000"}
		}, "InvalidGroup.NotFound"},
		{"private DNS on a service without a private name", func(f fixture, in *ec2.CreateVpcEndpointInput) { in.PrivateDnsEnabled = nil }, "InvalidParameter"},
		{"gateway type (the API default)", func(f fixture, in *ec2.CreateVpcEndpointInput) { in.VpcEndpointType = "" }, "InvalidParameter"},
		{"tags for another resource type", func(f fixture, in *ec2.CreateVpcEndpointInput) {
			in.TagSpecifications[0].ResourceType = types.ResourceTypeVpc
		}, "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, true)
			in := f.endpointInput("", f.subA, f.subB)
			if tt.edit != nil {
				tt.edit(f, in)
			}
			_, err := f.w.EC2(spoke).CreateVpcEndpoint(t.Context(), in)
			if code(err) != tt.want {
				t.Fatalf("error %v, want code %s", err, tt.want)
			}
			if n := len(f.w.ConnectionsOf(f.svcID)); n != 0 {
				t.Errorf("a refused create left %d connections", n)
			}
		})
	}
}

func TestCreateVpcEndpointPrincipals(t *testing.T) {
	spokeRole := fake.RoleARN(spoke, "jenkins-agent-vpcs-spoke")
	session := "arn:aws:sts::" + spoke + ":assumed-role/jenkins-agent-vpcs-spoke/onboard"
	tests := []struct {
		name    string
		allowed string
		caller  string
		ok      bool
	}{
		{"root allows the root", fake.RootARN(spoke), "", true},
		{"root allows a role session of the account", fake.RootARN(spoke), session, true},
		{"role allows its session", spokeRole, session, true},
		{"role refuses the account root", spokeRole, "", false},
		{"role refuses another role", spokeRole, "arn:aws:sts::" + spoke + ":assumed-role/other/s", false},
		{"star allows anyone", "*", session, true},
		{"another account's root refuses", fake.RootARN(other), session, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t, true, tt.allowed)
			_, err := f.w.EC2As(spoke, tt.caller).CreateVpcEndpoint(t.Context(), f.endpointInput("", f.subA))
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && code(err) != "InvalidServiceName" {
				t.Fatalf("error %v, want InvalidServiceName", err)
			}
		})
	}
}

func TestClientTokenIdempotency(t *testing.T) {
	f := setup(t, true)
	api := f.w.EC2(spoke)
	first, err := api.CreateVpcEndpoint(t.Context(), f.endpointInput("tok-1", f.subA, f.subB))
	if err != nil {
		t.Fatal(err)
	}
	// Same token, same parameters (subnets in another order): the same endpoint.
	again, err := api.CreateVpcEndpoint(t.Context(), f.endpointInput("tok-1", f.subB, f.subA))
	if err != nil {
		t.Fatal(err)
	}
	if *again.VpcEndpoint.VpcEndpointId != *first.VpcEndpoint.VpcEndpointId || aws.ToString(again.ClientToken) != "tok-1" {
		t.Errorf("retry returned %s (token %v), want %s", *again.VpcEndpoint.VpcEndpointId, again.ClientToken, *first.VpcEndpoint.VpcEndpointId)
	}
	// Same token, other parameters.
	_, err = api.CreateVpcEndpoint(t.Context(), f.endpointInput("tok-1", f.subA))
	if code(err) != "IdempotentParameterMismatch" {
		t.Errorf("error %v, want IdempotentParameterMismatch", err)
	}
	if n := len(f.w.ConnectionsOf(f.svcID)); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	// No token: a new endpoint each time.
	f.createEndpoint(t)
	if n := len(f.w.ConnectionsOf(f.svcID)); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestClientTokenTTL(t *testing.T) {
	f := setup(t, false)
	w := fake.NewWorld(fake.Options{Clock: f.clock, ClientTokenTTL: time.Hour})
	vpc := w.AddVPC(spoke, "10.0.0.0/16", nil)
	sub := w.AddSubnet(spoke, vpc, "us-east-1a", nil)
	_, name := w.AddEndpointService(hub, fake.ServiceSpec{AvailabilityZoneIDs: []string{w.AZID(spoke, "us-east-1a")}, AllowedPrincipals: []string{"*"}})
	in := &ec2.CreateVpcEndpointInput{VpcId: &vpc, ServiceName: &name, VpcEndpointType: types.VpcEndpointTypeInterface, SubnetIds: []string{sub}, PrivateDnsEnabled: aws.Bool(false), ClientToken: aws.String("t")}
	a, err := w.EC2(spoke).CreateVpcEndpoint(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(61 * time.Minute)
	b, err := w.EC2(spoke).CreateVpcEndpoint(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if *a.VpcEndpoint.VpcEndpointId == *b.VpcEndpoint.VpcEndpointId {
		t.Error("an expired token still returned the old endpoint")
	}
}

func TestEndpointLifecycleWithAcceptance(t *testing.T) {
	f := setup(t, true)
	ep := f.createEndpoint(t)
	id := *ep.VpcEndpointId
	hubEC2 := f.w.EC2(hub)

	steps := []struct {
		do   func()
		want string
	}{
		{func() {}, "pendingAcceptance"},
		{func() { f.clock.Advance(time.Hour) }, "pendingAcceptance"}, // no timer while waiting for the owner
		{func() {
			out, err := hubEC2.AcceptVpcEndpointConnections(t.Context(), &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: &f.svcID, VpcEndpointIds: []string{id}})
			if err != nil || len(out.Unsuccessful) != 0 {
				t.Fatalf("accept: %v %+v", err, out)
			}
		}, "pending"},
		{func() { f.clock.Advance(119 * time.Second) }, "pending"},
		{func() { f.clock.Advance(time.Second) }, "available"},
		{func() {
			out, err := f.w.EC2(spoke).DeleteVpcEndpoints(t.Context(), &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}})
			if err != nil || len(out.Unsuccessful) != 0 {
				t.Fatalf("delete: %v %+v", err, out)
			}
		}, "deleting"},
		{func() { f.clock.Advance(2 * time.Minute) }, "deleted"},
	}
	for i, s := range steps {
		s.do()
		if got := f.endpoint(t, spoke, id).State; got != types.State(s.want) {
			t.Fatalf("step %d: spoke sees %q, want %q", i, got, s.want)
		}
		conns := f.w.ConnectionsOf(f.svcID)
		if len(conns) != 1 || conns[0].VpcEndpointState != types.State(s.want) {
			t.Fatalf("step %d: hub sees %+v, want one connection in %q", i, conns, s.want)
		}
	}
}

func TestEndpointWithoutAcceptanceBecomesAvailable(t *testing.T) {
	f := setup(t, false)
	f.w.SetTransitionDelay(0)
	ep := f.createEndpoint(t)
	if ep.State != "pending" {
		t.Errorf("create returned %q, want pending", ep.State)
	}
	if got := f.endpoint(t, spoke, *ep.VpcEndpointId).State; got != "available" {
		t.Errorf("with no delay the next describe shows %q, want available", got)
	}
}

func TestAcceptAndRejectReportPerEndpointFailures(t *testing.T) {
	f := setup(t, true)
	pendingEP := *f.createEndpoint(t).VpcEndpointId
	availableEP := *f.createEndpoint(t).VpcEndpointId
	f.w.SetEndpointState(spoke, availableEP, "available")
	unknown := "vpce-00000000000000000"
	hubEC2 := f.w.EC2(hub)

	out, err := hubEC2.AcceptVpcEndpointConnections(t.Context(), &ec2.AcceptVpcEndpointConnectionsInput{
		ServiceId: &f.svcID, VpcEndpointIds: []string{pendingEP, availableEP, unknown},
	})
	if err != nil {
		t.Fatalf("per-endpoint failures must not fail the call: %v", err)
	}
	failed := map[string]string{}
	for _, u := range out.Unsuccessful {
		failed[*u.ResourceId] = *u.Error.Code
		if aws.ToString(u.Error.Message) == "" {
			t.Errorf("%s: empty message", *u.ResourceId)
		}
	}
	if len(failed) != 2 || failed[unknown] != "InvalidVpcEndpointId.NotFound" || failed[availableEP] != "InvalidVpcEndpointState" {
		t.Errorf("Unsuccessful = %v", failed)
	}
	if got := f.w.EndpointState(spoke, pendingEP); got != "pending" {
		t.Errorf("accepted endpoint is %q", got)
	}

	rej, err := hubEC2.RejectVpcEndpointConnections(t.Context(), &ec2.RejectVpcEndpointConnectionsInput{
		ServiceId: &f.svcID, VpcEndpointIds: []string{availableEP, unknown},
	})
	if err != nil || len(rej.Unsuccessful) != 1 || *rej.Unsuccessful[0].ResourceId != unknown {
		t.Fatalf("reject: %v %+v", err, rej)
	}
	if got := f.w.EndpointState(spoke, availableEP); got != "rejected" {
		t.Errorf("rejected endpoint is %q", got)
	}

	// Only the owner can decide on its service's connections.
	_, err = f.w.EC2(spoke).AcceptVpcEndpointConnections(t.Context(), &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: &f.svcID, VpcEndpointIds: []string{pendingEP}})
	if code(err) != "InvalidVpcEndpointServiceId.NotFound" {
		t.Errorf("non-owner accept: %v", err)
	}
}

func TestDescribeVpcEndpointConnectionsFiltersAndPages(t *testing.T) {
	f := setup(t, true)
	var ids []string
	for range 7 {
		ids = append(ids, *f.createEndpoint(t).VpcEndpointId)
	}
	f.w.SetEndpointState(spoke, ids[3], "available")

	p := ec2.NewDescribeVpcEndpointConnectionsPaginator(f.w.EC2(hub), &ec2.DescribeVpcEndpointConnectionsInput{
		MaxResults: aws.Int32(5),
		Filters:    []types.Filter{{Name: aws.String("service-id"), Values: []string{f.svcID}}, {Name: aws.String("vpc-endpoint-owner"), Values: []string{spoke}}},
	})
	var got []string
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range out.VpcEndpointConnections {
			got = append(got, *c.VpcEndpointId)
		}
	}
	if pages != 2 || !slices.Equal(got, ids) {
		t.Errorf("%d pages, %v; want 2 pages of %v", pages, got, ids)
	}

	out, err := f.w.EC2(hub).DescribeVpcEndpointConnections(t.Context(), &ec2.DescribeVpcEndpointConnectionsInput{
		Filters: []types.Filter{{Name: aws.String("vpc-endpoint-state"), Values: []string{"pendingAcceptance"}}},
	})
	if err != nil || len(out.VpcEndpointConnections) != 6 {
		t.Errorf("pendingAcceptance filter: %v, %d connections", err, len(out.VpcEndpointConnections))
	}
	// The spoke owns no service, so it sees no connections.
	out, err = f.w.EC2(spoke).DescribeVpcEndpointConnections(t.Context(), &ec2.DescribeVpcEndpointConnectionsInput{})
	if err != nil || len(out.VpcEndpointConnections) != 0 {
		t.Errorf("spoke sees %d connections (%v)", len(out.VpcEndpointConnections), err)
	}
	if _, err := f.w.EC2(hub).DescribeVpcEndpointConnections(t.Context(), &ec2.DescribeVpcEndpointConnectionsInput{MaxResults: aws.Int32(2)}); code(err) != "InvalidParameterValue" {
		t.Errorf("MaxResults below 5: %v", err)
	}
}

func TestDescribeVpcEndpointsFilters(t *testing.T) {
	f := setup(t, true)
	a := *f.createEndpoint(t).VpcEndpointId
	b := *f.createEndpoint(t).VpcEndpointId
	f.w.SetEndpointState(spoke, b, "available")
	if _, err := f.w.EC2(spoke).CreateTags(t.Context(), &ec2.CreateTagsInput{Resources: []string{b}, Tags: []types.Tag{{Key: aws.String("vpc"), Value: aws.String("x")}}}); err != nil {
		t.Fatal(err)
	}
	filter := func(name string, values ...string) []types.Filter {
		return []types.Filter{{Name: aws.String(name), Values: values}}
	}
	tests := []struct {
		name    string
		filters []types.Filter
		want    []string
		code    string
	}{
		{"vpc-id", filter("vpc-id", f.vpc), []string{a, b}, ""},
		{"other vpc", filter("vpc-id", "vpc-1"), nil, ""},
		{"vpc-endpoint-id", filter("vpc-endpoint-id", b), []string{b}, ""},
		{"service-name", filter("service-name", f.svcName), []string{a, b}, ""},
		{"state wire casing", filter("vpc-endpoint-state", "available"), []string{b}, ""},
		{"state SDK casing matches nothing", filter("vpc-endpoint-state", "Available"), nil, ""},
		{"type", filter("vpc-endpoint-type", "Interface"), []string{a, b}, ""},
		{"managed tag", filter("tag:managed-by", "jenkins-agent-vpcs"), []string{a, b}, ""},
		{"tag wildcard", filter("tag:managed-by", "jenkins-*"), []string{a, b}, ""},
		{"tag-key", filter("tag-key", "vpc"), []string{b}, ""},
		{"values are ORed", filter("vpc-endpoint-id", a, b), []string{a, b}, ""},
		{"filters are ANDed", append(filter("vpc-endpoint-id", a, b), filter("tag-key", "vpc")...), []string{b}, ""},
		{"unknown filter", filter("endpoint-state", "available"), nil, "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := f.w.EC2(spoke).DescribeVpcEndpoints(t.Context(), &ec2.DescribeVpcEndpointsInput{Filters: tt.filters})
			if code(err) != tt.code {
				t.Fatalf("error %v, want %q", err, tt.code)
			}
			if err != nil {
				return
			}
			var got []string
			for _, ep := range out.VpcEndpoints {
				got = append(got, *ep.VpcEndpointId)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// Endpoints are the owner's: the hub does not see them as endpoints.
	if out, _ := f.w.EC2(hub).DescribeVpcEndpoints(t.Context(), &ec2.DescribeVpcEndpointsInput{}); len(out.VpcEndpoints) != 0 {
		t.Errorf("hub sees %d spoke endpoints", len(out.VpcEndpoints))
	}
	if _, err := f.w.EC2(hub).DescribeVpcEndpoints(t.Context(), &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{a}}); code(err) != "InvalidVpcEndpointId.NotFound" {
		t.Errorf("hub describing a spoke endpoint by id: %v", err)
	}
}

func TestModifyVpcEndpoint(t *testing.T) {
	f := setup(t, false)
	ep := f.createEndpoint(t)
	id := *ep.VpcEndpointId
	api := f.w.EC2(spoke)
	sg2, err := api.CreateSecurityGroup(t.Context(), &ec2.CreateSecurityGroupInput{GroupName: aws.String("second"), Description: aws.String("d"), VpcId: &f.vpc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.ModifyVpcEndpoint(t.Context(), &ec2.ModifyVpcEndpointInput{VpcEndpointId: &id, AddSubnetIds: []string{f.subA2}}); code(err) != "DuplicateSubnetsInSameZone" {
		t.Errorf("adding a second subnet in one AZ: %v", err)
	}
	if _, err := api.ModifyVpcEndpoint(t.Context(), &ec2.ModifyVpcEndpointInput{VpcEndpointId: &id, AddSubnetIds: []string{f.subC}}); code(err) != "InvalidParameterValue" {
		t.Errorf("adding a subnet in an AZ not offered: %v", err)
	}
	_, err = api.ModifyVpcEndpoint(t.Context(), &ec2.ModifyVpcEndpointInput{
		VpcEndpointId: &id, RemoveSubnetIds: []string{f.subA}, AddSubnetIds: []string{f.subA2},
		AddSecurityGroupIds: []string{*sg2.GroupId}, RemoveSecurityGroupIds: []string{f.sg},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := f.endpoint(t, spoke, id)
	if !slices.Equal(got.SubnetIds, []string{f.subB, f.subA2}) || len(got.NetworkInterfaceIds) != 2 || len(got.DnsEntries) != 3 {
		t.Errorf("after modify: subnets %v, ENIs %v, %d DNS entries", got.SubnetIds, got.NetworkInterfaceIds, len(got.DnsEntries))
	}
	if len(got.Groups) != 1 || *got.Groups[0].GroupId != *sg2.GroupId {
		t.Errorf("after modify: groups %+v", got.Groups)
	}
	if _, err := api.ModifyVpcEndpoint(t.Context(), &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String("vpce-00000000000000000")}); code(err) != "InvalidVpcEndpointId.NotFound" {
		t.Errorf("modify unknown: %v", err)
	}
}

func TestDeleteVpcEndpointsReportsUnknownIDsInUnsuccessful(t *testing.T) {
	f := setup(t, false)
	id := *f.createEndpoint(t).VpcEndpointId
	out, err := f.w.EC2(spoke).DeleteVpcEndpoints(t.Context(), &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id, "vpce-00000000000000000"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Unsuccessful) != 1 || *out.Unsuccessful[0].ResourceId != "vpce-00000000000000000" || aws.ToString(out.Unsuccessful[0].Error.Code) == "" {
		t.Errorf("Unsuccessful = %+v", out.Unsuccessful)
	}
	if got := f.w.EndpointState(spoke, id); got != "deleting" {
		t.Errorf("state %q, want deleting", got)
	}
}

func TestServiceConfigurationsAndPermissions(t *testing.T) {
	f := setup(t, true)
	hubEC2 := f.w.EC2(hub)
	out, err := hubEC2.DescribeVpcEndpointServiceConfigurations(t.Context(), &ec2.DescribeVpcEndpointServiceConfigurationsInput{ServiceIds: []string{f.svcID}})
	if err != nil {
		t.Fatal(err)
	}
	c := out.ServiceConfigurations[0]
	wantIDs := []string{f.w.AZID(spoke, "us-east-1a"), f.w.AZID(spoke, "us-east-1b")}
	slices.Sort(wantIDs)
	if *c.ServiceName != f.svcName || !aws.ToBool(c.AcceptanceRequired) || !slices.Equal(c.AvailabilityZoneIds, wantIDs) {
		t.Errorf("configuration %+v", c)
	}
	// Names are the owner's names for those zones.
	for _, name := range c.AvailabilityZones {
		if !slices.Contains(wantIDs, f.w.AZID(hub, name)) {
			t.Errorf("zone name %s is %s in the hub, not one of %v", name, f.w.AZID(hub, name), wantIDs)
		}
	}
	if _, err := f.w.EC2(spoke).DescribeVpcEndpointServiceConfigurations(t.Context(), &ec2.DescribeVpcEndpointServiceConfigurationsInput{ServiceIds: []string{f.svcID}}); code(err) != "InvalidVpcEndpointServiceId.NotFound" {
		t.Errorf("non-owner: %v", err)
	}

	role := fake.RoleARN(other, "spoke")
	for range 2 { // adding a present principal is fine
		mod, err := hubEC2.ModifyVpcEndpointServicePermissions(t.Context(), &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: &f.svcID, AddAllowedPrincipals: []string{role}})
		if err != nil || !aws.ToBool(mod.ReturnValue) || len(mod.AddedPrincipals) != 1 || mod.AddedPrincipals[0].PrincipalType != types.PrincipalTypeRole {
			t.Fatalf("add: %v %+v", err, mod)
		}
	}
	if _, err := hubEC2.ModifyVpcEndpointServicePermissions(t.Context(), &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: &f.svcID, RemoveAllowedPrincipals: []string{fake.RootARN(spoke)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := hubEC2.ModifyVpcEndpointServicePermissions(t.Context(), &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: &f.svcID, AddAllowedPrincipals: []string{"123"}}); code(err) != "InvalidPrincipal" {
		t.Errorf("bad principal: %v", err)
	}
	perms, err := hubEC2.DescribeVpcEndpointServicePermissions(t.Context(), &ec2.DescribeVpcEndpointServicePermissionsInput{ServiceId: &f.svcID})
	if err != nil || len(perms.AllowedPrincipals) != 1 || *perms.AllowedPrincipals[0].Principal != role {
		t.Fatalf("permissions: %v %+v", err, perms)
	}
	// The spoke root is no longer allowed: its next endpoint is refused...
	if _, err := f.w.EC2(spoke).CreateVpcEndpoint(t.Context(), f.endpointInput("", f.subA)); code(err) != "InvalidServiceName" {
		t.Errorf("create after removal: %v", err)
	}
	// ...and the new role's sessions are let in.
	vpc := f.w.AddVPC(other, "10.9.0.0/16", nil)
	var sub string
	for _, az := range []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"} {
		if slices.Contains(wantIDs, f.w.AZID(other, az)) {
			sub = f.w.AddSubnet(other, vpc, az, nil)
			break
		}
	}
	_, err = f.w.EC2As(other, "arn:aws:sts::"+other+":assumed-role/spoke/s").CreateVpcEndpoint(t.Context(), &ec2.CreateVpcEndpointInput{
		VpcId: &vpc, ServiceName: &f.svcName, VpcEndpointType: types.VpcEndpointTypeInterface, SubnetIds: []string{sub}, PrivateDnsEnabled: aws.Bool(false),
	})
	if err != nil {
		t.Errorf("allowed role: %v", err)
	}
}

func TestSetEndpointStateForcesDrift(t *testing.T) {
	f := setup(t, false)
	id := *f.createEndpoint(t).VpcEndpointId
	for _, s := range []string{"failed", "expired", "rejected", "deleted"} {
		f.w.SetEndpointState(spoke, id, s)
		if got := f.endpoint(t, spoke, id).State; got != types.State(s) {
			t.Errorf("forced %q, describe shows %q", s, got)
		}
	}
}
