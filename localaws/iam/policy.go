package iam

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Policy is a parsed IAM policy document (identity-based or resource-based).
type Policy struct {
	// Name says where the policy comes from in decisions ("role/x/policy-y").
	Name       string
	Version    string
	Statements []Statement
}

// Statement is one statement of a policy. Exactly one of Actions and
// NotActions is set, and at most one of Resources and NotResources.
type Statement struct {
	Sid          string
	Effect       string // Allow or Deny
	Actions      []string
	NotActions   []string
	Resources    []string
	NotResources []string
	// Principals of a resource-based policy: "*" or type -> values
	// ("AWS": account ids, root, role ARNs; "Service": service principals).
	Principals   map[string][]string
	AnyPrincipal bool
	HasPrincipal bool
	Conditions   []Condition
	index        int
}

// Condition is one operator/key pair of a Condition block with its values.
type Condition struct {
	Operator string // as written, e.g. "ForAllValues:StringEquals"
	Key      string // as written, e.g. "aws:TagKeys"
	Values   []string
}

// label names the statement in decisions: its Sid, or its position.
func (s Statement) label() string {
	if s.Sid != "" {
		return s.Sid
	}
	return fmt.Sprintf("#%d", s.index+1)
}

// ParsePolicy decodes a policy document: Statement is one object or a
// list; Action, Resource and condition values are a string or a list.
func ParsePolicy(name string, doc []byte) (*Policy, error) {
	var raw struct {
		Version   string
		Statement json.RawMessage
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("decoding policy %s, %w", name, err)
	}
	var items []json.RawMessage
	if s := strings.TrimSpace(string(raw.Statement)); strings.HasPrefix(s, "[") {
		if err := json.Unmarshal(raw.Statement, &items); err != nil {
			return nil, fmt.Errorf("decoding policy %s statements, %w", name, err)
		}
	} else if s != "" && s != "null" {
		items = []json.RawMessage{raw.Statement}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("policy %s has no Statement", name)
	}
	p := &Policy{Name: name, Version: raw.Version}
	for i, item := range items {
		st, err := parseStatement(item)
		if err != nil {
			return nil, fmt.Errorf("policy %s statement %d, %w", name, i+1, err)
		}
		st.index = i
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

func parseStatement(b json.RawMessage) (Statement, error) {
	var raw struct {
		Sid         string
		Effect      string
		Action      stringList
		NotAction   stringList
		Resource    stringList
		NotResource stringList
		Principal   json.RawMessage
		Condition   map[string]map[string]stringList
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Statement{}, err
	}
	st := Statement{Sid: raw.Sid, Effect: raw.Effect, Actions: raw.Action, NotActions: raw.NotAction,
		Resources: raw.Resource, NotResources: raw.NotResource}
	if st.Effect != "Allow" && st.Effect != "Deny" {
		return st, fmt.Errorf("statement Effect %q is neither Allow nor Deny", raw.Effect)
	}
	if (len(st.Actions) == 0) == (len(st.NotActions) == 0) {
		return st, fmt.Errorf("statement needs exactly one of Action and NotAction")
	}
	if len(st.Resources) > 0 && len(st.NotResources) > 0 {
		return st, fmt.Errorf("statement has both Resource and NotResource")
	}
	if err := st.parsePrincipal(raw.Principal); err != nil {
		return st, err
	}
	var err error
	st.Conditions, err = parseConditions(raw.Condition)
	return st, err
}

// parsePrincipal reads a resource policy statement's Principal: "*", or a
// map of principal kinds to lists ({"AWS": "*"} is any principal too).
func (s *Statement) parsePrincipal(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	s.HasPrincipal = true
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return fmt.Errorf("statement Principal %q: a string principal must be \"*\"", star)
		}
		s.AnyPrincipal = true
		return nil
	}
	var m map[string]stringList
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("decoding Principal, %w", err)
	}
	s.Principals = map[string][]string{}
	for k, v := range m {
		s.Principals[k] = v
		if k == "AWS" && len(v) == 1 && v[0] == "*" {
			s.AnyPrincipal = true
		}
	}
	return nil
}

// parseConditions flattens a Condition block into one Condition per
// operator and key, sorted by operator then key so that evaluation and
// its reasons are deterministic.
func parseConditions(block map[string]map[string]stringList) ([]Condition, error) {
	var out []Condition
	for _, op := range slices.Sorted(maps.Keys(block)) {
		if _, err := parseOperator(op); err != nil {
			return nil, err
		}
		for _, k := range slices.Sorted(maps.Keys(block[op])) {
			out = append(out, Condition{Operator: op, Key: k, Values: block[op][k]})
		}
	}
	return out, nil
}

// stringList is a JSON string or list of strings (also numbers and
// booleans, which condition values may be written as).
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one any
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	conv := func(v any) (string, error) {
		switch x := v.(type) {
		case string:
			return x, nil
		case bool, float64:
			return fmt.Sprint(x), nil
		}
		return "", fmt.Errorf("value %s is not a string", b)
	}
	if list, ok := one.([]any); ok {
		for _, v := range list {
			s, err := conv(v)
			if err != nil {
				return err
			}
			*l = append(*l, s)
		}
		return nil
	}
	s, err := conv(one)
	if err != nil {
		return err
	}
	*l = stringList{s}
	return nil
}
