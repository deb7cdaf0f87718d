package reconcile

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/converge"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/endpointservice"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

// Drift names what is wrong.
type Drift string

// The drifts a sweep finds.
const (
	MissingEndpoint   Drift = "missing-endpoint"
	DeadEndpoint      Drift = "dead-endpoint"      // rejected, failed, expired or deleted: recreate
	SpokeDrift        Drift = "spoke-drift"        // wrong subnets, groups or rules (deep pass)
	MissingPrincipal  Drift = "missing-principal"  // an agent VPC's account is not allowed on the service
	StalePrincipal    Drift = "stale-principal"    // allowed, but the account has no agent VPC
	PendingConnection Drift = "pending-connection" // waiting for acceptance
	WrongParameters   Drift = "wrong-parameters"   // missing, or not what the endpoint says
	StaleParameters   Drift = "stale-parameters"   // published for a VPC that is not an agent VPC
	StaleStatusTags   Drift = "stale-status-tags"  // the VPC's status tags disagree
	UntaggedEndpoint  Drift = "endpoint-in-untagged-vpc"
	UntaggedGroups    Drift = "groups-in-untagged-vpc"
)

// Repair names what fixes it.
type Repair string

// The repairs, one per drift.
const (
	Converge         Repair = "converge-vpc"      // the onboarding path for one VPC
	Remove           Repair = "remove-vpc"        // the offboarding path for one VPC
	Allow            Repair = "allow-principal"   // batched permission change
	Revoke           Repair = "revoke-principal"  // batched permission change
	Settle           Repair = "settle-connection" // batched accept/reject
	Publish          Repair = "publish"           // parameters and status tags
	DeleteParameters Repair = "delete-parameters"
)

// Item is one drift and its repair.
type Item struct {
	Account    string
	VPCID      string
	Drift      Drift
	Repair     Repair
	Detail     string
	EndpointID string
	Names      []string // parameter names, for DeleteParameters
}

func (i Item) String() string {
	where := i.Account
	if i.VPCID != "" {
		where += "/" + i.VPCID
	}
	return fmt.Sprintf("%-28s %-24s %-18s %s", where, i.Drift, i.Repair, i.Detail)
}

// Input is everything the plan depends on besides the observations.
type Input struct {
	Config    config.Config
	Region    string
	Service   endpointservice.Info
	Principal func(account string) string
	// Desired is what a tagged VPC should hold (converge.AgentVPCs.Desired):
	// the sweep judges a VPC by the same desired state its repair builds.
	Desired  func(info endpointservice.Info, o agentvpc.Observed, exclude []string) agentvpc.Desired
	Document func(o agentvpc.Observed, ep agentvpc.Endpoint, state, st, agentGroup, serviceName string) tunnel.Document
	Now      time.Time
	Grace    time.Duration
}

func (in Input) old(t time.Time) bool {
	return in.Grace <= 0 || t.IsZero() || in.Now.Sub(t) >= in.Grace
}

// Plan compares the observations with what the tags ask for. It is pure.
func Plan(in Input, hub Hub, accounts []Account) []Item {
	hub = hub.indexed()
	var items []Item
	for _, a := range accounts {
		items = append(items, planAccount(in, hub, a)...)
	}
	return items
}

// planAccount plans one account in the order a sweep reads it: its agent
// VPCs, what the product left in VPCs that are no longer agent VPCs, the
// account's principal on the service, and the pending connections no
// item settles yet.
func planAccount(in Input, hub Hub, a Account) []Item {
	if a.Err != nil {
		return nil // reported as a failure; nothing is safe to plan
	}
	items := planAgentVPCs(in, hub, a)
	leftovers, young := planLeftovers(in, a)
	items = append(items, leftovers...)
	if p, ok := planPrincipal(in, hub, a, young); ok && p.Repair == Allow {
		items = append([]Item{p}, items...) // first, as apply allows it first: endpoints are refused without it
	} else if ok {
		items = append(items, p)
	}
	items = append(items, planStrayConnections(in, hub, a, items)...)
	for i := range items {
		items[i].Account = a.ID
	}
	return items
}

