package fake

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Endpoint states as EC2 puts them on the wire. The SDK's constants
// (types.StatePendingAcceptance = "PendingAcceptance", ...) do not match the
// wire casing, so the fake deliberately returns these instead.
const (
	statePendingAcceptance = "pendingAcceptance"
	statePending           = "pending"
	stateAvailable         = "available"
	stateRejected          = "rejected"
	stateDeleting          = "deleting"
	stateDeleted           = "deleted"
	// "failed" and "expired" come only from World.SetEndpointState.
)

// ServiceSpec describes an endpoint service (the hub's NLB-backed PrivateLink service).
type ServiceSpec struct {
	AcceptanceRequired  bool
	AvailabilityZoneIDs []string // zones offered, by AZ ID (e.g. "use1-az1")
	AllowedPrincipals   []string // root, role or user ARNs, or "*"
	Ports               []int32  // NLB listener ports; informational, EC2 does not report them
	PrivateDNSName      string   // "" when the service offers none (then PrivateDnsEnabled must be false)
	Tags                map[string]string
}

type service struct {
	id, name, owner string
	seq             int64
	acceptance      bool
	azIDs           []string
	permissions     []permission
	ports           []int32
	privateDNS      string
	nlb             string
}

type permission struct {
	principal, id string
}

type endpoint struct {
	id, owner, vpc, service, serviceName, connection string
	seq                                              int64
	subnets                                          []string
	enis                                             map[string]string // subnet -> ENI
	groups                                           []string
	privateDNS                                       bool
	label                                            string // the random part of the DNS names
	created                                          time.Time
	state                                            string
	since                                            time.Time
}

type clientToken struct {
	endpoint, fingerprint string
	at                    time.Time
}

// AddEndpointService seeds an endpoint service owned by acct and returns its
// id and name (com.amazonaws.vpce.<region>.vpce-svc-...).
func (w *World) AddEndpointService(acct string, s ServiceSpec) (id, name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	a := w.account(acct)
	id = w.hexID("vpce-svc-")
	name = fmt.Sprintf("com.amazonaws.vpce.%s.%s", w.region, id)
	svc := &service{
		id: id, name: name, owner: acct, seq: w.nextSeq(), acceptance: s.AcceptanceRequired,
		azIDs: slices.Clone(s.AvailabilityZoneIDs), ports: slices.Clone(s.Ports), privateDNS: s.PrivateDNSName,
		nlb: fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:loadbalancer/net/jenkins/%s", w.region, acct, w.alnum(16, "0123456789abcdef")),
	}
	sort.Strings(svc.azIDs)
	for _, p := range s.AllowedPrincipals {
		svc.permissions = append(svc.permissions, permission{principal: p, id: w.hexID("vpce-svc-perm-")})
	}
	w.services[id] = svc
	a.tags[id] = copyTags(s.Tags)
	return id, name
}

// SetEndpointState forces an endpoint (owned by acct) into state, as if AWS had
// moved it; pending and deleting move on after the transition delay.
// It panics when the endpoint does not exist.
func (w *World) SetEndpointState(acct, id, state string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ep := w.account(acct).endpoints[id]
	if ep == nil {
		panic(fmt.Sprintf("fake: SetEndpointState: no endpoint %s in account %s", id, acct))
	}
	ep.state, ep.since = state, w.clock.Now()
}

// EndpointState returns the current wire state of an endpoint, "" when unknown.
func (w *World) EndpointState(acct, id string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ep := w.account(acct).endpoints[id]
	if ep == nil {
		return ""
	}
	w.settle(ep)
	return ep.state
}

// AllowedPrincipals returns the principals an endpoint service allows, sorted.
func (w *World) AllowedPrincipals(serviceID string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	if s := w.services[serviceID]; s != nil {
		for _, p := range s.permissions {
			out = append(out, p.principal)
		}
	}
	sort.Strings(out)
	return out
}

