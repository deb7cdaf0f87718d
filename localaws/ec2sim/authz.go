package ec2sim

import (
	"maps"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/iam"
)

// AuthorizationContext returns what IAM evaluates before an EC2 call acts:
// the call's own action with every resource it names or creates (each
// subnet, security group and VPC, not only the created resource; Service
// Authorization Reference, "Actions defined by Amazon EC2"), and, when the
// call tags what it creates (TagSpecifications), ec2:CreateTags on the new
// resource with ec2:CreateAction set to the call's action (EC2 User Guide,
// "Grant permission to tag Amazon EC2 resources during creation").
//
// Resources are described with their current tags. A resource that does
// not exist is evaluated with no tags: a policy that needs its tags denies
// the call with UnauthorizedOperation, one that does not lets the call go on
// to answer the service's NotFound. The principal's keys are the caller's
// to add; this fills in the request's tags (aws:RequestTag/<k>,
// aws:TagKeys) and ec2:Region.
func (s *Service) AuthorizationContext(call *awsproto.Call) []iam.Request {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.region(call.Account, call.Region, false)
	if r == nil {
		r = emptyRegion(call.Account, call.Region)
	}
	a := authz{s: s, r: r, form: call.Form}
	ctx := map[string][]string{"ec2:Region": {call.Region}}
	named, tagOnCreate := a.resources(call.Action, ctx)
	// Describe* and the rest have no resource-level permissions: "*".
	out := []iam.Request{{Action: "ec2:" + call.Action, Context: ctx, Resources: named}}
	if multi := a.multiRegion(call.Action, call.Region); len(multi) > 0 {
		out = append(out, iam.Request{Action: "vpce:AllowMultiRegion", Context: map[string][]string{"ec2:Region": {call.Region}}, Resources: multi})
	}
	if len(tagOnCreate) > 0 {
		tagCtx := map[string][]string{"ec2:Region": {call.Region}}
		if tags := a.specTags(); len(tags) > 0 {
			a.requestTags(ctx, tags, true)
			a.requestTags(tagCtx, tags, true)
		}
		for i := range tagOnCreate {
			tagOnCreate[i].Keys["ec2:CreateAction"] = []string{call.Action}
		}
		out = append(out, iam.Request{Action: "ec2:CreateTags", Context: tagCtx, Resources: tagOnCreate})
	}
	return out
}

// resources are what an EC2 call names or creates, and the resources it
// tags on creation; CreateTags and DeleteTags add their request tags to
// ctx. Describe* and the rest have no resource-level permissions: none.
func (a authz) resources(action string, ctx map[string][]string) (named, tagOnCreate []iam.Resource) {
	switch action {
	case "CreateVpcEndpoint":
		return a.createEndpointResources(), a.tagged("vpc-endpoint")
	case "ModifyVpcEndpoint":
		return a.modifyEndpointResources(), nil
	case "DeleteVpcEndpoints":
		for _, id := range a.list("VpcEndpointId") {
			named = append(named, a.endpoint(id))
		}
	case "CreateSecurityGroup":
		if id := a.form.Get("VpcId"); id != "" {
			named = append(named, a.vpc(id))
		}
		named = append(named, a.created("security-group"))
		return named, a.tagged("security-group")
	case "DeleteSecurityGroup", "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress":
		named = append(named, a.group(a.form.Get("GroupId")))
	case "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress":
		// The rules the call creates are resources of their own.
		named = append(named, a.group(a.form.Get("GroupId")), a.created("security-group-rule"))
		return named, a.tagged("security-group-rule")
	case "CreateTags", "DeleteTags":
		for _, id := range a.list("ResourceId") {
			named = append(named, a.any(id))
		}
		a.requestTags(ctx, a.tagPairs("Tag"), action == "CreateTags")
	case "AcceptVpcEndpointConnections", "RejectVpcEndpointConnections",
		"DescribeVpcEndpointServicePermissions", "ModifyVpcEndpointServicePermissions":
		named = append(named, a.service(a.form.Get("ServiceId")))
	case "CreateVpcEndpointConnectionNotification":
		if id := a.form.Get("ServiceId"); id != "" {
			named = append(named, a.service(id))
		}
		if id := a.form.Get("VpcEndpointId"); id != "" {
			named = append(named, a.endpoint(id))
		}
	}
	return named, nil
}

