package ec2sim

import (
	"fmt"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func vpcIDs(vs []types.Vpc) []string {
	var out []string
	for _, v := range vs {
		out = append(out, aws.ToString(v.VpcId))
	}
	sort.Strings(out)
	return out
}

func tagSpec(rt types.ResourceType, kv ...string) []types.TagSpecification {
	var tags []types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		tags = append(tags, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return []types.TagSpecification{{ResourceType: rt, Tags: tags}}
}

func flt(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

func TestCreateAndDescribeVpcs(t *testing.T) {
	w := newWorld(t)
	c := w.client(spoke)
	created, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{
		CidrBlock:         aws.String("10.1.0.0/16"),
		TagSpecifications: tagSpec(types.ResourceTypeVpc, "jenkins-agents", "true", "Name", "agents"),
	})
	mustNil(t, err)
	id := aws.ToString(created.Vpc.VpcId)
	if len(id) != len("vpc-")+17 || created.Vpc.State != types.VpcStatePending {
		t.Fatalf("created %s in state %s", id, created.Vpc.State)
	}
	if _, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.2.0.0/16")}); err != nil {
		t.Fatal(err)
	}

	out, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{id}})
	mustNil(t, err)
	if len(out.Vpcs) != 1 {
		t.Fatalf("got %d VPCs", len(out.Vpcs))
	}
	v := out.Vpcs[0]
	if aws.ToString(v.CidrBlock) != "10.1.0.0/16" || v.State != types.VpcStateAvailable || aws.ToString(v.OwnerId) != spoke || len(v.Tags) != 2 {
		t.Fatalf("described %+v", v)
	}
	if len(v.CidrBlockAssociationSet) != 1 || v.CidrBlockAssociationSet[0].CidrBlockState.State != types.VpcCidrBlockStateCodeAssociated {
		t.Fatalf("cidr associations %+v", v.CidrBlockAssociationSet)
	}

	for _, tc := range []struct {
		name    string
		filters []types.Filter
		want    int
	}{
		{"tag", []types.Filter{flt("tag:jenkins-agents", "true")}, 1},
		{"tag other value", []types.Filter{flt("tag:jenkins-agents", "false")}, 0},
		{"tag-key", []types.Filter{flt("tag-key", "Name")}, 1},
		{"tag-value wildcard", []types.Filter{flt("tag-value", "age*")}, 1},
		{"cidr", []types.Filter{flt("cidr", "10.2.0.0/16")}, 1},
		{"vpc-id wildcard", []types.Filter{flt("vpc-id", "vpc-*")}, 2},
		{"state", []types.Filter{flt("state", "available")}, 2},
		{"and", []types.Filter{flt("state", "available"), flt("cidr", "10.1.0.0/16", "10.9.0.0/16")}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: tc.filters})
			mustNil(t, err)
			if len(out.Vpcs) != tc.want {
				t.Fatalf("got %v, want %d", vpcIDs(out.Vpcs), tc.want)
			}
		})
	}

	_, err = c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{flt("colour", "red")}})
	wantCode(t, err, "InvalidParameterValue")
	_, err = c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-0123456789abcdef0"}})
	wantCode(t, err, "InvalidVpcID.NotFound")

	// Another account sees none of it.
	out, err = w.client(other).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	mustNil(t, err)
	if len(out.Vpcs) != 0 {
		t.Fatalf("other account sees %v", vpcIDs(out.Vpcs))
	}
	_, err = w.client(other).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{id}})
	wantCode(t, err, "InvalidVpcID.NotFound")
}

func TestCreateVpcRefusesBadInput(t *testing.T) {
	w := newWorld(t)
	c := w.client(spoke)
	for _, tc := range []struct {
		in   ec2.CreateVpcInput
		code string
	}{
		{ec2.CreateVpcInput{}, "MissingParameter"},
		{ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/8")}, "InvalidVpc.Range"},
		{ec2.CreateVpcInput{CidrBlock: aws.String("banana")}, "InvalidParameterValue"},
		{ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), TagSpecifications: tagSpec(types.ResourceTypeSubnet, "a", "b")}, "InvalidParameterValue"},
		{ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), TagSpecifications: tagSpec(types.ResourceTypeVpc, "aws:x", "b")}, "InvalidParameterValue"},
	} {
		_, err := c.CreateVpc(ctx, &tc.in)
		wantCode(t, err, tc.code)
	}
}

