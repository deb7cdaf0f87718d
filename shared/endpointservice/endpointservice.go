package endpointservice

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/arn"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
)

// EC2 is the part of the hub's EC2 API the service needs.
type EC2 interface {
	DescribeVpcEndpointServiceConfigurations(ctx context.Context, in *ec2.DescribeVpcEndpointServiceConfigurationsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointServiceConfigurationsOutput, error)
	DescribeVpcEndpointServicePermissions(ctx context.Context, in *ec2.DescribeVpcEndpointServicePermissionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointServicePermissionsOutput, error)
	ModifyVpcEndpointServicePermissions(ctx context.Context, in *ec2.ModifyVpcEndpointServicePermissionsInput, optFns ...func(*ec2.Options)) (*ec2.ModifyVpcEndpointServicePermissionsOutput, error)
}

// Info is what the spoke side needs to know about the service.
type Info struct {
	ID   string
	Name string
	// Region is the service's Region (the hub's).
	Region string
	// AZIDs are the Availability Zones the service offers in its Region.
	AZIDs              []string
	AcceptanceRequired bool
	// SupportedRegions are the Regions whose consumers may connect
	// (cross-Region PrivateLink; the service's own is always one).
	SupportedRegions []string
}

// crossRegionUnsupported are the Availability Zones where "Cross-Region
// access is not supported" (PrivateLink guide, "Share your services
// through AWS PrivateLink", section "Cross-Region access").
var crossRegionUnsupported = []string{"use1-az3", "usw1-az2", "apne1-az3", "apne2-az2", "apne2-az4"}

// Offers reports whether an endpoint in region may use the Availability
// Zone azID. In the service's Region, those are the zones it offers; an
// endpoint in another Region connects across Regions, which "does not
// require that providers and consumers use the same Availability Zones"
// (same section), so any zone of that Region will do but the few where
// cross-Region access is not supported.
func (i Info) Offers(region, azID string) bool {
	if region == i.Region {
		return slices.Contains(i.AZIDs, azID)
	}
	return !slices.Contains(crossRegionUnsupported, azID)
}

// ServiceRegionFor is the ServiceRegion an endpoint in region names: empty
// (the default, the current Region) in the service's own Region.
func (i Info) ServiceRegionFor(region string) string {
	if region == i.Region {
		return ""
	}
	return i.Region
}

// Supports reports whether consumers in region may connect.
func (i Info) Supports(region string) bool {
	return region == i.Region || slices.Contains(i.SupportedRegions, region)
}

// Service is the hub's endpoint service.
type Service struct {
	ec2    EC2
	id     string
	region string
	mode   config.PrincipalMode
	role   string // spoke role name

	mu   sync.Mutex
	info *Info
}

// New returns the service id in region, seen through the hub's EC2 client.
func New(client EC2, cfg config.Config, region string) *Service {
	return &Service{ec2: client, id: cfg.EndpointServiceID, region: region, mode: cfg.PrincipalMode, role: cfg.SpokeRoleName}
}

// Info describes the service once per cold start: its name and AZs change
// only when the operator redeploys, which starts new function instances.
func (s *Service) Info(ctx context.Context) (Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.info != nil {
		return *s.info, nil
	}
	out, err := s.ec2.DescribeVpcEndpointServiceConfigurations(ctx, &ec2.DescribeVpcEndpointServiceConfigurationsInput{
		ServiceIds: []string{s.id},
	})
	if err != nil {
		return Info{}, fmt.Errorf("describing endpoint service %s, %w", s.id, err)
	}
	if len(out.ServiceConfigurations) != 1 {
		return Info{}, fmt.Errorf("describing endpoint service %s, found %d services", s.id, len(out.ServiceConfigurations))
	}
	c := out.ServiceConfigurations[0]
	info := Info{ID: s.id, Name: aws.ToString(c.ServiceName), Region: s.region, AZIDs: slices.Sorted(slices.Values(c.AvailabilityZoneIds)),
		AcceptanceRequired: aws.ToBool(c.AcceptanceRequired)}
	for _, r := range c.SupportedRegions {
		info.SupportedRegions = append(info.SupportedRegions, aws.ToString(r.Region))
	}
	if info.Name == "" || len(info.AZIDs) == 0 {
		return Info{}, fmt.Errorf("describing endpoint service %s, it has no name or no Availability Zone IDs", s.id)
	}
	s.info = &info
	return info, nil
}

// Principal is the principal the service allows for a spoke account.
func (s *Service) Principal(account string) string {
	switch s.mode {
	case config.PrincipalAccount:
		return arn.Root(s.region, account)
	case config.PrincipalAny:
		return "*"
	}
	return arn.Role(s.region, account, s.role)
}

// Principals lists the allowed principals.
func (s *Service) Principals(ctx context.Context) ([]string, error) {
	var out []string
	p := ec2.NewDescribeVpcEndpointServicePermissionsPaginator(s.ec2, &ec2.DescribeVpcEndpointServicePermissionsInput{
		ServiceId: aws.String(s.id),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing principals of %s, %w", s.id, err)
		}
		for _, a := range page.AllowedPrincipals {
			out = append(out, aws.ToString(a.Principal))
		}
	}
	return out, nil
}

// Change adds and removes principals in one call (all permission changes
// land on the hub's throttling bucket, so callers batch them). Adding a
// present principal or removing an absent one is harmless.
func (s *Service) Change(ctx context.Context, add, remove []string) error {
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	_, err := s.ec2.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{
		ServiceId:               aws.String(s.id),
		AddAllowedPrincipals:    add,
		RemoveAllowedPrincipals: remove,
	})
	if err != nil {
		return fmt.Errorf("changing principals of %s (add %v, remove %v), %w", s.id, add, remove, err)
	}
	return nil
}

// Allow makes sure the account's principal is allowed, writing only when
// it is not.
func (s *Service) Allow(ctx context.Context, account string) (changed bool, err error) {
	want := s.Principal(account)
	have, err := s.Principals(ctx)
	if err != nil {
		return false, err
	}
	if slices.Contains(have, want) {
		return false, nil
	}
	return true, s.Change(ctx, []string{want}, nil)
}

// Revoke removes the account's principal, unless it is "*", which belongs
// to no account.
func (s *Service) Revoke(ctx context.Context, account string) (changed bool, err error) {
	want := s.Principal(account)
	if want == "*" {
		return false, nil
	}
	have, err := s.Principals(ctx)
	if err != nil {
		return false, err
	}
	if !slices.Contains(have, want) {
		return false, nil
	}
	return true, s.Change(ctx, nil, []string{want})
}
