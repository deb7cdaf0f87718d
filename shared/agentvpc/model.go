package agentvpc

import (
	"slices"
	"strings"
	"time"
)

// Tags the product puts on what it creates, and on the agent VPC.
const (
	TagManaged  = "jenkins-agent-vpcs:managed" // "true" on everything the product created
	TagVPC      = "jenkins-agent-vpcs:vpc"     // the VPC a managed resource serves
	TagRole     = "jenkins-agent-vpcs:role"    // RoleAgent or RoleEndpoint on groups
	TagCreated  = "jenkins-agent-vpcs:created" // RFC 3339 creation time on groups (they have none of their own)
	TagStatus   = "jenkins-agent-vpcs:status"  // on the VPC
	TagEndpoint = "jenkins-agent-vpcs:endpoint"
)

// Security group roles.
const (
	RoleAgent    = "agent"    // for the agents: the endpoint admits it
	RoleEndpoint = "endpoint" // on the endpoint's interfaces
)

// GroupName is the name of the group of a role: fixed, so a racing second
// create fails with InvalidGroup.Duplicate instead of making a twin.
func GroupName(role string) string { return "jenkins-agent-vpcs-" + role }

// Endpoint states as the wire spells them. The SDK's enum constants use
// another casing, so states are always compared case-insensitively.
const (
	StatePendingAcceptance = "pendingAcceptance"
	StatePending           = "pending"
	StateAvailable         = "available"
	StateRejected          = "rejected"
	StateFailed            = "failed"
	StateExpired           = "expired"
	StateDeleting          = "deleting"
	StateDeleted           = "deleted"
	// StatePartial is in the EC2 API model (types.StatePartial) without a
	// documented meaning beyond its name: an interface endpoint some of
	// whose subnets failed. It may carry traffic in the others.
	StatePartial = "partial"
)

// Class is what the product does with an endpoint in some state.
type Class string

const (
	// Usable endpoints carry or will carry traffic: keep, accept, publish.
	Usable Class = "usable"
	// Degraded endpoints (Partial, or a state this code does not know)
	// occupy the VPC's one endpoint: never create a second beside them,
	// delete them only on removal, and report them.
	Degraded Class = "degraded"
	// Unusable endpoints exist but never will carry traffic: replace them.
	Unusable Class = "dead"
	// Leaving endpoints are being or have been deleted: wait, or replace.
	Leaving Class = "leaving"
)

// Classify sorts every state of the EC2 API model (types.State:
// PendingAcceptance, Pending, Available, Deleting, Deleted, Rejected,
// Failed, Expired, Partial), whatever its casing.
func Classify(state string) Class {
	switch {
	case StateIs(state, StatePendingAcceptance, StatePending, StateAvailable):
		return Usable
	case StateIs(state, StateRejected, StateFailed, StateExpired):
		return Unusable
	case StateIs(state, StateDeleting, StateDeleted):
		return Leaving
	}
	return Degraded // Partial, and any state added after this code
}

// Holds reports whether an endpoint in state occupies the VPC's endpoint
// slot, so that no second one may be created beside it.
func Holds(state string) bool { c := Classify(state); return c == Usable || c == Degraded }

// StateIs compares endpoint or connection states the way the wire needs.
func StateIs(state string, states ...string) bool {
	return slices.ContainsFunc(states, func(s string) bool { return strings.EqualFold(s, state) })
}

// Live states are those of an endpoint that is or may become usable.
func Live(state string) bool { return Classify(state) == Usable }

// Dead states are those of an endpoint that will never carry traffic and
// still exists: it must be deleted and replaced.
func Dead(state string) bool { return Classify(state) == Unusable }

// Gone states are those of an endpoint on its way out.
func Gone(state string) bool { return Classify(state) == Leaving }

// Subnet is a subnet of the VPC.
type Subnet struct {
	ID   string
	AZ   string
	AZID string
	Tags map[string]string
}

// Rule is one ingress rule: TCP ports from a security group.
type Rule struct {
	Protocol    string
	FromPort    int32
	ToPort      int32
	SourceGroup string // group id
	CIDR        string // set for rules the product never writes
}

// SecurityGroup is a managed security group.
type SecurityGroup struct {
	ID      string
	Name    string
	Role    string
	Created time.Time
	Ingress []Rule
}

// Endpoint is a managed interface endpoint.
type Endpoint struct {
	ID          string
	VPCID       string
	State       string
	ServiceName string
	SubnetIDs   []string
	GroupIDs    []string
	DNSNames    []string
	Created     time.Time
}

