package iam

import (
	"fmt"
	"maps"
	"strings"
)

// Request is one authorization question: may Principal perform Action on
// every resource? AWS evaluates each resource a call names or creates
// separately, with the context keys of that resource type (Service
// Authorization Reference), and allows the call only when each is allowed.
type Request struct {
	// Action is service:Name, e.g. ec2:CreateVpcEndpoint.
	Action string
	// Principal is the caller's ARN (arn:aws:sts::<acct>:assumed-role/<role>/<session>,
	// arn:aws:iam::<acct>:root) or a service principal (events.amazonaws.com).
	Principal string
	// Account is the caller's account ("" for a service principal).
	Account string
	// Unrestricted callers (an account's root) need no identity policy in
	// their own account.
	Unrestricted bool
	// Context holds the request-wide keys (aws:PrincipalArn,
	// aws:PrincipalAccount, aws:PrincipalOrgID, aws:RequestTag/<k>,
	// aws:TagKeys, ec2:Region, sts:ExternalId, ...).
	Context map[string][]string
	// IdentityOnly: the resource's side of a cross-account call is decided
	// elsewhere (AssumeRole: the role's trust policy, in localaws/stssim),
	// so only identity policies are evaluated here.
	IdentityOnly bool
	// Resources are evaluated one by one; none means the action has no
	// resource-level permissions and is evaluated on "*".
	Resources []Resource
}

// Resource is one resource of a request.
type Resource struct {
	ARN string
	// Type is the Service Authorization Reference's resource type
	// ("vpc", "security-group", "parameter", ...), "" for "*".
	Type string
	// Tags are the resource's current tags (aws:ResourceTag/<k> and the
	// service's own <svc>:ResourceTag/<k>).
	Tags map[string]string
	// Keys are the keys specific to this resource (ec2:Vpc,
	// ec2:VpceServiceName, ec2:CreateAction, ...).
	Keys map[string][]string
	// Policy is the resource-based policy, if the resource has one.
	Policy *Policy
}

// Decision is the answer, with the reason the server logs.
type Decision struct {
	Allowed bool
	Action  string
	// Resource is the ARN that decided: the first one denied, or the last
	// one allowed.
	Resource string
	// ExplicitDeny is true when a Deny statement matched.
	ExplicitDeny bool
	// Missing is "identity-based" or "resource-based": which kind of
	// policy failed to allow (AWS names it in the message).
	Missing string
	// Reason names the statement that allowed or denied, or why none
	// allowed (each candidate statement and the condition that failed).
	Reason string
	// Allowing names, for an allowed request, the identity-policy
	// statement that allowed each resource ("policy statement Sid"), so a
	// caller can tell which grants are used.
	Allowing []string
}

// StatementName is how decisions name a statement: "policy statement
// Sid" (or "#n", its 1-based position, without a Sid).
func StatementName(p *Policy, st Statement) string {
	return fmt.Sprintf("%s statement %s", p.Name, st.label())
}

// Evaluate decides a request with the principal's identity policies.
func Evaluate(identity []*Policy, req Request) Decision {
	resources := req.Resources
	if len(resources) == 0 {
		resources = []Resource{{ARN: "*"}}
	}
	af, known := Facts(req.Action)
	d := Decision{Allowed: true, Action: req.Action, Resource: "*", Reason: "no resource to authorize"}
	var allowing []string
	for _, res := range resources {
		if _, listed := af.resourceType(res.Type); known && !listed && len(req.Resources) > 0 {
			// AWS authorizes only the resource types the Service
			// Authorization Reference lists for the action.
			continue
		}
		ctx := contextFor(req, res, af, known)
		d = evaluateResource(identity, req, res, ctx)
		if !d.Allowed {
			return d
		}
		allowing = append(allowing, d.Allowing...)
	}
	d.Allowing = allowing
	return d
}

// contextFor builds the keys AWS would present for one resource: the
// request-wide keys, the resource's tags and own keys, less those the
// Service Authorization Reference does not list for this action and
// resource type. Unknown actions see every key.
func contextFor(req Request, res Resource, af ActionFacts, known bool) map[string][]string {
	all := map[string][]string{}
	for k, v := range req.Context {
		all[strings.ToLower(k)] = v
	}
	svc, _, _ := strings.Cut(req.Action, ":")
	for k, v := range res.Tags {
		all["aws:resourcetag/"+strings.ToLower(k)] = []string{v}
		all[strings.ToLower(svc)+":resourcetag/"+strings.ToLower(k)] = []string{v}
	}
	for k, v := range res.Keys {
		all[strings.ToLower(k)] = v
	}
	if !known {
		return all
	}
	rf, ok := af.resourceType(res.Type)
	if !ok {
		rf = ResourceFacts{}
	}
	maps.DeleteFunc(all, func(k string, _ []string) bool { return !rf.visible(k) })
	return all
}

func evaluateResource(identity []*Policy, req Request, res Resource, ctx map[string][]string) Decision {
	d := Decision{Action: req.Action, Resource: res.ARN}
	var id, rp policyResult
	id.allow, id.deny, id.why = evaluatePolicies(identity, req, res, ctx, false)
	if res.Policy != nil {
		rp.allow, rp.deny, rp.why = evaluatePolicies([]*Policy{res.Policy}, req, res, ctx, true)
	}
	switch {
	case id.deny != "":
		d.ExplicitDeny, d.Missing, d.Reason = true, "identity-based", "explicitly denied by "+id.deny
		return d
	case rp.deny != "":
		d.ExplicitDeny, d.Missing, d.Reason = true, "resource-based", "explicitly denied by "+rp.deny
		return d
	}
	if req.Unrestricted && id.allow == "" {
		id.allow = "the account root"
	}
	if req.servicePrincipal() {
		return servicePrincipalDecision(d, res, rp)
	}
	return principalDecision(d, req, res, id, rp)
}

