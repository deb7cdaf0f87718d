package eventsim

import (
	"encoding/json"
	"path"
	"strings"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// eventPattern is a compiled EventBridge event pattern: a JSON object
// whose leaves are arrays of matchers.
type eventPattern map[string]any

// compilePattern parses and validates a pattern as PutRule does, refusing
// it with EventBridge's InvalidEventPatternException.
func compilePattern(raw string) (eventPattern, error) {
	var p map[string]any
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return nil, invalidPattern("Filter is not an object")
	}
	if err := checkPattern(p); err != nil {
		return nil, err
	}
	return p, nil
}

// invalidPattern is EventBridge's refusal of a pattern; the reason is
// AWS's own wording, so it keeps AWS's capitals and full stops.
func invalidPattern(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf("InvalidEventPatternException", "Event pattern is not valid. Reason: "+format, args...)
}

func checkPattern(p map[string]any) error {
	for k, v := range p {
		switch v := v.(type) {
		case map[string]any:
			if err := checkPattern(v); err != nil {
				return err
			}
		case []any:
			for _, m := range v {
				if err := checkMatcher(m); err != nil {
					return err
				}
			}
		default:
			return invalidPattern("Match value must be String, number, true, false, or null at [Source: (String)\"%s\"]", k)
		}
	}
	return nil
}

func checkMatcher(m any) error {
	obj, ok := m.(map[string]any)
	if !ok {
		return nil
	}
	for op, arg := range obj {
		switch op {
		case "prefix", "suffix", "equals-ignore-case", "wildcard":
			if _, ok := arg.(string); !ok {
				if inner, ok := arg.(map[string]any); !ok || inner["equals-ignore-case"] == nil {
					return invalidPattern("%s match pattern must be a string", op)
				}
			}
		case "exists":
			if _, ok := arg.(bool); !ok {
				return invalidPattern("exists match pattern must be either true or false.")
			}
		case "anything-but":
		case "numeric":
			l, ok := arg.([]any)
			if !ok || len(l) == 0 || len(l)%2 != 0 {
				return invalidPattern("Value of numeric must be an array.")
			}
			for i := 0; i < len(l); i += 2 {
				o, _ := l[i].(string)
				if _, ok := l[i+1].(float64); !ok || !validNumericOp(o) {
					return invalidPattern("Unrecognized numeric range operator: %v", l[i])
				}
			}
		default:
			return invalidPattern("Unrecognized match type %s", op)
		}
	}
	return nil
}

func validNumericOp(o string) bool {
	switch o {
	case "=", "<", "<=", ">", ">=":
		return true
	}
	return false
}

// matches reports whether an event (decoded JSON object) matches.
func (p eventPattern) matches(ev map[string]any) bool { return matchObject(p, ev) }

func matchObject(p map[string]any, ev map[string]any) bool {
	for k, pv := range p {
		val, present := ev[k]
		switch pv := pv.(type) {
		case map[string]any:
			objs := objectsOf(val)
			if len(objs) == 0 {
				objs = []map[string]any{{}}
			}
			ok := false
			for _, o := range objs {
				if matchObject(pv, o) {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		case []any:
			if !matchField(pv, val, present) {
				return false
			}
		}
	}
	return true
}

func objectsOf(v any) []map[string]any {
	switch v := v.(type) {
	case map[string]any:
		return []map[string]any{v}
	case []any:
		var out []map[string]any
		for _, e := range v {
			if o, ok := e.(map[string]any); ok {
				out = append(out, o)
			}
		}
		return out
	}
	return nil
}

func matchField(matchers []any, val any, present bool) bool {
	cands := []any{val}
	if l, ok := val.([]any); ok {
		cands = l
	}
	for _, m := range matchers {
		if matchOne(m, cands, present) {
			return true
		}
	}
	return false
}

func matchOne(m any, cands []any, present bool) bool {
	obj, isObj := m.(map[string]any)
	if !isObj {
		if !present {
			return false
		}
		for _, c := range cands {
			if equalScalar(m, c) {
				return true
			}
		}
		return false
	}
	for op, arg := range obj {
		if op == "exists" {
			want, _ := arg.(bool)
			return present == want
		}
		if !present {
			return false
		}
		for _, c := range cands {
			if matchOp(op, arg, c) {
				return true
			}
		}
		return false
	}
	return false
}

// matchOp reports whether the candidate value c satisfies the content
// filter {op: arg}.
func matchOp(op string, arg, c any) bool {
	switch op {
	case "prefix", "suffix", "equals-ignore-case", "wildcard":
		return matchString(op, arg, c)
	case "anything-but":
		return matchAnythingBut(arg, c)
	case "numeric":
		return matchNumeric(arg, c)
	}
	return false
}

// matchString is the string filters: prefix, suffix, wildcard (each
// possibly over {"equals-ignore-case": ...}) and equals-ignore-case.
func matchString(op string, arg, c any) bool {
	s, isStr := c.(string)
	if !isStr {
		return false
	}
	want, fold := arg.(string), false
	if inner, ok := arg.(map[string]any); ok {
		want, _ = inner["equals-ignore-case"].(string)
		fold = true
	}
	if fold || op == "equals-ignore-case" {
		s, want = strings.ToLower(s), strings.ToLower(want)
	}
	switch op {
	case "prefix":
		return strings.HasPrefix(s, want)
	case "suffix":
		return strings.HasSuffix(s, want)
	case "wildcard":
		ok, _ := path.Match(strings.ReplaceAll(want, "/", "\x00"), strings.ReplaceAll(s, "/", "\x00"))
		return ok
	}
	return s == want
}

// matchAnythingBut is anything-but over a list of values, one value, or
// another filter ({"prefix": ...}, {"equals-ignore-case": [...]}).
func matchAnythingBut(arg, c any) bool {
	switch a := arg.(type) {
	case []any:
		for _, x := range a {
			if equalScalar(x, c) {
				return false
			}
		}
		return true
	case map[string]any:
		for inner, v := range a {
			if inner == "equals-ignore-case" {
				if l, ok := v.([]any); ok {
					for _, x := range l {
						if matchOp(inner, x, c) {
							return false
						}
					}
					return true
				}
			}
			return !matchOp(inner, v, c)
		}
		return true
	default:
		return !equalScalar(a, c)
	}
}

// matchNumeric is numeric: [op, value, op, value...], all of which the
// number c must satisfy.
func matchNumeric(arg, c any) bool {
	n, ok := c.(float64)
	if !ok {
		return false
	}
	l, _ := arg.([]any)
	for i := 0; i+1 < len(l); i += 2 {
		o, _ := l[i].(string)
		v, _ := l[i+1].(float64)
		if !compareNumeric(o, n, v) {
			return false
		}
	}
	return true
}

func compareNumeric(op string, n, v float64) bool {
	switch op {
	case "=":
		return n == v
	case "<":
		return n < v
	case "<=":
		return n <= v
	case ">":
		return n > v
	case ">=":
		return n >= v
	}
	return false
}

func equalScalar(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case string:
		s, ok := b.(string)
		return ok && s == a
	case float64:
		f, ok := b.(float64)
		return ok && f == a
	case bool:
		x, ok := b.(bool)
		return ok && x == a
	}
	return false
}
