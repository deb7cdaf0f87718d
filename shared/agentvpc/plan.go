package agentvpc

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// StepKind is what a step does.
type StepKind string

// The kinds of step.
const (
	CreateGroup     StepKind = "create-group"
	AuthorizeRules  StepKind = "authorize-rules"
	RevokeRules     StepKind = "revoke-rules"
	CreateEndpoint  StepKind = "create-endpoint"
	ModifyEndpoint  StepKind = "modify-endpoint"
	DeleteEndpoints StepKind = "delete-endpoints"
	DeleteGroup     StepKind = "delete-group"
	WaitEndpoints   StepKind = "wait-endpoints-gone"
)

// Step is one change: the drift it repairs and what it writes. Fields
// that name a group by role are resolved when applied, since a group a
// plan creates has no id yet.
type Step struct {
	Kind   StepKind
	Drift  string // what is wrong, for people
	Repair string // what the step does, for people

	Role    string // the group's role (CreateGroup, rules, DeleteGroup)
	GroupID string // DeleteGroup
	Rules   []Rule // AuthorizeRules/RevokeRules; SourceGroup "" means the agent group

	EndpointID    string   // ModifyEndpoint
	EndpointIDs   []string // DeleteEndpoints, WaitEndpoints
	SubnetIDs     []string // CreateEndpoint
	AddSubnets    []string // ModifyEndpoint
	RemoveSubnets []string
	AddGroups     []string // ModifyEndpoint; "" means the endpoint group
	RemoveGroups  []string
	ClientToken   string // CreateEndpoint
}

func (s Step) String() string { return fmt.Sprintf("%s: %s -> %s", s.Kind, s.Drift, s.Repair) }

// Plan lists the steps that take observed to desired. It is pure: the
// same inputs give the same plan, and an empty plan means in sync.
//
// grace protects young resources from deletion: an endpoint or group
// created less than grace before now is not removed (an onboarding in
// flight is not drift). Onboarding passes zero: it acts on a fresh read.
func Plan(d Desired, o Observed, now time.Time, grace time.Duration) []Step {
	old := func(t time.Time) bool { return grace <= 0 || t.IsZero() || now.Sub(t) >= grace }
	if !o.Exists {
		return nil // nothing can live in a VPC that is gone
	}
	if !d.Tagged || !d.Keep {
		return planRemoval(o, old)
	}
	steps := planGroups(o)
	steps = append(steps, planRules(d, o)...)
	return append(steps, planEndpoint(d, o, old)...)
}

// planGroups creates the security groups the VPC lacks.
func planGroups(o Observed) []Step {
	var steps []Step
	if _, ok := o.Group(RoleAgent); !ok {
		steps = append(steps, Step{Kind: CreateGroup, Role: RoleAgent,
			Drift: "agent security group missing", Repair: "create " + GroupName(RoleAgent)})
	}
	if _, ok := o.Group(RoleEndpoint); !ok {
		steps = append(steps, Step{Kind: CreateGroup, Role: RoleEndpoint,
			Drift: "endpoint security group missing", Repair: "create " + GroupName(RoleEndpoint)})
	}
	return steps
}

// planRules makes the endpoint group admit exactly the tunnel ports from
// the agent group.
func planRules(d Desired, o Observed) []Step {
	var steps []Step
	agent, haveAgent := o.Group(RoleAgent)
	endpointGroup, haveEndpointGroup := o.Group(RoleEndpoint)
	want := DesiredRules(d.Ports, agent.ID) // agent.ID is "" when it is about to be created
	var have []Rule
	if haveEndpointGroup {
		have = endpointGroup.Ingress
	}
	if missing := ruleDiff(want, have); len(missing) > 0 {
		steps = append(steps, Step{Kind: AuthorizeRules, Role: RoleEndpoint, Rules: missing,
			Drift: fmt.Sprintf("endpoint group lacks %d ingress rule(s)", len(missing)), Repair: "authorize " + rulesText(missing)})
	}
	if haveAgent {
		if extra := ruleDiff(have, want); len(extra) > 0 {
			steps = append(steps, Step{Kind: RevokeRules, Role: RoleEndpoint, Rules: extra,
				Drift: fmt.Sprintf("endpoint group has %d unexpected ingress rule(s)", len(extra)), Repair: "revoke " + rulesText(extra)})
		}
	}
	return steps
}

// planEndpoint keeps one live endpoint, removes the dead and the
// duplicates, and creates the endpoint or brings the one kept to the
// desired subnets and group.
func planEndpoint(d Desired, o Observed, old func(time.Time) bool) []Step {
	keeper, haveKeeper := o.Keeper()
	steps, replaced := planStaleEndpoints(o, keeper, haveKeeper, old)
	if !haveKeeper {
		drift := "endpoint missing"
		if len(replaced) > 0 {
			drift = "no live endpoint (" + strings.Join(replaced, ", ") + " not usable)"
		}
		return append(steps, Step{Kind: CreateEndpoint, SubnetIDs: d.SubnetIDs,
			ClientToken: ClientToken(o.Account, o.VPCID, d.ServiceName, d.SubnetIDs, replaced),
			Drift:       drift, Repair: fmt.Sprintf("create endpoint to %s in %s", d.ServiceName, strings.Join(d.SubnetIDs, ", "))})
	}
	if modify, ok := planModifyEndpoint(d, o, keeper); ok {
		steps = append(steps, modify)
	}
	return steps
}