// policyResult is what one kind of policy (identity- or resource-based)
// says of a request: the statement that allows it, the one that denies
// it, and why the others did not apply.
type policyResult struct{ allow, deny, why string }

// servicePrincipalDecision decides for a service principal, which has no
// identity policies: the resource's policy alone lets it act, as the
// topic policy lets vpce.amazonaws.com publish (PrivateLink guide,
// "Receive alerts for endpoint service events": the topic must have an
// access policy that allows the service to publish).
func servicePrincipalDecision(d Decision, res Resource, rp policyResult) Decision {
	switch {
	case rp.allow != "":
		d.Allowed, d.Reason = true, "allowed by "+rp.allow
	case res.Policy == nil:
		d.Missing, d.Reason = "resource-based", "the resource has no resource-based policy, and only one can allow a service principal"
	default:
		d.Missing, d.Reason = "resource-based", "no resource-based policy allows the service principal"+rp.why
	}
	return d
}

// principalDecision decides for an account's principal: within its
// account either kind of policy may allow, across accounts both must.
func principalDecision(d Decision, req Request, res Resource, id, rp policyResult) Decision {
	sameAccount := req.IdentityOnly || req.Account != "" && req.Account == accountOf(res.ARN) || accountOf(res.ARN) == ""
	if id.allow != "" && !req.Unrestricted {
		d.Allowing = []string{id.allow}
	}
	switch {
	case sameAccount && id.allow != "":
		d.Allowed, d.Reason = true, "allowed by "+id.allow
	case sameAccount && rp.allow != "":
		d.Allowed, d.Reason = true, "allowed by "+rp.allow
	case !sameAccount && id.allow != "" && rp.allow != "":
		d.Allowed, d.Reason = true, "allowed by "+id.allow+" and "+rp.allow
	case id.allow == "":
		d.Missing, d.Reason = "identity-based", "no identity-based policy allows it"+id.why
	default:
		d.Missing, d.Reason = "resource-based", "no resource-based policy allows it (cross-account)"+rp.why
	}
	return d
}

// servicePrincipal reports whether the caller is an AWS service acting on
// a resource's behalf (vpce.amazonaws.com), not an account's principal.
func (r Request) servicePrincipal() bool {
	return r.Account == "" && r.Principal != "" && !strings.HasPrefix(r.Principal, "arn:")
}

// evaluatePolicies returns the first statement that allows and the first
// that denies (as "policy statement Sid"), and why candidate statements
// did not apply.
func evaluatePolicies(policies []*Policy, req Request, res Resource, ctx map[string][]string, resourceBased bool) (allow, deny, why string) {
	var reasons []string
	for _, p := range policies {
		for _, st := range p.Statements {
			if resourceBased && !principalMatches(st, req) {
				if actionMatches(st, req.Action) {
					reasons = append(reasons, fmt.Sprintf("%s statement %s: its Principal does not name %s", p.Name, st.label(), req.Principal))
				}
				continue
			}
			if !actionMatches(st, req.Action) || !resourceMatches(st, res.ARN, ctx) {
				continue
			}
			name := StatementName(p, st)
			failed := ""
			for _, c := range st.Conditions {
				if ok, r := c.holds(ctx); !ok {
					failed = r
					break
				}
			}
			if failed != "" {
				reasons = append(reasons, name+": "+failed)
				continue
			}
			if st.Effect == "Deny" && deny == "" {
				deny = name
			}
			if st.Effect == "Allow" && allow == "" {
				allow = name
			}
		}
	}
	if len(reasons) > 0 {
		why = " (" + strings.Join(reasons, "; ") + ")"
	} else {
		why = " (no statement matches the action and resource)"
	}
	return allow, deny, why
}

func actionMatches(st Statement, action string) bool {
	matchesAny := func(patterns []string) bool {
		for _, p := range patterns {
			if Glob(strings.ToLower(p), strings.ToLower(action)) {
				return true
			}
		}
		return false
	}
	if len(st.NotActions) > 0 {
		return !matchesAny(st.NotActions)
	}
	return matchesAny(st.Actions)
}

// resourceMatches applies Resource or NotResource; a statement with
// neither (a resource-based policy may omit it) applies to the resource.
func resourceMatches(st Statement, arn string, ctx map[string][]string) bool {
	matchesAny := func(patterns []string) bool {
		for _, p := range patterns {
			if s, ok := substitute(p, ctx); ok && Glob(s, arn) {
				return true
			}
		}
		return false
	}
	switch {
	case len(st.NotResources) > 0:
		return !matchesAny(st.NotResources)
	case len(st.Resources) > 0:
		return matchesAny(st.Resources)
	}
	return true
}

// principalMatches applies a resource-based statement's Principal.
func principalMatches(st Statement, req Request) bool {
	if st.AnyPrincipal {
		return true
	}
	for typ, values := range st.Principals {
		for _, v := range values {
			switch typ {
			case "Service":
				if v == req.Principal {
					return true
				}
			case "AWS":
				if v == req.Account || v == "arn:aws:iam::"+req.Account+":root" || v == req.Principal ||
					(v == roleOf(req.Principal) && v != "") {
					return true
				}
			}
		}
	}
	return false
}

// roleOf turns an assumed-role session ARN into its role's ARN.
func roleOf(principal string) string {
	rest, ok := strings.CutPrefix(principal, "arn:aws:sts::")
	if !ok || len(rest) < 13 {
		return ""
	}
	path, ok := strings.CutPrefix(rest[12:], ":assumed-role/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(path, "/")
	return "arn:aws:iam::" + rest[:12] + ":role/" + name
}

// accountOf returns the account field of an ARN, "" for "*" or an ARN
// without one.
func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}
