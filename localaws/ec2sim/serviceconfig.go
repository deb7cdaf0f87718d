package ec2sim

import (
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// Endpoint services by API, as AWS::EC2::VPCEndpointService makes them.
// There is no load balancer model: an NLB ARN is accepted when it is well
// formed and names the caller's account and Region; the service offers
// every zone of the Region (AvailabilityZones) and DefaultPorts.

// DefaultPorts are the ports of an endpoint service made by API: the
// Jenkins inbound agent port and the HTTP port the local stack uses.
var DefaultPorts = []int{50000, 8080}

var nlbARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):([0-9]{12}):loadbalancer/net/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}$`)

// checkNLBs validates load balancer ARNs of the caller's account/Region.
func (o *op) checkNLBs(arns []string) error {
	for _, a := range arns {
		m := nlbARNPattern.FindStringSubmatch(a)
		if m == nil || m[1] != o.r.name || m[2] != o.r.account {
			return awsproto.Errorf("InvalidParameterValue", "Value (%s) for parameter networkLoadBalancerArns is invalid. Expected a Network Load Balancer ARN of account %s in %s.", a, o.r.account, o.r.name)
		}
	}
	return nil
}

// checkRegions validates SupportedRegion values.
func checkRegions(regions []string) error {
	for _, r := range regions {
		if !regionPattern.MatchString(r) {
			return awsproto.Errorf("InvalidParameterValue", "Value (%s) for parameter supportedRegions is invalid.", r)
		}
	}
	return nil
}

// refuseUnsupported refuses parameters of features the local AWS does not
// model (Gateway Load Balancers, private DNS names, IPv6).
func (o *op) refuseUnsupported(gwlb, dnsName, ipTypes string) error {
	if len(o.list(gwlb)) > 0 {
		return awsproto.Errorf("InvalidParameter", "Gateway Load Balancer endpoint services are not supported by the local AWS")
	}
	if dnsName != "" && o.form.Get(dnsName) != "" {
		return awsproto.Errorf("InvalidParameter", "Private DNS names are not supported by the local AWS")
	}
	for _, t := range o.list(ipTypes) {
		if t != "ipv4" {
			return awsproto.Errorf("InvalidParameterValue", "Value (%s) for parameter supportedIpAddressTypes is invalid. The local AWS supports ipv4.", t)
		}
	}
	return nil
}

func (o *op) createServiceConfiguration() ([]byte, error) {
	token := o.form.Get("ClientToken")
	if token != "" {
		for _, es := range o.r.services {
			if es.clientToken == token {
				return o.serviceConfigurationResponse(es, token), nil
			}
		}
	}
	if err := o.refuseUnsupported("GatewayLoadBalancerArn", "PrivateDnsName", "SupportedIpAddressType"); err != nil {
		return nil, err
	}
	nlbs := uniqueSorted(o.list("NetworkLoadBalancerArn"))
	if len(nlbs) == 0 {
		return nil, awsproto.Errorf("InvalidParameter", "At least one Network Load Balancer or Gateway Load Balancer ARN must be specified")
	}
	if err := o.checkNLBs(nlbs); err != nil {
		return nil, err
	}
	acceptance, _, err := o.boolean("AcceptanceRequired")
	if err != nil {
		return nil, err
	}
	regions := uniqueSorted(append(o.list("SupportedRegion"), o.r.name))
	if err := checkRegions(regions); err != nil {
		return nil, err
	}
	if err := checkCrossRegionZones(o.r.zoneIDs(), regions, o.r.name); err != nil {
		return nil, err
	}
	tags, _, err := o.tagSpecs("vpc-endpoint-service")
	if err != nil {
		return nil, err
	}
	id := o.s.newID("vpce-svc-")
	es := &endpointService{
		id: id, name: "com.amazonaws.vpce." + o.r.name + "." + id, region: o.r, acceptance: acceptance,
		azIDs: o.r.zoneIDs(), principals: map[string]string{}, ports: DefaultPorts, tags: tags,
		nlbARNs: nlbs, regions: regions, clientToken: token, endpoints: map[string]*endpoint{},
	}
	o.r.services[id] = es
	o.s.servicesByID[id] = es
	o.s.servicesByName[es.name] = es
	return o.serviceConfigurationResponse(es, token), nil
}

func (o *op) serviceConfigurationResponse(es *endpointService, token string) []byte {
	w := o.response()
	w.opt("clientToken", token)
	w.open("serviceConfiguration")
	es.write(w, es.tags)
	w.close("serviceConfiguration")
	return o.finish(w)
}

func (o *op) modifyServiceConfiguration() ([]byte, error) {
	es, err := o.ownedService(o.form.Get("ServiceId"))
	if err != nil {
		return nil, err
	}
	if err := o.refuseUnsupported("AddGatewayLoadBalancerArn", "PrivateDnsName", "AddSupportedIpAddressType"); err != nil {
		return nil, err
	}
	acceptance, setAcceptance, err := o.boolean("AcceptanceRequired")
	if err != nil {
		return nil, err
	}
	addNLB, removeNLB := uniqueSorted(o.list("AddNetworkLoadBalancerArn")), uniqueSorted(o.list("RemoveNetworkLoadBalancerArn"))
	if err := o.checkNLBs(addNLB); err != nil {
		return nil, err
	}
	for _, a := range removeNLB {
		if !slices.Contains(es.nlbARNs, a) {
			return nil, awsproto.Errorf("InvalidParameterValue", "The Network Load Balancer %s is not associated with service %s", a, es.id)
		}
	}
	nlbs := uniqueSorted(append(slices.DeleteFunc(slices.Clone(es.nlbARNs), func(a string) bool { return slices.Contains(removeNLB, a) }), addNLB...))
	if len(nlbs) == 0 {
		return nil, awsproto.Errorf("InvalidParameter", "An endpoint service must keep at least one Network Load Balancer")
	}
	addRegions, removeRegions := uniqueSorted(o.list("AddSupportedRegion")), uniqueSorted(o.list("RemoveSupportedRegion"))
	if err := checkRegions(addRegions); err != nil {
		return nil, err
	}
	if slices.Contains(removeRegions, o.r.name) {
		return nil, awsproto.Errorf("InvalidParameterValue", "The service Region %s cannot be removed from supportedRegions", o.r.name)
	}
	regions := uniqueSorted(append(slices.DeleteFunc(slices.Clone(es.regions), func(r string) bool { return slices.Contains(removeRegions, r) }), addRegions...))
	if err := checkCrossRegionZones(es.azIDs, regions, o.r.name); err != nil {
		return nil, err
	}
	es.nlbARNs = nlbs
	// Removing a Region keeps the endpoints it has ("this does not affect
	// access to the endpoint service from existing endpoints", see
	// crossregion.go); only new ones are refused.
	es.regions = regions
	if setAcceptance {
		es.acceptance = acceptance
	}
	return o.returnTrue(), nil
}

// blocksDeletion reports whether an endpoint's connection keeps its
// service from being deleted: AWS asks to reject available and
// pendingAcceptance connections first.
func blocksDeletion(state string) bool {
	switch state {
	case "pendingAcceptance", "pending", "available", "Partial":
		return true
	}
	return false
}

func (o *op) deleteServiceConfigurations() ([]byte, error) {
	ids := o.list("ServiceId")
	if len(ids) == 0 {
		return nil, awsproto.Errorf("MissingParameter", "The request must contain the parameter ServiceId")
	}
	var failed []unsuccessful
	for _, id := range ids {
		es := o.r.services[id]
		if es == nil {
			failed = append(failed, unsuccessful{id, "InvalidVpcEndpointServiceId.NotFound", "The VpcEndpointService Id '" + id + "' does not exist"})
			continue
		}
		var busy []string
		for _, e := range es.endpoints {
			if blocksDeletion(e.state(o.now, o.s.delay)) {
				busy = append(busy, e.id)
			}
		}
		if len(busy) > 0 {
			sort.Strings(busy)
			failed = append(failed, unsuccessful{id, "ExistingVpcEndpointConnections", "Service " + id + " has existing endpoint connections: " + strings.Join(busy, ", ")})
			continue
		}
		delete(o.r.services, id)
		delete(o.s.servicesByID, id)
		delete(o.s.servicesByName, es.name)
		for nid, n := range o.r.notifications {
			if n.serviceID == id {
				delete(o.r.notifications, nid)
			}
		}
	}
	w := o.response()
	writeUnsuccessful(w, failed)
	return o.finish(w), nil
}
