package fake

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// attrs are the values a resource offers to EC2 filters: the filter names an
// API supports map to the resource's values for them (possibly none).
type attrs map[string][]string

// matches applies EC2 filter semantics: values of one filter are ORed, filters
// are ANDed, values may use * and ? wildcards. tags == nil means the API has no
// tag filters. Unknown filter names fail as AWS does.
func matches(filters []types.Filter, a attrs, tags map[string]string) (bool, error) {
	for _, f := range filters {
		name := aws.ToString(f.Name)
		var have []string
		switch {
		case tags != nil && strings.HasPrefix(name, "tag:"):
			v, ok := tags[strings.TrimPrefix(name, "tag:")]
			if !ok {
				return false, nil
			}
			have = []string{v}
		case tags != nil && name == "tag-key":
			have = sortedKeys(tags)
		case tags != nil && name == "tag-value":
			for _, k := range sortedKeys(tags) {
				have = append(have, tags[k])
			}
		default:
			v, ok := a[name]
			if !ok {
				return false, apiError("InvalidParameterValue", "The filter '%s' is invalid", name)
			}
			have = v
		}
		if !anyGlob(f.Values, have) {
			return false, nil
		}
	}
	return true, nil
}

func anyGlob(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if glob(p, v) {
				return true
			}
		}
	}
	return false
}

// glob matches s against p where * is any run of characters and ? one character.
func glob(p, s string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if glob(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && glob(p[1:], s[1:])
	default:
		return s != "" && s[0] == p[0] && glob(p[1:], s[1:])
	}
}

// pageSpec is how one API pages: the smallest and largest MaxResults it takes
// (larger values are capped, as EC2 documents), the page size when MaxResults
// is absent (0 = everything), and the error code for a bad token.
type pageSpec struct {
	min, max, dflt int
	tooBig         string // error code when MaxResults > max; "" caps silently
	badToken       string
}

var (
	ec2Paging      = pageSpec{min: 5, max: 1000, badToken: "InvalidPaginationToken"}
	endpointPaging = pageSpec{min: 1, max: 1000, badToken: "InvalidPaginationToken"}
	ssmPaging      = pageSpec{min: 1, max: 10, dflt: 10, tooBig: "ValidationException", badToken: "InvalidNextToken"}
	ssmDescribe    = pageSpec{min: 1, max: 50, dflt: 50, tooBig: "ValidationException", badToken: "InvalidNextToken"}
)

// page returns the items after token, at most maxResults of them, and the
// token of the next page. Items are ordered by key; a token names the last key
// returned, so items added or removed between pages do not shift the cursor.
func page[T any](items []T, key func(T) string, maxResults *int32, token *string, spec pageSpec) ([]T, *string, error) {
	n := spec.dflt
	if maxResults != nil {
		m := int(*maxResults)
		switch {
		case m < spec.min:
			return nil, nil, apiError(validationCode(spec), "Value ( %d ) for parameter maxResults is invalid. Parameter must be between %d and %d.", m, spec.min, spec.max)
		case m > spec.max && spec.tooBig != "":
			return nil, nil, apiError(spec.tooBig, "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to %d", m, spec.max)
		case m > spec.max:
			m = spec.max
		}
		n = m
	}
	sort.Slice(items, func(i, j int) bool { return key(items[i]) < key(items[j]) })
	start := 0
	if t := aws.ToString(token); t != "" {
		raw, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil || !strings.HasPrefix(string(raw), "after:") {
			return nil, nil, apiError(spec.badToken, "The specified pagination token is not valid or is expired.")
		}
		after := strings.TrimPrefix(string(raw), "after:")
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) > after })
	}
	rest := items[start:]
	if n == 0 || len(rest) <= n {
		return rest, nil, nil
	}
	next := base64.RawURLEncoding.EncodeToString([]byte("after:" + key(rest[n-1])))
	return rest[:n], &next, nil
}

func validationCode(spec pageSpec) string {
	if spec.tooBig != "" {
		return spec.tooBig
	}
	return "InvalidParameterValue"
}

// seqKey orders resources by creation.
func seqKey(seq int64) string { return fmt.Sprintf("%020d", seq) }

// ec2Tags renders a tag map as EC2 returns it, sorted by key; nil when empty.
func ec2Tags(m map[string]string) []types.Tag {
	var out []types.Tag
	for _, k := range sortedKeys(m) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}
