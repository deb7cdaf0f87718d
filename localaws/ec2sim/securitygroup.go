package ec2sim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

type securityGroup struct {
	id, owner, region string
	name, description string
	vpc               *vpc
	tags              map[string]string
	tagLog            tagLog
	rules             []*sgRule // ingress
	egress            []*sgRule
	seenFrom          time.Time // reads see the group from then on
}

// sgRule is one rule: a protocol and port range from one source (a CIDR
// or a peer group). protocol is tcp, udp, icmp, -1 or a number.
type sgRule struct {
	id          string
	protocol    string
	from, to    int
	cidr        string
	peerGroup   string
	peerOwner   string
	description string
	seenFrom    time.Time // reads see the rule from then on
}

func (r *sgRule) same(o *sgRule) bool {
	return r.protocol == o.protocol && r.from == o.from && r.to == o.to && r.cidr == o.cidr && r.peerGroup == o.peerGroup
}

func (r *sgRule) String() string {
	peer := r.cidr
	if peer == "" {
		peer = r.peerGroup
	}
	proto := strings.ToUpper(r.protocol)
	if r.protocol == "-1" {
		proto = "ALL"
	}
	return fmt.Sprintf("peer: %s, %s, from port: %d, to port: %d, ALLOW", peer, proto, r.from, r.to)
}

// newGroup makes a group (and its default egress rule) that reads see from
// seenFrom on.
func (s *Service) newGroup(r *region, v *vpc, name, description string, tags map[string]string, seenFrom time.Time) *securityGroup {
	if tags == nil {
		tags = map[string]string{}
	}
	g := &securityGroup{
		id: s.newID("sg-"), owner: r.account, region: r.name, name: name, description: description, vpc: v, tags: tags,
		egress:   []*sgRule{{id: s.newID("sgr-"), protocol: "-1", from: -1, to: -1, cidr: "0.0.0.0/0", seenFrom: seenFrom}},
		seenFrom: seenFrom,
	}
	r.groups[g.id] = g
	v.groups[g.id] = g
	return g
}

func (g *securityGroup) arn() string {
	return "arn:aws:ec2:" + g.region + ":" + g.owner + ":security-group/" + g.id
}

