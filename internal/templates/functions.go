package templates

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// functionTypes are the resource Types that are Lambda functions.
var functionTypes = map[string]bool{
	"AWS::Serverless::Function": true,
	"AWS::Lambda::Function":     true,
}

// Functions returns the logical ids of the template's Lambda functions (SAM or plain), in
// document order.
func (t *Template) Functions() []string {
	var ids []string
	for _, r := range t.resources {
		if functionTypes[r.kind] {
			ids = append(ids, r.id)
		}
	}
	return ids
}

// FunctionRoles maps each function's logical id to the logical id of the AWS::IAM::Role it
// runs as (Role: !GetAtt X.Arn, in any form). A function whose role is not a role of this
// template (an ARN string, a parameter, SAM's generated role) is left out.
func (t *Template) FunctionRoles() map[string]string {
	out := map[string]string{}
	for _, r := range t.resources {
		if !functionTypes[r.kind] {
			continue
		}
		role := field(r.properties, "Role")
		if role == nil && r.kind == "AWS::Serverless::Function" {
			role = field(t.globals, "Role")
		}
		if id := roleTarget(role); id != "" && t.ResourceType(id) == "AWS::IAM::Role" {
			out[r.id] = id
		}
	}
	return out
}

// roleTarget returns the logical id a Role property points at, or "".
func roleTarget(n *yaml.Node) string {
	fn, arg, ok := intrinsic(n)
	if !ok {
		return ""
	}
	switch fn {
	case "GetAtt":
		if arg.Kind == yaml.ScalarNode {
			if id, attr, ok := strings.Cut(arg.Value, "."); ok && attr == "Arn" {
				return id
			}
		}
		if arg.Kind == yaml.SequenceNode && len(arg.Content) == 2 && scalar(arg.Content[1]) == "Arn" {
			return scalar(arg.Content[0])
		}
	case "Ref":
		return scalar(arg)
	}
	return ""
}

// Env returns a function's environment variables, names to raw text values (see Text). For
// a SAM function, Globals.Function.Environment.Variables are merged in first, as SAM does.
// Nil when the template has no such function.
func (t *Template) Env(functionLogicalID string) map[string]string {
	r := t.resource(functionLogicalID)
	if r == nil || !functionTypes[r.kind] {
		return nil
	}
	env := map[string]string{}
	if r.kind == "AWS::Serverless::Function" {
		addVariables(env, field(field(t.globals, "Environment"), "Variables"))
	}
	addVariables(env, field(field(r.properties, "Environment"), "Variables"))
	return env
}

func addVariables(env map[string]string, vars *yaml.Node) {
	if vars == nil || vars.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(vars.Content); i += 2 {
		env[vars.Content[i].Value] = Text(vars.Content[i+1])
	}
}
