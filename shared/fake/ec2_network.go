package fake

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2 is one account's view of EC2: the spoke-side network and endpoint calls
// and the hub-side endpoint service calls, as its principal.
type EC2 struct{ view }

// EC2 returns the EC2 API as acct's root principal.
func (w *World) EC2(acct string) *EC2 { return &EC2{w.view(acct, "")} }

// EC2As returns the EC2 API as principal (a role, assumed-role or user ARN)
// of acct; endpoint service permissions are checked against it.
func (w *World) EC2As(acct, principal string) *EC2 { return &EC2{w.view(acct, principal)} }

type vpc struct {
	id, cidr     string
	seq          int64
	defaultGroup string
	subnets      int
}

type subnet struct {
	id, vpc, az, azID, cidr string
	seq                     int64
}

type securityGroup struct {
	id, name, description, vpc string
	seq                        int64
	isDefault                  bool
	ingress, egress            []rule
}

// rule is one atomic security group rule: one protocol and port range from one
// source. Descriptions do not take part in equality, as in EC2.
type rule struct {
	id         string
	protocol   string // "tcp", "udp", "icmp" or "-1"
	from, to   int32
	cidr       string
	group      string // referenced group id
	groupOwner string
	desc       string
}

func (r rule) same(o rule) bool {
	return r.protocol == o.protocol && r.from == o.from && r.to == o.to && r.cidr == o.cidr && r.group == o.group
}

// AddVPC seeds a VPC (with its default security group, as EC2 creates one) and returns its id.
func (w *World) AddVPC(acct, cidr string, tags map[string]string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	a := w.account(acct)
	v := &vpc{id: w.hexID("vpc-"), cidr: cidr, seq: w.nextSeq()}
	a.vpcs[v.id] = v
	a.tags[v.id] = copyTags(tags)
	g := &securityGroup{id: w.hexID("sg-"), name: "default", description: "default VPC security group", vpc: v.id, seq: w.nextSeq(), isDefault: true}
	g.ingress = []rule{{id: w.hexID("sgr-"), protocol: "-1", from: -1, to: -1, group: g.id, groupOwner: acct}}
	g.egress = []rule{{id: w.hexID("sgr-"), protocol: "-1", from: -1, to: -1, cidr: "0.0.0.0/0"}}
	a.groups[g.id] = g
	a.tags[g.id] = map[string]string{}
	v.defaultGroup = g.id
	return v.id
}

// AddSubnet seeds a subnet of vpcID in the Availability Zone named az (e.g.
// "us-east-1a") and returns its id. Its AZ ID follows acct's AZ mapping (AZID).
// It panics when the VPC does not exist: that is a broken test, not a case to handle.
func (w *World) AddSubnet(acct, vpcID, az string, tags map[string]string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	a := w.account(acct)
	v, ok := a.vpcs[vpcID]
	if !ok {
		panic(fmt.Sprintf("fake: AddSubnet: no VPC %s in account %s", vpcID, acct))
	}
	s := &subnet{id: w.hexID("subnet-"), vpc: vpcID, az: az, azID: w.azID(acct, az), cidr: subnetCIDR(v.cidr, v.subnets), seq: w.nextSeq()}
	v.subnets++
	a.subnets[s.id] = s
	a.tags[s.id] = copyTags(tags)
	return s.id
}

// subnetCIDR carves the n-th /24 (or the whole range, for small VPCs) out of a VPC CIDR.
func subnetCIDR(vpcCIDR string, n int) string {
	p, err := netip.ParsePrefix(vpcCIDR)
	if err != nil || !p.Addr().Is4() || p.Bits() > 24 {
		return vpcCIDR
	}
	b := p.Masked().Addr().As4()
	idx := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8
	idx += uint32(n) << 8
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(idx >> 24), byte(idx >> 16), byte(idx >> 8), 0}), 24).String()
}

// zonesPerRegion is how many AZs every Region of the fake has.
const zonesPerRegion = 6

