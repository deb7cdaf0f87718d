package ec2sim

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// endpointService is a PrivateLink endpoint service (the hub's side).
type endpointService struct {
	id, name   string
	region     *region // the owner's account/Region
	acceptance bool
	azIDs      []string
	principals map[string]string // principal ARN or * -> service permission id
	ports      []int
	nlbARNs    []string
	// regions are the Regions whose consumers may connect (SupportedRegions;
	// always includes the service's own).
	regions     []string
	clientToken string
	tags        map[string]string
	tagLog      tagLog
	endpoints   map[string]*endpoint // connected endpoints, any account
	// principalLog makes permission changes visible late.
	principalLog history[map[string]string]
}

type notification struct {
	id, topicARN          string
	serviceID, endpointID string
	events                map[string]bool
	eventList             []string
	region                string
	clientToken           string
}

// EndpointService is an endpoint service to seed in the hub account.
// Name defaults to com.amazonaws.vpce.<region>.<id>; AZIDs default to all
// of the Region's zones; a NotificationTopicARN subscribes that topic to
// every connection event. SupportedRegions are the other Regions whose
// consumers may connect (cross-Region access, see crossregion.go); the
// service's own Region is always supported.
type EndpointService struct {
	ID, Name             string
	AcceptanceRequired   bool
	AZIDs                []string
	AllowedPrincipals    []string
	NotificationTopicARN string
	Ports                []int
	SupportedRegions     []string
}

