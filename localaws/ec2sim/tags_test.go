package ec2sim

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func tags(kv ...string) []types.Tag {
	var out []types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func vpcTags(t *testing.T, c *ec2.Client, id string) map[string]string {
	t.Helper()
	out, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{id}})
	mustNil(t, err)
	m := map[string]string{}
	for _, tg := range out.Vpcs[0].Tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

func TestTagsChangeWhatDescribeReturns(t *testing.T) {
	w := newWorld(t)
	c := w.client(spoke)
	v, err := w.svc.AddVPC(spoke, usEast1, VPC{CIDR: "10.0.0.0/16", Tags: map[string]string{"Name": "agents"}})
	mustNil(t, err)
	sn, err := w.svc.AddSubnet(spoke, usEast1, Subnet{VPCID: v.ID, CIDR: "10.0.0.0/24"})
	mustNil(t, err)

	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{v.ID, sn.ID}, Tags: tags("jenkins-agents", "true", "team", "ci")})
	mustNil(t, err)
	if got := vpcTags(t, c, v.ID); !reflect.DeepEqual(got, map[string]string{"Name": "agents", "jenkins-agents": "true", "team": "ci"}) {
		t.Fatalf("tags %v", got)
	}
	subnets, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{flt("tag:team", "ci")}})
	mustNil(t, err)
	if len(subnets.Subnets) != 1 {
		t.Fatalf("%d subnets tagged", len(subnets.Subnets))
	}

	// A value that does not match leaves the tag; a key alone removes it.
	_, err = c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{v.ID}, Tags: tags("jenkins-agents", "false")})
	mustNil(t, err)
	if got := vpcTags(t, c, v.ID); got["jenkins-agents"] != "true" {
		t.Fatalf("mismatched value removed the tag: %v", got)
	}
	_, err = c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{v.ID}, Tags: []types.Tag{{Key: aws.String("jenkins-agents")}}})
	mustNil(t, err)
	_, err = c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{v.ID}, Tags: tags("team", "ci")})
	mustNil(t, err)
	if got := vpcTags(t, c, v.ID); !reflect.DeepEqual(got, map[string]string{"Name": "agents"}) {
		t.Fatalf("tags after deletes %v", got)
	}

	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"vpc-0000000000000000f"}, Tags: tags("a", "b")})
	wantCode(t, err, "InvalidVpcID.NotFound")
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"i-0000000000000000f"}, Tags: tags("a", "b")})
	wantCode(t, err, "InvalidID")
	_, err = w.client(other).CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{v.ID}, Tags: tags("a", "b")})
	wantCode(t, err, "InvalidVpcID.NotFound")
	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{v.ID}, Tags: tags("aws:reserved", "b")})
	wantCode(t, err, "InvalidParameterValue")
}