// planAgentVPCs plans each agent VPC of the account, in VPC order.
func planAgentVPCs(in Input, hub Hub, a Account) []Item {
	var items []Item
	for _, vpc := range slices.Sorted(maps.Keys(a.VPCs)) {
		if !a.isAgentVPC(vpc) {
			continue
		}
		if it, ok := planAgentVPC(in, hub, a, vpc); ok {
			items = append(items, it)
		}
	}
	return items
}

// planAgentVPC finds the first drift of one agent VPC, in the order the
// repairs depend on each other: its spoke side, its connection, its
// parameters, its status tags. One repair per VPC is enough: converging
// publishes too, and settling publishes the state it leads to.
func planAgentVPC(in Input, hub Hub, a Account, vpc string) (Item, bool) {
	o := a.Observed(vpc, in.Region)
	if it, ok := planSpoke(in, a, o); ok {
		return it, true
	}
	keeper, _ := o.Keeper() // planSpoke converges a VPC without one
	state := keeper.State
	if c, ok := hub.Connections[keeper.ID]; ok {
		state = c.State
	}
	if agentvpc.StateIs(state, agentvpc.StatePendingAcceptance) && in.Config.ApprovalMode == config.ApprovalAuto {
		return Item{VPCID: vpc, Drift: PendingConnection, Repair: Settle, EndpointID: keeper.ID, Detail: keeper.ID + " is pendingAcceptance"}, true
	}
	return planPublication(in, a, o, keeper, state)
}

// planSpoke takes the planner's verdict (agentvpc.Plan) on the spoke side
// of an agent VPC. The deep pass read its subnets and groups and takes
// every step; the shallow pass read only the endpoints and takes only the
// endpoint steps (create the missing one, delete the dead and the
// duplicates), since the other steps would judge what it did not read.
func planSpoke(in Input, a Account, o agentvpc.Observed) (Item, bool) {
	steps := agentvpc.Plan(in.Desired(in.Service, o, nil), o, in.Now, in.Grace)
	if !a.Deep {
		steps = endpointSteps(steps)
	}
	if len(steps) == 0 {
		return Item{}, false
	}
	return Item{VPCID: o.VPCID, Drift: spokeDrift(o, a.Deep), Repair: Converge, Detail: stepsText(steps)}, true
}

// endpointSteps keeps the steps that create or delete endpoints.
func endpointSteps(steps []agentvpc.Step) []agentvpc.Step {
	return slices.DeleteFunc(steps, func(s agentvpc.Step) bool {
		return s.Kind != agentvpc.CreateEndpoint && s.Kind != agentvpc.DeleteEndpoints
	})
}

// spokeDrift names what is wrong with a spoke side the planner would
// change: its endpoint when it has no live one, else (on the shallow pass,
// which sees nothing but endpoints) a duplicate, else its subnets, groups
// or rules.
func spokeDrift(o agentvpc.Observed, deep bool) Drift {
	switch _, ok := o.Keeper(); {
	case !ok && len(o.Endpoints) == 0:
		return MissingEndpoint
	case !ok || !deep:
		return DeadEndpoint
	}
	return SpokeDrift
}

