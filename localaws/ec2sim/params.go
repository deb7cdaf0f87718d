package ec2sim

import (
	"encoding/base64"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/iam"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// list reads the query list prefix.1, prefix.2, ... (EC2 lists are
// numbered from 1 and sent without gaps by the SDKs and the CLI).
func (o *op) list(prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		k := prefix + "." + strconv.Itoa(i)
		vs, ok := o.form[k]
		if !ok {
			return out
		}
		out = append(out, vs[0])
	}
}

// has reports whether a parameter is present (even empty).
func (o *op) has(k string) bool { _, ok := o.form[k]; return ok }

func (o *op) require(k string) (string, error) {
	v := o.form.Get(k)
	if v == "" {
		return "", awsproto.Errorf("MissingParameter", "The request must contain the parameter %s", k)
	}
	return v, nil
}

// boolean reads an optional boolean parameter; present reports whether it
// was given.
func (o *op) boolean(k string) (v, present bool, err error) {
	s, ok := o.form[k]
	if !ok {
		return false, false, nil
	}
	b, perr := strconv.ParseBool(s[0])
	if perr != nil {
		return false, true, awsproto.Errorf("InvalidParameterValue", "Value (%s) for parameter %s is invalid. Expected: 'true' or 'false'.", s[0], k)
	}
	return b, true, nil
}

// tagPair is one Key/Value of a request; hasValue is false when the
// request left the value out (meaningful to DeleteTags).
type tagPair struct {
	Key, Value string
	hasValue   bool
}

func (o *op) tagPairs(prefix string) []tagPair {
	var out []tagPair
	for i := 1; ; i++ {
		p := prefix + "." + strconv.Itoa(i)
		k, ok := o.form[p+".Key"]
		if !ok {
			return out
		}
		v, hv := o.form[p+".Value"]
		t := tagPair{Key: k[0], hasValue: hv}
		if hv {
			t.Value = v[0]
		}
		out = append(out, t)
	}
}

// tagSpecs reads TagSpecification.N for the one resource type a create
// call makes; a specification of another type is refused, as EC2 does.
func (o *op) tagSpecs(resourceType string) (map[string]string, []tagPair, error) {
	tags := map[string]string{}
	var all []tagPair
	for i := 1; ; i++ {
		p := "TagSpecification." + strconv.Itoa(i)
		rt, ok := o.form[p+".ResourceType"]
		pairs := o.tagPairs(p + ".Tag")
		if !ok && len(pairs) == 0 {
			break
		}
		if !ok || rt[0] == "" {
			return nil, nil, awsproto.Errorf("InvalidParameterValue", "Tag specification resource type must have a value")
		}
		if rt[0] != resourceType {
			return nil, nil, awsproto.Errorf("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", rt[0])
		}
		for _, t := range pairs {
			if err := validateTag(t.Key, t.Value); err != nil {
				return nil, nil, err
			}
			tags[t.Key] = t.Value
		}
		all = append(all, pairs...)
	}
	if len(tags) > maxTags {
		return nil, nil, awsproto.Errorf("TagLimitExceeded", "The maximum number of tags per resource (%d) has been exceeded", maxTags)
	}
	return tags, all, nil
}

const maxTags = 50