// AZID returns the AZ ID behind the AZ name az in acct. Like AWS, every account
// maps names to IDs with its own rotation, so "us-east-1a" is a different zone
// in different accounts; only IDs compare across accounts.
func (w *World) AZID(acct, az string) string { return w.azID(acct, az) }

func (w *World) azID(acct, az string) string {
	idx := 0
	if az != "" {
		idx = int(az[len(az)-1]-'a') % zonesPerRegion
		if idx < 0 {
			idx += zonesPerRegion
		}
	}
	return fmt.Sprintf("%s-az%d", regionCode(w.region), (idx+azOffset(acct))%zonesPerRegion+1)
}

// azName is the inverse of azID for acct; "" when id is not a zone of the Region.
func (w *World) azName(acct, id string) string {
	prefix := regionCode(w.region) + "-az"
	n, err := strconv.Atoi(strings.TrimPrefix(id, prefix))
	if !strings.HasPrefix(id, prefix) || err != nil || n < 1 || n > zonesPerRegion {
		return ""
	}
	idx := ((n-1-azOffset(acct))%zonesPerRegion + zonesPerRegion) % zonesPerRegion
	return w.region + string(rune('a'+idx))
}

func azOffset(acct string) int {
	h := fnv.New32a()
	h.Write([]byte(acct))
	return int(h.Sum32() % zonesPerRegion)
}

// regionCode abbreviates a Region the way AZ IDs do: us-east-1 -> use1, ap-southeast-2 -> apse2.
func regionCode(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) < 3 {
		return region
	}
	dir := parts[1]
	var b strings.Builder
	b.WriteString(parts[0])
	for _, w := range []string{"north", "south", "east", "west", "central"} {
		if strings.HasPrefix(dir, w) {
			b.WriteByte(w[0])
			dir = strings.TrimPrefix(dir, w)
		}
	}
	for _, w := range []string{"east", "west"} {
		if strings.HasPrefix(dir, w) {
			b.WriteByte(w[0])
			dir = strings.TrimPrefix(dir, w)
		}
	}
	b.WriteString(dir)
	b.WriteString(parts[len(parts)-1])
	return b.String()
}

