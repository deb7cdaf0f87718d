package ssmsim

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
	iampolicy "github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/iam"
)

// AuthorizationContext is what IAM evaluates before the call: the parameters an SSM call names, each with its
// current tags; DescribeParameters has no resource-level permissions.
func (p *Service) AuthorizationContext(call *awsproto.Call) []iampolicy.Request {
	var in struct {
		Name         string
		Names        []string
		Path         string
		ResourceID   string `json:"ResourceId"`
		ResourceType string
		Overwrite    *bool
		Tags         []struct{ Key, Value string }
	}
	if len(call.Body) > 0 {
		_ = json.Unmarshal(call.Body, &in) // malformed bodies are the service's to refuse
	}
	var names []string
	switch call.Action {
	case "GetParameter", "PutParameter", "DeleteParameter", "GetParameterHistory", "LabelParameterVersion":
		names = []string{in.Name}
	case "GetParameters", "DeleteParameters":
		names = in.Names
	case "GetParametersByPath":
		names = []string{in.Path}
	case "AddTagsToResource", "RemoveTagsFromResource", "ListTagsForResource":
		names = []string{in.ResourceID}
	}
	req := iampolicy.Request{Action: "ssm:" + call.Action, Context: map[string][]string{}}
	if in.Overwrite != nil {
		req.Context["ssm:Overwrite"] = []string{fmt.Sprint(*in.Overwrite)}
	}
	var keys []string
	for _, t := range in.Tags {
		req.Context["aws:RequestTag/"+t.Key] = []string{t.Value}
		keys = append(keys, t.Key)
	}
	if len(keys) > 0 {
		req.Context["aws:TagKeys"] = keys
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, n := range names {
		name := nameOf(n)
		if i := strings.LastIndex(name, ":"); i >= 0 && !strings.HasPrefix(name, "arn:") {
			name = name[:i] // name:version or name:label
		}
		r := iampolicy.Resource{ARN: parameterARN(call.Account, call.Region, name), Type: "parameter"}
		if par := p.params[scopeKey(call.Account, call.Region)][name]; par != nil && len(par.tags) > 0 {
			r.Tags = map[string]string{}
			for k, v := range par.tags {
				r.Tags[k] = v
			}
		}
		req.Resources = append(req.Resources, r)
	}
	return []iampolicy.Request{req}
}