func TestDescribeVpcsPages(t *testing.T) {
	w := newWorld(t)
	for i := range 12 {
		if _, err := w.svc.AddVPC(spoke, usEast1, VPC{CIDR: fmt.Sprintf("10.%d.0.0/16", i)}); err != nil {
			t.Fatal(err)
		}
	}
	c := w.client(spoke)
	var all []string
	pages := 0
	p := ec2.NewDescribeVpcsPaginator(c, &ec2.DescribeVpcsInput{MaxResults: aws.Int32(5)})
	for p.HasMorePages() && pages < 10 {
		out, err := p.NextPage(ctx)
		mustNil(t, err)
		pages++
		all = append(all, vpcIDs(out.Vpcs)...)
	}
	if pages != 3 || len(all) != 12 {
		t.Fatalf("%d pages, %d VPCs", pages, len(all))
	}
	seen := map[string]bool{}
	for _, id := range all {
		if seen[id] {
			t.Fatalf("%s on two pages", id)
		}
		seen[id] = true
	}
	_, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{MaxResults: aws.Int32(2)})
	wantCode(t, err, "InvalidParameterValue")
	_, err = c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{MaxResults: aws.Int32(5), VpcIds: all[:1]})
	wantCode(t, err, "InvalidParameterCombination")
}

func TestSubnets(t *testing.T) {
	w := newWorld(t)
	c := w.client(spoke)
	v, err := w.svc.AddVPC(spoke, usEast1, VPC{CIDR: "10.0.0.0/16"})
	mustNil(t, err)
	a, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{
		VpcId: aws.String(v.ID), CidrBlock: aws.String("10.0.1.0/24"), AvailabilityZone: aws.String("us-east-1b"),
		TagSpecifications: tagSpec(types.ResourceTypeSubnet, "jenkins-agents-subnet", "true"),
	})
	mustNil(t, err)
	if got, want := aws.ToString(a.Subnet.AvailabilityZoneId), w.svc.AZID(spoke, usEast1, "us-east-1b"); got != want || want == "" {
		t.Fatalf("zone id %s, want %s", got, want)
	}
	if aws.ToInt32(a.Subnet.AvailableIpAddressCount) != 251 {
		t.Fatalf("free addresses %d", aws.ToInt32(a.Subnet.AvailableIpAddressCount))
	}
	// By zone id: the name is this account's.
	zid := w.svc.AZID(spoke, usEast1, "us-east-1c")
	b, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(v.ID), CidrBlock: aws.String("10.0.2.0/24"), AvailabilityZoneId: aws.String(zid)})
	mustNil(t, err)
	if aws.ToString(b.Subnet.AvailabilityZone) != "us-east-1c" {
		t.Fatalf("zone %s for %s", aws.ToString(b.Subnet.AvailabilityZone), zid)
	}

	for _, tc := range []struct {
		in   ec2.CreateSubnetInput
		code string
	}{
		{ec2.CreateSubnetInput{VpcId: aws.String(v.ID), CidrBlock: aws.String("10.0.1.128/25")}, "InvalidSubnet.Conflict"},
		{ec2.CreateSubnetInput{VpcId: aws.String(v.ID), CidrBlock: aws.String("10.1.0.0/24")}, "InvalidSubnet.Range"},
		{ec2.CreateSubnetInput{VpcId: aws.String(v.ID), CidrBlock: aws.String("10.0.9.0/24"), AvailabilityZone: aws.String("us-east-1z")}, "InvalidParameterValue"},
		{ec2.CreateSubnetInput{VpcId: aws.String("vpc-0000000000000000f"), CidrBlock: aws.String("10.0.9.0/24")}, "InvalidVpcID.NotFound"},
	} {
		_, err := c.CreateSubnet(ctx, &tc.in)
		wantCode(t, err, tc.code)
	}

	for _, tc := range []struct {
		name string
		in   ec2.DescribeSubnetsInput
		want int
	}{
		{"vpc-id", ec2.DescribeSubnetsInput{Filters: []types.Filter{flt("vpc-id", v.ID)}}, 2},
		{"subnet-id", ec2.DescribeSubnetsInput{Filters: []types.Filter{flt("subnet-id", aws.ToString(a.Subnet.SubnetId))}}, 1},
		{"availability-zone", ec2.DescribeSubnetsInput{Filters: []types.Filter{flt("availability-zone", "us-east-1c")}}, 1},
		{"availability-zone-id", ec2.DescribeSubnetsInput{Filters: []types.Filter{flt("availability-zone-id", zid)}}, 1},
		{"tag", ec2.DescribeSubnetsInput{Filters: []types.Filter{flt("vpc-id", v.ID), flt("tag:jenkins-agents-subnet", "true")}}, 1},
		{"ids", ec2.DescribeSubnetsInput{SubnetIds: []string{aws.ToString(b.Subnet.SubnetId)}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.DescribeSubnets(ctx, &tc.in)
			mustNil(t, err)
			if len(out.Subnets) != tc.want {
				t.Fatalf("got %d subnets, want %d", len(out.Subnets), tc.want)
			}
		})
	}
	_, err = c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{"subnet-0000000000000000f"}})
	wantCode(t, err, "InvalidSubnetID.NotFound")

	_, err = c.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: b.Subnet.SubnetId})
	mustNil(t, err)
	_, err = c.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: b.Subnet.SubnetId})
	wantCode(t, err, "InvalidSubnetID.NotFound")
}

