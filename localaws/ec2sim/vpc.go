package ec2sim

import (
	"fmt"
	"maps"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

type vpc struct {
	id, owner string
	cidr      netip.Prefix
	assocID   string
	dhcpID    string
	tags      map[string]string
	tagLog    tagLog
	defaultSG *securityGroup
	subnets   map[string]*subnet
	groups    map[string]*securityGroup
	endpoints map[string]*endpoint
}

type subnet struct {
	id, owner, region string
	vpc               *vpc
	cidr              netip.Prefix
	az, azID          string
	tags              map[string]string
	tagLog            tagLog
	enis              map[string]*endpoint // network interface id -> endpoint
}

// VPC is a VPC to seed.
type VPC struct {
	ID, CIDR string
	Tags     map[string]string
}

// Subnet is a subnet to seed. AZ is the account's zone name (us-east-1a);
// AZID is derived from it when empty (and must agree with it when both are
// given; either alone is enough).
type Subnet struct {
	ID, VPCID, CIDR, AZ, AZID string
	Tags                      map[string]string
}

// AddVPC seeds a VPC (with its default security group) in account/region,
// emitting nothing. An empty ID is generated.
func (s *Service) AddVPC(account, region string, v VPC) (VPC, error) {
	if err := validLocation(account, region); err != nil {
		return VPC{}, err
	}
	if err := validTags(v.Tags); err != nil {
		return VPC{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.region(account, region, true)
	if v.ID != "" {
		if !strings.HasPrefix(v.ID, "vpc-") {
			return VPC{}, fmt.Errorf("seeding VPC %q: id must start with vpc-", v.ID)
		}
		if r.vpcs[v.ID] != nil {
			return VPC{}, fmt.Errorf("seeding VPC %s: already exists", v.ID)
		}
	}
	created, err := s.newVPC(r, v.ID, v.CIDR, maps.Clone(v.Tags))
	if err != nil {
		return VPC{}, fmt.Errorf("seeding VPC in %s/%s, %w", account, region, err)
	}
	return VPC{ID: created.id, CIDR: created.cidr.String(), Tags: maps.Clone(created.tags)}, nil
}

// AddSubnet seeds a subnet, emitting nothing. An empty ID is generated.
func (s *Service) AddSubnet(account, region string, sn Subnet) (Subnet, error) {
	if err := validLocation(account, region); err != nil {
		return Subnet{}, err
	}
	if err := validTags(sn.Tags); err != nil {
		return Subnet{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.region(account, region, true)
	if sn.ID != "" {
		if !strings.HasPrefix(sn.ID, "subnet-") {
			return Subnet{}, fmt.Errorf("seeding subnet %q: id must start with subnet-", sn.ID)
		}
		if r.subnets[sn.ID] != nil {
			return Subnet{}, fmt.Errorf("seeding subnet %s: already exists", sn.ID)
		}
	}
	v := r.vpcs[sn.VPCID]
	if v == nil {
		return Subnet{}, fmt.Errorf("seeding subnet in %s/%s, %w", account, region, vpcNotFound(sn.VPCID))
	}
	created, err := s.newSubnet(r, v, sn.ID, sn.CIDR, sn.AZ, sn.AZID, maps.Clone(sn.Tags))
	if err != nil {
		return Subnet{}, fmt.Errorf("seeding subnet in %s, %w", sn.VPCID, err)
	}
	return Subnet{ID: created.id, VPCID: v.id, CIDR: created.cidr.String(), AZ: created.az, AZID: created.azID, Tags: maps.Clone(created.tags)}, nil
}

func validLocation(account, region string) error {
	if !validAccount(account) {
		return fmt.Errorf("account %q is not 12 digits", account)
	}
	if !regionPattern.MatchString(region) {
		return fmt.Errorf("region %q is not a Region name", region)
	}
	return nil
}

func validTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return fmt.Errorf("%d tags, at most %d", len(tags), maxTags)
	}
	for k, v := range tags {
		if err := validateTag(k, v); err != nil {
			return err
		}
	}
	return nil
}

func vpcNotFound(id string) error {
	return awsproto.Errorf("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
}

func subnetNotFound(id string) error {
	return awsproto.Errorf("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
}

func parseCIDR(s, param string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, awsproto.Errorf("InvalidParameterValue", "Value (%s) for parameter %s is invalid. This is not a valid CIDR block.", s, param)
	}
	return p.Masked(), nil
}

func (s *Service) newVPC(r *region, id, cidr string, tags map[string]string) (*vpc, error) {
	if cidr == "" {
		return nil, awsproto.Errorf("MissingParameter", "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.")
	}
	p, err := parseCIDR(cidr, "cidrBlock")
	if err != nil {
		return nil, err
	}
	if p.Bits() < 16 || p.Bits() > 28 {
		return nil, awsproto.Errorf("InvalidVpc.Range", "The CIDR '%s' is invalid.", cidr)
	}
	if id == "" {
		id = s.newID("vpc-")
	}
	if tags == nil {
		tags = map[string]string{}
	}
	v := &vpc{
		id: id, owner: r.account, cidr: p, tags: tags,
		assocID:   s.newID("vpc-cidr-assoc-"),
		dhcpID:    "dopt-" + id[len("vpc-"):],
		subnets:   map[string]*subnet{},
		groups:    map[string]*securityGroup{},
		endpoints: map[string]*endpoint{},
	}
	r.vpcs[id] = v
	sg := s.newGroup(r, v, "default", "default VPC security group", nil, time.Time{})
	// The default group admits traffic from its own members.
	sg.rules = append(sg.rules, &sgRule{id: s.newID("sgr-"), protocol: "-1", from: -1, to: -1, peerGroup: sg.id, peerOwner: r.account})
	v.defaultSG = sg
	return v, nil
}

func (s *Service) newSubnet(r *region, v *vpc, id, cidr, az, azID string, tags map[string]string) (*subnet, error) {
	if cidr == "" {
		return nil, awsproto.Errorf("MissingParameter", "The request must contain the parameter cidrBlock")
	}
	p, err := parseCIDR(cidr, "cidrBlock")
	if err != nil {
		return nil, err
	}
	if p.Bits() < 16 || p.Bits() > 28 || !v.cidr.Contains(p.Addr()) || p.Bits() < v.cidr.Bits() {
		return nil, awsproto.Errorf("InvalidSubnet.Range", "The CIDR '%s' is invalid.", cidr)
	}
	for _, other := range v.subnets {
		if other.cidr.Overlaps(p) {
			return nil, awsproto.Errorf("InvalidSubnet.Conflict", "The CIDR '%s' conflicts with another subnet", cidr)
		}
	}
	switch {
	case az == "" && azID == "":
		az = r.name + "a"
		azID = r.zoneID(az)
	case az == "":
		az = r.zoneName(azID)
		if az == "" {
			return nil, awsproto.Errorf("InvalidParameterValue", "Value (%s) for parameter availabilityZoneId is invalid. Subnets can currently only be created in the following availability zones: %s.", azID, strings.Join(r.zoneIDs(), ", "))
		}
	default:
		id := r.zoneID(az)
		if id == "" {
			return nil, awsproto.Errorf("InvalidParameterValue", "Value (%s) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: %s.", az, strings.Join(zoneNames(r.name), ", "))
		}
		if azID != "" && azID != id {
			return nil, awsproto.Errorf("InvalidParameterCombination", "Availability zone %s is %s in this account, not %s", az, id, azID)
		}
		azID = id
	}
	if id == "" {
		id = s.newID("subnet-")
	}
	if tags == nil {
		tags = map[string]string{}
	}
	sn := &subnet{id: id, owner: r.account, region: r.name, vpc: v, cidr: p, az: az, azID: azID, tags: tags, enis: map[string]*endpoint{}}
	r.subnets[id] = sn
	v.subnets[id] = sn
	return sn, nil
}

func (r *region) zoneIDs() []string {
	var out []string
	for _, n := range zoneNames(r.name) {
		out = append(out, r.zoneID(n))
	}
	sort.Strings(out)
	return out
}

var vpcFilters = nameSet("vpc-id", "cidr", "cidr-block-association.cidr-block", "state", "owner-id", "is-default", "dhcp-options-id")

func (o *op) describeVpcs() ([]byte, error) {
	ids := o.list("VpcId")
	if err := o.noMaxWithIDs(ids, "vpcIds"); err != nil {
		return nil, err
	}
	fs, err := o.filters(vpcFilters)
	if err != nil {
		return nil, err
	}
	pg, err := o.paging(5)
	if err != nil {
		return nil, err
	}
	var candidates []*vpc
	if len(ids) > 0 {
		for _, id := range ids {
			v := o.r.vpcs[id]
			if v == nil {
				return nil, vpcNotFound(id)
			}
			candidates = append(candidates, v)
		}
	} else {
		for _, v := range o.r.vpcs {
			candidates = append(candidates, v)
		}
	}
	byID := map[string]*vpc{}
	tagsOf := map[string]map[string]string{}
	var keep []string
	for _, v := range candidates {
		if _, dup := byID[v.id]; dup {
			continue
		}
		if tags, ok := o.filterSeen(fs, v.tagLog, v.tags, v.field); ok {
			byID[v.id], tagsOf[v.id] = v, tags
			keep = append(keep, v.id)
		}
	}
	keep, next := pg.apply(keep)
	w := o.response()
	w.open("vpcSet")
	for _, id := range keep {
		w.open("item")
		byID[id].write(w, "available", tagsOf[id])
		w.close("item")
	}
	w.close("vpcSet")
	w.opt("nextToken", next)
	return o.finish(w), nil
}

func (v *vpc) field(name string) []string {
	switch name {
	case "vpc-id":
		return []string{v.id}
	case "cidr", "cidr-block-association.cidr-block":
		return []string{v.cidr.String()}
	case "state":
		return []string{"available"}
	case "owner-id":
		return []string{v.owner}
	case "is-default":
		return []string{"false"}
	case "dhcp-options-id":
		return []string{v.dhcpID}
	}
	return nil
}

func (v *vpc) write(w *xmlWriter, state string, tags map[string]string) {
	w.elem("vpcId", v.id)
	w.elem("ownerId", v.owner)
	w.elem("state", state)
	w.elem("cidrBlock", v.cidr.String())
	w.open("cidrBlockAssociationSet")
	w.open("item")
	w.elem("cidrBlock", v.cidr.String())
	w.elem("associationId", v.assocID)
	w.open("cidrBlockState")
	w.elem("state", "associated")
	w.close("cidrBlockState")
	w.close("item")
	w.close("cidrBlockAssociationSet")
	w.raw("<ipv6CidrBlockAssociationSet/>")
	w.elem("dhcpOptionsId", v.dhcpID)
	w.elem("instanceTenancy", "default")
	w.boolean("isDefault", false)
	w.tags(tags)
}

func (o *op) createVpc() ([]byte, error) {
	tags, pairs, err := o.tagSpecs("vpc")
	var v *vpc
	if err == nil {
		v, err = o.s.newVPC(o.r, "", o.form.Get("CidrBlock"), tags)
	}
	params := map[string]any{
		"cidrBlock":                   o.form.Get("CidrBlock"),
		"instanceTenancy":             orDefault(o.form.Get("InstanceTenancy"), "default"),
		"amazonProvidedIpv6CidrBlock": o.form.Get("AmazonProvidedIpv6CidrBlock") == "true",
	}
	if len(pairs) > 0 {
		params["tagSpecificationSet"] = map[string]any{"items": []any{map[string]any{"resourceType": "vpc", "tags": cloudTrailTags(pairs)}}}
	}
	if err != nil {
		o.cloudTrail(params, nil, err)
		return nil, err
	}
	o.cloudTrail(params, map[string]any{
		"vpc": map[string]any{
			"vpcId": v.id, "state": "pending", "ownerId": v.owner, "cidrBlock": v.cidr.String(),
			"dhcpOptionsId": v.dhcpID, "instanceTenancy": "default", "isDefault": false,
			"tagSet": map[string]any{"items": cloudTrailTags(pairs)},
		},
	}, nil)
	w := o.response()
	w.open("vpc")
	v.write(w, "pending", v.tags)
	w.close("vpc")
	return o.finish(w), nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (o *op) deleteVpc() ([]byte, error) {
	id := o.form.Get("VpcId")
	params := map[string]any{"vpcId": id}
	err := o.removeVPC(id)
	o.cloudTrail(params, nil, err)
	if err != nil {
		return nil, err
	}
	return o.returnTrue(), nil
}

func (o *op) removeVPC(id string) error {
	if id == "" {
		return awsproto.Errorf("MissingParameter", "The request must contain the parameter vpcId")
	}
	v := o.r.vpcs[id]
	if v == nil {
		return vpcNotFound(id)
	}
	var deps []string
	for _, sn := range v.subnets {
		deps = append(deps, sn.id)
	}
	for _, g := range v.groups {
		if g != v.defaultSG {
			deps = append(deps, g.id)
		}
	}
	for _, e := range v.endpoints {
		if e.state(o.now, o.s.delay) != "deleted" {
			deps = append(deps, e.id)
		}
	}
	if len(deps) > 0 {
		sort.Strings(deps)
		return awsproto.Errorf("DependencyViolation", "The vpc '%s' has dependencies and cannot be deleted. Dependencies: %s", id, strings.Join(deps, ", "))
	}
	delete(o.r.groups, v.defaultSG.id)
	delete(o.r.vpcs, id)
	return nil
}

var subnetFilters = nameSet("vpc-id", "subnet-id", "availability-zone", "availability-zone-id", "availabilityZone", "cidr-block", "cidr", "cidrBlock", "state", "owner-id", "default-for-az", "subnet-arn")

func (o *op) describeSubnets() ([]byte, error) {
	ids := o.list("SubnetId")
	if err := o.noMaxWithIDs(ids, "subnetIds"); err != nil {
		return nil, err
	}
	fs, err := o.filters(subnetFilters)
	if err != nil {
		return nil, err
	}
	pg, err := o.paging(5)
	if err != nil {
		return nil, err
	}
	byID := map[string]*subnet{}
	tagsOf := map[string]map[string]string{}
	var keep []string
	consider := func(sn *subnet) {
		if _, dup := byID[sn.id]; dup {
			return
		}
		if tags, ok := o.filterSeen(fs, sn.tagLog, sn.tags, sn.field); ok {
			byID[sn.id], tagsOf[sn.id] = sn, tags
			keep = append(keep, sn.id)
		}
	}
	if len(ids) > 0 {
		for _, id := range ids {
			sn := o.r.subnets[id]
			if sn == nil {
				return nil, subnetNotFound(id)
			}
			consider(sn)
		}
	} else if vs := vpcIDFilter(fs); vs != nil {
		// The common case: subnets of one VPC, without scanning the account.
		for _, vid := range vs {
			if v := o.r.vpcs[vid]; v != nil {
				for _, sn := range v.subnets {
					consider(sn)
				}
			}
		}
	} else {
		for _, sn := range o.r.subnets {
			consider(sn)
		}
	}
	keep, next := pg.apply(keep)
	w := o.response()
	w.open("subnetSet")
	for _, id := range keep {
		w.open("item")
		byID[id].write(w, tagsOf[id])
		w.close("item")
	}
	w.close("subnetSet")
	w.opt("nextToken", next)
	return o.finish(w), nil
}

// vpcIDFilter returns the values of a wildcard-free vpc-id filter, or nil.
func vpcIDFilter(fs []filter) []string {
	for _, f := range fs {
		if f.name == "vpc-id" {
			for _, v := range f.values {
				if strings.ContainsAny(v, "*?") {
					return nil
				}
			}
			return f.values
		}
	}
	return nil
}

func (sn *subnet) arn() string {
	return "arn:aws:ec2:" + sn.region + ":" + sn.owner + ":subnet/" + sn.id
}

func (sn *subnet) field(name string) []string {
	switch name {
	case "vpc-id":
		return []string{sn.vpc.id}
	case "subnet-id":
		return []string{sn.id}
	case "availability-zone", "availabilityZone":
		return []string{sn.az}
	case "availability-zone-id":
		return []string{sn.azID}
	case "cidr-block", "cidr", "cidrBlock":
		return []string{sn.cidr.String()}
	case "state":
		return []string{"available"}
	case "owner-id":
		return []string{sn.owner}
	case "default-for-az":
		return []string{"false"}
	case "subnet-arn":
		return []string{sn.arn()}
	}
	return nil
}

func (sn *subnet) write(w *xmlWriter, tags map[string]string) {
	w.elem("subnetId", sn.id)
	w.elem("subnetArn", sn.arn())
	w.elem("state", "available")
	w.elem("ownerId", sn.owner)
	w.elem("vpcId", sn.vpc.id)
	w.elem("cidrBlock", sn.cidr.String())
	w.integer("availableIpAddressCount", (1<<(32-sn.cidr.Bits()))-5-len(sn.enis))
	w.elem("availabilityZone", sn.az)
	w.elem("availabilityZoneId", sn.azID)
	w.boolean("defaultForAz", false)
	w.boolean("mapPublicIpOnLaunch", false)
	w.boolean("assignIpv6AddressOnCreation", false)
	w.raw("<ipv6CidrBlockAssociationSet/>")
	w.tags(tags)
}

func (o *op) createSubnet() ([]byte, error) {
	vid, err := o.require("VpcId")
	if err != nil {
		return nil, err
	}
	tags, _, err := o.tagSpecs("subnet")
	if err != nil {
		return nil, err
	}
	v := o.r.vpcs[vid]
	if v == nil {
		return nil, vpcNotFound(vid)
	}
	sn, err := o.s.newSubnet(o.r, v, "", o.form.Get("CidrBlock"), o.form.Get("AvailabilityZone"), o.form.Get("AvailabilityZoneId"), tags)
	if err != nil {
		return nil, err
	}
	w := o.response()
	w.open("subnet")
	sn.write(w, sn.tags)
	w.close("subnet")
	return o.finish(w), nil
}

func (o *op) deleteSubnet() ([]byte, error) {
	id := o.form.Get("SubnetId")
	err := o.removeSubnet(id)
	o.cloudTrail(map[string]any{"subnetId": id}, nil, err)
	if err != nil {
		return nil, err
	}
	return o.returnTrue(), nil
}

func (o *op) removeSubnet(id string) error {
	if id == "" {
		return awsproto.Errorf("MissingParameter", "The request must contain the parameter subnetId")
	}
	sn := o.r.subnets[id]
	if sn == nil {
		return subnetNotFound(id)
	}
	var deps []string
	for eni, e := range sn.enis {
		if e.state(o.now, o.s.delay) != "deleted" {
			deps = append(deps, eni+" ("+e.id+")")
		}
	}
	if len(deps) > 0 {
		sort.Strings(deps)
		return awsproto.Errorf("DependencyViolation", "The subnet '%s' has dependencies and cannot be deleted. Dependencies: %s", id, strings.Join(deps, ", "))
	}
	delete(sn.vpc.subnets, id)
	delete(o.r.subnets, id)
	return nil
}
