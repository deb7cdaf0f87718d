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
	Document  func(o agentvpc.Observed, ep agentvpc.Endpoint, state, st, agentGroup, serviceName string) tunnel.Document
	Now       time.Time
	Grace     time.Duration
}

func (in Input) old(t time.Time) bool {
	return in.Grace <= 0 || t.IsZero() || in.Now.Sub(t) >= in.Grace
}

// Plan compares the observations with what the tags ask for. It is pure.
func Plan(in Input, hub Hub, accounts []Account) []Item {
	var items []Item
	for _, a := range accounts {
		items = append(items, planAccount(in, hub, a)...)
	}
	return items
}

func planAccount(in Input, hub Hub, a Account) []Item {
	if a.Err != nil {
		return nil // reported as a failure; nothing is safe to plan
	}
	var items []Item
	add := func(it Item) { it.Account = a.ID; items = append(items, it) }
	principal := in.Principal(a.ID)
	hasPrincipal := slices.Contains(hub.Principals, principal)
	needsPrincipal := false
	handled := map[string]bool{} // VPCs with a converge or remove item

	for _, vpc := range slices.Sorted(maps.Keys(a.VPCs)) {
		v := a.VPCs[vpc]
		if !v.Tagged || !a.Allowed {
			continue
		}
		needsPrincipal = true
		o := a.Observed(vpc, in.Region)
		if a.Deep {
			d := agentvpc.Desired{Tagged: true, Keep: true, ServiceName: in.Service.Name, Ports: in.Config.Ports(),
				SubnetIDs: agentvpc.ChooseSubnets(o.Subnets, in.Service.AZIDs, in.Config.SubnetTagKey)}
			if steps := agentvpc.Plan(d, o, in.Now, in.Grace); len(steps) > 0 {
				drift := SpokeDrift
				if _, ok := o.Keeper(); !ok {
					drift = MissingEndpoint
					if len(o.Endpoints) > 0 {
						drift = DeadEndpoint
					}
				}
				add(Item{VPCID: vpc, Drift: drift, Repair: Converge, Detail: stepsText(steps)})
				handled[vpc] = true
				continue
			}
		}
		keeper, ok := o.Keeper()
		if !ok {
			drift, detail := MissingEndpoint, "no managed endpoint"
			if len(o.Endpoints) > 0 {
				drift, detail = DeadEndpoint, endpointsText(o.Endpoints)
			}
			add(Item{VPCID: vpc, Drift: drift, Repair: Converge, Detail: detail})
			handled[vpc] = true
			continue
		}
		for _, e := range o.Endpoints {
			if e.ID != keeper.ID && !agentvpc.Gone(e.State) && in.old(e.Created) {
				add(Item{VPCID: vpc, Drift: DeadEndpoint, Repair: Converge, Detail: "extra endpoint " + e.ID + " (" + e.State + ")"})
				handled[vpc] = true
				break
			}
		}
		if handled[vpc] {
			continue
		}
		state := keeper.State
		if c, ok := hub.Connections[keeper.ID]; ok {
			state = c.State
		}
		if agentvpc.StateIs(state, agentvpc.StatePendingAcceptance) && in.Config.ApprovalMode == config.ApprovalAuto {
			add(Item{VPCID: vpc, Drift: PendingConnection, Repair: Settle, EndpointID: keeper.ID, Detail: keeper.ID + " is pendingAcceptance"})
			continue // settling publishes the new state
		}
		var drifts []string
		pub := a.Params[vpc]
		group := agentGroup(a, vpc, pub)
		if group == "" {
			add(Item{VPCID: vpc, Drift: WrongParameters, Repair: Converge, Detail: "no document to take the agent group from"})
			handled[vpc] = true
			continue
		}
		st := converge.StatusOf(state)
		doc := in.Document(o, keeper, state, st, group, in.Service.Name)
		tunnelValue, docValue, _ := tunnel.Values(doc)
		switch {
		case pub == nil || pub.Tunnel == "" || pub.Document == "":
			drifts = append(drifts, "parameters missing")
		case pub.Tunnel != tunnelValue:
			drifts = append(drifts, fmt.Sprintf("tunnel is %q, want %q", pub.Tunnel, tunnelValue))
		case pub.Document != docValue:
			drifts = append(drifts, "document differs from the endpoint")
		case pub.JenkinsURL != doc.JenkinsURL:
			drifts = append(drifts, fmt.Sprintf("jenkins-url is %q, want %q", pub.JenkinsURL, doc.JenkinsURL))
		}
		if len(drifts) > 0 {
			add(Item{VPCID: vpc, Drift: WrongParameters, Repair: Publish, EndpointID: keeper.ID, Detail: strings.Join(drifts, "; ")})
			continue
		}
		if v.Tags[agentvpc.TagStatus] != st || v.Tags[agentvpc.TagEndpoint] != keeper.ID {
			add(Item{VPCID: vpc, Drift: StaleStatusTags, Repair: Publish, EndpointID: keeper.ID,
				Detail: fmt.Sprintf("status %q endpoint %q, want %q %q", v.Tags[agentvpc.TagStatus], v.Tags[agentvpc.TagEndpoint], st, keeper.ID)})
		}
	}

	// What the product made in VPCs that are not (or no longer) agent VPCs.
	liveElsewhere := false
	for _, vpc := range a.endpointVPCs() {
		if v, ok := a.VPCs[vpc]; ok && v.Tagged && a.Allowed {
			continue
		}
		var remove []string
		for _, e := range a.Endpoints {
			if e.VPCID != vpc || agentvpc.Gone(e.State) {
				continue
			}
			if in.old(e.Created) {
				remove = append(remove, e.ID)
			} else {
				liveElsewhere = true
			}
		}
		if len(remove) > 0 {
			add(Item{VPCID: vpc, Drift: UntaggedEndpoint, Repair: Remove, Detail: "endpoints " + strings.Join(remove, ", ")})
			handled[vpc] = true
		}
	}
	if a.Deep {
		for _, vpc := range slices.Sorted(maps.Keys(a.Groups)) {
			if v, ok := a.VPCs[vpc]; (ok && v.Tagged && a.Allowed) || handled[vpc] {
				continue
			}
			for _, g := range a.Groups[vpc] {
				if in.old(g.Created) {
					add(Item{VPCID: vpc, Drift: UntaggedGroups, Repair: Remove, Detail: "security group " + g.ID})
					handled[vpc] = true
					break
				}
			}
		}
	}
	for _, vpc := range slices.Sorted(maps.Keys(a.Params)) {
		if v, ok := a.VPCs[vpc]; (ok && v.Tagged && a.Allowed) || handled[vpc] {
			continue
		}
		p := a.Params[vpc]
		if in.old(p.Modified) {
			add(Item{VPCID: vpc, Drift: StaleParameters, Repair: DeleteParameters, Names: slices.Sorted(slices.Values(p.Names)),
				Detail: fmt.Sprintf("%d parameter(s) for a VPC that is not an agent VPC", len(p.Names))})
		}
	}

	// The account's principal.
	switch {
	case needsPrincipal && !hasPrincipal:
		items = append([]Item{{Account: a.ID, Drift: MissingPrincipal, Repair: Allow, Detail: principal}}, items...)
	case hasPrincipal && !needsPrincipal && !liveElsewhere && principal != "*":
		add(Item{Drift: StalePrincipal, Repair: Revoke, Detail: principal})
	}
	// Pending connections of the account that no agent VPC explains: settle
	// (the guard rejects what it cannot tie to a tagged VPC).
	for _, id := range slices.Sorted(maps.Keys(hub.Connections)) {
		c := hub.Connections[id]
		if c.Owner != a.ID || !agentvpc.StateIs(c.State, agentvpc.StatePendingAcceptance) {
			continue
		}
		if slices.ContainsFunc(items, func(it Item) bool { return it.EndpointID == id }) {
			continue
		}
		managedTagged := false
		for _, e := range a.Endpoints {
			if e.ID == id {
				v, ok := a.VPCs[e.VPCID]
				managedTagged = ok && v.Tagged && a.Allowed
			}
		}
		if managedTagged && in.Config.ApprovalMode == config.ApprovalManual {
			continue // held for a person; the accept function announced it
		}
		if !managedTagged || in.Config.ApprovalMode == config.ApprovalAuto {
			add(Item{Drift: PendingConnection, Repair: Settle, EndpointID: id, Detail: id + " is pendingAcceptance"})
		}
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

func endpointsText(eps []agentvpc.Endpoint) string {
	parts := make([]string, len(eps))
	for i, e := range eps {
		parts[i] = e.ID + " is " + e.State
	}
	return strings.Join(parts, ", ")
}
