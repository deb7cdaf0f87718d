package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// managedTag marks what the product created (shared/agentvpc.TagManaged);
// repeated here because this package reads the world as an operator would,
// through the AWS APIs only.
const managedTag = "jenkins-agent-vpcs:managed"

// AgentVPC names a VPC in a member account; Region is where the VPC is,
// empty for the hub's Region. Its parameters keep one namespace,
// account/VPC, whatever the Region.
type AgentVPC struct{ Account, VPC, Region string }

func (v AgentVPC) String() string { return v.Account + "/" + v.VPC }

// VPCStatus is what an operator (or Jenkins) sees of one VPC, read through
// the AWS APIs as the account administrators.
type VPCStatus struct {
	AgentVPC
	Tagged         bool
	Endpoints      []Endpoint // managed endpoints in the VPC (any state but deleted)
	SecurityGroups int        // managed security groups in the VPC
	Principal      bool       // the spoke principal is allowed on the service
	Tunnel         string     // the tunnel parameter ("" when absent)
	Document       map[string]any
}

// Endpoint is one interface endpoint as its owner sees it.
type Endpoint struct {
	ID, State string
	Subnets   []string
	DNS       string // the regional DNS name
}

// Ready reports the converged state of a tagged VPC: one available endpoint,
// the principal, and a tunnel parameter pointing at the endpoint.
func (st VPCStatus) Ready(port string) bool {
	return st.Tagged && len(st.Endpoints) == 1 && strings.EqualFold(st.Endpoints[0].State, "available") &&
		st.SecurityGroups == 2 && st.Principal && st.Tunnel == st.Endpoints[0].DNS+":"+port
}

// Clean reports that nothing of the product is left for the VPC.
func (st VPCStatus) Clean() bool {
	return len(st.Endpoints) == 0 && st.SecurityGroups == 0 && st.Tunnel == "" && st.Document == nil
}

// ParameterPath is where the VPC's parameters are published.
func (s *Stack) ParameterPath(v AgentVPC) string {
	return s.Parameters["ParameterPrefix"] + "/" + v.Account + "/" + v.VPC
}

// EC2 is an EC2 client as an account's administrator in the hub's Region.
func (s *Stack) EC2(account string) *ec2.Client { return s.EC2In(account, s.Region) }

// EC2In is an EC2 client as an account's administrator in a Region.
func (s *Stack) EC2In(account, region string) *ec2.Client {
	return ec2.NewFromConfig(AdminConfig(s.URL, region, account))
}

// RegionOf is the Region a VPC is in: its own, else the hub's.
func (s *Stack) RegionOf(v AgentVPC) string { return or(v.Region, s.Region) }

// SSM is an SSM client as an account's administrator.
func (s *Stack) SSM(account string) *ssm.Client {
	return ssm.NewFromConfig(AdminConfig(s.URL, s.Region, account))
}

// Status reads one VPC's state: the VPC, its endpoints and groups in its
// Region; the service's permissions and the parameters in the hub's.
func (s *Stack) Status(ctx context.Context, v AgentVPC) (VPCStatus, error) {
	st := VPCStatus{AgentVPC: v}
	member := s.EC2In(v.Account, s.RegionOf(v))
	vpcs, err := member.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{v.VPC}})
	if err != nil {
		return st, fmt.Errorf("describing %s, %w", v, err)
	}
	for _, vpc := range vpcs.Vpcs {
		for _, t := range vpc.Tags {
			if aws.ToString(t.Key) == s.Parameters["TagKey"] && strings.EqualFold(aws.ToString(t.Value), s.Parameters["TagValue"]) {
				st.Tagged = true
			}
		}
	}
	managed := []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{v.VPC}}, {Name: aws.String("tag:" + managedTag), Values: []string{"true"}}}
	eps, err := member.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: managed})
	if err != nil {
		return st, fmt.Errorf("describing endpoints of %s, %w", v, err)
	}
	for _, e := range eps.VpcEndpoints {
		if !strings.EqualFold(string(e.State), "deleted") {
			st.Endpoints = append(st.Endpoints, endpointOf(e))
		}
	}
	sgs, err := member.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: managed})
	if err != nil {
		return st, fmt.Errorf("describing security groups of %s, %w", v, err)
	}
	st.SecurityGroups = len(sgs.SecurityGroups)
	perms, err := s.EC2(s.Hub).DescribeVpcEndpointServicePermissions(ctx, &ec2.DescribeVpcEndpointServicePermissionsInput{ServiceId: aws.String(s.Parameters["EndpointServiceId"])})
	if err != nil {
		return st, fmt.Errorf("describing the service permissions, %w", err)
	}
	for _, p := range perms.AllowedPrincipals {
		arn := aws.ToString(p.Principal)
		if arn == "*" || strings.Contains(arn, "::"+v.Account+":") {
			st.Principal = true
		}
	}
	path := s.ParameterPath(v)
	params, err := s.SSM(s.Hub).GetParameters(ctx, &ssm.GetParametersInput{Names: []string{path + "/tunnel", path + "/document"}})
	if err != nil {
		return st, fmt.Errorf("reading the parameters of %s, %w", v, err)
	}
	for _, p := range params.Parameters {
		switch aws.ToString(p.Name) {
		case path + "/tunnel":
			st.Tunnel = aws.ToString(p.Value)
		case path + "/document":
			st.Document = map[string]any{}
			if err := json.Unmarshal([]byte(aws.ToString(p.Value)), &st.Document); err != nil {
				return st, fmt.Errorf("decoding the document parameter of %s, %w", v, err)
			}
		}
	}
	return st, nil
}

// endpointOf is an endpoint as Status reports it: its regional DNS name and
// sorted subnets.
func endpointOf(e ec2types.VpcEndpoint) Endpoint {
	ep := Endpoint{ID: aws.ToString(e.VpcEndpointId), State: string(e.State), Subnets: e.SubnetIds}
	for _, d := range e.DnsEntries {
		name := aws.ToString(d.DnsName)
		// The regional name has no AZ label: vpce-<id>-<suffix>.vpce-svc-...
		if first, _, _ := strings.Cut(name, "."); strings.Count(first, "-") == 2 {
			ep.DNS = name
		}
	}
	slices.Sort(ep.Subnets)
	return ep
}

// Connection returns the hub's view of an endpoint's connection state.
func (s *Stack) Connection(ctx context.Context, endpointID string) (string, error) {
	out, err := s.EC2(s.Hub).DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{
		Filters: []ec2types.Filter{{Name: aws.String("vpc-endpoint-id"), Values: []string{endpointID}}}})
	if err != nil {
		return "", fmt.Errorf("describing the connection of %s, %w", endpointID, err)
	}
	for _, c := range out.VpcEndpointConnections {
		return string(c.VpcEndpointState), nil
	}
	return "", nil
}

// Tag sets or removes the agent tag on a VPC as its account's administrator,
// in the VPC's Region.
func (s *Stack) Tag(ctx context.Context, v AgentVPC, on bool) error {
	key := s.Parameters["TagKey"]
	member := s.EC2In(v.Account, s.RegionOf(v))
	var err error
	if on {
		_, err = member.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{v.VPC},
			Tags: []ec2types.Tag{{Key: aws.String(key), Value: aws.String(s.Parameters["TagValue"])}}})
	} else {
		_, err = member.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{v.VPC}, Tags: []ec2types.Tag{{Key: aws.String(key)}}})
	}
	if err != nil {
		return fmt.Errorf("tagging %s, %w", v, err)
	}
	return nil
}