func groupNotFound(id string) error {
	return awsproto.Errorf("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
}

// group finds a group by id as this call sees it (nil: unknown, or created
// too recently to be seen).
func (o *op) group(id string) *securityGroup {
	g := o.r.groups[id]
	if g == nil || !o.sees(g.seenFrom) {
		return nil
	}
	return g
}

// seenRules are the rules of a group this call sees.
func (o *op) seenRules(rules []*sgRule) []*sgRule {
	out := rules
	for i, r := range rules {
		if o.now.Before(r.seenFrom) {
			o.stale = true
			if len(out) == len(rules) {
				out = append([]*sgRule(nil), rules[:i]...)
			}
			continue
		}
		if len(out) != len(rules) {
			out = append(out, r)
		}
	}
	return out
}

// groupByName refuses GroupName lookups: EC2 resolves names only in the
// default VPC, and the local AWS has none. Use the group-name filter.
func groupByName(name string) error {
	return awsproto.Errorf("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC 'none' (name lookups work only in a default VPC; filter by group-name and vpc-id)", name)
}

func (o *op) createSecurityGroup() ([]byte, error) {
	name, err := o.require("GroupName")
	if err != nil {
		return nil, err
	}
	desc, err := o.require("GroupDescription")
	if err != nil {
		return nil, err
	}
	vid := o.form.Get("VpcId")
	if vid == "" {
		return nil, awsproto.Errorf("VPCIdNotSpecified", "No default VPC for this user")
	}
	if len(name) > 255 || strings.HasPrefix(strings.ToLower(name), "sg-") {
		return nil, awsproto.Errorf("InvalidParameterValue", "Value (%s) for parameter GroupName is invalid. Group names may not be in the format sg-*.", name)
	}
	tags, _, err := o.tagSpecs("security-group")
	if err != nil {
		return nil, err
	}
	v := o.r.vpcs[vid]
	if v == nil {
		return nil, vpcNotFound(vid)
	}
	for _, g := range v.groups {
		if g.name == name {
			return nil, awsproto.Errorf("InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", name, vid)
		}
	}
	g := o.s.newGroup(o.r, v, name, desc, tags, o.visibleFrom())
	w := o.response()
	w.elem("groupId", g.id)
	w.elem("securityGroupArn", g.arn())
	w.tags(g.tags)
	return o.finish(w), nil
}

func (o *op) deleteSecurityGroup() ([]byte, error) {
	id := o.form.Get("GroupId")
	if id == "" {
		if name := o.form.Get("GroupName"); name != "" {
			return nil, groupByName(name)
		}
		return nil, awsproto.Errorf("MissingParameter", "The request must contain the parameter groupId")
	}
	g := o.group(id)
	if g == nil {
		return nil, groupNotFound(id)
	}
	if g == g.vpc.defaultSG {
		return nil, awsproto.Errorf("CannotDelete", "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", id)
	}
	for _, e := range g.vpc.endpoints {
		if e.groups[id] && e.state(o.now, o.s.delay) != "deleted" {
			return nil, awsproto.Errorf("DependencyViolation", "resource %s has a dependent object (%s)", id, e.id)
		}
	}
	for _, other := range o.r.groups {
		if other == g {
			continue
		}
		for _, r := range append(other.rules, other.egress...) {
			if r.peerGroup == id {
				return nil, awsproto.Errorf("DependencyViolation", "resource %s has a dependent object (%s)", id, other.id)
			}
		}
	}
	delete(g.vpc.groups, id)
	delete(o.r.groups, id)
	w := o.response()
	w.elem("return", "true")
	w.elem("groupId", id)
	return o.finish(w), nil
}

// permissions reads IpPermissions.N (or the legacy top-level IpProtocol,
// FromPort, ToPort, CidrIp) as rules, one per source.
func (o *op) permissions() ([]*sgRule, error) {
	var out []*sgRule
	for i := 1; ; i++ {
		p := "IpPermissions." + strconv.Itoa(i)
		if !o.has(p+".IpProtocol") && !o.has(p+".FromPort") && !o.has(p+".IpRanges.1.CidrIp") && !o.has(p+".Groups.1.GroupId") {
			break
		}
		rules, err := o.permission(p+".", o.form.Get(p+".IpProtocol"), o.form.Get(p+".FromPort"), o.form.Get(p+".ToPort"))
		if err != nil {
			return nil, err
		}
		out = append(out, rules...)
	}
	if len(out) == 0 && o.has("IpProtocol") {
		rules, err := o.permission("", o.form.Get("IpProtocol"), o.form.Get("FromPort"), o.form.Get("ToPort"))
		if err != nil {
			return nil, err
		}
		out = append(out, rules...)
	}
	if len(out) == 0 {
		return nil, awsproto.Errorf("MissingParameter", "No permissions specified")
	}
	return out, nil
}

func (o *op) permission(prefix, protocol, fromS, toS string) ([]*sgRule, error) {
	base, err := ruleBase(protocol, fromS, toS)
	if err != nil {
		return nil, err
	}
	out, err := o.cidrRules(prefix, base)
	if err != nil {
		return nil, err
	}
	peers, err := o.peerRules(prefix, base)
	if err != nil {
		return nil, err
	}
	out = append(out, peers...)
	if len(out) == 0 {
		return nil, awsproto.Errorf("InvalidParameterValue", "Invalid rule: no source (IpRanges or UserIdGroupPairs) given for protocol %s", protocol)
	}
	return out, nil
}

// ruleBase is the protocol and port range a permission's rules share.
func ruleBase(protocol, fromS, toS string) (sgRule, error) {
	base := sgRule{from: -1, to: -1}
	switch strings.ToLower(protocol) {
	case "tcp", "6":
		base.protocol = "tcp"
	case "udp", "17":
		base.protocol = "udp"
	case "icmp", "1":
		base.protocol = "icmp"
	case "-1", "all":
		base.protocol = "-1"
	case "":
		return sgRule{}, awsproto.Errorf("MissingParameter", "The request must contain the parameter ipProtocol")
	default:
		n, err := strconv.Atoi(protocol)
		if err != nil || n < 0 || n > 255 {
			return sgRule{}, awsproto.Errorf("InvalidParameterValue", "Invalid value '%s' for IP protocol. Unknown protocol.", protocol)
		}
		base.protocol = protocol
	}
	if base.protocol != "-1" {
		var err1, err2 error
		base.from, err1 = strconv.Atoi(fromS)
		base.to, err2 = strconv.Atoi(toS)
		if (base.protocol == "tcp" || base.protocol == "udp") && (err1 != nil || err2 != nil || base.from < 0 || base.to > 65535 || base.from > base.to) {
			return sgRule{}, awsproto.Errorf("InvalidParameterValue", "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange")
		}
		if err1 != nil || err2 != nil {
			base.from, base.to = -1, -1
		}
	}
	return base, nil
}

// cidrRules are a permission's rules from IP ranges: its IpRanges.N and,
// for the flat form of the call (no prefix), CidrIp.
func (o *op) cidrRules(prefix string, base sgRule) ([]*sgRule, error) {
	var out []*sgRule
	for j := 1; ; j++ {
		q := prefix + "IpRanges." + strconv.Itoa(j)
		c, ok := o.form[q+".CidrIp"]
		if !ok {
			break
		}
		cidr, err := parseCIDR(c[0], "cidrIp")
		if err != nil {
			return nil, err
		}
		r := base
		r.cidr = cidr.String()
		r.description = o.form.Get(q + ".Description")
		out = append(out, &r)
	}
	if prefix == "" && o.form.Get("CidrIp") != "" {
		cidr, err := parseCIDR(o.form.Get("CidrIp"), "cidrIp")
		if err != nil {
			return nil, err
		}
		r := base
		r.cidr = cidr.String()
		out = append(out, &r)
	}
	return out, nil
}

// peerRules are a permission's rules from other security groups
// (Groups.N), which must exist; naming a group only by name is refused.
func (o *op) peerRules(prefix string, base sgRule) ([]*sgRule, error) {
	var out []*sgRule
	for j := 1; ; j++ {
		q := prefix + "Groups." + strconv.Itoa(j)
		gid, ok := o.form[q+".GroupId"]
		if !ok {
			if name := o.form.Get(q + ".GroupName"); name != "" {
				return nil, groupByName(name)
			}
			break
		}
		peer := o.group(gid[0])
		if peer == nil {
			return nil, groupNotFound(gid[0])
		}
		r := base
		r.peerGroup = peer.id
		r.peerOwner = peer.owner
		r.description = o.form.Get(q + ".Description")
		out = append(out, &r)
	}
	return out, nil
}

// targetGroup resolves the GroupId of an ingress call.
func (o *op) targetGroup() (*securityGroup, error) {
	id := o.form.Get("GroupId")
	if id == "" {
		if name := o.form.Get("GroupName"); name != "" {
			return nil, groupByName(name)
		}
		return nil, awsproto.Errorf("MissingParameter", "The request must contain the parameter groupId")
	}
	g := o.group(id)
	if g == nil {
		return nil, groupNotFound(id)
	}
	return g, nil
}

func (o *op) authorizeIngress() ([]byte, error) {
	g, err := o.targetGroup()
	if err != nil {
		return nil, err
	}
	rules, err := o.permissions()
	if err != nil {
		return nil, err
	}
	var added []*sgRule
	for _, r := range rules {
		for _, have := range append(g.rules, added...) {
			if have.same(r) {
				return nil, awsproto.Errorf("InvalidPermission.Duplicate", "the specified rule \"%s\" already exists", r)
			}
		}
		added = append(added, r)
	}
	for _, r := range added {
		r.id = o.s.newID("sgr-")
		r.seenFrom = o.visibleFrom()
	}
	g.rules = append(g.rules, added...)
	w := o.response()
	w.elem("return", "true")
	w.open("securityGroupRuleSet")
	for _, r := range added {
		w.open("item")
		g.writeRule(w, r, false)
		w.close("item")
	}
	w.close("securityGroupRuleSet")
	return o.finish(w), nil
}

func (o *op) revokeIngress() ([]byte, error) {
	g, err := o.targetGroup()
	if err != nil {
		return nil, err
	}
	remove := map[*sgRule]bool{}
	if ids := o.list("SecurityGroupRuleId"); len(ids) > 0 {
		for _, id := range ids {
			found := false
			for _, r := range g.rules {
				if r.id == id && o.sees(r.seenFrom) {
					remove[r] = true
					found = true
				}
			}
			if !found {
				return nil, awsproto.Errorf("InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '%s' does not exist", id)
			}
		}
	} else {
		rules, err := o.permissions()
		if err != nil {
			return nil, err
		}
		for _, want := range rules {
			found := false
			for _, r := range g.rules {
				if r.same(want) {
					remove[r] = true
					found = true
				}
			}
			if !found {
				return nil, awsproto.Errorf("InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
			}
		}
	}
	kept := g.rules[:0:0]
	for _, r := range g.rules {
		if !remove[r] {
			kept = append(kept, r)
		}
	}
	g.rules = kept
	return o.returnTrue(), nil
}

var groupFilters = nameSet("vpc-id", "group-name", "group-id", "description", "owner-id",
	"ip-permission.group-id", "ip-permission.cidr", "ip-permission.from-port", "ip-permission.to-port", "ip-permission.protocol")

func (g *securityGroup) field(name string) []string {
	switch name {
	case "vpc-id":
		return []string{g.vpc.id}
	case "group-name":
		return []string{g.name}
	case "group-id":
		return []string{g.id}
	case "description":
		return []string{g.description}
	case "owner-id":
		return []string{g.owner}
	}
	var out []string
	for _, r := range g.rules {
		switch name {
		case "ip-permission.group-id":
			out = append(out, r.peerGroup)
		case "ip-permission.cidr":
			out = append(out, r.cidr)
		case "ip-permission.from-port":
			out = append(out, strconv.Itoa(r.from))
		case "ip-permission.to-port":
			out = append(out, strconv.Itoa(r.to))
		case "ip-permission.protocol":
			out = append(out, r.protocol)
		}
	}
	return out
}

func (o *op) describeSecurityGroups() ([]byte, error) {
	ids := o.list("GroupId")
	if names := o.list("GroupName"); len(names) > 0 {
		return nil, groupByName(names[0])
	}
	if err := o.noMaxWithIDs(ids, "groupIds"); err != nil {
		return nil, err
	}
	fs, err := o.filters(groupFilters)
	if err != nil {
		return nil, err
	}
	pg, err := o.paging(5)
	if err != nil {
		return nil, err
	}
	byID := map[string]*securityGroup{}
	tagsOf := map[string]map[string]string{}
	var keep []string
	consider := func(g *securityGroup) {
		if _, dup := byID[g.id]; dup {
			return
		}
		if o.now.Before(g.seenFrom) {
			if matches(fs, g.tags, g.field) {
				o.stale = true // omitted: created too recently
			}
			return
		}
		if tags, ok := o.filterSeen(fs, g.tagLog, g.tags, g.field); ok {
			byID[g.id], tagsOf[g.id] = g, tags
			keep = append(keep, g.id)
		}
	}
	if len(ids) > 0 {
		for _, id := range ids {
			g := o.group(id)
			if g == nil {
				return nil, groupNotFound(id)
			}
			consider(g)
		}
	} else if vs := vpcIDFilter(fs); vs != nil {
		for _, vid := range vs {
			if v := o.r.vpcs[vid]; v != nil {
				for _, g := range v.groups {
					consider(g)
				}
			}
		}
	} else {
		for _, g := range o.r.groups {
			consider(g)
		}
	}
	keep, next := pg.apply(keep)
	w := o.response()
	w.open("securityGroupInfo")
	for _, id := range keep {
		w.open("item")
		o.writeGroup(w, byID[id], tagsOf[id])
		w.close("item")
	}
	w.close("securityGroupInfo")
	w.opt("nextToken", next)
	return o.finish(w), nil
}

func (o *op) writeGroup(w *xmlWriter, g *securityGroup, tags map[string]string) {
	w.elem("ownerId", g.owner)
	w.elem("groupId", g.id)
	w.elem("groupName", g.name)
	w.elem("groupDescription", g.description)
	w.elem("vpcId", g.vpc.id)
	w.elem("securityGroupArn", g.arn())
	writePermissions(w, "ipPermissions", o.seenRules(g.rules))
	writePermissions(w, "ipPermissionsEgress", o.seenRules(g.egress))
	w.tags(tags)
}

// writePermissions groups rules by protocol and port range, as EC2
// reports them.
func writePermissions(w *xmlWriter, name string, rules []*sgRule) {
	type key struct {
		protocol string
		from, to int
	}
	var order []key
	groups := map[key][]*sgRule{}
	for _, r := range rules {
		k := key{r.protocol, r.from, r.to}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	w.open(name)
	for _, k := range order {
		w.open("item")
		w.elem("ipProtocol", k.protocol)
		if k.protocol != "-1" {
			w.integer("fromPort", k.from)
			w.integer("toPort", k.to)
		}
		w.open("groups")
		for _, r := range groups[k] {
			if r.peerGroup != "" {
				w.open("item")
				w.elem("userId", r.peerOwner)
				w.elem("groupId", r.peerGroup)
				w.opt("description", r.description)
				w.close("item")
			}
		}
		w.close("groups")
		w.open("ipRanges")
		for _, r := range groups[k] {
			if r.cidr != "" {
				w.open("item")
				w.elem("cidrIp", r.cidr)
				w.opt("description", r.description)
				w.close("item")
			}
		}
		w.close("ipRanges")
		w.raw("<ipv6Ranges/><prefixListIds/>")
		w.close("item")
	}
	w.close(name)
}

func (g *securityGroup) writeRule(w *xmlWriter, r *sgRule, egress bool) {
	w.elem("securityGroupRuleId", r.id)
	w.elem("groupId", g.id)
	w.elem("groupOwnerId", g.owner)
	w.boolean("isEgress", egress)
	w.elem("ipProtocol", r.protocol)
	w.integer("fromPort", r.from)
	w.integer("toPort", r.to)
	w.opt("cidrIpv4", r.cidr)
	if r.peerGroup != "" {
		w.open("referencedGroupInfo")
		w.elem("groupId", r.peerGroup)
		w.elem("userId", r.peerOwner)
		w.close("referencedGroupInfo")
	}
	w.opt("description", r.description)
	w.elem("securityGroupRuleArn", "arn:aws:ec2:"+g.region+":"+g.owner+":security-group-rule/"+r.id)
	w.raw("<tagSet/>")
}

var ruleFilters = nameSet("group-id", "security-group-rule-id")

func (o *op) describeSecurityGroupRules() ([]byte, error) {
	ids := o.list("SecurityGroupRuleId")
	fs, err := o.filters(ruleFilters)
	if err != nil {
		return nil, err
	}
	pg, err := o.paging(5)
	if err != nil {
		return nil, err
	}
	type located struct {
		g      *securityGroup
		r      *sgRule
		egress bool
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	byID := map[string]located{}
	var keep []string
	var groups []*securityGroup
	if gids := groupIDFilter(fs); gids != nil {
		for _, id := range gids {
			if g := o.r.groups[id]; g != nil && !o.now.Before(g.seenFrom) {
				groups = append(groups, g)
			}
		}
	} else {
		for _, g := range o.r.groups {
			if !o.now.Before(g.seenFrom) {
				groups = append(groups, g)
			}
		}
	}
	for _, g := range groups {
		for i, rules := range [][]*sgRule{o.seenRules(g.rules), o.seenRules(g.egress)} {
			for _, r := range rules {
				if len(want) > 0 && !want[r.id] {
					continue
				}
				field := func(name string) []string {
					if name == "group-id" {
						return []string{g.id}
					}
					return []string{r.id}
				}
				if matches(fs, nil, field) {
					byID[r.id] = located{g, r, i == 1}
					keep = append(keep, r.id)
				}
			}
		}
	}
	for id := range want {
		if _, ok := byID[id]; !ok {
			return nil, awsproto.Errorf("InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '%s' does not exist", id)
		}
	}
	keep, next := pg.apply(keep)
	w := o.response()
	w.open("securityGroupRuleSet")
	for _, id := range keep {
		l := byID[id]
		w.open("item")
		l.g.writeRule(w, l.r, l.egress)
		w.close("item")
	}
	w.close("securityGroupRuleSet")
	w.opt("nextToken", next)
	return o.finish(w), nil
}

func groupIDFilter(fs []filter) []string {
	for _, f := range fs {
		if f.name == "group-id" {
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

// sortedGroupIDs returns the ids of a set of groups in order.
func sortedGroupIDs(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