// planPublication compares what is published for an agent VPC, its
// parameters and then its status tags, with what its endpoint says now.
func planPublication(in Input, a Account, o agentvpc.Observed, keeper agentvpc.Endpoint, state string) (Item, bool) {
	pub := a.Params[o.VPCID]
	group := agentGroup(a, o.VPCID, pub)
	if group == "" {
		return Item{VPCID: o.VPCID, Drift: WrongParameters, Repair: Converge, Detail: "no document to take the agent group from"}, true
	}
	st := converge.StatusOf(state)
	if drift := parameterDrift(pub, in.Document(o, keeper, state, st, group, in.Service.Name)); drift != "" {
		return Item{VPCID: o.VPCID, Drift: WrongParameters, Repair: Publish, EndpointID: keeper.ID, Detail: drift}, true
	}
	if o.Tags[agentvpc.TagStatus] != st || o.Tags[agentvpc.TagEndpoint] != keeper.ID {
		return Item{VPCID: o.VPCID, Drift: StaleStatusTags, Repair: Publish, EndpointID: keeper.ID,
			Detail: fmt.Sprintf("status %q endpoint %q, want %q %q", o.Tags[agentvpc.TagStatus], o.Tags[agentvpc.TagEndpoint], st, keeper.ID)}, true
	}
	return Item{}, false
}

// parameterDrift says how the published parameters differ from doc, or
// "" when they say what doc says.
func parameterDrift(pub *tunnel.Published, doc tunnel.Document) string {
	tunnelValue, docValue, _ := tunnel.Values(doc)
	switch {
	case pub == nil || pub.Tunnel == "" || pub.Document == "":
		return "parameters missing"
	case pub.Tunnel != tunnelValue:
		return fmt.Sprintf("tunnel is %q, want %q", pub.Tunnel, tunnelValue)
	case pub.Document != docValue:
		return "document differs from the endpoint"
	case pub.JenkinsURL != doc.JenkinsURL:
		return fmt.Sprintf("jenkins-url is %q, want %q", pub.JenkinsURL, doc.JenkinsURL)
	}
	return ""
}

// planLeftovers removes what the product made in VPCs that are not (or
// no longer) agent VPCs: endpoints, security groups (seen on the deep
// pass), then parameters, at most one item per VPC. young reports a live
// endpoint there still too young to remove: its onboarding may be in
// flight, so the account keeps its principal.
func planLeftovers(in Input, a Account) (items []Item, young bool) {
	items, young = planUntaggedEndpoints(in, a)
	removed := map[string]bool{} // one remove item per VPC removes all of it
	for _, it := range items {
		removed[it.VPCID] = true
	}
	if a.Deep {
		items = append(items, planUntaggedGroups(in, a, removed)...)
	}
	return append(items, planStaleParameters(in, a, removed)...), young
}

// planUntaggedEndpoints removes the managed endpoints of VPCs that are
// not agent VPCs, once they are past the grace period.
func planUntaggedEndpoints(in Input, a Account) (items []Item, young bool) {
	for _, vpc := range a.endpointVPCs() {
		if a.isAgentVPC(vpc) {
			continue
		}
		young = young || hasYoungEndpoint(in, a, vpc)
		if ids := removalOf(in, a, vpc, agentvpc.DeleteEndpoints); len(ids) > 0 {
			items = append(items, Item{VPCID: vpc, Drift: UntaggedEndpoint, Repair: Remove, Detail: "endpoints " + strings.Join(ids, ", ")})
		}
	}
	return items, young
}

// planUntaggedGroups removes the managed security groups of VPCs that are
// not agent VPCs and not already being removed.
func planUntaggedGroups(in Input, a Account, removed map[string]bool) []Item {
	var items []Item
	for _, vpc := range slices.Sorted(maps.Keys(a.Groups)) {
		if a.isAgentVPC(vpc) || removed[vpc] {
			continue
		}
		if ids := removalOf(in, a, vpc, agentvpc.DeleteGroup); len(ids) > 0 {
			items = append(items, Item{VPCID: vpc, Drift: UntaggedGroups, Repair: Remove, Detail: "security groups " + strings.Join(ids, ", ")})
			removed[vpc] = true
		}
	}
	return items
}

