package agentvpc

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/awserr"
)

// EC2 is the part of a spoke account's EC2 API the product uses, with the
// SDK's signatures so *ec2.Client and the fakes both satisfy it.
type EC2 interface {
	DescribeVpcs(ctx context.Context, in *ec2.DescribeVpcsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
	DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	CreateSecurityGroup(ctx context.Context, in *ec2.CreateSecurityGroupInput, optFns ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error)
	AuthorizeSecurityGroupIngress(ctx context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, optFns ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error)
	RevokeSecurityGroupIngress(ctx context.Context, in *ec2.RevokeSecurityGroupIngressInput, optFns ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupIngressOutput, error)
	DeleteSecurityGroup(ctx context.Context, in *ec2.DeleteSecurityGroupInput, optFns ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error)
	DescribeVpcEndpoints(ctx context.Context, in *ec2.DescribeVpcEndpointsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error)
	CreateVpcEndpoint(ctx context.Context, in *ec2.CreateVpcEndpointInput, optFns ...func(*ec2.Options)) (*ec2.CreateVpcEndpointOutput, error)
	ModifyVpcEndpoint(ctx context.Context, in *ec2.ModifyVpcEndpointInput, optFns ...func(*ec2.Options)) (*ec2.ModifyVpcEndpointOutput, error)
	DeleteVpcEndpoints(ctx context.Context, in *ec2.DeleteVpcEndpointsInput, optFns ...func(*ec2.Options)) (*ec2.DeleteVpcEndpointsOutput, error)
	CreateTags(ctx context.Context, in *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
	DeleteTags(ctx context.Context, in *ec2.DeleteTagsInput, optFns ...func(*ec2.Options)) (*ec2.DeleteTagsOutput, error)
}

func filter(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

// ManagedFilter selects what the product created.
func ManagedFilter() types.Filter { return filter("tag:"+TagManaged, "true") }

// Observe reads one VPC: its tags and subnets, and the managed groups and
// endpoints in it (four describe calls).
func Observe(ctx context.Context, client EC2, account, region, vpcID string) (Observed, error) {
	o := Observed{Account: account, Region: region, VPCID: vpcID}
	vpcs, err := client.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpcID}})
	if awserr.IsNotFound(err) {
		return o, nil
	}
	if err != nil {
		return o, fmt.Errorf("describing %s, %w", vpcID, err)
	}
	if len(vpcs.Vpcs) == 0 {
		return o, nil
	}
	o.Exists = true
	o.Tags = TagMap(vpcs.Vpcs[0].Tags)

	subnets := ec2.NewDescribeSubnetsPaginator(client, &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("vpc-id", vpcID)}})
	for subnets.HasMorePages() {
		page, err := subnets.NextPage(ctx)
		if err != nil {
			return o, fmt.Errorf("describing subnets of %s, %w", vpcID, err)
		}
		for _, s := range page.Subnets {
			o.Subnets = append(o.Subnets, SubnetOf(s))
		}
	}
	groups := ec2.NewDescribeSecurityGroupsPaginator(client, &ec2.DescribeSecurityGroupsInput{
		Filters: []types.Filter{filter("vpc-id", vpcID), ManagedFilter()}})
	for groups.HasMorePages() {
		page, err := groups.NextPage(ctx)
		if err != nil {
			return o, fmt.Errorf("describing security groups of %s, %w", vpcID, err)
		}
		for _, g := range page.SecurityGroups {
			o.Groups = append(o.Groups, GroupOf(g))
		}
	}
	endpoints, err := DescribeEndpoints(ctx, client, filter("vpc-id", vpcID), ManagedFilter())
	if err != nil {
		return o, fmt.Errorf("describing endpoints of %s, %w", vpcID, err)
	}
	o.Endpoints = endpoints
	return o, nil
}

// DescribeEndpoints lists endpoints matching filters, all pages.
func DescribeEndpoints(ctx context.Context, client EC2, filters ...types.Filter) ([]Endpoint, error) {
	var out []Endpoint
	p := ec2.NewDescribeVpcEndpointsPaginator(client, &ec2.DescribeVpcEndpointsInput{Filters: filters})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range page.VpcEndpoints {
			out = append(out, EndpointOf(e))
		}
	}
	return out, nil
}

// TagMap turns EC2 tags into a map.
func TagMap(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// SubnetOf converts an SDK subnet.
func SubnetOf(s types.Subnet) Subnet {
	return Subnet{ID: aws.ToString(s.SubnetId), AZ: aws.ToString(s.AvailabilityZone),
		AZID: aws.ToString(s.AvailabilityZoneId), Tags: TagMap(s.Tags)}
}

// GroupOf converts an SDK security group.
func GroupOf(g types.SecurityGroup) SecurityGroup {
	tags := TagMap(g.Tags)
	sg := SecurityGroup{ID: aws.ToString(g.GroupId), Name: aws.ToString(g.GroupName), Role: tags[TagRole]}
	sg.Created, _ = time.Parse(time.RFC3339, tags[TagCreated])
	for _, p := range g.IpPermissions {
		base := Rule{Protocol: aws.ToString(p.IpProtocol), FromPort: aws.ToInt32(p.FromPort), ToPort: aws.ToInt32(p.ToPort)}
		for _, pair := range p.UserIdGroupPairs {
			r := base
			r.SourceGroup = aws.ToString(pair.GroupId)
			sg.Ingress = append(sg.Ingress, r)
		}
		for _, ipr := range p.IpRanges {
			r := base
			r.CIDR = aws.ToString(ipr.CidrIp)
			sg.Ingress = append(sg.Ingress, r)
		}
	}
	return sg
}

// EndpointOf converts an SDK endpoint.
func EndpointOf(e types.VpcEndpoint) Endpoint {
	ep := Endpoint{ID: aws.ToString(e.VpcEndpointId), VPCID: aws.ToString(e.VpcId), State: string(e.State), ServiceName: aws.ToString(e.ServiceName),
		SubnetIDs: e.SubnetIds, Created: aws.ToTime(e.CreationTimestamp)}
	for _, g := range e.Groups {
		ep.GroupIDs = append(ep.GroupIDs, aws.ToString(g.GroupId))
	}
	for _, d := range e.DnsEntries {
		ep.DNSNames = append(ep.DNSNames, aws.ToString(d.DnsName))
	}
	return ep
}