func TestTagChangesEmitEvents(t *testing.T) {
	w := newWorld(t)
	c := w.client(spoke + "-automation")
	v, err := w.svc.AddVPC(spoke, usEast1, VPC{CIDR: "10.0.0.0/16", Tags: map[string]string{"Name": "agents"}})
	mustNil(t, err)

	_, err = c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{v.ID}, Tags: tags("jenkins-agents", "true")})
	mustNil(t, err)
	tagEvents := w.sink.busEvents("aws.tag")
	if len(tagEvents) != 1 {
		t.Fatalf("%d tag events", len(tagEvents))
	}
	e := tagEvents[0]
	if e.account != spoke || e.region != usEast1 || e.ev.DetailType != "Tag Change on Resource" || e.ev.Account != spoke {
		t.Fatalf("event envelope %+v", e)
	}
	if want := "arn:aws:ec2:us-east-1:" + spoke + ":vpc/" + v.ID; len(e.ev.Resources) != 1 || e.ev.Resources[0] != want {
		t.Fatalf("resources %v, want %s", e.ev.Resources, want)
	}
	d := decode(t, e.ev.Detail)
	if !reflect.DeepEqual(d["changed-tag-keys"], []any{"jenkins-agents"}) || d["service"] != "ec2" || d["resource-type"] != "vpc" || d["version"] != float64(4) {
		t.Fatalf("detail %v", d)
	}
	if !reflect.DeepEqual(d["tags"], map[string]any{"Name": "agents", "jenkins-agents": "true"}) {
		t.Fatalf("tags after the change %v", d["tags"])
	}

	trail := w.sink.busEvents("aws.ec2")
	if len(trail) != 1 || trail[0].ev.DetailType != "AWS API Call via CloudTrail" {
		t.Fatalf("CloudTrail events %+v", trail)
	}
	ct := decode(t, trail[0].ev.Detail)
	for k, want := range map[string]any{"eventSource": "ec2.amazonaws.com", "eventName": "CreateTags", "awsRegion": usEast1} {
		if ct[k] != want {
			t.Fatalf("%s = %v, want %v", k, ct[k], want)
		}
	}
	if path(ct, "userIdentity", "accountId") != spoke || path(ct, "userIdentity", "arn") != "arn:aws:sts::"+spoke+":assumed-role/automation/session" {
		t.Fatalf("userIdentity %v", ct["userIdentity"])
	}
	if path(ct, "requestParameters", "resourcesSet", "items", 0, "resourceId") != v.ID ||
		path(ct, "requestParameters", "tagSet", "items", 0, "key") != "jenkins-agents" ||
		path(ct, "requestParameters", "tagSet", "items", 0, "value") != "true" {
		t.Fatalf("requestParameters %v", ct["requestParameters"])
	}

	// Deleting the tag: the key is changed and absent from tags.
	w.sink.Reset()
	_, err = c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{v.ID}, Tags: []types.Tag{{Key: aws.String("jenkins-agents")}}})
	mustNil(t, err)
	tagEvents = w.sink.busEvents("aws.tag")
	if len(tagEvents) != 1 {
		t.Fatalf("%d tag events on delete", len(tagEvents))
	}
	d = decode(t, tagEvents[0].ev.Detail)
	if !reflect.DeepEqual(d["changed-tag-keys"], []any{"jenkins-agents"}) || !reflect.DeepEqual(d["tags"], map[string]any{"Name": "agents"}) {
		t.Fatalf("delete detail %v", d)
	}
	ct = decode(t, w.sink.busEvents("aws.ec2")[0].ev.Detail)
	if ct["eventName"] != "DeleteTags" || path(ct, "requestParameters", "tagSet", "items", 0, "value") != nil {
		t.Fatalf("DeleteTags record %v", ct)
	}
}

func TestVpcLifecycleCloudTrail(t *testing.T) {
	w := newWorld(t)
	c := w.client(spoke)
	created, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16"), TagSpecifications: tagSpec(types.ResourceTypeVpc, "jenkins-agents", "true")})
	mustNil(t, err)
	id := aws.ToString(created.Vpc.VpcId)
	trail := w.sink.busEvents("aws.ec2")
	if len(trail) != 1 {
		t.Fatalf("%d records", len(trail))
	}
	ct := decode(t, trail[0].ev.Detail)
	if ct["eventName"] != "CreateVpc" || path(ct, "responseElements", "vpc", "vpcId") != id {
		t.Fatalf("CreateVpc record %v", ct)
	}
	spec := path(ct, "requestParameters", "tagSpecificationSet", "items", 0)
	if path(spec, "resourceType") != "vpc" || path(spec, "tags", 0, "key") != "jenkins-agents" || path(spec, "tags", 0, "value") != "true" {
		t.Fatalf("tagSpecificationSet %v", spec)
	}

	sn, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(id), CidrBlock: aws.String("10.0.0.0/24")})
	mustNil(t, err)
	w.sink.Reset()
	_, err = c.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(id)})
	wantCode(t, err, "DependencyViolation")
	ct = decode(t, w.sink.busEvents("aws.ec2")[0].ev.Detail)
	if ct["eventName"] != "DeleteVpc" || ct["errorCode"] != "Client.DependencyViolation" || ct["errorMessage"] == "" || path(ct, "requestParameters", "vpcId") != id {
		t.Fatalf("failed DeleteVpc record %v", ct)
	}

	w.sink.Reset()
	_, err = c.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: sn.Subnet.SubnetId})
	mustNil(t, err)
	_, err = c.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String(id)})
	mustNil(t, err)
	trail = w.sink.busEvents("aws.ec2")
	if len(trail) != 2 {
		t.Fatalf("%d records", len(trail))
	}
	first, second := decode(t, trail[0].ev.Detail), decode(t, trail[1].ev.Detail)
	if first["eventName"] != "DeleteSubnet" || path(first, "requestParameters", "subnetId") != aws.ToString(sn.Subnet.SubnetId) || first["errorCode"] != nil {
		t.Fatalf("DeleteSubnet record %v", first)
	}
	if second["eventName"] != "DeleteVpc" || second["errorCode"] != nil {
		t.Fatalf("DeleteVpc record %v", second)
	}
	_, err = c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{id}})
	wantCode(t, err, "InvalidVpcID.NotFound")
	groups, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{flt("vpc-id", id)}})
	mustNil(t, err)
	if len(groups.SecurityGroups) != 0 {
		t.Fatal("the default group outlived its VPC")
	}
}