// Observed is what a VPC holds now, as far as the product cares.
type Observed struct {
	Account string
	Region  string
	VPCID   string
	Exists  bool
	Tags    map[string]string // the VPC's tags
	Subnets []Subnet
	Groups  []SecurityGroup // managed groups in the VPC
	// Endpoints are the managed endpoints in the VPC, in any state.
	Endpoints []Endpoint
}

// Group returns the managed group of a role, if any (the oldest, when a
// person made a copy).
func (o Observed) Group(role string) (SecurityGroup, bool) {
	for _, g := range o.Groups {
		if g.Role == role && g.Name == GroupName(role) {
			return g, true
		}
	}
	return SecurityGroup{}, false
}

// Keeper is the endpoint the VPC keeps: the oldest usable one, else the
// oldest degraded one (ties broken by id), so that every observer of the
// same VPC picks the same, and a Partial endpoint is never joined by a
// second one.
func (o Observed) Keeper() (Endpoint, bool) {
	var live []Endpoint
	for _, e := range o.Endpoints {
		if Holds(e.State) {
			live = append(live, e)
		}
	}
	if len(live) == 0 {
		return Endpoint{}, false
	}
	slices.SortFunc(live, func(a, b Endpoint) int {
		if la, lb := Live(a.State), Live(b.State); la != lb {
			if la {
				return -1
			}
			return 1
		}
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return live[0], true
}

// Desired is what the VPC should hold.
type Desired struct {
	Tagged      bool
	ServiceName string
	// ServiceRegion is the service's Region when it is not the VPC's: the
	// endpoint is then a cross-Region one (CreateVpcEndpoint's
	// ServiceRegion, "The Region where the service is hosted").
	ServiceRegion string
	SubnetIDs     []string // sorted; one per offered AZ
	Ports         []int
	// Keep is false when the VPC is being torn down regardless of its tag
	// (a DeleteVpc blocked by our resources).
	Keep bool
}

// ChooseSubnets picks one subnet per Availability Zone that offered
// accepts (the zones an endpoint of the VPC's Region may use), matching by
// AZ ID. When some candidate carries the opt-in tag
// (optInKey with a true value), only opted-in subnets are used. Within an
// AZ the lowest subnet id wins, so the choice is the same every time.
// exclude names subnets that must not be used (being deleted).
func ChooseSubnets(subnets []Subnet, offered func(azID string) bool, optInKey string, exclude ...string) []string {
	var candidates []Subnet
	optedIn := false
	for _, s := range subnets {
		if !offered(s.AZID) || slices.Contains(exclude, s.ID) {
			continue
		}
		candidates = append(candidates, s)
		optedIn = optedIn || strings.EqualFold(s.Tags[optInKey], "true")
	}
	best := map[string]string{}
	for _, s := range candidates {
		if optedIn && !strings.EqualFold(s.Tags[optInKey], "true") {
			continue
		}
		if cur, ok := best[s.AZID]; !ok || s.ID < cur {
			best[s.AZID] = s.ID
		}
	}
	out := make([]string, 0, len(best))
	for _, id := range best {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// DesiredRules are the endpoint group's ingress rules: each port from the
// agent group.
func DesiredRules(ports []int, agentGroupID string) []Rule {
	rules := make([]Rule, 0, len(ports))
	for _, p := range ports {
		rules = append(rules, Rule{Protocol: "tcp", FromPort: int32(p), ToPort: int32(p), SourceGroup: agentGroupID})
	}
	return rules
}

// RegionalDNSName returns the endpoint's regional DNS name: the one whose
// first label carries no Availability Zone suffix. It is chosen by name,
// never by position in the list.
func RegionalDNSName(names []string, region string) string {
	for _, n := range names {
		first, rest, ok := strings.Cut(n, ".")
		if !ok || !strings.HasPrefix(first, "vpce-") || !strings.HasPrefix(rest, "vpce-svc-") {
			continue
		}
		if zonal(first, region) {
			continue
		}
		return n
	}
	return ""
}

// zonal reports whether an endpoint DNS label ends in "-<region><letter>",
// like vpce-0abc-x1y2z3-us-east-1a.
func zonal(label, region string) bool {
	i := strings.LastIndex(label, "-"+region)
	if i < 0 {
		return false
	}
	suffix := label[i+1+len(region):]
	return len(suffix) == 1 && suffix[0] >= 'a' && suffix[0] <= 'z'
}
