package iam

import (
	"fmt"
	"strconv"
	"strings"
)

// operator is a parsed condition operator: an optional set qualifier, a
// base operator and the IfExists suffix.
type operator struct {
	set      string // "", "ForAnyValue", "ForAllValues"
	base     string // StringEquals, ArnLike, Null, ...
	ifExists bool
}

// negated operators match when no policy value matches (logical NOR over
// the values, IAM User Guide "Conditions with multiple context keys or
// values").
var negated = map[string]bool{
	"StringNotEquals": true, "StringNotEqualsIgnoreCase": true, "StringNotLike": true,
	"ArnNotEquals": true, "ArnNotLike": true, "NumericNotEquals": true,
}

var baseOperators = map[string]bool{
	"StringEquals": true, "StringNotEquals": true, "StringEqualsIgnoreCase": true, "StringNotEqualsIgnoreCase": true,
	"StringLike": true, "StringNotLike": true, "ArnEquals": true, "ArnLike": true, "ArnNotEquals": true, "ArnNotLike": true,
	"NumericEquals": true, "NumericNotEquals": true, "NumericLessThan": true, "NumericLessThanEquals": true,
	"NumericGreaterThan": true, "NumericGreaterThanEquals": true, "Bool": true, "Null": true,
}

func parseOperator(s string) (operator, error) {
	var op operator
	rest := s
	if set, after, ok := strings.Cut(rest, ":"); ok {
		if set != "ForAnyValue" && set != "ForAllValues" {
			return op, fmt.Errorf("condition operator %q: unknown set qualifier %q", s, set)
		}
		op.set, rest = set, after
	}
	if base, ok := strings.CutSuffix(rest, "IfExists"); ok && rest != "IfExists" {
		op.ifExists, rest = true, base
	}
	if !baseOperators[rest] {
		return op, fmt.Errorf("condition operator %q is not supported by the local AWS", s)
	}
	if rest == "Null" && (op.set != "" || op.ifExists) {
		return op, fmt.Errorf("condition operator %q: Null takes no qualifier", s)
	}
	op.base = rest
	return op, nil
}

// holds evaluates one condition against a context (keys lower-cased). It
// returns whether the condition holds and, when not, why.
//
// Missing keys follow the IAM User Guide, "IAM JSON policy elements:
// Condition operators": a key absent from the request context makes the
// condition false, except that a negated operator (StringNotLike,
// ArnNotLike, ...) is then true; ...IfExists is true when the key is
// absent; Null tests presence. Set qualifiers follow "Set operators for
// multivalued context keys": ForAllValues is true when the key is absent
// or its set is empty, ForAnyValue is then false.
func (c Condition) holds(ctx map[string][]string) (bool, string) {
	op, _ := parseOperator(c.Operator) // validated by ParsePolicy
	got, present := ctx[strings.ToLower(c.Key)]
	present = present && len(got) > 0
	var ok bool
	switch {
	case op.base == "Null":
		ok = c.nullHolds(present)
	case !present:
		ok = op.holdsWithoutKey()
	default:
		ok = op.holdsFor(got, c.substitutedValues(ctx))
	}
	switch {
	case ok:
		return true, ""
	case !present:
		return false, fmt.Sprintf("%s %s: key absent from the request context", c.Operator, c.Key)
	}
	return false, fmt.Sprintf("%s %s: request values %q do not satisfy %q", c.Operator, c.Key, got, c.Values)
}

// nullHolds is Null: "true" holds when the key is absent, "false" when it
// is present.
func (c Condition) nullHolds(present bool) bool {
	for _, v := range c.Values {
		if strings.EqualFold(v, "true") == !present {
			return true
		}
	}
	return false
}

// substitutedValues are the condition's values with their policy
// variables replaced from ctx; a value whose variable ctx lacks is left
// out.
func (c Condition) substitutedValues(ctx map[string][]string) []string {
	values := make([]string, 0, len(c.Values))
	for _, v := range c.Values {
		if s, ok := substitute(v, ctx); ok {
			values = append(values, s)
		}
	}
	return values
}