func (e *EC2) DescribeVpcs(ctx context.Context, in *ec2.DescribeVpcsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error) {
	return call(e.view, ctx, "ec2", "DescribeVpcs", func(a *account) (*ec2.DescribeVpcsOutput, error) {
		for _, id := range in.VpcIds {
			if _, ok := a.vpcs[id]; !ok {
				return nil, apiError("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
			}
		}
		var found []*vpc
		for _, v := range a.vpcs {
			if len(in.VpcIds) > 0 && !slices.Contains(in.VpcIds, v.id) {
				continue
			}
			ok, err := matches(in.Filters, attrs{
				"vpc-id": {v.id}, "cidr": {v.cidr}, "cidr-block": {v.cidr}, "owner-id": {a.id}, "state": {"available"}, "is-default": {"false"},
			}, a.tags[v.id])
			if err != nil {
				return nil, err
			}
			if ok {
				found = append(found, v)
			}
		}
		items, next, err := page(found, func(v *vpc) string { return seqKey(v.seq) }, in.MaxResults, in.NextToken, ec2Paging)
		if err != nil {
			return nil, err
		}
		out := &ec2.DescribeVpcsOutput{NextToken: next, Vpcs: []types.Vpc{}}
		for _, v := range items {
			out.Vpcs = append(out.Vpcs, types.Vpc{
				VpcId: aws.String(v.id), CidrBlock: aws.String(v.cidr), OwnerId: aws.String(a.id),
				State: types.VpcStateAvailable, IsDefault: aws.Bool(false), InstanceTenancy: types.TenancyDefault,
				Tags: ec2Tags(a.tags[v.id]),
			})
		}
		return out, nil
	})
}

func (e *EC2) DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	return call(e.view, ctx, "ec2", "DescribeSubnets", func(a *account) (*ec2.DescribeSubnetsOutput, error) {
		for _, id := range in.SubnetIds {
			if _, ok := a.subnets[id]; !ok {
				return nil, apiError("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
			}
		}
		var found []*subnet
		for _, s := range a.subnets {
			if len(in.SubnetIds) > 0 && !slices.Contains(in.SubnetIds, s.id) {
				continue
			}
			ok, err := matches(in.Filters, attrs{
				"vpc-id": {s.vpc}, "subnet-id": {s.id}, "availability-zone": {s.az}, "availability-zone-id": {s.azID},
				"cidr-block": {s.cidr}, "owner-id": {a.id}, "state": {"available"},
			}, a.tags[s.id])
			if err != nil {
				return nil, err
			}
			if ok {
				found = append(found, s)
			}
		}
		items, next, err := page(found, func(s *subnet) string { return seqKey(s.seq) }, in.MaxResults, in.NextToken, ec2Paging)
		if err != nil {
			return nil, err
		}
		out := &ec2.DescribeSubnetsOutput{NextToken: next, Subnets: []types.Subnet{}}
		for _, s := range items {
			out.Subnets = append(out.Subnets, types.Subnet{
				SubnetId: aws.String(s.id), VpcId: aws.String(s.vpc), AvailabilityZone: aws.String(s.az),
				AvailabilityZoneId: aws.String(s.azID), CidrBlock: aws.String(s.cidr), OwnerId: aws.String(a.id),
				State: types.SubnetStateAvailable, AvailableIpAddressCount: aws.Int32(251),
				SubnetArn:           aws.String(fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", e.w.region, a.id, s.id)),
				MapPublicIpOnLaunch: aws.Bool(false), DefaultForAz: aws.Bool(false),
				Tags: ec2Tags(a.tags[s.id]),
			})
		}
		return out, nil
	})
}

func (e *EC2) DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error) {
	return call(e.view, ctx, "ec2", "DescribeSecurityGroups", func(a *account) (*ec2.DescribeSecurityGroupsOutput, error) {
		for _, id := range in.GroupIds {
			if _, ok := a.groups[id]; !ok {
				return nil, apiError("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
			}
		}
		for _, name := range in.GroupNames {
			if !slices.ContainsFunc(mapValues(a.groups), func(g *securityGroup) bool { return g.name == name }) {
				return nil, apiError("InvalidGroup.NotFound", "The security group '%s' does not exist", name)
			}
		}
		var found []*securityGroup
		for _, g := range a.groups {
			if len(in.GroupIds) > 0 && !slices.Contains(in.GroupIds, g.id) {
				continue
			}
			if len(in.GroupNames) > 0 && !slices.Contains(in.GroupNames, g.name) {
				continue
			}
			ok, err := matches(in.Filters, attrs{
				"vpc-id": {g.vpc}, "group-id": {g.id}, "group-name": {g.name}, "description": {g.description}, "owner-id": {a.id},
			}, a.tags[g.id])
			if err != nil {
				return nil, err
			}
			if ok {
				found = append(found, g)
			}
		}
		items, next, err := page(found, func(g *securityGroup) string { return seqKey(g.seq) }, in.MaxResults, in.NextToken, ec2Paging)
		if err != nil {
			return nil, err
		}
		out := &ec2.DescribeSecurityGroupsOutput{NextToken: next, SecurityGroups: []types.SecurityGroup{}}
		for _, g := range items {
			out.SecurityGroups = append(out.SecurityGroups, types.SecurityGroup{
				GroupId: aws.String(g.id), GroupName: aws.String(g.name), Description: aws.String(g.description),
				VpcId: aws.String(g.vpc), OwnerId: aws.String(a.id),
				SecurityGroupArn:    aws.String(fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", e.w.region, a.id, g.id)),
				IpPermissions:       permissions(g.ingress, e.w.vpcOfGroup),
				IpPermissionsEgress: permissions(g.egress, e.w.vpcOfGroup),
				Tags:                ec2Tags(a.tags[g.id]),
			})
		}
		return out, nil
	})
}

func mapValues[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

func (w *World) vpcOfGroup(owner, id string) string {
	if a, ok := w.accounts[owner]; ok {
		if g, ok := a.groups[id]; ok {
			return g.vpc
		}
	}
	return ""
}

// permissions groups atomic rules back into IpPermissions by protocol and
// port range, as DescribeSecurityGroups returns them.
func permissions(rules []rule, vpcOf func(owner, id string) string) []types.IpPermission {
	var out []types.IpPermission
	index := map[string]int{}
	for _, r := range rules {
		k := fmt.Sprintf("%s/%d/%d", r.protocol, r.from, r.to)
		i, ok := index[k]
		if !ok {
			p := types.IpPermission{IpProtocol: aws.String(r.protocol)}
			if r.protocol != "-1" {
				p.FromPort, p.ToPort = aws.Int32(r.from), aws.Int32(r.to)
			}
			out = append(out, p)
			i = len(out) - 1
			index[k] = i
		}
		if r.cidr != "" {
			out[i].IpRanges = append(out[i].IpRanges, types.IpRange{CidrIp: aws.String(r.cidr), Description: optString(r.desc)})
		} else {
			out[i].UserIdGroupPairs = append(out[i].UserIdGroupPairs, types.UserIdGroupPair{
				GroupId: aws.String(r.group), UserId: aws.String(r.groupOwner), VpcId: optString(vpcOf(r.groupOwner, r.group)),
				Description: optString(r.desc),
			})
		}
	}
	return out
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func (e *EC2) CreateSecurityGroup(ctx context.Context, in *ec2.CreateSecurityGroupInput, optFns ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error) {
	return call(e.view, ctx, "ec2", "CreateSecurityGroup", func(a *account) (*ec2.CreateSecurityGroupOutput, error) {
		name, desc, vpcID := aws.ToString(in.GroupName), aws.ToString(in.Description), aws.ToString(in.VpcId)
		switch {
		case name == "":
			return nil, apiError("MissingParameter", "The request must contain the parameter groupName")
		case desc == "":
			return nil, apiError("MissingParameter", "The request must contain the parameter groupDescription")
		case vpcID == "":
			return nil, apiError("VPCIdNotSpecified", "No default VPC for this user")
		case strings.EqualFold(name, "default"):
			return nil, apiError("InvalidParameterValue", "Cannot use reserved security group name: %s", name)
		case strings.HasPrefix(strings.ToLower(name), "sg-"):
			return nil, apiError("InvalidParameterValue", "Group names may not be in the format sg-*.")
		case len(name) > 255 || len(desc) > 255:
			return nil, apiError("InvalidParameterValue", "Group name and description are limited to 255 characters")
		}
		if _, ok := a.vpcs[vpcID]; !ok {
			return nil, apiError("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vpcID)
		}
		for _, g := range a.groups {
			if g.vpc == vpcID && g.name == name {
				return nil, apiError("InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", name, vpcID)
			}
		}
		tags, err := specTags(in.TagSpecifications, types.ResourceTypeSecurityGroup)
		if err != nil {
			return nil, err
		}
		w := e.w
		g := &securityGroup{id: w.hexID("sg-"), name: name, description: desc, vpc: vpcID, seq: w.nextSeq()}
		g.egress = []rule{{id: w.hexID("sgr-"), protocol: "-1", from: -1, to: -1, cidr: "0.0.0.0/0"}}
		a.groups[g.id] = g
		a.tags[g.id] = tags
		return &ec2.CreateSecurityGroupOutput{
			GroupId:          aws.String(g.id),
			SecurityGroupArn: aws.String(fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", w.region, a.id, g.id)),
			Tags:             ec2Tags(tags),
		}, nil
	})
}

// specTags collects the tags of TagSpecifications; every specification must be
// for the resource type the action creates.
func specTags(specs []types.TagSpecification, want types.ResourceType) (map[string]string, error) {
	tags := map[string]string{}
	for _, s := range specs {
		if s.ResourceType != want {
			return nil, apiError("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", s.ResourceType)
		}
		for _, t := range s.Tags {
			if err := validTag(t); err != nil {
				return nil, err
			}
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	if len(tags) > 50 {
		return nil, apiError("TagLimitExceeded", "The maximum number of tags per resource is 50")
	}
	return tags, nil
}

func validTag(t types.Tag) error {
	k := aws.ToString(t.Key)
	switch {
	case k == "":
		return apiError("InvalidParameterValue", "Tag key must not be empty")
	case strings.HasPrefix(strings.ToLower(k), "aws:"):
		return apiError("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
	case len(k) > 128 || len(aws.ToString(t.Value)) > 256:
		return apiError("InvalidParameterValue", "Tag key or value too long")
	}
	return nil
}

// rulesOf expands IpPermissions (or the legacy single-rule fields) into atomic
// rules, resolving referenced groups.
func (e *EC2) rulesOf(a *account, perms []types.IpPermission, legacy types.IpPermission) ([]rule, error) {
	if len(perms) == 0 && legacy.IpProtocol != nil {
		perms = []types.IpPermission{legacy}
	}
	var out []rule
	for _, p := range perms {
		proto := strings.ToLower(aws.ToString(p.IpProtocol))
		switch proto {
		case "6":
			proto = "tcp"
		case "17":
			proto = "udp"
		case "1":
			proto = "icmp"
		case "all":
			proto = "-1"
		}
		from, to := int32(-1), int32(-1)
		switch proto {
		case "-1":
		case "tcp", "udp":
			if p.FromPort == nil || p.ToPort == nil {
				return nil, apiError("InvalidParameterValue", "Invalid value 'null' for portRange. Must specify both from and to ports with TCP/UDP.")
			}
			from, to = *p.FromPort, *p.ToPort
			if from < 0 || to > 65535 || from > to {
				return nil, apiError("InvalidParameterValue", "Invalid port range (%d, %d)", from, to)
			}
		case "icmp":
			from, to = aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort)
		default:
			return nil, apiError("InvalidParameterValue", "Invalid value '%s' for IP protocol. Unknown protocol.", proto)
		}
		if len(p.Ipv6Ranges) > 0 || len(p.PrefixListIds) > 0 {
			return nil, apiError("InvalidParameterValue", "fake: IPv6 ranges and prefix lists are not modelled")
		}
		if len(p.IpRanges) == 0 && len(p.UserIdGroupPairs) == 0 {
			return nil, apiError("MissingParameter", "The request must contain a source: IpRanges or UserIdGroupPairs")
		}
		for _, r := range p.IpRanges {
			c, err := netip.ParsePrefix(aws.ToString(r.CidrIp))
			if err != nil || !c.Addr().Is4() {
				return nil, apiError("InvalidParameterValue", "CIDR block %s is malformed", aws.ToString(r.CidrIp))
			}
			out = append(out, rule{protocol: proto, from: from, to: to, cidr: c.Masked().String(), desc: aws.ToString(r.Description)})
		}
		for _, pair := range p.UserIdGroupPairs {
			owner := aws.ToString(pair.UserId)
			if owner == "" {
				owner = a.id
			}
			id := aws.ToString(pair.GroupId)
			if id == "" && pair.GroupName != nil {
				for _, g := range a.groups {
					if g.name == *pair.GroupName {
						id = g.id
					}
				}
			}
			oa, ok := e.w.accounts[owner]
			if !ok || oa.groups[id] == nil {
				return nil, apiError("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
			}
			out = append(out, rule{protocol: proto, from: from, to: to, group: id, groupOwner: owner, desc: aws.ToString(pair.Description)})
		}
	}
	return out, nil
}

func (a *account) group(in, name *string) (*securityGroup, error) {
	id := aws.ToString(in)
	if id == "" && name != nil {
		for _, k := range sortedKeys(a.groups) {
			if a.groups[k].name == *name {
				return a.groups[k], nil
			}
		}
		return nil, apiError("InvalidGroup.NotFound", "The security group '%s' does not exist", *name)
	}
	if id == "" {
		return nil, apiError("MissingParameter", "The request must contain the parameter groupId")
	}
	g, ok := a.groups[id]
	if !ok {
		return nil, apiError("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
	}
	return g, nil
}

func (e *EC2) AuthorizeSecurityGroupIngress(ctx context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, optFns ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error) {
	return call(e.view, ctx, "ec2", "AuthorizeSecurityGroupIngress", func(a *account) (*ec2.AuthorizeSecurityGroupIngressOutput, error) {
		g, err := a.group(in.GroupId, in.GroupName)
		if err != nil {
			return nil, err
		}
		legacy := types.IpPermission{IpProtocol: in.IpProtocol, FromPort: in.FromPort, ToPort: in.ToPort}
		if in.CidrIp != nil {
			legacy.IpRanges = []types.IpRange{{CidrIp: in.CidrIp}}
		}
		rules, err := e.rulesOf(a, in.IpPermissions, legacy)
		if err != nil {
			return nil, err
		}
		if len(rules) == 0 {
			return nil, apiError("MissingParameter", "No IP permissions specified")
		}
		for i, r := range rules {
			dup := slices.ContainsFunc(g.ingress, r.same) || slices.ContainsFunc(rules[:i], r.same)
			if dup {
				return nil, apiError("InvalidPermission.Duplicate", "the specified rule %q already exists", describeRule(r))
			}
		}
		out := &ec2.AuthorizeSecurityGroupIngressOutput{Return: aws.Bool(true)}
		for _, r := range rules {
			r.id = e.w.hexID("sgr-")
			g.ingress = append(g.ingress, r)
			sr := types.SecurityGroupRule{
				SecurityGroupRuleId: aws.String(r.id), GroupId: aws.String(g.id), GroupOwnerId: aws.String(a.id),
				IsEgress: aws.Bool(false), IpProtocol: aws.String(r.protocol), FromPort: aws.Int32(r.from), ToPort: aws.Int32(r.to),
				Description: optString(r.desc), CidrIpv4: optString(r.cidr),
			}
			if r.group != "" {
				sr.ReferencedGroupInfo = &types.ReferencedSecurityGroup{GroupId: aws.String(r.group), UserId: aws.String(r.groupOwner)}
			}
			out.SecurityGroupRules = append(out.SecurityGroupRules, sr)
		}
		return out, nil
	})
}

func describeRule(r rule) string {
	src := r.cidr
	if r.group != "" {
		src = r.group
	}
	return fmt.Sprintf("peer: %s, %s, from port: %d, to port: %d, ALLOW", src, strings.ToUpper(r.protocol), r.from, r.to)
}

func (e *EC2) RevokeSecurityGroupIngress(ctx context.Context, in *ec2.RevokeSecurityGroupIngressInput, optFns ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupIngressOutput, error) {
	return call(e.view, ctx, "ec2", "RevokeSecurityGroupIngress", func(a *account) (*ec2.RevokeSecurityGroupIngressOutput, error) {
		g, err := a.group(in.GroupId, in.GroupName)
		if err != nil {
			return nil, err
		}
		legacy := types.IpPermission{IpProtocol: in.IpProtocol, FromPort: in.FromPort, ToPort: in.ToPort}
		if in.CidrIp != nil {
			legacy.IpRanges = []types.IpRange{{CidrIp: in.CidrIp}}
		}
		var gone []rule
		if len(in.IpPermissions) > 0 || legacy.IpProtocol != nil {
			if gone, err = e.rulesOf(a, in.IpPermissions, legacy); err != nil {
				return nil, err
			}
		}
		for _, id := range in.SecurityGroupRuleIds {
			i := slices.IndexFunc(g.ingress, func(r rule) bool { return r.id == id })
			if i < 0 {
				return nil, apiError("InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '%s' does not exist", id)
			}
			gone = append(gone, g.ingress[i])
		}
		if len(gone) == 0 {
			return nil, apiError("MissingParameter", "No IP permissions specified")
		}
		for _, r := range gone {
			if !slices.ContainsFunc(g.ingress, r.same) {
				return nil, apiError("InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
			}
		}
		out := &ec2.RevokeSecurityGroupIngressOutput{Return: aws.Bool(true)}
		g.ingress = slices.DeleteFunc(g.ingress, func(r rule) bool {
			if slices.ContainsFunc(gone, r.same) {
				out.RevokedSecurityGroupRules = append(out.RevokedSecurityGroupRules, types.RevokedSecurityGroupRule{
					SecurityGroupRuleId: aws.String(r.id), GroupId: aws.String(g.id), IsEgress: aws.Bool(false),
					IpProtocol: aws.String(r.protocol), FromPort: aws.Int32(r.from), ToPort: aws.Int32(r.to),
					CidrIpv4: optString(r.cidr), ReferencedGroupId: optString(r.group),
				})
				return true
			}
			return false
		})
		return out, nil
	})
}

func (e *EC2) DeleteSecurityGroup(ctx context.Context, in *ec2.DeleteSecurityGroupInput, optFns ...func(*ec2.Options)) (*ec2.DeleteSecurityGroupOutput, error) {
	return call(e.view, ctx, "ec2", "DeleteSecurityGroup", func(a *account) (*ec2.DeleteSecurityGroupOutput, error) {
		g, err := a.group(in.GroupId, in.GroupName)
		if err != nil {
			return nil, err
		}
		if g.isDefault {
			return nil, apiError("CannotDelete", "the specified group: %q name: \"default\" cannot be deleted by a user", g.id)
		}
		w := e.w
		for _, ep := range a.endpoints {
			w.settle(ep)
			if ep.state != stateDeleted && slices.Contains(ep.groups, g.id) {
				return nil, apiError("DependencyViolation", "resource %s has a dependent object", g.id)
			}
		}
		for _, acct := range w.accounts {
			for _, other := range acct.groups {
				if other.id == g.id {
					continue
				}
				refers := func(r rule) bool { return r.group == g.id }
				if slices.ContainsFunc(other.ingress, refers) || slices.ContainsFunc(other.egress, refers) {
					return nil, apiError("DependencyViolation", "resource %s has a dependent object", g.id)
				}
			}
		}
		delete(a.groups, g.id)
		delete(a.tags, g.id)
		return &ec2.DeleteSecurityGroupOutput{GroupId: aws.String(g.id), Return: aws.Bool(true)}, nil
	})
}

// taggable checks that id names a resource of a that EC2 tagging reaches.
func (w *World) taggable(a *account, id string) error {
	var ok bool
	var code string
	switch {
	case strings.HasPrefix(id, "vpc-"):
		ok, code = a.vpcs[id] != nil, "InvalidVpcID.NotFound"
	case strings.HasPrefix(id, "subnet-"):
		ok, code = a.subnets[id] != nil, "InvalidSubnetID.NotFound"
	case strings.HasPrefix(id, "sg-"):
		ok, code = a.groups[id] != nil, "InvalidGroup.NotFound"
	case strings.HasPrefix(id, "vpce-svc-"):
		s := w.services[id]
		ok, code = s != nil && s.owner == a.id, "InvalidVpcEndpointServiceId.NotFound"
	case strings.HasPrefix(id, "vpce-"):
		ok, code = a.endpoints[id] != nil, "InvalidVpcEndpointId.NotFound"
	default:
		return apiError("InvalidID", "The ID '%s' is not valid", id)
	}
	if !ok {
		return apiError(code, "The ID '%s' does not exist", id)
	}
	return nil
}

func (e *EC2) CreateTags(ctx context.Context, in *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	return call(e.view, ctx, "ec2", "CreateTags", func(a *account) (*ec2.CreateTagsOutput, error) {
		if len(in.Resources) == 0 {
			return nil, apiError("MissingParameter", "The request must contain the parameter resourceIdSet")
		}
		if len(in.Tags) == 0 {
			return nil, apiError("MissingParameter", "The request must contain the parameter tagSet")
		}
		for _, t := range in.Tags {
			if err := validTag(t); err != nil {
				return nil, err
			}
		}
		for _, id := range in.Resources {
			if err := e.w.taggable(a, id); err != nil {
				return nil, err
			}
			n := len(a.tags[id])
			for _, t := range in.Tags {
				if _, ok := a.tags[id][aws.ToString(t.Key)]; !ok {
					n++
				}
			}
			if n > 50 {
				return nil, apiError("TagLimitExceeded", "The maximum number of tags per resource is 50")
			}
		}
		for _, id := range in.Resources {
			if a.tags[id] == nil {
				a.tags[id] = map[string]string{}
			}
			for _, t := range in.Tags {
				a.tags[id][aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
		}
		return &ec2.CreateTagsOutput{}, nil
	})
}

// DeleteTags removes tags: with no Tags every tag; a Tag without Value the key
// whatever its value; a Tag with a Value (even "") only when the value matches.
func (e *EC2) DeleteTags(ctx context.Context, in *ec2.DeleteTagsInput, optFns ...func(*ec2.Options)) (*ec2.DeleteTagsOutput, error) {
	return call(e.view, ctx, "ec2", "DeleteTags", func(a *account) (*ec2.DeleteTagsOutput, error) {
		if len(in.Resources) == 0 {
			return nil, apiError("MissingParameter", "The request must contain the parameter resourceIdSet")
		}
		for _, id := range in.Resources {
			if err := e.w.taggable(a, id); err != nil {
				return nil, err
			}
		}
		for _, id := range in.Resources {
			if len(in.Tags) == 0 {
				a.tags[id] = map[string]string{}
				continue
			}
			for _, t := range in.Tags {
				k := aws.ToString(t.Key)
				if v, ok := a.tags[id][k]; ok && (t.Value == nil || *t.Value == v) {
					delete(a.tags[id], k)
				}
			}
		}
		return &ec2.DeleteTagsOutput{}, nil
	})
}

// liveEndpoints returns the endpoints of a that still hold network interfaces
// (every state but deleted).
func (w *World) liveEndpoints(a *account) []*endpoint {
	var out []*endpoint
	for _, k := range sortedKeys(a.endpoints) {
		ep := a.endpoints[k]
		w.settle(ep)
		if ep.state != stateDeleted {
			out = append(out, ep)
		}
	}
	return out
}

// DeleteSubnet fails with DependencyViolation while an endpoint has a network
// interface in the subnet, as an owner tearing down a VPC sees it.
func (e *EC2) DeleteSubnet(ctx context.Context, in *ec2.DeleteSubnetInput, optFns ...func(*ec2.Options)) (*ec2.DeleteSubnetOutput, error) {
	return call(e.view, ctx, "ec2", "DeleteSubnet", func(a *account) (*ec2.DeleteSubnetOutput, error) {
		id := aws.ToString(in.SubnetId)
		if a.subnets[id] == nil {
			return nil, apiError("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		}
		for _, ep := range e.w.liveEndpoints(a) {
			if slices.Contains(ep.subnets, id) {
				return nil, apiError("DependencyViolation", "The subnet '%s' has dependencies and cannot be deleted.", id)
			}
		}
		delete(a.subnets, id)
		delete(a.tags, id)
		return &ec2.DeleteSubnetOutput{}, nil
	})
}

// DeleteVpc fails with DependencyViolation while the VPC has subnets, security
// groups other than its default one, or endpoints that are not deleted.
func (e *EC2) DeleteVpc(ctx context.Context, in *ec2.DeleteVpcInput, optFns ...func(*ec2.Options)) (*ec2.DeleteVpcOutput, error) {
	return call(e.view, ctx, "ec2", "DeleteVpc", func(a *account) (*ec2.DeleteVpcOutput, error) {
		id := aws.ToString(in.VpcId)
		v := a.vpcs[id]
		if v == nil {
			return nil, apiError("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
		}
		blocked := slices.ContainsFunc(mapValues(a.subnets), func(s *subnet) bool { return s.vpc == id }) ||
			slices.ContainsFunc(mapValues(a.groups), func(g *securityGroup) bool { return g.vpc == id && !g.isDefault }) ||
			slices.ContainsFunc(e.w.liveEndpoints(a), func(ep *endpoint) bool { return ep.vpc == id })
		if blocked {
			return nil, apiError("DependencyViolation", "The vpc '%s' has dependencies and can not be deleted.", id)
		}
		delete(a.groups, v.defaultGroup)
		delete(a.tags, v.defaultGroup)
		delete(a.vpcs, id)
		delete(a.tags, id)
		return &ec2.DeleteVpcOutput{}, nil
	})
}
