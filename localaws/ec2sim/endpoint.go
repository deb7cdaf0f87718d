package ec2sim

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// endpoint is an interface VPC endpoint (the spoke's side), which is also
// a connection of its endpoint service (the hub's side).
type endpoint struct {
	id, owner, region string
	r                 *region // the owner's account/Region
	vpc               *vpc
	service           *endpointService
	subnets           map[string]string // subnet id -> network interface id
	groups            map[string]bool
	tags              map[string]string
	connectionID      string
	dnsLabel          string
	clientToken       string
	fingerprint       string

	// The lifecycle, as timestamps; states are derived on read.
	acceptance                               bool
	created, accepted, rejected, deleteStart time.Time
	// failure is a state set by the test control SetEndpointState
	// (failed or Partial), with the lastError it shows; "" when none.
	failure, failureCode, failureMessage string

	// When reads see the endpoint, and its accept, reject and delete
	// (eventual consistency; zero: at once).
	tagLog                                           tagLog
	seenFrom, acceptedSeen, rejectedSeen, deleteSeen time.Time
}

// AcceptanceExpiry is how long a connection request may stay
// pendingAcceptance before it expires (state expired), on the Clock.
const AcceptanceExpiry = 7 * 24 * time.Hour

// state is the endpoint's lifecycle state at now, in EC2's wire casing.
func (e *endpoint) state(now time.Time, delay time.Duration) string {
	switch {
	case !e.deleteStart.IsZero():
		if !now.Before(e.deleteStart.Add(delay)) {
			return "deleted"
		}
		return "deleting"
	case !e.rejected.IsZero():
		return "rejected"
	case e.failure != "":
		return e.failure
	case e.acceptance && e.accepted.IsZero():
		if !now.Before(e.created.Add(AcceptanceExpiry)) {
			return "expired"
		}
		return "pendingAcceptance"
	}
	start := e.created
	if e.acceptance {
		start = e.accepted
	}
	if !now.Before(start.Add(delay)) {
		return "available"
	}
	return "pending"
}

// visible reports whether describes still show the endpoint: deleted ones
// linger for DeletedRetention, as on AWS.
func (e *endpoint) visible(now time.Time, delay time.Duration) bool {
	return e.deleteStart.IsZero() || now.Before(e.deleteStart.Add(delay+DeletedRetention))
}

// endpoint finds an endpoint of the caller by id as this call sees it (nil:
// unknown, deleted long ago, or created too recently to be seen).
func (o *op) endpoint(id string) *endpoint {
	e := o.r.endpoints[id]
	if e == nil || !e.visible(o.now, o.s.delay) || !o.sees(e.seenFrom) {
		return nil
	}
	return e
}

// seenState is the endpoint's state as this call sees it: an accept,
// reject or delete not yet visible has not happened.
func (o *op) seenState(e *endpoint) string {
	v := *e
	if o.now.Before(e.acceptedSeen) {
		v.accepted = time.Time{}
	}
	if o.now.Before(e.rejectedSeen) {
		v.rejected = time.Time{}
	}
	if o.now.Before(e.deleteSeen) {
		v.deleteStart = time.Time{}
	}
	st := v.state(o.now, o.s.delay)
	if st != e.state(o.now, o.s.delay) {
		o.stale = true
	}
	return st
}

func endpointNotFound(id string) error {
	return awsproto.Errorf("InvalidVpcEndpointId.NotFound", "The Vpc Endpoint Id '%s' does not exist", id)
}

