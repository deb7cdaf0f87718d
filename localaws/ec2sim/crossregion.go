package ec2sim

import (
	"slices"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// Cross-Region PrivateLink (PrivateLink guide, "Share your services through
// AWS PrivateLink", section "Cross-Region access"): "A service provider can
// host a service in one Region and make it available in a set of supported
// Regions. A service consumer selects a service Region when creating an
// endpoint" (CreateVpcEndpoint's ServiceRegion, "The Region where the
// service is hosted. The default is the current Region", EC2 API model).
//
// What the local AWS does, and why:
//   - A consumer in Region B reaches a service of Region A only by naming
//     A as ServiceRegion, and only while B is one of the service's
//     SupportedRegions. Otherwise the service is not there for it:
//     InvalidServiceName, which is what AWS answers a create in another
//     Region without ServiceRegion ("service name does not exist",
//     hashicorp/terraform-provider-aws#40583) and a describe of a service
//     of another Region (cloud-custodian/cloud-custodian#10918). No AWS
//     document names the error for a Region the service does not support;
//     this is the same answer, as for a principal it does not allow.
//   - "Cross-Region access does not require that providers and consumers
//     use the same Availability Zones", and "is not supported for the
//     following Availability Zones: use1-az3, usw1-az2, apne1-az3,
//     apne2-az2, and apne2-az4": a cross-Region endpoint takes a subnet in
//     any other zone of its own Region, one per zone.
//   - "If a service provider removes a Region from the set of supported
//     Regions, service consumers can't select that Region as the service
//     Region when they create new endpoints. Note that this does not affect
//     access to the endpoint service from existing endpoints": existing
//     endpoints stay, and their connections can still be accepted,
//     rejected and deleted.
//   - "You can't remove the host Region from the set of supported Regions"
//     (modifyServiceConfiguration); "For high availability, providers must
//     use at least two Availability Zones": a service offered in other
//     Regions needs two zones where cross-Region access is supported.
//   - DNS: the regional name is
//     endpoint_id.endpoint_service_id.service_region.vpce.amazonaws.com
//     (same guide, "DNS hostnames"), so it names the service's Region. No
//     sample of a cross-Region endpoint's DnsEntries was found; the hosted
//     zone is the one of that name's Region. Cross-Region endpoints get
//     the regional name only: "You must use regional DNS. Zonal DNS is not
//     supported when accessing AWS services in another Region" (guide,
//     "Cross-region enabled AWS services"), which reviews of the launch
//     blog also state for endpoint services.

// crossRegionExcludedZones are the zone ids where cross-Region access is
// not supported (PrivateLink guide, "Cross-Region access").
var crossRegionExcludedZones = []string{"use1-az3", "usw1-az2", "apne1-az3", "apne2-az2", "apne2-az4"}

// crossRegionZone reports whether a zone id supports cross-Region access.
func crossRegionZone(id string) bool { return !slices.Contains(crossRegionExcludedZones, id) }

// serviceRegion is the Region a CreateVpcEndpoint names (ServiceRegion),
// by default the caller's.
func (o *op) serviceRegion() (string, error) {
	r := o.form.Get("ServiceRegion")
	if r == "" {
		return o.r.name, nil
	}
	if !regionPattern.MatchString(r) {
		return "", awsproto.Errorf("InvalidParameterValue", "Value (%s) for parameter serviceRegion is invalid.", r)
	}
	return r, nil
}

// serves reports whether consumers in the caller's Region may connect to
// the service: it is in their Region, or their Region is supported.
func (o *op) serves(es *endpointService) bool {
	return es.region.name == o.r.name || slices.Contains(es.regions, o.r.name)
}

// reachable finds a service by name in serviceRegion as the caller sees
// it: hosted there, allowing the caller, serving the caller's Region.
func (o *op) reachable(name, serviceRegion string) *endpointService {
	es := o.s.servicesByName[name]
	if es == nil || es.region.name != serviceRegion || !o.allows(es) || !o.serves(es) {
		return nil
	}
	return es
}

// multiRegion reports whether the service is offered outside its Region.
func (es *endpointService) multiRegion() bool {
	for _, r := range es.regions {
		if r != es.region.name {
			return true
		}
	}
	return false
}

// crossRegion reports whether the endpoint reaches a service of another
// Region.
func (e *endpoint) crossRegion() bool { return e.service.region.name != e.region }

// checkCrossRegionZones refuses to offer a service in other Regions with
// fewer than two zones that support cross-Region access. The code and
// wording are guesses: the guide says providers "must use at least two
// Availability Zones" without naming the error.
func checkCrossRegionZones(azIDs, regions []string, home string) error {
	if !slices.ContainsFunc(regions, func(r string) bool { return r != home }) {
		return nil
	}
	n := 0
	for _, id := range azIDs {
		if crossRegionZone(id) {
			n++
		}
	}
	if n < 2 {
		return awsproto.Errorf("InvalidParameter", "Cross-Region access requires the service in at least two Availability Zones that support it; it has %d", n)
	}
	return nil
}
