package templates

import (
	"errors"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// Template is one parsed CloudFormation or SAM template.
type Template struct {
	// Path is the file the template was loaded from ("" when parsed from bytes).
	Path string

	root      *yaml.Node
	resources []resource
	globals   *yaml.Node // Globals.Function of a SAM template, or nil
}

type resource struct {
	id         string
	kind       string // the resource Type
	properties *yaml.Node
}

// Parameter is one entry of the template's Parameters section.
type Parameter struct {
	Name           string
	Type           string
	Default        string
	HasDefault     bool
	AllowedValues  []string
	AllowedPattern string
	NoEcho         bool
	Description    string
}

// Load reads and parses the template at path.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading template, %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("parsing template %s, %w", path, err)
	}
	t.Path = path
	return t, nil
}

// Parse parses a template from YAML (or JSON) bytes.
func Parse(data []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decoding yaml, %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("template is not a YAML mapping")
	}
	t := &Template{root: doc.Content[0]}
	resources := field(t.root, "Resources")
	if resources == nil || resources.Kind != yaml.MappingNode {
		return nil, errors.New("template has no Resources mapping")
	}
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id, body := resources.Content[i].Value, resolve(resources.Content[i+1])
		if body.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("resource %s is not a mapping", id)
		}
		kind := field(body, "Type")
		if kind == nil || kind.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("resource %s has no Type", id)
		}
		t.resources = append(t.resources, resource{id: id, kind: kind.Value, properties: field(body, "Properties")})
	}
	t.globals = field(field(t.root, "Globals"), "Function")
	return t, nil
}

// Parameters returns the template's parameters in document order.
func (t *Template) Parameters() []Parameter {
	section := field(t.root, "Parameters")
	if section == nil || section.Kind != yaml.MappingNode {
		return nil
	}
	var out []Parameter
	for i := 0; i+1 < len(section.Content); i += 2 {
		body := resolve(section.Content[i+1])
		p := Parameter{
			Name:           section.Content[i].Value,
			Type:           scalar(field(body, "Type")),
			AllowedPattern: scalar(field(body, "AllowedPattern")),
			Description:    scalar(field(body, "Description")),
			NoEcho:         scalar(field(body, "NoEcho")) == "true",
		}
		if d := field(body, "Default"); d != nil {
			p.Default, p.HasDefault = Text(d), true
		}
		p.AllowedValues = texts(field(body, "AllowedValues"))
		out = append(out, p)
	}
	return out
}

// Resources returns the logical ids of the resources of the given Type, in document order.
func (t *Template) Resources(kind string) []string {
	var ids []string
	for _, r := range t.resources {
		if r.kind == kind {
			ids = append(ids, r.id)
		}
	}
	return ids
}

// ResourceType returns the Type of a resource, or "" when the template has no such resource.
func (t *Template) ResourceType(logicalID string) string {
	if r := t.resource(logicalID); r != nil {
		return r.kind
	}
	return ""
}

// Property returns the raw text (see Text) of a top-level property of a resource, and whether
// it is set.
func (t *Template) Property(logicalID, name string) (string, bool) {
	r := t.resource(logicalID)
	if r == nil {
		return "", false
	}
	n := field(r.properties, name)
	if n == nil {
		return "", false
	}
	return Text(n), true
}

func (t *Template) resource(id string) *resource {
	for i := range t.resources {
		if t.resources[i].id == id {
			return &t.resources[i]
		}
	}
	return nil
}

// field returns the value of key in a mapping node, or nil.
func field(m *yaml.Node, key string) *yaml.Node {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return resolve(m.Content[i+1])
		}
	}
	return nil
}

// resolve follows YAML aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// texts returns the Text of each item of a sequence, or of the node itself when it is not a
// plain sequence (a scalar, or an intrinsic that yields a list).
func texts(n *yaml.Node) []string {
	n = resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.SequenceNode && !isTag(n.Tag) {
		out := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			out = append(out, Text(item))
		}
		return out
	}
	return []string{Text(n)}
}
