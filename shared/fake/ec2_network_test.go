package fake_test

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/fake"
)

func filter(name string, values ...string) []types.Filter {
	return []types.Filter{{Name: aws.String(name), Values: values}}
}

func TestDescribeVpcsFilters(t *testing.T) {
	w := fake.NewWorld(fake.Options{})
	tagged := w.AddVPC(spoke, "10.0.0.0/16", map[string]string{"jenkins-agents": "true", "team": "a"})
	off := w.AddVPC(spoke, "10.1.0.0/16", map[string]string{"jenkins-agents": "false"})
	bare := w.AddVPC(spoke, "10.2.0.0/16", nil)
	w.AddVPC(other, "10.3.0.0/16", map[string]string{"jenkins-agents": "true"})
	tests := []struct {
		name string
		in   ec2.DescribeVpcsInput
		want []string
		code string
	}{
		{"all of the account", ec2.DescribeVpcsInput{}, []string{tagged, off, bare}, ""},
		{"by id", ec2.DescribeVpcsInput{VpcIds: []string{off}}, []string{off}, ""},
		{"unknown id", ec2.DescribeVpcsInput{VpcIds: []string{"vpc-00000000000000000"}}, nil, "InvalidVpcID.NotFound"},
		{"tag value", ec2.DescribeVpcsInput{Filters: filter("tag:jenkins-agents", "true")}, []string{tagged}, ""},
		{"tag-key", ec2.DescribeVpcsInput{Filters: filter("tag-key", "jenkins-agents")}, []string{tagged, off}, ""},
		{"tag-value", ec2.DescribeVpcsInput{Filters: filter("tag-value", "a")}, []string{tagged}, ""},
		{"vpc-id", ec2.DescribeVpcsInput{Filters: filter("vpc-id", bare, tagged)}, []string{tagged, bare}, ""},
		{"bad MaxResults", ec2.DescribeVpcsInput{MaxResults: aws.Int32(4)}, nil, "InvalidParameterValue"},
		{"bad token", ec2.DescribeVpcsInput{NextToken: aws.String("x")}, nil, "InvalidPaginationToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := w.EC2(spoke).DescribeVpcs(t.Context(), &tt.in)
			if code(err) != tt.code {
				t.Fatalf("error %v, want %q", err, tt.code)
			}
			if err != nil {
				return
			}
			var got []string
			for _, v := range out.Vpcs {
				got = append(got, *v.VpcId)
				if *v.OwnerId != spoke {
					t.Errorf("owner %s", *v.OwnerId)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDescribeSubnetsFiltersAndPaging(t *testing.T) {
	w := fake.NewWorld(fake.Options{})
	vpc := w.AddVPC(spoke, "10.0.0.0/16", nil)
	var all []string
	for i, az := range []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"} {
		tags := map[string]string(nil)
		if i == 2 {
			tags = map[string]string{"jenkins-agents-endpoint": "true"}
		}
		all = append(all, w.AddSubnet(spoke, vpc, az, tags))
	}
	w.AddSubnet(spoke, w.AddVPC(spoke, "10.9.0.0/16", nil), "us-east-1a", nil)

	p := ec2.NewDescribeSubnetsPaginator(w.EC2(spoke), &ec2.DescribeSubnetsInput{Filters: filter("vpc-id", vpc), MaxResults: aws.Int32(5)})
	var got []string
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range out.Subnets {
			got = append(got, *s.SubnetId)
		}
	}
	if pages != 2 || !slices.Equal(got, all) {
		t.Errorf("%d pages %v, want 2 pages of %v", pages, got, all)
	}

	count := func(filters []types.Filter) int {
		out, err := w.EC2(spoke).DescribeSubnets(t.Context(), &ec2.DescribeSubnetsInput{Filters: filters})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Subnets)
	}
	if n := count(append(filter("vpc-id", vpc), filter("availability-zone", "us-east-1a")...)); n != 2 {
		t.Errorf("availability-zone: %d", n)
	}
	if n := count(append(filter("vpc-id", vpc), filter("availability-zone-id", w.AZID(spoke, "us-east-1b"))...)); n != 2 {
		t.Errorf("availability-zone-id: %d", n)
	}
	if n := count(filter("tag-key", "jenkins-agents-endpoint")); n != 1 {
		t.Errorf("tag-key: %d", n)
	}
	if n := count(filter("subnet-id", all[0], all[1])); n != 2 {
		t.Errorf("subnet-id: %d", n)
	}
	out, _ := w.EC2(spoke).DescribeSubnets(t.Context(), &ec2.DescribeSubnetsInput{SubnetIds: []string{all[1]}})
	s := out.Subnets[0]
	if *s.VpcId != vpc || *s.AvailabilityZone != "us-east-1b" || *s.AvailabilityZoneId != w.AZID(spoke, "us-east-1b") || *s.CidrBlock != "10.0.1.0/24" {
		t.Errorf("subnet %+v", s)
	}
}

func TestAZIDsRotatePerAccount(t *testing.T) {
	w := fake.NewWorld(fake.Options{Region: "eu-west-1"})
	seen := map[string]bool{}
	for _, az := range []string{"eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d", "eu-west-1e", "eu-west-1f"} {
		id := w.AZID(spoke, az)
		if seen[id] {
			t.Errorf("%s maps to %s twice", az, id)
		}
		seen[id] = true
		if !regexp.MustCompile(`^euw1-az[1-6]$`).MatchString(id) {
			t.Errorf("AZ ID %q does not look like euw1-azN", id)
		}
	}
	if w.AZID(spoke, "eu-west-1a") == w.AZID(hub, "eu-west-1a") {
		t.Error("the same AZ name maps to the same ID in both accounts; AWS rotates per account")
	}
	if w.AZID(spoke, "eu-west-1a") != w.AZID(spoke, "eu-west-1a") {
		t.Error("the mapping is not stable")
	}
}

func TestTags(t *testing.T) {
	w := fake.NewWorld(fake.Options{})
	vpc := w.AddVPC(spoke, "10.0.0.0/16", map[string]string{"a": "1", "b": "2", "c": ""})
	sub := w.AddSubnet(spoke, vpc, "us-east-1a", nil)
	api := w.EC2(spoke)
	if _, err := api.CreateTags(t.Context(), &ec2.CreateTagsInput{Resources: []string{vpc, sub}, Tags: []types.Tag{{Key: aws.String("jenkins-agents"), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	tagsOf := func() map[string]string {
		out, err := api.DescribeVpcs(t.Context(), &ec2.DescribeVpcsInput{VpcIds: []string{vpc}})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, tag := range out.Vpcs[0].Tags {
			m[*tag.Key] = *tag.Value
		}
		return m
	}
	if got := tagsOf(); got["jenkins-agents"] != "true" || len(got) != 4 {
		t.Errorf("after CreateTags %v", got)
	}
	del := func(tags ...types.Tag) {
		if _, err := api.DeleteTags(t.Context(), &ec2.DeleteTagsInput{Resources: []string{vpc}, Tags: tags}); err != nil {
			t.Fatal(err)
		}
	}
	del(types.Tag{Key: aws.String("a"), Value: aws.String("other")}) // value differs: kept
	del(types.Tag{Key: aws.String("b")})                             // key only: removed
	del(types.Tag{Key: aws.String("c"), Value: aws.String("")})      // empty value matches empty
	if got := tagsOf(); len(got) != 2 || got["a"] != "1" || got["jenkins-agents"] != "true" {
		t.Errorf("after DeleteTags %v", got)
	}
	del()
	if got := tagsOf(); len(got) != 0 {
		t.Errorf("DeleteTags without tags left %v", got)
	}

	for _, tt := range []struct {
		resources []string
		key       string
		code      string
	}{
		{[]string{"vpc-00000000000000000"}, "k", "InvalidVpcID.NotFound"},
		{[]string{sub, "subnet-00000000000000000"}, "k", "InvalidSubnetID.NotFound"},
		{[]string{"sg-00000000000000000"}, "k", "InvalidGroup.NotFound"},
		{[]string{"vpce-00000000000000000"}, "k", "InvalidVpcEndpointId.NotFound"},
		{[]string{"i-1234"}, "k", "InvalidID"},
		{[]string{vpc}, "aws:reserved", "InvalidParameterValue"},
	} {
		_, err := api.CreateTags(t.Context(), &ec2.CreateTagsInput{Resources: tt.resources, Tags: []types.Tag{{Key: aws.String(tt.key), Value: aws.String("v")}}})
		if code(err) != tt.code {
			t.Errorf("CreateTags(%v, %s): %v, want %s", tt.resources, tt.key, err, tt.code)
		}
	}
	// A failed CreateTags changes nothing, even on the valid resources.
	out, _ := api.DescribeSubnets(t.Context(), &ec2.DescribeSubnetsInput{SubnetIds: []string{sub}})
	if len(out.Subnets[0].Tags) != 1 {
		t.Errorf("subnet tags %v after a failed CreateTags", out.Subnets[0].Tags)
	}
	// Another account cannot see or tag the VPC.
	if _, err := w.EC2(other).CreateTags(t.Context(), &ec2.CreateTagsInput{Resources: []string{vpc}, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); code(err) != "InvalidVpcID.NotFound" {
		t.Errorf("cross-account CreateTags: %v", err)
	}
}

func TestSecurityGroups(t *testing.T) {
	w := fake.NewWorld(fake.Options{})
	vpc := w.AddVPC(spoke, "10.0.0.0/16", nil)
	api := w.EC2(spoke)
	create := func(name string) (string, error) {
		out, err := api.CreateSecurityGroup(t.Context(), &ec2.CreateSecurityGroupInput{
			GroupName: aws.String(name), Description: aws.String(name + " group"), VpcId: aws.String(vpc),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup, Tags: []types.Tag{{Key: aws.String("managed-by"), Value: aws.String("x")}}}},
		})
		if err != nil {
			return "", err
		}
		return *out.GroupId, nil
	}
	agents, err := create("jenkins-agents")
	if err != nil {
		t.Fatal(err)
	}
	endpoint, err := create("jenkins-endpoint")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := create("jenkins-agents"); code(err) != "InvalidGroup.Duplicate" {
		t.Errorf("duplicate name: %v", err)
	}
	if _, err := create("default"); code(err) != "InvalidParameterValue" {
		t.Errorf("reserved name: %v", err)
	}

	ingress := []types.IpPermission{{
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(50000), ToPort: aws.Int32(50000),
		UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: aws.String(agents), Description: aws.String("agents")}},
	}, {
		IpProtocol: aws.String("tcp"), FromPort: aws.Int32(8080), ToPort: aws.Int32(8080),
		IpRanges: []types.IpRange{{CidrIp: aws.String("10.0.0.0/16")}},
	}}
	auth := func() error {
		_, err := api.AuthorizeSecurityGroupIngress(t.Context(), &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &endpoint, IpPermissions: ingress})
		return err
	}
	if err := auth(); err != nil {
		t.Fatal(err)
	}
	if err := auth(); code(err) != "InvalidPermission.Duplicate" {
		t.Errorf("duplicate rule: %v", err)
	}

	out, err := api.DescribeSecurityGroups(t.Context(), &ec2.DescribeSecurityGroupsInput{Filters: append(filter("vpc-id", vpc), filter("group-name", "jenkins-endpoint")...)})
	if err != nil || len(out.SecurityGroups) != 1 {
		t.Fatalf("describe by name: %v %d", err, len(out.SecurityGroups))
	}
	g := out.SecurityGroups[0]
	if len(g.IpPermissions) != 2 || *g.IpPermissions[0].UserIdGroupPairs[0].GroupId != agents || *g.IpPermissions[1].IpRanges[0].CidrIp != "10.0.0.0/16" {
		t.Errorf("permissions %+v", g.IpPermissions)
	}
	if len(g.IpPermissionsEgress) != 1 || *g.IpPermissionsEgress[0].IpProtocol != "-1" {
		t.Errorf("new groups allow all egress, got %+v", g.IpPermissionsEgress)
	}
	all, _ := api.DescribeSecurityGroups(t.Context(), &ec2.DescribeSecurityGroupsInput{Filters: filter("vpc-id", vpc)})
	if len(all.SecurityGroups) != 3 {
		t.Errorf("%d groups in the VPC, want default + 2", len(all.SecurityGroups))
	}
	tagged, _ := api.DescribeSecurityGroups(t.Context(), &ec2.DescribeSecurityGroupsInput{Filters: filter("tag:managed-by", "x")})
	if len(tagged.SecurityGroups) != 2 {
		t.Errorf("%d tagged groups", len(tagged.SecurityGroups))
	}
	if _, err := api.DescribeSecurityGroups(t.Context(), &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-00000000000000000"}}); code(err) != "InvalidGroup.NotFound" {
		t.Errorf("unknown group id: %v", err)
	}

	// The endpoint group's rule references the agents group.
	if _, err := api.DeleteSecurityGroup(t.Context(), &ec2.DeleteSecurityGroupInput{GroupId: &agents}); code(err) != "DependencyViolation" {
		t.Errorf("deleting a referenced group: %v", err)
	}
	revoke := func() error {
		_, err := api.RevokeSecurityGroupIngress(t.Context(), &ec2.RevokeSecurityGroupIngressInput{GroupId: &endpoint, IpPermissions: ingress[:1]})
		return err
	}
	if err := revoke(); err != nil {
		t.Fatal(err)
	}
	if err := revoke(); code(err) != "InvalidPermission.NotFound" {
		t.Errorf("revoking a missing rule: %v", err)
	}
	if _, err := api.DeleteSecurityGroup(t.Context(), &ec2.DeleteSecurityGroupInput{GroupId: &agents}); err != nil {
		t.Errorf("delete once unreferenced: %v", err)
	}
	if _, err := api.DeleteSecurityGroup(t.Context(), &ec2.DeleteSecurityGroupInput{GroupId: &agents}); code(err) != "InvalidGroup.NotFound" {
		t.Errorf("delete twice: %v", err)
	}
}

func TestDeleteSecurityGroupWaitsForTheEndpoint(t *testing.T) {
	f := setup(t, false)
	id := *f.createEndpoint(t).VpcEndpointId
	api := f.w.EC2(spoke)
	del := func() error {
		_, err := api.DeleteSecurityGroup(t.Context(), &ec2.DeleteSecurityGroupInput{GroupId: &f.sg})
		return err
	}
	if err := del(); code(err) != "DependencyViolation" {
		t.Fatalf("group of a live endpoint: %v", err)
	}
	if _, err := api.DeleteVpcEndpoints(t.Context(), &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if err := del(); code(err) != "DependencyViolation" {
		t.Fatalf("group of a deleting endpoint: %v", err)
	}
	f.clock.Advance(2 * time.Minute)
	if err := del(); err != nil {
		t.Fatalf("group of a deleted endpoint: %v", err)
	}
}

// The owner tearing a VPC down is blocked by the endpoint until it is deleted.
func TestDeleteSubnetAndVpcDependencies(t *testing.T) {
	f := setup(t, false)
	id := *f.createEndpoint(t).VpcEndpointId
	api := f.w.EC2(spoke)
	delSubnet := func(s string) error {
		_, err := api.DeleteSubnet(t.Context(), &ec2.DeleteSubnetInput{SubnetId: aws.String(s)})
		return err
	}
	delVpc := func() error {
		_, err := api.DeleteVpc(t.Context(), &ec2.DeleteVpcInput{VpcId: aws.String(f.vpc)})
		return err
	}
	if err := delSubnet(f.subA); code(err) != "DependencyViolation" {
		t.Errorf("subnet with an endpoint interface: %v", err)
	}
	if err := delSubnet(f.subC); err != nil {
		t.Errorf("subnet without dependencies: %v", err)
	}
	if err := delSubnet(f.subC); code(err) != "InvalidSubnetID.NotFound" {
		t.Errorf("second delete: %v", err)
	}
	if _, err := api.ModifyVpcEndpoint(t.Context(), &ec2.ModifyVpcEndpointInput{VpcEndpointId: &id, RemoveSubnetIds: []string{f.subB}}); err != nil {
		t.Fatal(err)
	}
	if err := delSubnet(f.subB); err != nil {
		t.Errorf("subnet released by ModifyVpcEndpoint: %v", err)
	}
	if err := delVpc(); code(err) != "DependencyViolation" {
		t.Errorf("VPC with subnets, groups and an endpoint: %v", err)
	}
	if _, err := api.DeleteVpcEndpoints(t.Context(), &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Minute)
	for _, s := range []string{f.subA, f.subA2} {
		if err := delSubnet(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := delVpc(); code(err) != "DependencyViolation" {
		t.Errorf("VPC with a non-default group: %v", err)
	}
	if _, err := api.DeleteSecurityGroup(t.Context(), &ec2.DeleteSecurityGroupInput{GroupId: &f.sg}); err != nil {
		t.Fatal(err)
	}
	if err := delVpc(); err != nil {
		t.Errorf("empty VPC: %v", err)
	}
	if out, _ := api.DescribeSecurityGroups(t.Context(), &ec2.DescribeSecurityGroupsInput{}); len(out.SecurityGroups) != 0 {
		t.Errorf("the default group outlived its VPC: %d groups", len(out.SecurityGroups))
	}
}