func validateTag(k, v string) error {
	switch {
	case k == "":
		return awsproto.Errorf("InvalidParameterValue", "Tag key cannot be empty")
	case utf8.RuneCountInString(k) > 128:
		return awsproto.Errorf("InvalidParameterValue", "Tag key exceeds the maximum length of 128 characters")
	case utf8.RuneCountInString(v) > 256:
		return awsproto.Errorf("InvalidParameterValue", "Tag value exceeds the maximum length of 256 characters")
	case strings.HasPrefix(strings.ToLower(k), "aws:"):
		return awsproto.Errorf("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
	}
	return nil
}

// filter is one Filter.N of a describe call.
type filter struct {
	name   string
	values []string
}

// filters reads Filter.N and refuses names the resource does not know
// (tag:<key>, tag-key and tag-value are known to every resource).
func (o *op) filters(known map[string]bool) ([]filter, error) {
	var out []filter
	for i := 1; ; i++ {
		p := "Filter." + strconv.Itoa(i)
		n, ok := o.form[p+".Name"]
		if !ok {
			return out, nil
		}
		name := n[0]
		if !known[name] && name != "tag-key" && name != "tag-value" && !strings.HasPrefix(name, "tag:") {
			return nil, awsproto.Errorf("InvalidParameterValue", "The filter '%s' is invalid", name)
		}
		values := o.list(p + ".Value")
		if len(values) == 0 {
			return nil, awsproto.Errorf("InvalidParameterValue", "The filter '%s' must have at least one value", name)
		}
		out = append(out, filter{name: name, values: values})
	}
}

func nameSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// fieldFunc returns a resource's values for a (non-tag) filter name.
type fieldFunc func(name string) []string

// matches applies filters (ANDed; within one, values ORed; * and ? are
// wildcards) to a resource with the given tags and fields.
func matches(fs []filter, tags map[string]string, field fieldFunc) bool {
	for _, f := range fs {
		var have []string
		fold := false
		switch {
		case strings.HasPrefix(f.name, "tag:"):
			v, ok := tags[f.name[4:]]
			if !ok {
				return false
			}
			have = []string{v}
		case f.name == "tag-key":
			have = sortedKeys(tags)
		case f.name == "tag-value":
			for _, v := range tags {
				have = append(have, v)
			}
		default:
			have = field(f.name)
			fold = strings.HasSuffix(f.name, "state")
		}
		if !anyMatch(f.values, have, fold) {
			return false
		}
	}
	return true
}

func anyMatch(patterns, values []string, fold bool) bool {
	for _, p := range patterns {
		for _, v := range values {
			if fold {
				if strings.EqualFold(p, v) {
					return true
				}
				continue
			}
			if glob(p, v) {
				return true
			}
		}
	}
	return false
}

// glob matches EC2 filter wildcards: * any run, ? one character, the
// same rule as IAM's (one matcher serves both).
func glob(p, s string) bool { return iam.Glob(p, s) }

// page is MaxResults/NextToken paging over ids in sorted order. The token
// is the last id returned, so paging is stable while resources change.
type page struct {
	max   int
	after string
}

// paging reads MaxResults and NextToken; lo is the smallest MaxResults
// the action accepts (EC2: 5 for VPCs, subnets and groups), 0 to accept any
// positive value. Values above 1000 are capped.
func (o *op) paging(lo int) (page, error) {
	p := page{max: 1000}
	if s := o.form.Get("MaxResults"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || (lo > 0 && (n < lo || n > 1000)) {
			return p, awsproto.Errorf("InvalidParameterValue", "Value ( %s ) for parameter maxResults is invalid. Expecting a value between %d and 1000.", s, max(lo, 1))
		}
		p.max = min(n, 1000)
	}
	if t := o.form.Get("NextToken"); t != "" {
		b, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil || len(b) == 0 {
			return p, awsproto.Errorf("InvalidPaginationToken", "Invalid pagination token provided.")
		}
		p.after = string(b)
	}
	return p, nil
}

// apply sorts ids, keeps those after the token and returns one page and
// the token of the next (empty at the end).
func (p page) apply(ids []string) ([]string, string) {
	sort.Strings(ids)
	if p.after != "" {
		i := sort.SearchStrings(ids, p.after)
		if i < len(ids) && ids[i] == p.after {
			i++
		}
		ids = ids[i:]
	}
	if len(ids) <= p.max {
		return ids, ""
	}
	ids = ids[:p.max]
	return ids, base64.RawURLEncoding.EncodeToString([]byte(ids[len(ids)-1]))
}

// noMaxWithIDs refuses MaxResults together with explicit ids, as
// DescribeVpcs, DescribeSubnets and DescribeSecurityGroups do.
func (o *op) noMaxWithIDs(ids []string, param string) error {
	if len(ids) > 0 && o.form.Get("MaxResults") != "" {
		return awsproto.Errorf("InvalidParameterCombination", "The parameter %s cannot be used with the parameter maxResults", param)
	}
	return nil
}