func TestZoneNamesDifferByAccount(t *testing.T) {
	w := newWorld(t)
	ids := map[string]bool{}
	for i := range 20 {
		account := fmt.Sprintf("%012d", 100000000000+i)
		ids[w.svc.AZID(account, usEast1, "us-east-1a")] = true
		// Every account's six names cover the six ids once.
		seen := map[string]bool{}
		for _, n := range zoneNames(usEast1) {
			id := w.svc.AZID(account, usEast1, n)
			if seen[id] || id == "" {
				t.Fatalf("account %s: %s maps to %q twice or empty", account, n, id)
			}
			seen[id] = true
		}
	}
	if len(ids) < 2 {
		t.Fatalf("us-east-1a is %v in every account: names must map to ids per account", ids)
	}
	if got := w.svc.AZID(hub, "eu-central-1", "eu-central-1a"); got[:len("euc1-az")] != "euc1-az" {
		t.Fatalf("eu-central-1a is %s", got)
	}
	if w.svc.AZID(hub, usEast1, "us-east-1q") != "" {
		t.Fatal("us-east-1q has a zone id")
	}
}

func TestSeedingValidates(t *testing.T) {
	w := newWorld(t)
	if _, err := w.svc.AddVPC("12", usEast1, VPC{CIDR: "10.0.0.0/16"}); err == nil {
		t.Fatal("short account accepted")
	}
	if _, err := w.svc.AddVPC(spoke, "mars-1", VPC{CIDR: "10.0.0.0/16"}); err == nil {
		t.Fatal("bad usEast1 accepted")
	}
	if _, err := w.svc.AddVPC(spoke, usEast1, VPC{CIDR: "10.0.0.0/33"}); err == nil {
		t.Fatal("bad CIDR accepted")
	}
	v, err := w.svc.AddVPC(spoke, usEast1, VPC{ID: "vpc-0aaaaaaaaaaaaaaaa", CIDR: "10.0.0.0/16", Tags: map[string]string{"a": "b"}})
	mustNil(t, err)
	if _, err := w.svc.AddVPC(spoke, usEast1, VPC{ID: v.ID, CIDR: "10.0.0.0/16"}); err == nil {
		t.Fatal("duplicate id accepted")
	}
	if _, err := w.svc.AddSubnet(spoke, usEast1, Subnet{VPCID: "vpc-0bbbbbbbbbbbbbbbb", CIDR: "10.0.0.0/24"}); err == nil {
		t.Fatal("subnet in a missing VPC accepted")
	}
	if _, err := w.svc.AddSubnet(spoke, usEast1, Subnet{VPCID: v.ID, CIDR: "10.0.0.0/24", AZ: "us-east-1a", AZID: "use1-az99"}); err == nil {
		t.Fatal("contradicting zone id accepted")
	}
	sn, err := w.svc.AddSubnet(spoke, usEast1, Subnet{VPCID: v.ID, CIDR: "10.0.0.0/24", AZ: "us-east-1d"})
	mustNil(t, err)
	if sn.AZID != w.svc.AZID(spoke, usEast1, "us-east-1d") {
		t.Fatalf("seeded zone id %s", sn.AZID)
	}
	if len(w.sink.events) != 0 {
		t.Fatalf("seeding emitted %d events", len(w.sink.events))
	}
}