// createEndpointResources are what CreateVpcEndpoint names: the VPC, each
// subnet and security group, and the new endpoint with the service's
// name, owner and region as its condition keys.
func (a authz) createEndpointResources() []iam.Resource {
	named := []iam.Resource{a.vpc(a.form.Get("VpcId"))}
	for _, id := range a.list("SubnetId") {
		named = append(named, a.subnet(id))
	}
	for _, id := range a.list("SecurityGroupId") {
		named = append(named, a.group(id))
	}
	ep := a.created("vpc-endpoint")
	name := a.form.Get("ServiceName")
	ep.Keys["ec2:VpceServiceName"] = []string{name}
	if es := a.s.servicesByName[name]; es != nil {
		ep.Keys["ec2:VpceServiceOwner"] = []string{es.region.account}
	}
	// "Filters access by the region of the VPC endpoint service" (Service
	// Authorization Reference, EC2 condition keys): the service's Region
	// is the endpoint's ServiceRegion, the caller's when not given, so the
	// key is present on every create. ec2:VpceMultiRegion ("multi region
	// of the VPC endpoint service", a String) is "true" for a service of
	// another Region: an assumption, the reference gives no values.
	sr := a.endpointServiceRegion()
	ep.Keys["ec2:VpceServiceRegion"] = []string{sr}
	ep.Keys["ec2:VpceMultiRegion"] = []string{strconv.FormatBool(sr != a.r.name)}
	return append(named, ep)
}

// endpointServiceRegion is the Region a CreateVpcEndpoint names.
func (a authz) endpointServiceRegion() string {
	if sr := a.form.Get("ServiceRegion"); sr != "" {
		return sr
	}
	return a.r.name
}

// multiRegion are the resources vpce:AllowMultiRegion is checked on, a
// permission-only action ("By default, IAM entities don't have permission
// to make an endpoint service available in multiple Regions or access an
// endpoint service across Regions ... allow the vpce:AllowMultiRegion
// permission-only action", PrivateLink guide, "Cross-Region access"):
// the new endpoint of a CreateVpcEndpoint naming another Region, the
// service a CreateVpcEndpointServiceConfiguration or
// ModifyVpcEndpointServiceConfiguration makes available in another Region.
// Removing Regions needs no more than the ec2 action.
func (a authz) multiRegion(action, region string) []iam.Resource {
	others := func(regions []string) bool {
		return slices.ContainsFunc(regions, func(r string) bool { return r != region })
	}
	switch action {
	case "CreateVpcEndpoint":
		if a.endpointServiceRegion() != region {
			return []iam.Resource{a.created("vpc-endpoint")}
		}
	case "CreateVpcEndpointServiceConfiguration":
		if others(a.list("SupportedRegion")) {
			return []iam.Resource{a.created("vpc-endpoint-service")}
		}
	case "ModifyVpcEndpointServiceConfiguration":
		if others(a.list("AddSupportedRegion")) {
			return []iam.Resource{a.service(a.form.Get("ServiceId"))}
		}
	}
	return nil
}

// modifyEndpointResources are what ModifyVpcEndpoint names: the endpoint
// and every subnet and security group it adds or removes.
func (a authz) modifyEndpointResources() []iam.Resource {
	named := []iam.Resource{a.endpoint(a.form.Get("VpcEndpointId"))}
	for _, p := range []string{"AddSubnetId", "RemoveSubnetId"} {
		for _, id := range a.list(p) {
			named = append(named, a.subnet(id))
		}
	}
	for _, p := range []string{"AddSecurityGroupId", "RemoveSecurityGroupId"} {
		for _, id := range a.list(p) {
			named = append(named, a.group(id))
		}
	}
	return named
}

// authz reads what a call names from the service's state (read lock held).
type authz struct {
	s    *Service
	r    *region
	form url.Values
}

func (a authz) list(prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		vs, ok := a.form[prefix+"."+strconv.Itoa(i)]
		if !ok || len(vs) == 0 {
			return out
		}
		out = append(out, vs[0])
	}
}

func (a authz) arn(kind, id string) string {
	return "arn:aws:ec2:" + a.r.name + ":" + a.r.account + ":" + kind + "/" + id
}

func (a authz) resource(kind, id string, tags map[string]string, keys map[string][]string) iam.Resource {
	if keys == nil {
		keys = map[string][]string{}
	}
	return iam.Resource{ARN: a.arn(kind, id), Type: kind, Tags: maps.Clone(tags), Keys: keys}
}

// created is a resource the call creates: its id is not known yet, so
// AWS evaluates it as <type>/*.
func (a authz) created(kind string) iam.Resource { return a.resource(kind, "*", nil, nil) }

func (a authz) vpc(id string) iam.Resource {
	var tags map[string]string
	if v := a.r.vpcs[id]; v != nil {
		tags = v.tags
	}
	return a.resource("vpc", id, tags, map[string][]string{"ec2:VpcID": {id}})
}