// planStaleParameters deletes the parameters published for VPCs that are
// not agent VPCs and not being removed (removal deletes them itself), once
// they are past the grace period.
func planStaleParameters(in Input, a Account, removed map[string]bool) []Item {
	var items []Item
	for _, vpc := range slices.Sorted(maps.Keys(a.Params)) {
		if a.isAgentVPC(vpc) || removed[vpc] {
			continue
		}
		if p := a.Params[vpc]; in.old(p.Modified) {
			items = append(items, Item{VPCID: vpc, Drift: StaleParameters, Repair: DeleteParameters, Names: slices.Sorted(slices.Values(p.Names)),
				Detail: fmt.Sprintf("%d parameter(s) for a VPC that is not an agent VPC", len(p.Names))})
		}
	}
	return items
}

// removalOf lists the endpoints (DeleteEndpoints) or security groups
// (DeleteGroup) the planner removes from a VPC that is not an agent VPC.
func removalOf(in Input, a Account, vpc string, kind agentvpc.StepKind) []string {
	o := a.Observed(vpc, in.Region)
	o.Exists = true // it holds what the account's observation found in it
	var ids []string
	for _, s := range agentvpc.Plan(agentvpc.Desired{}, o, in.Now, in.Grace) {
		switch {
		case s.Kind != kind:
		case kind == agentvpc.DeleteGroup:
			ids = append(ids, s.GroupID)
		default:
			ids = append(ids, s.EndpointIDs...)
		}
	}
	return ids
}

// hasYoungEndpoint reports a live endpoint in vpc created within the
// grace period.
func hasYoungEndpoint(in Input, a Account, vpc string) bool {
	return slices.ContainsFunc(a.Endpoints, func(e agentvpc.Endpoint) bool {
		return e.VPCID == vpc && !agentvpc.Gone(e.State) && !in.old(e.Created)
	})
}

// planPrincipal decides the account's principal on the service: allowed
// while the account has an agent VPC, revoked once it has none and no
// young endpoint (an onboarding in flight) needs it. "*" (every account)
// is never revoked.
func planPrincipal(in Input, hub Hub, a Account, young bool) (Item, bool) {
	principal := in.Principal(a.ID)
	has := hub.indexed().allowed[principal]
	needs := a.hasAgentVPC()
	switch {
	case needs && !has:
		return Item{Drift: MissingPrincipal, Repair: Allow, Detail: principal}, true
	case has && !needs && !young && principal != "*":
		return Item{Drift: StalePrincipal, Repair: Revoke, Detail: principal}, true
	}
	return Item{}, false
}

// planStrayConnections settles the account's pending connections that no
// planned item settles, so that the guard decides them (it rejects what
// it cannot tie to an agent VPC). Outside auto approval, the connection
// of an agent VPC's endpoint is left for a person: the accept function
// announced it.
func planStrayConnections(in Input, hub Hub, a Account, planned []Item) []Item {
	var items []Item
	for _, id := range hub.indexed().owned[a.ID] {
		c := hub.Connections[id]
		if !agentvpc.StateIs(c.State, agentvpc.StatePendingAcceptance) ||
			slices.ContainsFunc(planned, func(it Item) bool { return it.EndpointID == id }) {
			continue
		}
		if a.endpointOfAgentVPC(id) && in.Config.ApprovalMode != config.ApprovalAuto {
			continue
		}
		items = append(items, Item{Drift: PendingConnection, Repair: Settle, EndpointID: id, Detail: id + " is pendingAcceptance"})
	}
	return items
}

// agentGroup is the agent group of a VPC: from the deep observation, or
// else from the published document.
func agentGroup(a Account, vpc string, pub *tunnel.Published) string {
	if a.Deep {
		for _, g := range a.Groups[vpc] {
			if g.Role == agentvpc.RoleAgent && g.Name == agentvpc.GroupName(agentvpc.RoleAgent) {
				return g.ID
			}
		}
		return ""
	}
	if pub == nil {
		return ""
	}
	var d tunnel.Document
	if json.Unmarshal([]byte(pub.Document), &d) != nil {
		return ""
	}
	return d.AgentSecurityGroup
}

func stepsText(steps []agentvpc.Step) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = s.Drift
	}
	return strings.Join(parts, "; ")
}
