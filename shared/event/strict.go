package event

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Go's encoding/json is kinder than the events it reads: it matches object
// keys to struct fields case-insensitively (with Unicode simple folding, so
// "ſource" is "source") and lets the last of several matching keys win. A
// payload with "account" and "Account" therefore decodes to whichever comes
// second, and one with "account" twice likewise. AWS never sends either:
// RFC 8259 section 4 says names within an object SHOULD be unique and that
// receivers disagree on duplicates, which is exactly the ambiguity a forged
// event would use (one reader sees the first value, another the last). So
// before decoding, checkKeys walks the JSON alongside the Go type it is about
// to be decoded into and refuses:
//
//   - a key that appears twice in one object, anywhere in the payload (map
//     keys included: EC2 tag keys are unique per resource);
//   - a key that matches a struct field only when case is folded ("Account"
//     for "account"): the field names are AWS's, and AWS spells them one way.
//
// Map keys are data, not field names, and are compared exactly: EC2 tag keys
// are case-sensitive, so a VPC can carry both "Env" and "env" in detail.tags.
// Keys that name no field are allowed (EventBridge adds "replay-name" to
// replayed events; AWS adds fields over time) but are still checked for exact
// duplicates. encoding/json/v2 refuses duplicates itself, but in Go 1.26 it
// is still behind GOEXPERIMENT=jsonv2; this check is small enough not to
// warrant a dependency on its external twin.
//
// The walk mirrors encoding/json's own limit of 10000 levels of nesting.
const maxDepth = 10000

// checkKeys reports the first duplicated or miscased key in data, which is
// about to be decoded into a value of type t. what names the payload for the
// error ("EventBridge envelope", "CloudTrail detail"); at is data's path in
// the invocation payload ("detail"), empty for the payload itself.
func checkKeys(data []byte, t reflect.Type, what, at string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers are not interpreted here; 1e400 is not our concern
	w := keyWalker{dec: dec}
	if at != "" {
		w.path = []string{at}
	}
	if err := w.value(t, 0); err != nil {
		return &MalformedError{Reason: what + ": " + err.Error()}
	}
	return nil
}

// unmarshalStrict decodes data into v with encoding/json and checks its keys
// against v's type. Every error is a *MalformedError naming what.
func unmarshalStrict(data []byte, v any, what, at string) error {
	if err := json.Unmarshal(data, v); err != nil {
		return &MalformedError{Reason: what + ": " + err.Error()}
	}
	return checkKeys(data, reflect.TypeOf(v), what, at)
}

// keyError is a duplicated or miscased key, with its path in the payload.
type keyError struct {
	path  []string // the keys (and [i] indexes) leading to the object
	key   string
	field string // the field the key folds onto; empty for a duplicate
}

func (e *keyError) Error() string {
	where := "at the top level"
	if len(e.path) > 0 {
		where = "in " + strings.Join(e.path, "")
	}
	if e.field == "" {
		return fmt.Sprintf("duplicate key %q %s", e.key, where)
	}
	return fmt.Sprintf("key %q %s differs only in case from %q", e.key, where, e.field)
}

type keyWalker struct {
	dec  *json.Decoder
	path []string
}

// value reads one JSON value that decodes into t (nil: not decoded, or
// decoded by something other than encoding/json's struct and map rules).
func (w *keyWalker) value(t reflect.Type, depth int) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= maxDepth {
		return fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	t = decodedType(t)
	switch delim {
	case '[':
		err = w.array(t, depth)
	case '{':
		err = w.object(t, depth)
	}
	if err != nil {
		return err
	}
	_, err = w.dec.Token() // the closing delimiter
	return err
}

// array reads the elements of a JSON array that decodes into t, up to but
// not including its closing bracket.
func (w *keyWalker) array(t reflect.Type, depth int) error {
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	for i := 0; w.dec.More(); i++ {
		w.path = append(w.path, "["+strconv.Itoa(i)+"]")
		if err := w.value(elem, depth+1); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
	}
	return nil
}

// object reads the members of a JSON object that decodes into t, up to but
// not including its closing brace, refusing duplicated and miscased keys.
func (w *keyWalker) object(t reflect.Type, depth int) error {
	var fields *fieldSet
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = structFields(t)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	seen := make(map[string]bool)
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string) // the decoder only yields string keys
		if seen[key] {
			return &keyError{path: w.path, key: key}
		}
		seen[key] = true
		next := elem
		if fields != nil {
			if ft, ok := fields.types[key]; ok {
				next = ft
			} else if name, ok := fields.foldedField(key); ok {
				return &keyError{path: w.path, key: key, field: name}
			}
		}
		sep := "."
		if len(w.path) == 0 {
			sep = ""
		}
		w.path = append(w.path, sep+key)
		if err := w.value(next, depth+1); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
	}
	return nil
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decodedType is the type encoding/json applies its struct and map rules to
// when decoding into t, or nil when it does not (interfaces, types with
// their own UnmarshalJSON such as json.RawMessage and time.Time).
func decodedType(t reflect.Type) reflect.Type {
	for t != nil {
		if t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler) ||
			t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
			return nil
		}
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
		case reflect.Interface:
			return nil
		default:
			return t
		}
	}
	return nil
}

// foldedField is the field name key matches only case-insensitively (the
// first in sorted order, should two fields fold alike, so that errors are
// deterministic). strings.EqualFold is the comparison encoding/json uses (its
// foldName is documented as identical to bytes.EqualFold).
func (f *fieldSet) foldedField(key string) (string, bool) {
	for _, name := range f.names {
		if strings.EqualFold(name, key) {
			return name, true
		}
	}
	return "", false
}

// fieldSet is the JSON names of a struct's fields, with their types.
type fieldSet struct {
	types map[string]reflect.Type
	names []string // sorted
}

var fieldCache sync.Map // reflect.Type -> *fieldSet

// structFields is the JSON names of t's fields and their types, following
// encoding/json's tag rules (untagged embedded structs are flattened).
func structFields(t reflect.Type) *fieldSet {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*fieldSet)
	}
	fields := &fieldSet{types: make(map[string]reflect.Type)}
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if sf.Anonymous && name == "" {
				et := sf.Type
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					add(et)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if _, dup := fields.types[name]; !dup {
				fields.types[name] = sf.Type
			}
		}
	}
	add(t)
	fields.names = slices.Sorted(maps.Keys(fields.types))
	fieldCache.Store(t, fields)
	return fields
}