// holdsWithoutKey is whether the operator holds when its key is absent.
func (op operator) holdsWithoutKey() bool {
	switch {
	case op.ifExists, op.set == "ForAllValues":
		return true
	case op.set == "ForAnyValue":
		return false
	}
	return negated[op.base]
}

// holdsFor is whether the operator holds for the request values got
// against the policy values.
func (op operator) holdsFor(got, values []string) bool {
	one := func(v string) bool {
		m := false
		for _, p := range values {
			if match(op.base, v, p) {
				m = true
				break
			}
		}
		if negated[op.base] {
			return !m
		}
		return m
	}
	if op.set == "ForAllValues" || (negated[op.base] && op.set == "") {
		// ForAllValues, or a single-valued negated operator on several
		// request values: every one must satisfy it (so, when negated,
		// none may match).
		for _, v := range got {
			if !one(v) {
				return false
			}
		}
		return true
	}
	// ForAnyValue, or a positive operator: some value matches.
	for _, v := range got {
		if one(v) {
			return true
		}
	}
	return false
}

// match compares one request value with one policy value under the
// positive form of the operator.
func match(base, v, p string) bool {
	switch strings.TrimPrefix(strings.TrimPrefix(base, "String"), "Arn") {
	case "Equals", "NotEquals":
		if strings.HasPrefix(base, "Arn") {
			return arnLike(v, p)
		}
		return v == p
	case "EqualsIgnoreCase", "NotEqualsIgnoreCase":
		return strings.EqualFold(v, p)
	case "Like", "NotLike":
		if strings.HasPrefix(base, "Arn") {
			return arnLike(v, p)
		}
		return Glob(p, v)
	}
	if base == "Bool" {
		return strings.EqualFold(v, p)
	}
	a, err1 := strconv.ParseFloat(v, 64)
	b, err2 := strconv.ParseFloat(p, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	switch base {
	case "NumericEquals", "NumericNotEquals":
		return a == b
	case "NumericLessThan":
		return a < b
	case "NumericLessThanEquals":
		return a <= b
	case "NumericGreaterThan":
		return a > b
	case "NumericGreaterThanEquals":
		return a >= b
	}
	return false
}

// arnLike matches an ARN segment by segment (partition, service, Region,
// account, resource), each with * and ? wildcards, as ArnLike and
// ArnEquals do (IAM User Guide, "Amazon Resource Name (ARN) condition
// operators").
func arnLike(v, p string) bool {
	vs, ps := strings.SplitN(v, ":", 6), strings.SplitN(p, ":", 6)
	if len(vs) != 6 || len(ps) != 6 {
		return false
	}
	for i := range vs {
		if !Glob(ps[i], vs[i]) {
			return false
		}
	}
	return true
}

// Glob matches s against a pattern where * matches any run of characters
// (including none, across / and :) and ? exactly one character.
func Glob(pattern, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == s[sx]):
			px++
			sx++
		case px < len(pattern) && pattern[px] == '*':
			star, mark = px, sx
			px++
		case star >= 0:
			px = star + 1
			mark++
			sx = mark
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// substitute replaces policy variables (${aws:PrincipalAccount}, and the
// escapes ${*}, ${?}, ${$}) with their values from the context (IAM User
// Guide, "IAM policy elements: Variables and tags"). A variable whose key
// is absent makes the value unusable (ok false): it matches nothing.
func substitute(s string, ctx map[string][]string) (string, bool) {
	if !strings.Contains(s, "${") {
		return s, true
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		b.WriteString(s[:i])
		name := strings.TrimSpace(s[i+2 : i+j])
		switch name {
		case "*", "?", "$":
			b.WriteString(name)
		default:
			v := ctx[strings.ToLower(name)]
			if len(v) != 1 {
				return "", false
			}
			b.WriteString(v[0])
		}
		s = s[i+j+1:]
	}
}
