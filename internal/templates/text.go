package templates

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// Text renders a template value as raw text, without resolving anything: plain scalars are
// their value; a !Sub (short or long form, string or [string, map]) is its template string;
// every other intrinsic is written in short form ("!Ref X", "!GetAtt X.Arn",
// "!If [Cond, !Ref A, !Ref AWS::NoValue]"); sequences and mappings in YAML flow style.
func Text(n *yaml.Node) string {
	n = resolve(n)
	if n == nil {
		return ""
	}
	if fn, arg, ok := intrinsic(n); ok {
		if fn == "Sub" {
			if arg.Kind == yaml.SequenceNode && len(arg.Content) > 0 {
				return Text(arg.Content[0])
			}
			return Text(arg)
		}
		if fn == "GetAtt" && arg.Kind == yaml.SequenceNode && len(arg.Content) == 2 {
			return "!GetAtt " + Text(arg.Content[0]) + "." + Text(arg.Content[1])
		}
		return "!" + fn + " " + Text(arg)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value
	case yaml.SequenceNode:
		parts := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			parts = append(parts, Text(item))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case yaml.MappingNode:
		parts := make([]string, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			parts = append(parts, n.Content[i].Value+": "+Text(n.Content[i+1]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return ""
}

// intrinsic reports whether n is an intrinsic function call, in short form (a node tagged
// !Ref, !Sub, ...) or long form (a one-key mapping Ref or Fn::X), and returns the function
// name without prefix ("Ref", "Sub", "GetAtt", "If", ...) and its argument. For the short
// form the argument is the node itself with its tag dropped.
func intrinsic(n *yaml.Node) (string, *yaml.Node, bool) {
	n = resolve(n)
	if n == nil {
		return "", nil, false
	}
	if isTag(n.Tag) {
		arg := *n
		arg.Tag = ""
		switch n.Kind {
		case yaml.ScalarNode:
			arg.Tag = "!!str"
		case yaml.SequenceNode:
			arg.Tag = "!!seq"
		case yaml.MappingNode:
			arg.Tag = "!!map"
		}
		return strings.TrimPrefix(n.Tag, "!"), &arg, true
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
		key := n.Content[0].Value
		if key == "Ref" {
			return key, resolve(n.Content[1]), true
		}
		if name, ok := strings.CutPrefix(key, "Fn::"); ok {
			return name, resolve(n.Content[1]), true
		}
	}
	return "", nil, false
}

// isTag reports whether a node tag is a CloudFormation short-form tag (a local tag like !Ref)
// rather than one of YAML's own (!!str, !!seq, ...).
func isTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}
