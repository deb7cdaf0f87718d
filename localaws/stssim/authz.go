package stssim

import (
	"fmt"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
	iampolicy "github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/iam"
)

// PutRolePolicy adds or replaces an inline identity policy of a role, as
// IAM's PutRolePolicy does. The role must exist.
func (m *Service) PutRolePolicy(account, roleName, policyName string, document []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.roles[account+"/"+roleName]
	if r == nil {
		return fmt.Errorf("putting policy %s: no role %s in %s", policyName, roleName, account)
	}
	return r.putPolicy(policyName, document)
}

// PutResourcePolicy sets the resource-based policy of a resource by ARN
// (an event bus's policy, an SNS topic's policy), replacing any before.
// Cross-account requests need it to allow them as well as the caller's
// identity policy.
func (m *Service) PutResourcePolicy(arn string, document []byte) error {
	p, err := iampolicy.ParsePolicy(arn, document)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.resourcePolicies == nil {
		m.resourcePolicies = map[string]*iampolicy.Policy{}
	}
	m.resourcePolicies[arn] = p
	return nil
}

// ResourcePolicy returns the resource-based policy set for arn, or nil.
func (m *Service) ResourcePolicy(arn string) *iampolicy.Policy {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.resourcePolicies[arn]
}

// IdentityPolicies returns the policies of the role behind a session.
func (m *Service) IdentityPolicies(principal string) []*iampolicy.Policy {
	account, name, ok := ParseRoleARN(awsproto.RoleARNOf(principal))
	if !ok {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if r := m.roles[account+"/"+name]; r != nil {
		return append([]*iampolicy.Policy(nil), r.policies...)
	}
	return nil
}

// PrincipalContext returns the global keys that describe the caller.
func (m *Service) PrincipalContext(id Identity, region string) map[string][]string {
	ctx := map[string][]string{
		"aws:PrincipalArn":     {awsproto.RoleARNOf(id.Principal)},
		"aws:PrincipalAccount": {id.Account},
		"aws:userid":           {id.UserID},
		"aws:RequestedRegion":  {region},
		"aws:PrincipalType":    {"AssumedRole"},
	}
	if !id.AssumedRole {
		ctx["aws:PrincipalType"] = []string{"Account"}
	}
	if org := m.OrgOf(id.Account); org != "" {
		ctx["aws:PrincipalOrgID"] = []string{org}
	}
	return ctx
}

// OrgOf returns the organization an account belongs to, or "".
func (m *Service) OrgOf(account string) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.org.ID != "" && m.inOrg(account, m.org.ID) {
		return m.org.ID
	}
	return ""
}

// AuthorizationContext is what IAM evaluates before the call: AssumeRole needs sts:AssumeRole on the role in
// the caller's identity policy (the role's trust policy, the resource side,
// is checked by AssumeRole itself). GetCallerIdentity needs no permission
// (STS API reference, GetCallerIdentity).
func (m *Service) AuthorizationContext(call *awsproto.Call) []iampolicy.Request {
	if call.Action != "AssumeRole" {
		return nil
	}
	ctx := map[string][]string{}
	if x := call.Form.Get("ExternalId"); x != "" {
		ctx["sts:ExternalId"] = []string{x}
	}
	if n := call.Form.Get("RoleSessionName"); n != "" {
		ctx["sts:RoleSessionName"] = []string{n}
	}
	return []iampolicy.Request{{Action: "sts:AssumeRole", Context: ctx, IdentityOnly: true,
		Resources: []iampolicy.Resource{{ARN: call.Form.Get("RoleArn"), Type: "role"}}}}
}
