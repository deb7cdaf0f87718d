package templates

import (
	"slices"

	"gopkg.in/yaml.v3"
)

// Statement is one IAM policy statement, values as raw text (see Text).
type Statement struct {
	Sid         string
	Effect      string
	Actions     []string
	NotActions  []string
	Resources   []string
	NotResource []string
	// Principals maps a principal type ("AWS", "Service", "Federated", or "*" for
	// Principal: "*") to its values.
	Principals map[string][]string
	// Conditions maps an operator ("StringEquals", "ForAllValues:StringEquals", ...) to its
	// keys and their values.
	Conditions map[string]map[string][]string
	// If names the template condition when the statement is a branch of !If, else "".
	If string
}

// Grant is one action a role allows, as one statement states it.
type Grant struct {
	Action       string
	Resources    []string
	HasCondition bool
}

// policyTypes are the resource Types that attach a policy document to roles.
var policyTypes = map[string]bool{
	"AWS::IAM::Policy":        true,
	"AWS::IAM::RolePolicy":    true,
	"AWS::IAM::ManagedPolicy": true,
}

// ResourcePolicy returns the statements of a resource's PolicyDocument (an
// AWS::SQS::QueuePolicy, an AWS::SNS::TopicPolicy), or nil.
func (t *Template) ResourcePolicy(logicalID string) []Statement {
	return statements(t.PropertyNode(logicalID, "PolicyDocument"))
}

// Roles returns the logical ids of the template's AWS::IAM::Role resources.
func (t *Template) Roles() []string { return t.Resources("AWS::IAM::Role") }

// Policy returns every permission statement of a role: its inline Policies, then the
// AWS::IAM::Policy, RolePolicy and ManagedPolicy resources of the template attached to it.
// Statements behind !If are included with If set (both branches when both are statements).
// Managed policies attached by ARN (ManagedPolicyArns) are not read: see ManagedPolicyArns.
func (t *Template) Policy(roleLogicalID string) []Statement {
	r := t.resource(roleLogicalID)
	if r == nil || r.kind != "AWS::IAM::Role" {
		return nil
	}
	var out []Statement
	if policies := field(r.properties, "Policies"); policies != nil && policies.Kind == yaml.SequenceNode {
		for _, p := range policies.Content {
			out = append(out, statements(field(p, "PolicyDocument"))...)
		}
	}
	for _, p := range t.resources {
		if policyTypes[p.kind] && attaches(p, roleLogicalID) {
			out = append(out, statements(field(p.properties, "PolicyDocument"))...)
		}
	}
	return out
}

// PolicyDocument is one policy document of a role as the template writes it: intrinsics
// (!Sub, !If, !Ref, ...) unresolved, for a deployer to resolve as CloudFormation would.
type PolicyDocument struct {
	// Name is the raw text (see Text) of the policy's name: PolicyName of an inline
	// policy or of a policy resource, or the logical id of a ManagedPolicy.
	Name     string
	Document *yaml.Node
}

// PolicyDocuments returns a role's policy documents in the order Policy reads their
// statements: inline Policies, then the template's policy resources attached to it.
func (t *Template) PolicyDocuments(roleLogicalID string) []PolicyDocument {
	r := t.resource(roleLogicalID)
	if r == nil || r.kind != "AWS::IAM::Role" {
		return nil
	}
	var out []PolicyDocument
	if policies := field(r.properties, "Policies"); policies != nil && policies.Kind == yaml.SequenceNode {
		for _, p := range policies.Content {
			if doc := field(p, "PolicyDocument"); doc != nil {
				out = append(out, PolicyDocument{Name: Text(field(p, "PolicyName")), Document: doc})
			}
		}
	}
	for _, p := range t.resources {
		if policyTypes[p.kind] && attaches(p, roleLogicalID) {
			name := p.id
			if n := field(p.properties, "PolicyName"); n != nil {
				name = Text(n)
			}
			if doc := field(p.properties, "PolicyDocument"); doc != nil {
				out = append(out, PolicyDocument{Name: name, Document: doc})
			}
		}
	}
	return out
}

// PropertyNode returns a top-level property of a resource as the template writes it, or
// nil when it is not set.
func (t *Template) PropertyNode(logicalID, name string) *yaml.Node {
	r := t.resource(logicalID)
	if r == nil {
		return nil
	}
	return field(r.properties, name)
}

