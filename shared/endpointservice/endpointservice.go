package endpointservice

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

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
	// Zones are the Availability Zone IDs an endpoint in another Region
	// may use, by Region, as the consumers there see the service (see
	// RemoteZones); only the Regions looked up are present.
	Zones map[string][]string
}

// ZonesIn returns the Availability Zone IDs an endpoint in region may
// use, and whether they are known.
func (i Info) ZonesIn(region string) ([]string, bool) {
	if region == i.Region {
		return i.AZIDs, true
	}
	z, ok := i.Zones[region]
	return z, ok
}

// ServiceRegionFor is the ServiceRegion an endpoint in region names: empty
// (the default, the current Region) in the service's own Region.
func (i Info) ServiceRegionFor(region string) string {
	if region == i.Region {
		return ""
	}
	return i.Region
}

// WithZones returns the information with region's zones set.
func (i Info) WithZones(region string, zones []string) Info {
	m := make(map[string][]string, len(i.Zones)+1)
	maps.Copy(m, i.Zones)
	m[region] = zones
	i.Zones = m
	return i
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

	mu    sync.Mutex
	info  *Info
	zones map[string]remoteZones // by consumer Region
}

// remoteZones is one answer of RemoteZones, kept for zonesTTL.
type remoteZones struct {
	ids []string
	at  time.Time
}

// zonesTTL is how long a Region's zones are kept: they change only when
// AWS adds a zone, and a warm function instance lives for hours.
const zonesTTL = time.Hour

// Consumer is the part of a consumer account's EC2 API that RemoteZones
// uses (the spoke role's client in the consumer's Region).
type Consumer interface {
	DescribeVpcEndpointServices(ctx context.Context, in *ec2.DescribeVpcEndpointServicesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointServicesOutput, error)
}

// RemoteZones returns the Availability Zone IDs an endpoint in region
// (not the service's) may use: what DescribeVpcEndpointServices answers
// there for the service named with its ServiceRegion, as the consumer
// sees it. AZ IDs name the same physical zones in every account, so one
// answer per Region serves every account, and it is kept for an hour.
// A service the consumer does not see yet (its principal was allowed a
// moment ago, and permissions reach the consumer's view late) is an
// error naming it; the caller retries.
func (s *Service) RemoteZones(ctx context.Context, client Consumer, info Info, region string) ([]string, error) {
	s.mu.Lock()
	z, ok := s.zones[region]
	s.mu.Unlock()
	if ok && time.Since(z.at) < zonesTTL {
		return z.ids, nil
	}
	out, err := client.DescribeVpcEndpointServices(ctx, &ec2.DescribeVpcEndpointServicesInput{
		ServiceNames: []string{info.Name}, ServiceRegions: []string{info.Region}})
	if err != nil {
		return nil, fmt.Errorf("describing endpoint service %s from %s, %w", info.Name, region, err)
	}
	var ids []string
	for _, d := range out.ServiceDetails {
		if aws.ToString(d.ServiceName) == info.Name {
			ids = slices.Sorted(slices.Values(d.AvailabilityZoneIds))
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("endpoint service %s (in %s) is not visible from %s with any Availability Zone yet", info.Name, info.Region, region)
	}
	s.mu.Lock()
	if s.zones == nil {
		s.zones = map[string]remoteZones{}
	}
	s.zones[region] = remoteZones{ids: ids, at: time.Now()}
	s.mu.Unlock()
	return ids, nil
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