func (a authz) subnet(id string) iam.Resource {
	keys := map[string][]string{"ec2:SubnetID": {id}}
	var tags map[string]string
	if sn := a.r.subnets[id]; sn != nil {
		tags = sn.tags
		keys["ec2:Vpc"] = []string{a.arn("vpc", sn.vpc.id)}
		keys["ec2:AvailabilityZone"] = []string{sn.az}
		keys["ec2:AvailabilityZoneId"] = []string{sn.azID}
	}
	return a.resource("subnet", id, tags, keys)
}

func (a authz) group(id string) iam.Resource {
	keys := map[string][]string{"ec2:SecurityGroupID": {id}}
	var tags map[string]string
	if g := a.r.groups[id]; g != nil {
		tags = g.tags
		if g.vpc != nil {
			keys["ec2:Vpc"] = []string{a.arn("vpc", g.vpc.id)}
		}
	}
	return a.resource("security-group", id, tags, keys)
}

func (a authz) endpoint(id string) iam.Resource {
	keys := map[string][]string{}
	var tags map[string]string
	if e := a.r.endpoints[id]; e != nil {
		tags = e.tags
		if e.service != nil {
			keys["ec2:VpceServiceName"] = []string{e.service.name}
			keys["ec2:VpceServiceRegion"] = []string{e.service.region.name}
			keys["ec2:VpceMultiRegion"] = []string{strconv.FormatBool(e.crossRegion())}
		}
	}
	return a.resource("vpc-endpoint", id, tags, keys)
}

// service is an endpoint service of the caller, with its supported
// Regions (ec2:VpceSupportedRegion, multi-valued) and whether it has any
// besides its own (ec2:VpceMultiRegion, "true" or "false": an
// assumption, the reference gives no values).
func (a authz) service(id string) iam.Resource {
	var tags map[string]string
	keys := map[string][]string{}
	if es := a.r.services[id]; es != nil {
		tags = es.tags
		keys["ec2:VpceSupportedRegion"] = slices.Clone(es.regions)
		keys["ec2:VpceServiceRegion"] = []string{es.region.name}
		keys["ec2:VpceMultiRegion"] = []string{strconv.FormatBool(es.multiRegion())}
	}
	return a.resource("vpc-endpoint-service", id, tags, keys)
}

// any finds a resource of CreateTags/DeleteTags by its id's prefix.
func (a authz) any(id string) iam.Resource {
	switch {
	case strings.HasPrefix(id, "vpc-"):
		return a.vpc(id)
	case strings.HasPrefix(id, "subnet-"):
		return a.subnet(id)
	case strings.HasPrefix(id, "sg-"):
		return a.group(id)
	case strings.HasPrefix(id, "vpce-svc-"):
		return a.service(id)
	case strings.HasPrefix(id, "vpce-"):
		return a.endpoint(id)
	}
	return iam.Resource{ARN: "arn:aws:ec2:" + a.r.name + ":" + a.r.account + ":" + id, Keys: map[string][]string{}}
}

// tagged returns the new resource CreateTags is evaluated on when the call
// carries a TagSpecification of that type, or nil.
func (a authz) tagged(kind string) []iam.Resource {
	for i := 1; ; i++ {
		rt, ok := a.form["TagSpecification."+strconv.Itoa(i)+".ResourceType"]
		if !ok {
			return nil
		}
		if len(rt) > 0 && rt[0] == kind {
			return []iam.Resource{a.created(kind)}
		}
	}
}

func (a authz) tagPairs(prefix string) []tagPair {
	return (&op{form: a.form}).tagPairs(prefix)
}

// specTags returns the tags of every TagSpecification.
func (a authz) specTags() []tagPair {
	var out []tagPair
	for i := 1; ; i++ {
		p := "TagSpecification." + strconv.Itoa(i)
		pairs := a.tagPairs(p + ".Tag")
		if _, ok := a.form[p+".ResourceType"]; !ok && len(pairs) == 0 {
			return out
		}
		out = append(out, pairs...)
	}
}

// requestTags sets aws:TagKeys and, with values, aws:RequestTag/<k>.
func (a authz) requestTags(ctx map[string][]string, pairs []tagPair, values bool) {
	seen := map[string]bool{}
	var keys []string
	for _, p := range pairs {
		if values {
			ctx["aws:RequestTag/"+p.Key] = []string{p.Value}
		}
		if !seen[p.Key] {
			seen[p.Key] = true
			keys = append(keys, p.Key)
		}
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		ctx["aws:TagKeys"] = keys
	}
}
