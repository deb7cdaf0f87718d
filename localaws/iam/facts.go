package iam

import (
	_ "embed"
	"encoding/json"
	"strings"
	"sync"
)

// iam-authorization.json is the team's shared/aws/iam-authorization.json
// (the AWS Service Authorization Reference entries of the actions the
// product calls) plus the sqs actions the local SQS serves, from the same
// dataset (its notes say which; facts_test.go checks them).
//
//go:embed iam-authorization.json
var authorizationJSON []byte

// ActionFacts is what the Service Authorization Reference says about one
// action: the resource types it authorizes and each one's condition keys.
type ActionFacts struct {
	Resources []ResourceFacts `json:"resources"`
}

// ResourceFacts is one resource type of an action. Type "" means the action
// has no resource-level permissions (the policy's Resource must be "*").
type ResourceFacts struct {
	Type             string   `json:"type"`
	Required         bool     `json:"required"`
	ConditionKeys    []string `json:"conditionKeys"`
	DependentActions []string `json:"dependentActions"`
}

type serviceFacts struct {
	Actions   map[string]ActionFacts `json:"actions"`
	Resources map[string]struct {
		ARN string `json:"arn"`
	} `json:"resources"`
}

var facts = sync.OnceValue(func() map[string]map[string]ActionFacts {
	var doc struct {
		Services map[string]serviceFacts `json:"services"`
	}
	if err := json.Unmarshal(authorizationJSON, &doc); err != nil {
		panic("localaws/iam: decoding the embedded authorization facts: " + err.Error())
	}
	out := map[string]map[string]ActionFacts{}
	for svc, s := range doc.Services {
		m := map[string]ActionFacts{}
		for name, a := range s.Actions {
			m[strings.ToLower(name)] = a
		}
		out[svc] = m
	}
	return out
})

// Facts returns the facts of an action ("ec2:CreateVpcEndpoint"), and false
// when the facts file does not list it.
func Facts(action string) (ActionFacts, bool) {
	svc, name, _ := strings.Cut(action, ":")
	a, ok := facts()[strings.ToLower(svc)][strings.ToLower(name)]
	return a, ok
}

// resourceType returns the facts of one resource type of the action.
func (a ActionFacts) resourceType(t string) (ResourceFacts, bool) {
	for _, r := range a.Resources {
		if r.Type == t {
			return r, true
		}
	}
	return ResourceFacts{}, false
}

// visible reports whether a context key can appear when AWS evaluates a
// resource of this type for this action. Global keys (aws:*) are always
// present, except the tag keys (aws:RequestTag/*, aws:ResourceTag/*,
// aws:TagKeys), which like service keys (ec2:*, ssm:*, ...) exist only
// where the Service Authorization Reference lists them.
func (r ResourceFacts) visible(key string) bool {
	lk := strings.ToLower(key)
	if strings.HasPrefix(lk, "aws:") && !strings.HasPrefix(lk, "aws:requesttag/") &&
		!strings.HasPrefix(lk, "aws:resourcetag/") && lk != "aws:tagkeys" {
		return true
	}
	for _, k := range r.ConditionKeys {
		lf := strings.ToLower(k)
		if i := strings.Index(lf, "${"); i >= 0 {
			if strings.HasPrefix(lk, lf[:i]) && len(lk) > i {
				return true
			}
			continue
		}
		if lf == lk {
			return true
		}
	}
	return false
}