// planStaleEndpoints deletes the endpoints other than the keeper that are
// dead or duplicate it, once old enough. replaced lists the endpoints
// that are not usable, old or young, which a new endpoint's client token
// must name.
func planStaleEndpoints(o Observed, keeper Endpoint, haveKeeper bool, old func(time.Time) bool) (steps []Step, replaced []string) {
	var remove, why []string
	for _, e := range o.Endpoints {
		switch {
		case haveKeeper && e.ID == keeper.ID:
		case Dead(e.State):
			replaced = append(replaced, e.ID)
			if old(e.Created) {
				remove = append(remove, e.ID)
				why = append(why, e.ID+" is "+e.State)
			}
		case Holds(e.State):
			if old(e.Created) {
				remove = append(remove, e.ID)
				why = append(why, e.ID+" duplicates "+keeper.ID)
			}
		case Gone(e.State):
			replaced = append(replaced, e.ID)
		}
	}
	if len(remove) > 0 {
		steps = append(steps, Step{Kind: DeleteEndpoints, EndpointIDs: remove,
			Drift: strings.Join(why, "; "), Repair: "delete " + strings.Join(remove, ", ")})
	}
	return steps, replaced
}

// planModifyEndpoint is the step that moves the kept endpoint to the
// desired subnets and to the endpoint group alone, if it needs one.
func planModifyEndpoint(d Desired, o Observed, keeper Endpoint) (Step, bool) {
	add, del := setDiff(d.SubnetIDs, keeper.SubnetIDs), setDiff(keeper.SubnetIDs, d.SubnetIDs)
	var addG, delG []string
	if endpointGroup, ok := o.Group(RoleEndpoint); ok {
		addG, delG = setDiff([]string{endpointGroup.ID}, keeper.GroupIDs), setDiff(keeper.GroupIDs, []string{endpointGroup.ID})
	} else {
		addG, delG = []string{""}, keeper.GroupIDs
	}
	if len(add)+len(del)+len(addG)+len(delG) == 0 {
		return Step{}, false
	}
	var drift []string
	if len(add)+len(del) > 0 {
		drift = append(drift, fmt.Sprintf("subnets %v, want %v", keeper.SubnetIDs, d.SubnetIDs))
	}
	if len(addG)+len(delG) > 0 {
		drift = append(drift, fmt.Sprintf("security groups %v, want the endpoint group", keeper.GroupIDs))
	}
	return Step{Kind: ModifyEndpoint, EndpointID: keeper.ID, AddSubnets: add, RemoveSubnets: del,
		AddGroups: addG, RemoveGroups: delG,
		Drift: keeper.ID + " has " + strings.Join(drift, " and "), Repair: "modify " + keeper.ID}, true
}

func planRemoval(o Observed, old func(time.Time) bool) []Step {
	var steps []Step
	var remove, waitFor []string
	for _, e := range o.Endpoints {
		switch {
		case Gone(e.State):
			if !StateIs(e.State, StateDeleted) {
				waitFor = append(waitFor, e.ID)
			}
		case old(e.Created):
			remove = append(remove, e.ID)
			waitFor = append(waitFor, e.ID)
		}
	}
	if len(remove) > 0 {
		steps = append(steps, Step{Kind: DeleteEndpoints, EndpointIDs: remove,
			Drift: "endpoint in a VPC that is no longer an agent VPC", Repair: "delete " + strings.Join(remove, ", ")})
	}
	if len(waitFor) > 0 && len(o.Groups) > 0 {
		steps = append(steps, Step{Kind: WaitEndpoints, EndpointIDs: waitFor,
			Drift: "endpoint interfaces still hold the security groups", Repair: "wait for " + strings.Join(waitFor, ", ") + " to be deleted"})
	}
	// The endpoint group first: its rule references the agent group.
	groups := slices.Clone(o.Groups)
	slices.SortStableFunc(groups, func(a, b SecurityGroup) int {
		return strings.Compare(b.Role, a.Role) // "endpoint" before "agent"
	})
	for _, g := range groups {
		if old(g.Created) {
			steps = append(steps, Step{Kind: DeleteGroup, Role: g.Role, GroupID: g.ID,
				Drift: g.Role + " security group in a VPC that is no longer an agent VPC", Repair: "delete " + g.ID})
		}
	}
	return steps
}

// ClientToken is the endpoint's idempotency token: the same for every
// invocation that wants the same endpoint (so a retry or a racing
// invocation gets the existing one back), and new once the endpoints it
// replaces are known, so a repair does not get a dead endpoint back.
func ClientToken(account, vpc, serviceName string, subnets, replaced []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|%s", account, vpc, serviceName,
		strings.Join(slices.Sorted(slices.Values(subnets)), ","), strings.Join(slices.Sorted(slices.Values(replaced)), ","))
	return "jav-" + hex.EncodeToString(h.Sum(nil))[:40]
}

func ruleKey(r Rule) string {
	return fmt.Sprintf("%s/%d-%d/%s/%s", strings.ToLower(r.Protocol), r.FromPort, r.ToPort, r.SourceGroup, r.CIDR)
}

// ruleDiff returns the rules of a that b lacks.
func ruleDiff(a, b []Rule) []Rule {
	have := map[string]bool{}
	for _, r := range b {
		have[ruleKey(r)] = true
	}
	var out []Rule
	for _, r := range a {
		if !have[ruleKey(r)] {
			out = append(out, r)
		}
	}
	return out
}

func rulesText(rs []Rule) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		src := r.SourceGroup
		if src == "" {
			src = "agent group"
		}
		if r.CIDR != "" {
			src = r.CIDR
		}
		parts[i] = fmt.Sprintf("%s %d from %s", r.Protocol, r.FromPort, src)
	}
	return strings.Join(parts, ", ")
}

// setDiff returns the elements of a not in b.
func setDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