// settle moves an endpoint through the timed transitions the clock has passed.
func (w *World) settle(ep *endpoint) {
	now := w.clock.Now()
	for {
		next := ""
		switch ep.state {
		case statePending:
			next = stateAvailable
		case stateDeleting:
			next = stateDeleted
		}
		if next == "" || now.Before(ep.since.Add(w.delay)) {
			return
		}
		ep.state, ep.since = next, ep.since.Add(w.delay)
	}
}

func (w *World) settleAll() {
	for _, a := range w.accounts {
		for _, ep := range a.endpoints {
			w.settle(ep)
		}
	}
}

var vpceHostedZones = map[string]string{
	"us-east-1": "Z7HUB22UULQXV",
	"us-west-2": "Z1YSA3EXCYUU9Z",
	"eu-west-1": "Z38GZ743OKFT7T",
}

// dnsEntries renders the endpoint's DNS names as EC2 does, except for the
// order: a zonal name comes first, so callers must pick the regional one by name.
func (w *World) dnsEntries(a *account, ep *endpoint) []types.DnsEntry {
	zone := vpceHostedZones[w.region]
	if zone == "" {
		zone = "ZFAKEVPCE0000"
	}
	suffix := fmt.Sprintf("%s.%s.vpce.amazonaws.com", strings.TrimPrefix(ep.serviceName, fmt.Sprintf("com.amazonaws.vpce.%s.", w.region)), w.region)
	regional := types.DnsEntry{DnsName: aws.String(fmt.Sprintf("%s-%s.%s", ep.id, ep.label, suffix)), HostedZoneId: aws.String(zone)}
	var zonal []types.DnsEntry
	for _, sid := range ep.subnets {
		az := ""
		if s := a.subnets[sid]; s != nil {
			az = s.az
		}
		zonal = append(zonal, types.DnsEntry{DnsName: aws.String(fmt.Sprintf("%s-%s-%s.%s", ep.id, ep.label, az, suffix)), HostedZoneId: aws.String(zone)})
	}
	if len(zonal) == 0 {
		return []types.DnsEntry{regional}
	}
	return append([]types.DnsEntry{zonal[0], regional}, zonal[1:]...)
}

func (w *World) endpointOut(a *account, ep *endpoint) types.VpcEndpoint {
	out := types.VpcEndpoint{
		VpcEndpointId: aws.String(ep.id), VpcEndpointType: types.VpcEndpointTypeInterface, VpcId: aws.String(ep.vpc),
		ServiceName: aws.String(ep.serviceName), State: types.State(ep.state), OwnerId: aws.String(a.id),
		SubnetIds: slices.Clone(ep.subnets), PrivateDnsEnabled: aws.Bool(ep.privateDNS), RequesterManaged: aws.Bool(false),
		CreationTimestamp: aws.Time(ep.created), IpAddressType: types.IpAddressTypeIpv4,
		DnsOptions: &types.DnsOptions{DnsRecordIpType: types.DnsRecordIpTypeIpv4},
		DnsEntries: w.dnsEntries(a, ep), Tags: ec2Tags(a.tags[ep.id]),
	}
	for _, sid := range ep.subnets {
		out.NetworkInterfaceIds = append(out.NetworkInterfaceIds, ep.enis[sid])
	}
	for _, gid := range ep.groups {
		name := ""
		if g := a.groups[gid]; g != nil {
			name = g.name
		}
		out.Groups = append(out.Groups, types.SecurityGroupIdentifier{GroupId: aws.String(gid), GroupName: aws.String(name)})
	}
	return out
}

