package localstack

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
)

// Breakage is a hand-made drift of a converged agent VPC, as people cause
// them: the demo shows each being repaired by one reconcile, and e2e proves it.
type Breakage struct {
	Name  string // short, for tables and test names
	Story string // what a person did
	Apply func(ctx context.Context, s *Stack, v AgentVPC) error
}

// Breakages are the demo's drifts, each repaired by one reconcile.
func Breakages() []Breakage {
	bs := []Breakage{
		{Name: "endpoint-deleted", Story: "a member admin deletes the endpoint by hand", Apply: deleteEndpoint},
		{Name: "parameter-overwritten", Story: "someone overwrites the tunnel parameter", Apply: overwriteTunnel},
		{Name: "principal-removed", Story: "a hub admin removes the account's principal from the service", Apply: removePrincipal},
		{Name: "connection-rejected", Story: "a hub admin rejects the VPC's connection", Apply: rejectConnection},
	}
	for i := range bs {
		apply := bs[i].Apply
		// A person looks, then changes, at human speed: the local AWS's
		// clock passes its consistency window before the look and after
		// the change, so each reads what is there (as an admin would, a
		// few seconds apart), not a lagging view.
		bs[i].Apply = func(ctx context.Context, s *Stack, v AgentVPC) error {
			s.Later()
			defer s.Later()
			return apply(ctx, s, v)
		}
	}
	return bs
}

// Later lets time pass on the local AWS's clock beyond EC2's consistency
// window, as between a change and a person's next look (or the next
// scheduled sweep), without stopping the clock.
func (s *Stack) Later() {
	s.AWS.Clock().Skip(localaws.DefaultConsistencyWindow + time.Second)
}

func (s *Stack) endpointOf(ctx context.Context, v AgentVPC) (string, error) {
	st, err := s.Status(ctx, v)
	if err != nil {
		return "", err
	}
	if len(st.Endpoints) == 0 {
		return "", fmt.Errorf("%s has no managed endpoint", v)
	}
	return st.Endpoints[0].ID, nil
}

func deleteEndpoint(ctx context.Context, s *Stack, v AgentVPC) error {
	id, err := s.endpointOf(ctx, v)
	if err != nil {
		return err
	}
	_, err = s.EC2In(v.Account, s.RegionOf(v)).DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}})
	return err
}

func overwriteTunnel(ctx context.Context, s *Stack, v AgentVPC) error {
	_, err := s.SSM(s.Hub).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(s.ParameterPath(v) + "/tunnel"),
		Value: aws.String("jenkins.example.com:50000"), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)})
	return err
}

func removePrincipal(ctx context.Context, s *Stack, v AgentVPC) error {
	hub := s.EC2(s.Hub)
	service := aws.String(s.Parameters["EndpointServiceId"])
	perms, err := hub.DescribeVpcEndpointServicePermissions(ctx, &ec2.DescribeVpcEndpointServicePermissionsInput{ServiceId: service})
	if err != nil {
		return err
	}
	var remove []string
	for _, p := range perms.AllowedPrincipals {
		if arn := aws.ToString(p.Principal); strings.Contains(arn, "::"+v.Account+":") {
			remove = append(remove, arn)
		}
	}
	if len(remove) == 0 {
		return fmt.Errorf("no principal of %s on the service", v.Account)
	}
	_, err = hub.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: service, RemoveAllowedPrincipals: remove})
	return err
}

func rejectConnection(ctx context.Context, s *Stack, v AgentVPC) error {
	id, err := s.endpointOf(ctx, v)
	if err != nil {
		return err
	}
	out, err := s.EC2(s.Hub).RejectVpcEndpointConnections(ctx, &ec2.RejectVpcEndpointConnectionsInput{
		ServiceId: aws.String(s.Parameters["EndpointServiceId"]), VpcEndpointIds: []string{id}})
	if err == nil && len(out.Unsuccessful) > 0 {
		err = fmt.Errorf("rejecting %s: %s", id, aws.ToString(out.Unsuccessful[0].Error.Message))
	}
	return err
}