// ManagedPolicyArns returns the raw ManagedPolicyArns of a role.
func (t *Template) ManagedPolicyArns(roleLogicalID string) []string {
	r := t.resource(roleLogicalID)
	if r == nil {
		return nil
	}
	return texts(field(r.properties, "ManagedPolicyArns"))
}

// Trust returns the statements of a role's AssumeRolePolicyDocument.
func (t *Template) Trust(roleLogicalID string) []Statement {
	r := t.resource(roleLogicalID)
	if r == nil || r.kind != "AWS::IAM::Role" {
		return nil
	}
	return statements(field(r.properties, "AssumeRolePolicyDocument"))
}

// Grants returns one Grant per allowed action per statement of the role's policy, in
// document order. An action granted by two statements appears twice.
func (t *Template) Grants(roleLogicalID string) []Grant {
	var out []Grant
	for _, s := range t.Policy(roleLogicalID) {
		if s.Effect != "Allow" {
			continue
		}
		for _, a := range s.Actions {
			out = append(out, Grant{Action: a, Resources: s.Resources, HasCondition: len(s.Conditions) > 0})
		}
	}
	return out
}

// Actions returns the sorted, distinct actions a role allows.
func (t *Template) Actions(roleLogicalID string) []string {
	var out []string
	for _, g := range t.Grants(roleLogicalID) {
		out = append(out, g.Action)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// attaches reports whether a policy resource names the role in Roles (!Ref role) or
// RoleName (RolePolicy).
func attaches(p resource, roleID string) bool {
	refs := func(n *yaml.Node) bool {
		fn, arg, ok := intrinsic(n)
		return ok && fn == "Ref" && scalar(arg) == roleID
	}
	if roles := field(p.properties, "Roles"); roles != nil && roles.Kind == yaml.SequenceNode {
		for _, r := range roles.Content {
			if refs(r) {
				return true
			}
		}
	}
	return refs(field(p.properties, "RoleName"))
}

// statements reads the Statement list of a policy document.
func statements(doc *yaml.Node) []Statement {
	list := field(doc, "Statement")
	if list == nil {
		return nil
	}
	items := []*yaml.Node{list}
	if list.Kind == yaml.SequenceNode && !isTag(list.Tag) {
		items = list.Content
	}
	var out []Statement
	for _, item := range items {
		out = append(out, statementBranches(item, "")...)
	}
	return out
}

// statementBranches reads a statement, or the statements in the branches of an !If.
func statementBranches(n *yaml.Node, cond string) []Statement {
	n = resolve(n)
	if fn, arg, ok := intrinsic(n); ok {
		if fn != "If" || arg.Kind != yaml.SequenceNode || len(arg.Content) != 3 {
			return nil // !Ref AWS::NoValue, or nothing readable as a statement
		}
		name := scalar(arg.Content[0])
		return append(statementBranches(arg.Content[1], name), statementBranches(arg.Content[2], name)...)
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	s := Statement{
		Sid:         scalar(field(n, "Sid")),
		Effect:      scalar(field(n, "Effect")),
		Actions:     texts(field(n, "Action")),
		NotActions:  texts(field(n, "NotAction")),
		Resources:   texts(field(n, "Resource")),
		NotResource: texts(field(n, "NotResource")),
		If:          cond,
	}
	if p := field(n, "Principal"); p != nil {
		s.Principals = map[string][]string{}
		if p.Kind == yaml.MappingNode && !isTag(p.Tag) {
			for i := 0; i+1 < len(p.Content); i += 2 {
				s.Principals[p.Content[i].Value] = texts(p.Content[i+1])
			}
		} else {
			s.Principals[Text(p)] = []string{Text(p)}
		}
	}
	if c := field(n, "Condition"); c != nil && c.Kind == yaml.MappingNode {
		s.Conditions = map[string]map[string][]string{}
		for i := 0; i+1 < len(c.Content); i += 2 {
			keys := map[string][]string{}
			block := resolve(c.Content[i+1])
			if block.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(block.Content); j += 2 {
					keys[block.Content[j].Value] = texts(block.Content[j+1])
				}
			}
			s.Conditions[c.Content[i].Value] = keys
		}
	}
	return []Statement{s}
}