func (e *EC2) DescribeVpcEndpoints(ctx context.Context, in *ec2.DescribeVpcEndpointsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
	return call(e.view, ctx, "ec2", "DescribeVpcEndpoints", func(a *account) (*ec2.DescribeVpcEndpointsOutput, error) {
		w := e.w
		w.settleAll()
		for _, id := range in.VpcEndpointIds {
			if _, ok := a.endpoints[id]; !ok {
				return nil, apiError("InvalidVpcEndpointId.NotFound", "The VpcEndpoint Id '%s' does not exist", id)
			}
		}
		var found []*endpoint
		for _, ep := range a.endpoints {
			if len(in.VpcEndpointIds) > 0 && !slices.Contains(in.VpcEndpointIds, ep.id) {
				continue
			}
			ok, err := matches(in.Filters, attrs{
				"vpc-id": {ep.vpc}, "vpc-endpoint-id": {ep.id}, "service-name": {ep.serviceName},
				"vpc-endpoint-state": {ep.state}, "vpc-endpoint-type": {string(types.VpcEndpointTypeInterface)},
				"ip-address-type": {string(types.IpAddressTypeIpv4)},
			}, a.tags[ep.id])
			if err != nil {
				return nil, err
			}
			if ok {
				found = append(found, ep)
			}
		}
		items, next, err := page(found, func(ep *endpoint) string { return seqKey(ep.seq) }, in.MaxResults, in.NextToken, endpointPaging)
		if err != nil {
			return nil, err
		}
		out := &ec2.DescribeVpcEndpointsOutput{NextToken: next, VpcEndpoints: []types.VpcEndpoint{}}
		for _, ep := range items {
			out.VpcEndpoints = append(out.VpcEndpoints, w.endpointOut(a, ep))
		}
		return out, nil
	})
}

// serviceFor finds the service a caller may connect to by name. A service
// that exists but does not allow the caller is, to the caller, not there.
func (w *World) serviceFor(name, principal string) *service {
	for _, s := range w.services {
		if s.name != name {
			continue
		}
		for _, p := range s.permissions {
			if allows(p.principal, principal) {
				return s
			}
		}
	}
	return nil
}

// placement checks an endpoint's subnets (at most one per AZ, only AZs the
// service offers, all in the VPC) and security groups (all in the VPC).
func (w *World) placement(a *account, vpcID string, svc *service, subnets, groups []string) error {
	zones := map[string]string{}
	for _, sid := range subnets {
		s := a.subnets[sid]
		switch {
		case s == nil:
			return apiError("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", sid)
		case s.vpc != vpcID:
			return apiError("InvalidParameterValue", "The subnet '%s' does not belong to VPC '%s'", sid, vpcID)
		case !slices.Contains(svc.azIDs, s.azID):
			return apiError("InvalidParameterValue", "The Vpc Endpoint Service '%s' does not support the availability zone of the subnet: '%s'.", svc.name, sid)
		}
		if other, ok := zones[s.azID]; ok {
			return apiError("DuplicateSubnetsInSameZone", "Found another VPC endpoint subnet in the availability zone of %s (%s). VPC endpoint subnets should be in different availability zones supported by the VPC endpoint service.", sid, other)
		}
		zones[s.azID] = sid
	}
	for _, gid := range groups {
		g := a.groups[gid]
		switch {
		case g == nil:
			return apiError("InvalidGroup.NotFound", "The security group '%s' does not exist", gid)
		case g.vpc != vpcID:
			return apiError("InvalidParameterValue", "The security group '%s' does not belong to VPC '%s'", gid, vpcID)
		}
	}
	return nil
}

func fingerprint(in *ec2.CreateVpcEndpointInput) string {
	subnets, groups := slices.Clone(in.SubnetIds), slices.Clone(in.SecurityGroupIds)
	sort.Strings(subnets)
	sort.Strings(groups)
	var tags []string
	for _, s := range in.TagSpecifications {
		for _, t := range s.Tags {
			tags = append(tags, string(s.ResourceType)+"="+aws.ToString(t.Key)+"="+aws.ToString(t.Value))
		}
	}
	sort.Strings(tags)
	dns := "default"
	if in.PrivateDnsEnabled != nil {
		dns = fmt.Sprint(*in.PrivateDnsEnabled)
	}
	return strings.Join([]string{aws.ToString(in.VpcId), aws.ToString(in.ServiceName), string(in.VpcEndpointType),
		strings.Join(subnets, ","), strings.Join(groups, ","), dns, strings.Join(tags, ","), aws.ToString(in.PolicyDocument)}, "|")
}