var principalPattern = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+)$`)

func validPrincipal(p string) bool { return p == "*" || principalPattern.MatchString(p) }

func principalType(p string) string {
	switch {
	case p == "*":
		return "All"
	case strings.HasSuffix(p, ":root"):
		return "Account"
	case strings.Contains(p, ":role/"):
		return "Role"
	default:
		return "User"
	}
}

// AddEndpointService seeds an endpoint service, emitting nothing.
func (s *Service) AddEndpointService(account, region string, es EndpointService) (EndpointService, error) {
	if err := validLocation(account, region); err != nil {
		return EndpointService{}, err
	}
	for _, p := range es.AllowedPrincipals {
		if !validPrincipal(p) {
			return EndpointService{}, fmt.Errorf("seeding endpoint service: principal %q is not *, an account root, role or user ARN", p)
		}
	}
	for _, p := range es.Ports {
		if p < 1 || p > 65535 {
			return EndpointService{}, fmt.Errorf("seeding endpoint service: port %d out of range", p)
		}
	}
	if es.NotificationTopicARN != "" && !strings.HasPrefix(es.NotificationTopicARN, "arn:aws:sns:") {
		return EndpointService{}, fmt.Errorf("seeding endpoint service: %q is not an SNS topic ARN", es.NotificationTopicARN)
	}
	for _, sr := range es.SupportedRegions {
		if !regionPattern.MatchString(sr) {
			return EndpointService{}, fmt.Errorf("seeding endpoint service: supported Region %q is not a Region name", sr)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.region(account, region, true)
	if es.ID == "" {
		es.ID = s.newID("vpce-svc-")
	} else if !strings.HasPrefix(es.ID, "vpce-svc-") {
		return EndpointService{}, fmt.Errorf("seeding endpoint service %q: id must start with vpce-svc-", es.ID)
	}
	if s.servicesByID[es.ID] != nil {
		return EndpointService{}, fmt.Errorf("seeding endpoint service %s: already exists", es.ID)
	}
	if es.Name == "" {
		es.Name = "com.amazonaws.vpce." + region + "." + es.ID
	}
	if s.servicesByName[es.Name] != nil {
		return EndpointService{}, fmt.Errorf("seeding endpoint service: name %s already exists", es.Name)
	}
	if len(es.AZIDs) == 0 {
		es.AZIDs = r.zoneIDs()
	}
	es.AZIDs = slices.Clone(es.AZIDs)
	sort.Strings(es.AZIDs)
	for _, id := range es.AZIDs {
		if r.zoneName(id) == "" {
			return EndpointService{}, fmt.Errorf("seeding endpoint service: %q is not a zone id of %s (%s)", id, region, strings.Join(r.zoneIDs(), ", "))
		}
	}
	regions := uniqueSorted(append(slices.Clone(es.SupportedRegions), region))
	if err := checkCrossRegionZones(es.AZIDs, regions, region); err != nil {
		return EndpointService{}, fmt.Errorf("seeding endpoint service with supported Regions %v, %w", es.SupportedRegions, err)
	}
	svc := &endpointService{
		id: es.ID, name: es.Name, region: r, acceptance: es.AcceptanceRequired, azIDs: es.AZIDs,
		principals: map[string]string{}, ports: slices.Clone(es.Ports), tags: map[string]string{},
		nlbARNs:   []string{"arn:aws:elasticloadbalancing:" + region + ":" + account + ":loadbalancer/net/jenkins/" + es.ID[len("vpce-svc-"):]},
		regions:   regions,
		endpoints: map[string]*endpoint{},
	}
	for _, p := range es.AllowedPrincipals {
		svc.principals[p] = s.newID("vpce-svc-perm-")
	}
	r.services[svc.id] = svc
	s.servicesByID[svc.id] = svc
	s.servicesByName[svc.name] = svc
	if es.NotificationTopicARN != "" {
		n := &notification{
			id: s.newID("vpce-nfn-"), topicARN: es.NotificationTopicARN, serviceID: svc.id, region: region,
			eventList: []string{"Accept", "Connect", "Delete", "Reject"},
		}
		n.events = eventSet(n.eventList)
		r.notifications[n.id] = n
	}
	es.AllowedPrincipals = slices.Clone(es.AllowedPrincipals)
	es.SupportedRegions = slices.Clone(es.SupportedRegions)
	return es, nil
}

func eventSet(events []string) map[string]bool {
	m := map[string]bool{}
	for _, e := range events {
		m[e] = true
	}
	return m
}

func serviceIDNotFound(id string) error {
	return awsproto.Errorf("InvalidVpcEndpointServiceId.NotFound", "The VpcEndpointService Id '%s' does not exist", id)
}

func serviceNameNotFound(name string) error {
	return awsproto.Errorf("InvalidServiceName", "The Vpc Endpoint Service '%s' does not exist", name)
}

// allows reports whether a caller may see and connect to the service: its
// owner, or a principal the permissions name (the account root, the
// caller's role, the caller itself, or *).
// Permission changes are seen late (eventual consistency), so a principal
// just allowed may still get InvalidServiceName for a moment.
func (o *op) allows(es *endpointService) bool {
	call := o.call
	if call.Account == es.region.account {
		return true
	}
	principals := seen(o, es.principalLog, es.principals)
	for _, p := range []string{"*", "arn:aws:iam::" + call.Account + ":root", awsproto.RoleARNOf(call.Principal), call.Principal} {
		if _, ok := principals[p]; ok {
			return true
		}
	}
	return false
}

// ownedService resolves a ServiceId the caller must own.
func (o *op) ownedService(id string) (*endpointService, error) {
	if id == "" {
		return nil, awsproto.Errorf("MissingParameter", "The request must contain the parameter ServiceId")
	}
	es := o.r.services[id]
	if es == nil {
		return nil, serviceIDNotFound(id)
	}
	return es, nil
}

func (es *endpointService) baseDNS() string {
	return es.id + "." + es.region.name + ".vpce.amazonaws.com"
}

var serviceConfigFilters = nameSet("service-name", "service-id", "service-state", "supported-ip-address-types")

func (es *endpointService) field(name string) []string {
	switch name {
	case "service-name":
		return []string{es.name}
	case "service-id":
		return []string{es.id}
	case "service-state":
		return []string{"Available"}
	case "supported-ip-address-types":
		return []string{"ipv4"}
	case "service-type":
		return []string{"Interface"}
	case "owner":
		return []string{es.region.account}
	}
	return nil
}

func (o *op) describeServiceConfigurations() ([]byte, error) {
	ids := o.list("ServiceId")
	fs, err := o.filters(serviceConfigFilters)
	if err != nil {
		return nil, err
	}
	pg, err := o.paging(0)
	if err != nil {
		return nil, err
	}
	var keep []string
	tagsOf := map[string]map[string]string{}
	consider := func(es *endpointService) {
		if slices.Contains(keep, es.id) {
			return
		}
		if tags, ok := o.filterSeen(fs, es.tagLog, es.tags, es.field); ok {
			keep = append(keep, es.id)
			tagsOf[es.id] = tags
		}
	}
	if len(ids) > 0 {
		for _, id := range ids {
			es := o.r.services[id]
			if es == nil {
				return nil, serviceIDNotFound(id)
			}
			consider(es)
		}
	} else {
		for _, es := range o.r.services {
			consider(es)
		}
	}
	keep, next := pg.apply(keep)
	w := o.response()
	w.open("serviceConfigurationSet")
	for _, id := range keep {
		w.open("item")
		o.r.services[id].write(w, tagsOf[id])
		w.close("item")
	}
	w.close("serviceConfigurationSet")
	w.opt("nextToken", next)
	return o.finish(w), nil
}

// write writes a ServiceConfiguration.
func (es *endpointService) write(w *xmlWriter, tags map[string]string) {
	w.raw("<serviceType><item><serviceType>Interface</serviceType></item></serviceType>")
	w.elem("serviceId", es.id)
	w.elem("serviceName", es.name)
	w.elem("serviceState", "Available")
	w.strings("availabilityZoneSet", es.region.zoneNamesOf(es.azIDs))
	w.strings("availabilityZoneIdSet", es.azIDs)
	w.boolean("acceptanceRequired", es.acceptance)
	w.boolean("managesVpcEndpoints", false)
	w.strings("networkLoadBalancerArnSet", es.nlbARNs)
	w.strings("baseEndpointDnsNameSet", []string{es.baseDNS()})
	w.elem("payerResponsibility", "ServiceOwner")
	w.strings("supportedIpAddressTypeSet", []string{"ipv4"})
	w.open("supportedRegionSet")
	for _, r := range es.regions {
		w.open("item")
		w.elem("region", r)
		w.elem("serviceState", "Available")
		w.close("item")
	}
	w.close("supportedRegionSet")
	w.tags(tags)
}

// zoneNamesOf maps zone ids to this account's zone names, sorted.
func (r *region) zoneNamesOf(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if n := r.zoneName(id); n != "" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

var permissionFilters = nameSet("principal", "principal-type")

func (o *op) describeServicePermissions() ([]byte, error) {
	es, err := o.ownedService(o.form.Get("ServiceId"))
	if err != nil {
		return nil, err
	}
	fs, err := o.filters(permissionFilters)
	if err != nil {
		return nil, err
	}
	pg, err := o.paging(0)
	if err != nil {
		return nil, err
	}
	var keep []string
	principals := seen(o, es.principalLog, es.principals)
	for p := range principals {
		field := func(name string) []string {
			if name == "principal" {
				return []string{p}
			}
			return []string{principalType(p)}
		}
		if matches(fs, nil, field) {
			keep = append(keep, p)
		}
	}
	keep, next := pg.apply(keep)
	w := o.response()
	w.open("allowedPrincipals")
	for _, p := range keep {
		w.open("item")
		w.elem("principalType", principalType(p))
		w.elem("principal", p)
		w.elem("servicePermissionId", principals[p])
		w.elem("serviceId", es.id)
		w.raw("<tagSet/>")
		w.close("item")
	}
	w.close("allowedPrincipals")
	w.opt("nextToken", next)
	return o.finish(w), nil
}

func (o *op) modifyServicePermissions() ([]byte, error) {
	es, err := o.ownedService(o.form.Get("ServiceId"))
	if err != nil {
		return nil, err
	}
	add, remove := o.list("AddAllowedPrincipals"), o.list("RemoveAllowedPrincipals")
	for _, p := range append(slices.Clone(add), remove...) {
		if !validPrincipal(p) {
			return nil, awsproto.Errorf("InvalidPrincipal", "Invalid principal %s", p)
		}
	}
	before := maps.Clone(es.principals)
	for _, p := range remove {
		delete(es.principals, p)
	}
	w := o.response()
	w.open("addedPrincipalSet")
	for _, p := range add {
		id, ok := es.principals[p]
		if !ok {
			id = o.s.newID("vpce-svc-perm-")
			es.principals[p] = id
		}
		w.open("item")
		w.elem("principalType", principalType(p))
		w.elem("principal", p)
		w.elem("servicePermissionId", id)
		w.elem("serviceId", es.id)
		w.close("item")
	}
	w.close("addedPrincipalSet")
	w.elem("return", "true")
	if o.s.cons.window > 0 && !maps.Equal(before, es.principals) {
		es.principalLog.record(o.now, o.visibleFrom(), before, maps.Clone(es.principals))
	}
	return o.finish(w), nil
}

var serviceFilters = nameSet("service-name", "service-type", "owner", "service-region")

// describeEndpointServices lists the services the caller may connect to:
// those of its Region, or with ServiceRegion.N those of the Regions named
// that support the caller's Region (cross-Region access; PrivateLink
// guide, "Cross-region enabled AWS services", describe-vpc-endpoint-services
// --service-region). A service name outside them is InvalidServiceName.
func (o *op) describeEndpointServices() ([]byte, error) {
	names := o.list("ServiceName")
	regions := uniqueSorted(o.list("ServiceRegion"))
	if len(regions) == 0 {
		regions = []string{o.r.name}
	}
	if err := checkRegions(regions); err != nil {
		return nil, err
	}
	visible := func(es *endpointService) bool {
		return slices.Contains(regions, es.region.name) && o.allows(es) && o.serves(es)
	}
	fs, err := o.filters(serviceFilters)
	if err != nil {
		return nil, err
	}
	pg, err := o.paging(0)
	if err != nil {
		return nil, err
	}
	var keep []string
	consider := func(es *endpointService) {
		field := func(name string) []string {
			if name == "service-region" {
				return []string{es.region.name}
			}
			return es.field(name)
		}
		if matches(fs, es.tags, field) && !slices.Contains(keep, es.name) {
			keep = append(keep, es.name)
		}
	}
	if len(names) > 0 {
		for _, n := range names {
			es := o.s.servicesByName[n]
			if es == nil || !visible(es) {
				return nil, serviceNameNotFound(n)
			}
			consider(es)
		}
	} else {
		for _, es := range o.s.servicesByName {
			if visible(es) {
				consider(es)
			}
		}
	}
	keep, next := pg.apply(keep)
	w := o.response()
	w.strings("serviceNameSet", keep)
	w.open("serviceDetailSet")
	for _, n := range keep {
		es := o.s.servicesByName[n]
		w.open("item")
		w.elem("serviceName", es.name)
		w.elem("serviceId", es.id)
		w.raw("<serviceType><item><serviceType>Interface</serviceType></item></serviceType>")
		w.elem("serviceRegion", es.region.name)
		// Zone names are the caller's names of the service's zones.
		w.strings("availabilityZoneSet", emptyRegion(o.call.Account, es.region.name).zoneNamesOf(es.azIDs))
		w.strings("availabilityZoneIdSet", es.azIDs)
		w.elem("owner", es.region.account)
		w.strings("baseEndpointDnsNameSet", []string{es.baseDNS()})
		w.boolean("vpcEndpointPolicySupported", false)
		w.boolean("acceptanceRequired", es.acceptance)
		w.boolean("managesVpcEndpoints", false)
		w.elem("payerResponsibility", "ServiceOwner")
		w.strings("supportedIpAddressTypeSet", []string{"ipv4"})
		if es.region.account == o.call.Account {
			w.tags(seen(o, es.tagLog, es.tags))
		} else {
			w.raw("<tagSet/>")
		}
		w.close("item")
	}
	w.close("serviceDetailSet")
	w.opt("nextToken", next)
	return o.finish(w), nil
}

var connectionEvents = eventSet([]string{"Accept", "Connect", "Delete", "Reject"})

func (o *op) createNotification() ([]byte, error) {
	topic, err := o.require("ConnectionNotificationArn")
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(topic, "arn:aws:sns:") {
		return nil, awsproto.Errorf("InvalidParameterValue", "Value (%s) for parameter connectionNotificationArn is invalid. Expected an SNS topic ARN.", topic)
	}
	events := o.list("ConnectionEvents")
	if len(events) == 0 {
		return nil, awsproto.Errorf("MissingParameter", "The request must contain the parameter ConnectionEvents")
	}
	for _, e := range events {
		if !connectionEvents[e] {
			return nil, awsproto.Errorf("InvalidParameterValue", "Value (%s) for parameter connectionEvents is invalid. Valid values: Accept, Connect, Delete, Reject.", e)
		}
	}
	sid, eid := o.form.Get("ServiceId"), o.form.Get("VpcEndpointId")
	switch {
	case sid == "" && eid == "":
		return nil, awsproto.Errorf("MissingParameter", "Either ServiceId or VpcEndpointId must be specified")
	case sid != "" && eid != "":
		return nil, awsproto.Errorf("InvalidParameterCombination", "Only one of ServiceId and VpcEndpointId may be specified")
	case sid != "":
		if _, err := o.ownedService(sid); err != nil {
			return nil, err
		}
	default:
		if o.endpoint(eid) == nil {
			return nil, endpointNotFound(eid)
		}
	}
	token := o.form.Get("ClientToken")
	var n *notification
	if token != "" {
		for _, have := range o.r.notifications {
			if have.clientToken == token {
				n = have
			}
		}
	}
	if n == nil {
		n = &notification{id: o.s.newID("vpce-nfn-"), topicARN: topic, serviceID: sid, endpointID: eid,
			events: eventSet(events), eventList: slices.Clone(events), region: o.r.name, clientToken: token}
		o.r.notifications[n.id] = n
	}
	w := o.response()
	w.opt("clientToken", token)
	w.open("connectionNotification")
	n.write(w)
	w.close("connectionNotification")
	return o.finish(w), nil
}

func (n *notification) write(w *xmlWriter) {
	w.elem("connectionNotificationId", n.id)
	w.opt("serviceId", n.serviceID)
	w.opt("vpcEndpointId", n.endpointID)
	w.elem("connectionNotificationType", "Topic")
	w.elem("connectionNotificationArn", n.topicARN)
	w.strings("connectionEvents", n.eventList)
	w.elem("connectionNotificationState", "Enabled")
	w.elem("serviceRegion", n.region)
}

var notificationFilters = nameSet("connection-notification-arn", "connection-notification-id", "connection-notification-state", "connection-notification-type", "service-id", "vpc-endpoint-id")

func (o *op) describeNotifications() ([]byte, error) {
	fs, err := o.filters(notificationFilters)
	if err != nil {
		return nil, err
	}
	pg, err := o.paging(0)
	if err != nil {
		return nil, err
	}
	id := o.form.Get("ConnectionNotificationId")
	if id != "" && o.r.notifications[id] == nil {
		return nil, awsproto.Errorf("InvalidConnectionNotification", "The connection notification Id '%s' does not exist", id)
	}
	var keep []string
	for _, n := range o.r.notifications {
		if id != "" && n.id != id {
			continue
		}
		field := func(name string) []string {
			switch name {
			case "connection-notification-arn":
				return []string{n.topicARN}
			case "connection-notification-id":
				return []string{n.id}
			case "connection-notification-state":
				return []string{"Enabled"}
			case "connection-notification-type":
				return []string{"Topic"}
			case "service-id":
				return []string{n.serviceID}
			}
			return []string{n.endpointID}
		}
		if matches(fs, nil, field) {
			keep = append(keep, n.id)
		}
	}
	keep, next := pg.apply(keep)
	w := o.response()
	w.open("connectionNotificationSet")
	for _, id := range keep {
		w.open("item")
		o.r.notifications[id].write(w)
		w.close("item")
	}
	w.close("connectionNotificationSet")
	w.opt("nextToken", next)
	return o.finish(w), nil
}

func (o *op) deleteNotifications() ([]byte, error) {
	ids := o.list("ConnectionNotificationId")
	if len(ids) == 0 {
		return nil, awsproto.Errorf("MissingParameter", "The request must contain the parameter ConnectionNotificationIds")
	}
	var failed []unsuccessful
	for _, id := range ids {
		if o.r.notifications[id] == nil {
			failed = append(failed, unsuccessful{id, "InvalidConnectionNotification", "The connection notification Id '" + id + "' does not exist"})
			continue
		}
		delete(o.r.notifications, id)
	}
	w := o.response()
	writeUnsuccessful(w, failed)
	return o.finish(w), nil
}

// unsuccessful is one per-item failure of a batch call.
type unsuccessful struct{ id, code, message string }

func writeUnsuccessful(w *xmlWriter, items []unsuccessful) {
	w.open("unsuccessful")
	for _, u := range items {
		w.open("item")
		w.open("error")
		w.elem("code", u.code)
		w.elem("message", u.message)
		w.close("error")
		w.elem("resourceId", u.id)
		w.close("item")
	}
	w.close("unsuccessful")
}
