package eventsim

import (
	"encoding/json"
	"strings"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
	iampolicy "github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/iam"
)

// AuthorizationContext is what IAM evaluates before the call: PutEvents is authorized on each entry's bus
// (cross-account buses also by their resource policy); rule calls on the
// rule.
func (e *Service) AuthorizationContext(call *awsproto.Call) []iampolicy.Request {
	var in struct {
		Entries      []struct{ EventBusName, Source, DetailType string }
		Name         string
		Rule         string
		EventBusName string
	}
	if len(call.Body) > 0 {
		_ = json.Unmarshal(call.Body, &in)
	}
	busARNOf := func(nameOrARN string) string {
		if strings.HasPrefix(nameOrARN, "arn:") {
			return nameOrARN
		}
		if nameOrARN == "" {
			nameOrARN = "default"
		}
		return busARN(call.Account, call.Region, nameOrARN)
	}
	req := iampolicy.Request{Action: "events:" + call.Action, Context: map[string][]string{}}
	switch call.Action {
	case "PutEvents":
		seen := map[string]bool{}
		var sources, types []string
		for _, en := range in.Entries {
			arn := busARNOf(en.EventBusName)
			if !seen[arn] {
				seen[arn] = true
				req.Resources = append(req.Resources, iampolicy.Resource{ARN: arn, Type: "event-bus"})
			}
			sources, types = append(sources, en.Source), append(types, en.DetailType)
		}
		req.Context["events:source"], req.Context["events:detail-type"] = sources, types
	case "PutRule", "PutTargets", "RemoveTargets", "DeleteRule", "DescribeRule", "EnableRule", "DisableRule", "ListTargetsByRule":
		name := in.Name
		if name == "" {
			name = in.Rule
		}
		bus := in.EventBusName
		if strings.HasPrefix(bus, "arn:") {
			bus = bus[strings.LastIndex(bus, "/")+1:]
		}
		arn, typ := "arn:aws:events:"+call.Region+":"+call.Account+":rule/"+name, "rule-on-default-event-bus"
		if bus != "" && bus != "default" {
			arn, typ = "arn:aws:events:"+call.Region+":"+call.Account+":rule/"+bus+"/"+name, "rule-on-custom-event-bus"
		}
		req.Resources = []iampolicy.Resource{{ARN: arn, Type: typ}}
	case "CreateEventBus", "DeleteEventBus", "DescribeEventBus":
		req.Resources = []iampolicy.Resource{{ARN: busARNOf(in.Name), Type: "event-bus"}}
	case "CreateConnection", "DescribeConnection", "DeleteConnection":
		req.Resources = []iampolicy.Resource{{ARN: e.destinationARN(call, "connection", in.Name), Type: "connection"}}
	case "CreateApiDestination", "DescribeApiDestination", "DeleteApiDestination":
		req.Resources = []iampolicy.Resource{{ARN: e.destinationARN(call, "api-destination", in.Name), Type: "api-destination"}}
	}
	return []iampolicy.Request{req}
}

// authorize checks a rule's delivery to a bus of another account or
// Region (the role, and the bus policy across accounts); a bus of the
// rule's own account and Region needs nothing.
func (e *Service) authorize(r *rule, t target, dst *bus) string {
	parts := strings.SplitN(r.arn, ":", 6)
	if e.authorizeTarget == nil || parts[4] == dst.account && parts[3] == dst.region {
		return ""
	}
	return e.authorizeTarget(r.arn, t.RoleArn, dst.arn)
}

// destinationARN is the ARN IAM sees for a connection or API destination
// call: the resource's own ARN when it exists, else (creating it) one with
// a placeholder for the id AWS appends, so a policy naming
// <kind>/<name>/* decides.
func (e *Service) destinationARN(call *awsproto.Call, kind, name string) string {
	e.dest.mu.Lock()
	defer e.dest.mu.Unlock()
	list := e.dest.apisList()
	if kind == "connection" {
		list = e.dest.connectionsList()
	}
	if arn := e.dest.byName(list, call, kind, name); arn != "" {
		return arn
	}
	return "arn:aws:events:" + call.Region + ":" + call.Account + ":" + kind + "/" + name + "/new"
}