func (e *EC2) CreateVpcEndpoint(ctx context.Context, in *ec2.CreateVpcEndpointInput, optFns ...func(*ec2.Options)) (*ec2.CreateVpcEndpointOutput, error) {
	return call(e.view, ctx, "ec2", "CreateVpcEndpoint", func(a *account) (*ec2.CreateVpcEndpointOutput, error) {
		w := e.w
		now := w.clock.Now()
		token := aws.ToString(in.ClientToken)
		fp := fingerprint(in)
		if t, ok := a.tokens[token]; token != "" && ok && (w.tokenTTL == 0 || now.Before(t.at.Add(w.tokenTTL))) {
			if t.fingerprint != fp {
				return nil, apiError("IdempotentParameterMismatch", "The client token you have provided is associated with a resource that is already deleted or has different parameters. Please use a different client token.")
			}
			ep := a.endpoints[t.endpoint]
			w.settle(ep)
			out := w.endpointOut(a, ep)
			return &ec2.CreateVpcEndpointOutput{ClientToken: aws.String(token), VpcEndpoint: &out}, nil
		}
		if in.VpcEndpointType != types.VpcEndpointTypeInterface {
			return nil, apiError("InvalidParameter", "fake: only Interface endpoints are modelled (VpcEndpointType %q; AWS defaults to Gateway)", in.VpcEndpointType)
		}
		vpcID := aws.ToString(in.VpcId)
		v := a.vpcs[vpcID]
		if v == nil {
			return nil, apiError("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vpcID)
		}
		svc := w.serviceFor(aws.ToString(in.ServiceName), e.principal)
		if svc == nil {
			return nil, apiError("InvalidServiceName", "The Vpc Endpoint Service '%s' does not exist", aws.ToString(in.ServiceName))
		}
		privateDNS := in.PrivateDnsEnabled == nil || *in.PrivateDnsEnabled
		if privateDNS && svc.privateDNS == "" {
			return nil, apiError("InvalidParameter", "Private DNS can't be enabled because the service %s does not provide a private DNS name.", svc.name)
		}
		groups := slices.Clone(in.SecurityGroupIds)
		if len(groups) == 0 {
			groups = []string{v.defaultGroup}
		}
		if err := w.placement(a, vpcID, svc, in.SubnetIds, groups); err != nil {
			return nil, err
		}
		tags, err := specTags(in.TagSpecifications, types.ResourceTypeVpcEndpoint)
		if err != nil {
			return nil, err
		}
		ep := &endpoint{
			id: w.hexID("vpce-"), owner: a.id, vpc: vpcID, service: svc.id, serviceName: svc.name, connection: w.hexID("vpce-con-"),
			seq: w.nextSeq(), subnets: slices.Clone(in.SubnetIds), enis: map[string]string{}, groups: groups,
			privateDNS: privateDNS, label: w.alnum(8, lowerAlnum), created: now, state: statePending, since: now,
		}
		if svc.acceptance {
			ep.state = statePendingAcceptance
		}
		for _, sid := range ep.subnets {
			ep.enis[sid] = w.hexID("eni-")
		}
		a.endpoints[ep.id] = ep
		a.tags[ep.id] = tags
		if token != "" {
			a.tokens[token] = clientToken{endpoint: ep.id, fingerprint: fp, at: now}
		}
		out := w.endpointOut(a, ep)
		return &ec2.CreateVpcEndpointOutput{ClientToken: in.ClientToken, VpcEndpoint: &out}, nil
	})
}

func (e *EC2) ModifyVpcEndpoint(ctx context.Context, in *ec2.ModifyVpcEndpointInput, optFns ...func(*ec2.Options)) (*ec2.ModifyVpcEndpointOutput, error) {
	return call(e.view, ctx, "ec2", "ModifyVpcEndpoint", func(a *account) (*ec2.ModifyVpcEndpointOutput, error) {
		w := e.w
		id := aws.ToString(in.VpcEndpointId)
		ep := a.endpoints[id]
		if ep != nil {
			w.settle(ep)
		}
		if ep == nil || ep.state == stateDeleted {
			return nil, apiError("InvalidVpcEndpointId.NotFound", "The VpcEndpoint Id '%s' does not exist", id)
		}
		if ep.state == stateDeleting {
			return nil, apiError("IncorrectState", "The VpcEndpoint '%s' is in state deleting", id)
		}
		svc := w.services[ep.service]
		subnets, err := edit(ep.subnets, in.AddSubnetIds, in.RemoveSubnetIds, "subnet")
		if err != nil {
			return nil, err
		}
		groups, err := edit(ep.groups, in.AddSecurityGroupIds, in.RemoveSecurityGroupIds, "security group")
		if err != nil {
			return nil, err
		}
		if len(groups) == 0 {
			return nil, apiError("InvalidParameter", "The VpcEndpoint must have at least one security group")
		}
		if err := w.placement(a, ep.vpc, svc, subnets, groups); err != nil {
			return nil, err
		}
		privateDNS := ep.privateDNS
		if in.PrivateDnsEnabled != nil {
			privateDNS = *in.PrivateDnsEnabled
		}
		if privateDNS && svc.privateDNS == "" {
			return nil, apiError("InvalidParameter", "Private DNS can't be enabled because the service %s does not provide a private DNS name.", svc.name)
		}
		for _, sid := range subnets {
			if ep.enis[sid] == "" {
				ep.enis[sid] = w.hexID("eni-")
			}
		}
		for sid := range ep.enis {
			if !slices.Contains(subnets, sid) {
				delete(ep.enis, sid)
			}
		}
		ep.subnets, ep.groups, ep.privateDNS = subnets, groups, privateDNS
		return &ec2.ModifyVpcEndpointOutput{Return: aws.Bool(true)}, nil
	})
}

// edit returns have with add appended (once) and remove taken out; removing
// something absent is an error.
func edit(have, add, remove []string, what string) ([]string, error) {
	out := slices.Clone(have)
	for _, r := range remove {
		i := slices.Index(out, r)
		if i < 0 {
			return nil, apiError("InvalidParameter", "The %s '%s' is not associated with the endpoint", what, r)
		}
		out = slices.Delete(out, i, i+1)
	}
	for _, x := range add {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out, nil
}

func (e *EC2) DeleteVpcEndpoints(ctx context.Context, in *ec2.DeleteVpcEndpointsInput, optFns ...func(*ec2.Options)) (*ec2.DeleteVpcEndpointsOutput, error) {
	return call(e.view, ctx, "ec2", "DeleteVpcEndpoints", func(a *account) (*ec2.DeleteVpcEndpointsOutput, error) {
		if len(in.VpcEndpointIds) == 0 {
			return nil, apiError("MissingParameter", "The request must contain the parameter VpcEndpointId")
		}
		w := e.w
		out := &ec2.DeleteVpcEndpointsOutput{Unsuccessful: []types.UnsuccessfulItem{}}
		for _, id := range in.VpcEndpointIds {
			ep := a.endpoints[id]
			if ep == nil {
				out.Unsuccessful = append(out.Unsuccessful, unsuccessful(id, "InvalidVpcEndpoint.NotFound", fmt.Sprintf("The VpcEndpoint Id '%s' does not exist", id)))
				continue
			}
			w.settle(ep)
			if ep.state != stateDeleting && ep.state != stateDeleted {
				ep.state, ep.since = stateDeleting, w.clock.Now()
			}
		}
		return out, nil
	})
}

func unsuccessful(id, code, msg string) types.UnsuccessfulItem {
	return types.UnsuccessfulItem{ResourceId: aws.String(id), Error: &types.UnsuccessfulItemError{Code: aws.String(code), Message: aws.String(msg)}}
}

// ownedService returns the service id if acct owns it, else the error EC2
// gives to anyone else.
func (w *World) ownedService(a *account, id string) (*service, error) {
	s := w.services[id]
	if s == nil || s.owner != a.id {
		return nil, apiError("InvalidVpcEndpointServiceId.NotFound", "The Vpc Endpoint Service Id '%s' does not exist", id)
	}
	return s, nil
}

func (e *EC2) DescribeVpcEndpointServiceConfigurations(ctx context.Context, in *ec2.DescribeVpcEndpointServiceConfigurationsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointServiceConfigurationsOutput, error) {
	return call(e.view, ctx, "ec2", "DescribeVpcEndpointServiceConfigurations", func(a *account) (*ec2.DescribeVpcEndpointServiceConfigurationsOutput, error) {
		w := e.w
		for _, id := range in.ServiceIds {
			if _, err := w.ownedService(a, id); err != nil {
				return nil, err
			}
		}
		var found []*service
		for _, s := range w.services {
			if s.owner != a.id || (len(in.ServiceIds) > 0 && !slices.Contains(in.ServiceIds, s.id)) {
				continue
			}
			ok, err := matches(in.Filters, attrs{
				"service-name": {s.name}, "service-id": {s.id}, "service-state": {string(types.ServiceStateAvailable)},
			}, a.tags[s.id])
			if err != nil {
				return nil, err
			}
			if ok {
				found = append(found, s)
			}
		}
		items, next, err := page(found, func(s *service) string { return seqKey(s.seq) }, in.MaxResults, in.NextToken, ec2Paging)
		if err != nil {
			return nil, err
		}
		out := &ec2.DescribeVpcEndpointServiceConfigurationsOutput{NextToken: next, ServiceConfigurations: []types.ServiceConfiguration{}}
		for _, s := range items {
			c := types.ServiceConfiguration{
				ServiceId: aws.String(s.id), ServiceName: aws.String(s.name), ServiceState: types.ServiceStateAvailable,
				ServiceType:        []types.ServiceTypeDetail{{ServiceType: types.ServiceTypeInterface}},
				AcceptanceRequired: aws.Bool(s.acceptance), ManagesVpcEndpoints: aws.Bool(false),
				AvailabilityZoneIds:     slices.Clone(s.azIDs),
				BaseEndpointDnsNames:    []string{fmt.Sprintf("%s.%s.vpce.amazonaws.com", s.id, w.region)},
				NetworkLoadBalancerArns: []string{s.nlb}, PrivateDnsName: optString(s.privateDNS),
				SupportedIpAddressTypes: []types.ServiceConnectivityType{types.ServiceConnectivityTypeIpv4},
				Tags:                    ec2Tags(a.tags[s.id]),
			}
			for _, id := range s.azIDs {
				c.AvailabilityZones = append(c.AvailabilityZones, w.azName(a.id, id))
			}
			sort.Strings(c.AvailabilityZones)
			out.ServiceConfigurations = append(out.ServiceConfigurations, c)
		}
		return out, nil
	})
}

func principalType(p string) types.PrincipalType {
	switch {
	case p == "*":
		return types.PrincipalTypeAll
	case strings.HasSuffix(p, ":root"):
		return types.PrincipalTypeAccount
	case strings.Contains(p, ":role/"):
		return types.PrincipalTypeRole
	default:
		return types.PrincipalTypeUser
	}
}

func validPrincipal(p string) bool {
	if p == "*" {
		return true
	}
	parts := strings.SplitN(p, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || len(parts[4]) != 12 {
		return false
	}
	return parts[5] == "root" || strings.HasPrefix(parts[5], "role/") || strings.HasPrefix(parts[5], "user/")
}

func (e *EC2) DescribeVpcEndpointServicePermissions(ctx context.Context, in *ec2.DescribeVpcEndpointServicePermissionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointServicePermissionsOutput, error) {
	return call(e.view, ctx, "ec2", "DescribeVpcEndpointServicePermissions", func(a *account) (*ec2.DescribeVpcEndpointServicePermissionsOutput, error) {
		s, err := e.w.ownedService(a, aws.ToString(in.ServiceId))
		if err != nil {
			return nil, err
		}
		var found []permission
		for _, p := range s.permissions {
			ok, err := matches(in.Filters, attrs{"principal": {p.principal}, "principal-type": {string(principalType(p.principal))}}, nil)
			if err != nil {
				return nil, err
			}
			if ok {
				found = append(found, p)
			}
		}
		items, next, err := page(found, func(p permission) string { return p.principal }, in.MaxResults, in.NextToken, ec2Paging)
		if err != nil {
			return nil, err
		}
		out := &ec2.DescribeVpcEndpointServicePermissionsOutput{NextToken: next, AllowedPrincipals: []types.AllowedPrincipal{}}
		for _, p := range items {
			out.AllowedPrincipals = append(out.AllowedPrincipals, types.AllowedPrincipal{
				Principal: aws.String(p.principal), PrincipalType: principalType(p.principal),
				ServiceId: aws.String(s.id), ServicePermissionId: aws.String(p.id),
			})
		}
		return out, nil
	})
}

func (e *EC2) ModifyVpcEndpointServicePermissions(ctx context.Context, in *ec2.ModifyVpcEndpointServicePermissionsInput, optFns ...func(*ec2.Options)) (*ec2.ModifyVpcEndpointServicePermissionsOutput, error) {
	return call(e.view, ctx, "ec2", "ModifyVpcEndpointServicePermissions", func(a *account) (*ec2.ModifyVpcEndpointServicePermissionsOutput, error) {
		w := e.w
		s, err := w.ownedService(a, aws.ToString(in.ServiceId))
		if err != nil {
			return nil, err
		}
		for _, p := range append(slices.Clone(in.AddAllowedPrincipals), in.RemoveAllowedPrincipals...) {
			if !validPrincipal(p) {
				return nil, apiError("InvalidPrincipal", "Invalid Principal: '%s'", p)
			}
		}
		out := &ec2.ModifyVpcEndpointServicePermissionsOutput{ReturnValue: aws.Bool(true)}
		for _, p := range in.AddAllowedPrincipals {
			i := slices.IndexFunc(s.permissions, func(x permission) bool { return x.principal == p })
			if i < 0 {
				s.permissions = append(s.permissions, permission{principal: p, id: w.hexID("vpce-svc-perm-")})
				i = len(s.permissions) - 1
			}
			out.AddedPrincipals = append(out.AddedPrincipals, types.AddedPrincipal{
				Principal: aws.String(p), PrincipalType: principalType(p), ServiceId: aws.String(s.id),
				ServicePermissionId: aws.String(s.permissions[i].id),
			})
		}
		s.permissions = slices.DeleteFunc(s.permissions, func(x permission) bool { return slices.Contains(in.RemoveAllowedPrincipals, x.principal) })
		return out, nil
	})
}

// connections returns every endpoint, in any account, connected to a service acct owns.
func (w *World) connections(acct string) []*endpoint {
	var out []*endpoint
	for _, a := range w.accounts {
		for _, ep := range a.endpoints {
			if s := w.services[ep.service]; s != nil && s.owner == acct {
				w.settle(ep)
				out = append(out, ep)
			}
		}
	}
	return out
}

func (e *EC2) DescribeVpcEndpointConnections(ctx context.Context, in *ec2.DescribeVpcEndpointConnectionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointConnectionsOutput, error) {
	return call(e.view, ctx, "ec2", "DescribeVpcEndpointConnections", func(a *account) (*ec2.DescribeVpcEndpointConnectionsOutput, error) {
		w := e.w
		var found []*endpoint
		for _, ep := range w.connections(a.id) {
			ok, err := matches(in.Filters, attrs{
				"service-id": {ep.service}, "vpc-endpoint-id": {ep.id}, "vpc-endpoint-owner": {ep.owner},
				"vpc-endpoint-state": {ep.state}, "ip-address-type": {string(types.IpAddressTypeIpv4)},
			}, nil)
			if err != nil {
				return nil, err
			}
			if ok {
				found = append(found, ep)
			}
		}
		items, next, err := page(found, func(ep *endpoint) string { return seqKey(ep.seq) }, in.MaxResults, in.NextToken, ec2Paging)
		if err != nil {
			return nil, err
		}
		out := &ec2.DescribeVpcEndpointConnectionsOutput{NextToken: next, VpcEndpointConnections: []types.VpcEndpointConnection{}}
		for _, ep := range items {
			out.VpcEndpointConnections = append(out.VpcEndpointConnections, w.connectionOut(ep))
		}
		return out, nil
	})
}

func (w *World) connectionOut(ep *endpoint) types.VpcEndpointConnection {
	return types.VpcEndpointConnection{
		ServiceId: aws.String(ep.service), VpcEndpointId: aws.String(ep.id), VpcEndpointOwner: aws.String(ep.owner),
		VpcEndpointState: types.State(ep.state), CreationTimestamp: aws.Time(ep.created),
		VpcEndpointConnectionId: aws.String(ep.connection), VpcEndpointRegion: aws.String(w.region),
		DnsEntries: w.dnsEntries(w.accounts[ep.owner], ep), NetworkLoadBalancerArns: []string{w.services[ep.service].nlb},
		IpAddressType: types.IpAddressTypeIpv4,
	}
}

// ConnectionsOf returns the connections of an endpoint service, in creation
// order, for assertions; it is not an API call and is not recorded.
func (w *World) ConnectionsOf(serviceID string) []types.VpcEndpointConnection {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.services[serviceID]
	if s == nil {
		return nil
	}
	var eps []*endpoint
	for _, ep := range w.connections(s.owner) {
		if ep.service == serviceID {
			eps = append(eps, ep)
		}
	}
	slices.SortFunc(eps, func(a, b *endpoint) int { return int(a.seq - b.seq) })
	out := []types.VpcEndpointConnection{}
	for _, ep := range eps {
		out = append(out, w.connectionOut(ep))
	}
	return out
}

// decide applies accept or reject to each endpoint; per-endpoint failures go
// to Unsuccessful, as EC2 reports them, never to the call's error.
func (e *EC2) decide(a *account, serviceID string, ids []string, from []string, to string) ([]types.UnsuccessfulItem, error) {
	w := e.w
	s, err := w.ownedService(a, serviceID)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, apiError("MissingParameter", "The request must contain the parameter VpcEndpointId")
	}
	conns := map[string]*endpoint{}
	for _, ep := range w.connections(a.id) {
		if ep.service == s.id {
			conns[ep.id] = ep
		}
	}
	out := []types.UnsuccessfulItem{}
	for _, id := range ids {
		ep := conns[id]
		switch {
		case ep == nil:
			out = append(out, unsuccessful(id, "InvalidVpcEndpointId.NotFound", fmt.Sprintf("The VpcEndpoint Id '%s' does not exist", id)))
		case !slices.Contains(from, ep.state):
			out = append(out, unsuccessful(id, "InvalidVpcEndpointState", fmt.Sprintf("Vpc Endpoint %s cannot be moved to %s from state: %s", id, to, ep.state)))
		default:
			ep.state, ep.since = to, w.clock.Now()
		}
	}
	return out, nil
}

func (e *EC2) AcceptVpcEndpointConnections(ctx context.Context, in *ec2.AcceptVpcEndpointConnectionsInput, optFns ...func(*ec2.Options)) (*ec2.AcceptVpcEndpointConnectionsOutput, error) {
	return call(e.view, ctx, "ec2", "AcceptVpcEndpointConnections", func(a *account) (*ec2.AcceptVpcEndpointConnectionsOutput, error) {
		u, err := e.decide(a, aws.ToString(in.ServiceId), in.VpcEndpointIds, []string{statePendingAcceptance}, statePending)
		if err != nil {
			return nil, err
		}
		return &ec2.AcceptVpcEndpointConnectionsOutput{Unsuccessful: u}, nil
	})
}

func (e *EC2) RejectVpcEndpointConnections(ctx context.Context, in *ec2.RejectVpcEndpointConnectionsInput, optFns ...func(*ec2.Options)) (*ec2.RejectVpcEndpointConnectionsOutput, error) {
	return call(e.view, ctx, "ec2", "RejectVpcEndpointConnections", func(a *account) (*ec2.RejectVpcEndpointConnectionsOutput, error) {
		u, err := e.decide(a, aws.ToString(in.ServiceId), in.VpcEndpointIds, []string{statePendingAcceptance, statePending, stateAvailable}, stateRejected)
		if err != nil {
			return nil, err
		}
		return &ec2.RejectVpcEndpointConnectionsOutput{Unsuccessful: u}, nil
	})
}