func (e *endpoint) sortedSubnets() []string {
	out := make([]string, 0, len(e.subnets))
	for id := range e.subnets {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func (e *endpoint) enis() []string {
	out := make([]string, 0, len(e.subnets))
	for _, sid := range e.sortedSubnets() {
		out = append(out, e.subnets[sid])
	}
	return out
}

// dnsEntries are the regional name and one zonal name per subnet. The
// regional one is deliberately not first: clients must pick it by name.
// The names carry the service's Region; a cross-Region endpoint has the
// regional name only (see crossregion.go).
func (e *endpoint) dnsEntries() []string {
	suffix := "." + e.service.id + "." + e.service.region.name + ".vpce.amazonaws.com"
	base := e.id + "-" + e.dnsLabel
	regional := base + suffix
	if e.crossRegion() {
		return []string{regional}
	}
	var zonal []string
	for sid := range e.subnets {
		if sn := e.r.subnets[sid]; sn != nil {
			zonal = append(zonal, base+"-"+sn.az+suffix)
		}
	}
	sort.Strings(zonal)
	if len(zonal) == 0 {
		return []string{regional}
	}
	return append([]string{zonal[0], regional}, zonal[1:]...)
}

func (e *endpoint) writeDNS(w *xmlWriter) {
	zone := vpceHostedZone(e.service.region.name)
	w.open("dnsEntrySet")
	for _, name := range e.dnsEntries() {
		w.open("item")
		w.elem("dnsName", name)
		w.elem("hostedZoneId", zone)
		w.close("item")
	}
	w.close("dnsEntrySet")
}

const defaultEndpointPolicy = `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}`

func (e *endpoint) write(w *xmlWriter, state string, tags map[string]string) {
	w.elem("vpcEndpointId", e.id)
	w.elem("vpcEndpointType", "Interface")
	w.elem("vpcId", e.vpc.id)
	w.elem("serviceName", e.service.name)
	w.elem("serviceRegion", e.service.region.name)
	w.elem("state", state)
	w.elem("policyDocument", defaultEndpointPolicy)
	w.raw("<routeTableIdSet/>")
	w.strings("subnetIdSet", e.sortedSubnets())
	w.open("groupSet")
	for _, gid := range sortedGroupIDs(e.groups) {
		w.open("item")
		w.elem("groupId", gid)
		if g := e.r.groups[gid]; g != nil {
			w.elem("groupName", g.name)
		}
		w.close("item")
	}
	w.close("groupSet")
	w.elem("ipAddressType", "ipv4")
	w.raw("<dnsOptions><dnsRecordIpType>ipv4</dnsRecordIpType></dnsOptions>")
	w.boolean("privateDnsEnabled", false)
	w.boolean("requesterManaged", false)
	w.strings("networkInterfaceIdSet", e.enis())
	e.writeDNS(w)
	w.timestamp("creationTimestamp", e.created)
	w.tags(tags)
	w.elem("ownerId", e.owner)
	if state == e.failure && e.failureCode != "" {
		w.open("lastError")
		w.elem("message", e.failureMessage)
		w.elem("code", e.failureCode)
		w.close("lastError")
	}
}

// endpointRequest is what CreateVpcEndpoint asked for, normalized so that
// a retried request compares equal.
type endpointRequest struct {
	endpointType, vpcID, serviceName, serviceRegion string
	subnets, groups                                 []string
	privateDNS                                      bool
}

func (q endpointRequest) fingerprint() string {
	return strings.Join([]string{q.endpointType, q.vpcID, q.serviceName, q.serviceRegion, strings.Join(q.subnets, ","), strings.Join(q.groups, ","), map[bool]string{true: "dns", false: ""}[q.privateDNS]}, "|")
}

func uniqueSorted(xs []string) []string {
	xs = slices.Clone(xs)
	sort.Strings(xs)
	return slices.Compact(xs)
}

func (o *op) createEndpoint() ([]byte, error) {
	privateDNS, _, err := o.boolean("PrivateDnsEnabled")
	if err != nil {
		return nil, err
	}
	serviceRegion, err := o.serviceRegion()
	if err != nil {
		return nil, err
	}
	q := endpointRequest{
		endpointType:  orDefault(o.form.Get("VpcEndpointType"), "Gateway"),
		vpcID:         o.form.Get("VpcId"),
		serviceName:   o.form.Get("ServiceName"),
		serviceRegion: serviceRegion,
		subnets:       uniqueSorted(o.list("SubnetId")),
		groups:        uniqueSorted(o.list("SecurityGroupId")),
		privateDNS:    privateDNS,
	}
	token := o.form.Get("ClientToken")
	if token != "" {
		if e := o.r.tokens[token]; e != nil {
			if e.fingerprint != q.fingerprint() {
				return nil, awsproto.Errorf("IdempotentParameterMismatch", "The client token '%s' was already used with different parameters", token)
			}
			return o.endpointResponse(e, token), nil
		}
	}
	if q.vpcID == "" {
		return nil, awsproto.Errorf("MissingParameter", "The request must contain the parameter VpcId")
	}
	if q.serviceName == "" {
		return nil, awsproto.Errorf("MissingParameter", "The request must contain the parameter ServiceName")
	}
	tags, _, err := o.tagSpecs("vpc-endpoint")
	if err != nil {
		return nil, err
	}
	v := o.r.vpcs[q.vpcID]
	if v == nil {
		return nil, vpcNotFound(q.vpcID)
	}
	es := o.reachable(q.serviceName, q.serviceRegion)
	if es == nil {
		return nil, serviceNameNotFound(q.serviceName)
	}
	if q.endpointType != "Interface" {
		return nil, awsproto.Errorf("InvalidParameter", "The Vpc Endpoint Service '%s' does not support endpoint type %s; it supports Interface", q.serviceName, q.endpointType)
	}
	if q.privateDNS {
		return nil, awsproto.Errorf("InvalidParameter", "Private DNS can't be enabled because the service %s does not provide a private DNS name.", q.serviceName)
	}
	subnets, err := o.endpointSubnets(v, es, nil, q.subnets)
	if err != nil {
		return nil, err
	}
	groups := q.groups
	if len(groups) == 0 {
		groups = []string{v.defaultSG.id}
	}
	if err := o.checkGroups(v, groups); err != nil {
		return nil, err
	}
	e := &endpoint{
		id: o.s.newID("vpce-"), owner: o.r.account, region: o.r.name, r: o.r, vpc: v, service: es,
		subnets: map[string]string{}, groups: map[string]bool{}, tags: tags,
		connectionID: o.s.newID("vpce-con-"), dnsLabel: o.s.randomLabel(8),
		clientToken: token, fingerprint: q.fingerprint(), acceptance: es.acceptance, created: o.now,
		seenFrom: o.visibleFrom(),
	}
	for _, g := range groups {
		e.groups[g] = true
	}
	for _, sn := range subnets {
		o.attach(e, sn)
	}
	o.r.endpoints[e.id] = e
	v.endpoints[e.id] = e
	es.endpoints[e.id] = e
	if token != "" {
		o.r.tokens[token] = e
	}
	o.notify(e, "Connect")
	return o.endpointResponse(e, token), nil
}

func (o *op) attach(e *endpoint, sn *subnet) {
	eni := o.s.newID("eni-")
	e.subnets[sn.id] = eni
	sn.enis[eni] = e
}

func (o *op) detach(e *endpoint, sid string) {
	if sn := o.r.subnets[sid]; sn != nil {
		delete(sn.enis, e.subnets[sid])
	}
	delete(e.subnets, sid)
}

func (o *op) endpointResponse(e *endpoint, token string) []byte {
	w := o.response()
	w.open("vpcEndpoint")
	e.write(w, e.state(o.now, o.s.delay), e.tags)
	w.close("vpcEndpoint")
	w.opt("clientToken", token)
	return o.finish(w)
}

// endpointSubnets validates subnets to add to an endpoint that already has
// the subnets in have: in the VPC, at most one per zone, and in a zone the
// service offers (compared by zone id) or, for a service of another
// Region, in a zone where cross-Region access is supported.
func (o *op) endpointSubnets(v *vpc, es *endpointService, have map[string]string, add []string) ([]*subnet, error) {
	zones := map[string]string{} // zone id -> subnet id
	for sid := range have {
		if sn := o.r.subnets[sid]; sn != nil {
			zones[sn.azID] = sid
		}
	}
	var out []*subnet
	for _, sid := range add {
		if _, ok := have[sid]; ok {
			continue
		}
		sn := o.r.subnets[sid]
		if sn == nil {
			return nil, subnetNotFound(sid)
		}
		if sn.vpc != v {
			return nil, awsproto.Errorf("InvalidParameterValue", "The subnet '%s' does not belong to VPC '%s'", sid, v.id)
		}
		switch {
		case es.region.name != o.r.name && !crossRegionZone(sn.azID):
			return nil, awsproto.Errorf("InvalidParameterValue", "Cross-Region access is not supported in the availability zone of the subnet: %s (%s).", sid, sn.azID)
		case es.region.name == o.r.name && !slices.Contains(es.azIDs, sn.azID):
			return nil, awsproto.Errorf("InvalidParameterValue", "The VPC endpoint service %s does not support the availability zone of the subnet: %s.", es.name, sid)
		}
		if other, ok := zones[sn.azID]; ok {
			// EC2's code and wording, as a CloudFormation stack event shows them
			// ("Status Code: 400; Error Code: DuplicateSubnetsInSameZone",
			// https://ts223.hatenablog.com/entry/aws/duplicate-subnets-in-same-zone);
			// the EC2 API reference's error list does not name this code.
			return nil, awsproto.Errorf("DuplicateSubnetsInSameZone", "Found another VPC endpoint subnet in the availability zone of %s (%s). VPC endpoint subnets should be in different availability zones supported by the VPC endpoint service.", sid, other)
		}
		zones[sn.azID] = sid
		out = append(out, sn)
	}
	return out, nil
}

func (o *op) checkGroups(v *vpc, ids []string) error {
	for _, gid := range ids {
		g := o.group(gid)
		if g == nil {
			return groupNotFound(gid)
		}
		if g.vpc != v {
			return awsproto.Errorf("InvalidParameterValue", "Security group %s and VPC %s belong to different networks.", gid, v.id)
		}
	}
	return nil
}

func (o *op) deleteEndpoints() ([]byte, error) {
	ids := o.list("VpcEndpointId")
	if len(ids) == 0 {
		return nil, awsproto.Errorf("MissingParameter", "The request must contain the parameter VpcEndpointId")
	}
	var failed []unsuccessful
	for _, id := range ids {
		e := o.endpoint(id)
		if e == nil || e.state(o.now, o.s.delay) == "deleted" {
			failed = append(failed, unsuccessful{id, "InvalidVpcEndpoint.NotFound", "The Vpc Endpoint Id '" + id + "' does not exist"})
			continue
		}
		if !e.deleteStart.IsZero() {
			continue // already deleting
		}
		e.deleteStart, e.deleteSeen = o.now, o.visibleFrom()
		o.notify(e, "Delete")
	}
	w := o.response()
	writeUnsuccessful(w, failed)
	return o.finish(w), nil
}

func (o *op) modifyEndpoint() ([]byte, error) {
	id, err := o.require("VpcEndpointId")
	if err != nil {
		return nil, err
	}
	e := o.endpoint(id)
	if e == nil {
		return nil, endpointNotFound(id)
	}
	if st := e.state(o.now, o.s.delay); st == "deleting" || st == "deleted" {
		return nil, awsproto.Errorf("IncorrectState", "Vpc Endpoint %s is in state %s and cannot be modified", id, st)
	}
	privateDNS, _, err := o.boolean("PrivateDnsEnabled")
	if err != nil {
		return nil, err
	}
	if privateDNS {
		return nil, awsproto.Errorf("InvalidParameter", "Private DNS can't be enabled because the service %s does not provide a private DNS name.", e.service.name)
	}
	remove := uniqueSorted(o.list("RemoveSubnetId"))
	for _, sid := range remove {
		if _, ok := e.subnets[sid]; !ok {
			return nil, awsproto.Errorf("InvalidParameterValue", "The subnet '%s' is not associated with Vpc Endpoint %s", sid, id)
		}
	}
	remaining := map[string]string{}
	for sid, eni := range e.subnets {
		if !slices.Contains(remove, sid) {
			remaining[sid] = eni
		}
	}
	add, err := o.endpointSubnets(e.vpc, e.service, remaining, uniqueSorted(o.list("AddSubnetId")))
	if err != nil {
		return nil, err
	}
	addGroups := uniqueSorted(o.list("AddSecurityGroupId"))
	if err := o.checkGroups(e.vpc, addGroups); err != nil {
		return nil, err
	}
	removeGroups := uniqueSorted(o.list("RemoveSecurityGroupId"))
	for _, gid := range removeGroups {
		if !e.groups[gid] {
			return nil, awsproto.Errorf("InvalidParameterValue", "The security group '%s' is not associated with Vpc Endpoint %s", gid, id)
		}
	}
	for _, sid := range remove {
		o.detach(e, sid)
	}
	for _, sn := range add {
		o.attach(e, sn)
	}
	for _, gid := range removeGroups {
		delete(e.groups, gid)
	}
	for _, gid := range addGroups {
		e.groups[gid] = true
	}
	return o.returnTrue(), nil
}

var endpointFilters = nameSet("vpc-id", "vpc-endpoint-id", "service-name", "service-region", "vpc-endpoint-state", "vpc-endpoint-type", "ip-address-type")

func (o *op) describeEndpoints() ([]byte, error) {
	ids := o.list("VpcEndpointId")
	fs, err := o.filters(endpointFilters)
	if err != nil {
		return nil, err
	}
	pg, err := o.paging(0)
	if err != nil {
		return nil, err
	}
	type shown struct {
		e     *endpoint
		state string
		tags  map[string]string
	}
	byID := map[string]shown{}
	var keep []string
	consider := func(e *endpoint) {
		if _, dup := byID[e.id]; dup || !e.visible(o.now, o.s.delay) {
			return
		}
		if o.now.Before(e.seenFrom) {
			o.stale = true // omitted: created too recently
			return
		}
		state := o.seenState(e)
		if tags, ok := o.filterSeen(fs, e.tagLog, e.tags, endpointField(e, state)); ok {
			byID[e.id] = shown{e, state, tags}
			keep = append(keep, e.id)
		}
	}
	if err := o.eachEndpoint(ids, fs, consider); err != nil {
		return nil, err
	}
	keep, next := pg.apply(keep)
	w := o.response()
	w.open("vpcEndpointSet")
	for _, id := range keep {
		w.open("item")
		byID[id].e.write(w, byID[id].state, byID[id].tags)
		w.close("item")
	}
	w.close("vpcEndpointSet")
	w.opt("nextToken", next)
	return o.finish(w), nil
}

// eachEndpoint calls consider on the endpoints a describe call may show,
// in order: those it names (each must exist), those of the VPCs a vpc-id
// filter names, or all of the region's.
func (o *op) eachEndpoint(ids []string, fs []filter, consider func(*endpoint)) error {
	if len(ids) > 0 {
		for _, id := range ids {
			e := o.endpoint(id)
			if e == nil {
				return endpointNotFound(id)
			}
			consider(e)
		}
		return nil
	}
	if vs := vpcIDFilter(fs); vs != nil {
		for _, vid := range vs {
			if v := o.r.vpcs[vid]; v != nil {
				for _, e := range v.endpoints {
					consider(e)
				}
			}
		}
		return nil
	}
	for _, e := range o.r.endpoints {
		consider(e)
	}
	return nil
}

// endpointField is the value of a describe filter's name for e, seen in
// state.
func endpointField(e *endpoint, state string) func(name string) []string {
	return func(name string) []string {
		switch name {
		case "vpc-id":
			return []string{e.vpc.id}
		case "vpc-endpoint-id":
			return []string{e.id}
		case "service-name":
			return []string{e.service.name}
		case "service-region":
			return []string{e.service.region.name}
		case "vpc-endpoint-state":
			return []string{state}
		case "vpc-endpoint-type":
			return []string{"Interface"}
		}
		return []string{"ipv4"}
	}
}

var connectionFilters = nameSet("service-id", "vpc-endpoint-id", "vpc-endpoint-owner", "vpc-endpoint-state", "vpc-endpoint-region", "ip-address-type")

func (o *op) describeConnections() ([]byte, error) {
	fs, err := o.filters(connectionFilters)
	if err != nil {
		return nil, err
	}
	pg, err := o.paging(0)
	if err != nil {
		return nil, err
	}
	type shown struct {
		e     *endpoint
		state string
	}
	byID := map[string]shown{}
	var keep []string
	for _, es := range o.r.services {
		for _, e := range es.endpoints {
			if !e.visible(o.now, o.s.delay) {
				continue
			}
			if o.now.Before(e.seenFrom) {
				o.stale = true // omitted: created too recently
				continue
			}
			state := o.seenState(e)
			field := func(name string) []string {
				switch name {
				case "service-id":
					return []string{es.id}
				case "vpc-endpoint-id":
					return []string{e.id}
				case "vpc-endpoint-owner":
					return []string{e.owner}
				case "vpc-endpoint-state":
					return []string{state}
				case "vpc-endpoint-region":
					return []string{e.region}
				}
				return []string{"ipv4"}
			}
			if matches(fs, nil, field) {
				byID[e.id] = shown{e, state}
				keep = append(keep, e.id)
			}
		}
	}
	keep, next := pg.apply(keep)
	w := o.response()
	w.open("vpcEndpointConnectionSet")
	for _, id := range keep {
		e, state := byID[id].e, byID[id].state
		w.open("item")
		w.elem("serviceId", e.service.id)
		w.elem("vpcEndpointId", e.id)
		w.elem("vpcEndpointOwner", e.owner)
		w.elem("vpcEndpointState", state)
		w.timestamp("creationTimestamp", e.created)
		e.writeDNS(w)
		w.strings("networkLoadBalancerArnSet", e.service.nlbARNs)
		w.elem("ipAddressType", "ipv4")
		w.elem("vpcEndpointConnectionId", e.connectionID)
		w.elem("vpcEndpointRegion", e.region)
		w.raw("<tagSet/>")
		w.close("item")
	}
	w.close("vpcEndpointConnectionSet")
	w.opt("nextToken", next)
	return o.finish(w), nil
}

func (o *op) acceptConnections() ([]byte, error) {
	return o.decideConnections("Accept", func(e *endpoint, state string) bool {
		if state != "pendingAcceptance" {
			return false
		}
		e.accepted, e.acceptedSeen = o.now, o.visibleFrom()
		return true
	})
}

func (o *op) rejectConnections() ([]byte, error) {
	return o.decideConnections("Reject", func(e *endpoint, state string) bool {
		switch state {
		case "pendingAcceptance", "pending", "available", "Partial":
			e.rejected, e.rejectedSeen = o.now, o.visibleFrom()
			return true
		}
		return false
	})
}

// decideConnections runs an accept or reject over VpcEndpointId.N of one
// owned service; failures of single endpoints are reported in
// unsuccessful, as EC2 does, not as an error.
func (o *op) decideConnections(event string, decide func(e *endpoint, state string) bool) ([]byte, error) {
	es, err := o.ownedService(o.form.Get("ServiceId"))
	if err != nil {
		return nil, err
	}
	ids := o.list("VpcEndpointId")
	if len(ids) == 0 {
		return nil, awsproto.Errorf("MissingParameter", "The request must contain the parameter VpcEndpointId")
	}
	var failed []unsuccessful
	for _, id := range ids {
		e := es.endpoints[id]
		if e == nil || !e.visible(o.now, o.s.delay) || !o.sees(e.seenFrom) {
			failed = append(failed, unsuccessful{id, "InvalidVpcEndpointId.NotFound", "The Vpc Endpoint Id '" + id + "' does not exist"})
			continue
		}
		state := e.state(o.now, o.s.delay)
		if !decide(e, state) {
			failed = append(failed, unsuccessful{id, "InvalidState", "Vpc Endpoint " + id + " is in state " + state + " and cannot be " + strings.ToLower(event) + "ed"})
			continue
		}
		o.notify(e, event)
	}
	w := o.response()
	writeUnsuccessful(w, failed)
	return o.finish(w), nil
}

// SetEndpointState is the test control for the states AWS reaches through
// its own failures, which no API call causes: "failed" (the endpoint could
// not be provisioned in any of its subnets) or "Partial" (in some of them),
// with the lastError describes show; "" clears it. Rejected, deleting and
// deleted endpoints keep their state. Reads see the change at once.
func (s *Service) SetEndpointState(account, region, id, state string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.region(account, region, false)
	var e *endpoint
	if r != nil {
		e = r.endpoints[id]
	}
	if e == nil {
		return endpointNotFound(id)
	}
	switch state {
	case "failed":
		e.failure, e.failureCode, e.failureMessage = state, "InsufficientFreeAddressesInSubnet", "The endpoint could not be created in any of its subnets"
	case "Partial":
		e.failure, e.failureCode, e.failureMessage = state, "InsufficientFreeAddressesInSubnet", "The endpoint could not be created in some of its subnets"
	case "":
		e.failure, e.failureCode, e.failureMessage = "", "", ""
	default:
		return awsproto.Errorf("InvalidParameterValue", "state %q: only failed, Partial or \"\" can be set", state)
	}
	return nil
}
