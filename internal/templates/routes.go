package templates

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Route is one way an event reaches a target: a SAM function event (EventBridgeRule,
// Schedule, SNS, SQS) or an AWS::Events::Rule target. Values are raw text (see Text).
type Route struct {
	// Name is the logical id of the rule: for a SAM event, the id SAM gives it
	// (<Function><Event>, e.g. OnboardFunctionTagChange); for an AWS::Events::Rule, its own.
	Name string
	// Kind is "EventBridgeRule", "Schedule", "SNS" or "SQS" (an event source mapping).
	Kind string
	// EventBus is the bus the rule is on: "" for the account's default bus.
	EventBus string
	// Pattern is the event pattern as decoded JSON values (map[string]any, []any, string,
	// float64/int, bool); intrinsics are left as raw text such as "!Ref TagKey", see
	// ResolvePattern. Nil for Schedule and SNS.
	Pattern any
	// Schedule is the schedule expression of a Schedule (or scheduled rule).
	Schedule string
	// Topic is the SNS topic of an SNS event.
	Topic string
	// Function is the logical id of the target function, when the target is a function of
	// this template; Queue the logical id of the target queue, when it is an AWS::SQS::Queue
	// of this template (for an SQS event: the queue polled); otherwise Target holds the raw
	// target ARN.
	Function string
	Queue    string
	Target   string
	RoleArn  string
	// DeadLetter is the raw ARN of the queue the rule sends events it could not deliver to
	// (DeadLetterConfig.Arn), or "".
	DeadLetter string
	// Polling is the event source mapping of an SQS event.
	Polling Polling
}

// Polling is how Lambda's event source mapping of an SQS event reads its queue. Values are
// raw text; empty when the template leaves them to Lambda's defaults.
type Polling struct {
	BatchSize          string
	BatchingWindow     string // MaximumBatchingWindowInSeconds
	MaximumConcurrency string // ScalingConfig.MaximumConcurrency
	// ReportBatchItemFailures says FunctionResponseTypes lists ReportBatchItemFailures:
	// only then does Lambda read the function's batchItemFailures.
	ReportBatchItemFailures bool
}

// Routes returns every event route of the template: the Events of each SAM function, then
// each target of each AWS::Events::Rule, in document order.
func (t *Template) Routes() []Route {
	var out []Route
	for _, r := range t.resources {
		if r.kind == "AWS::Serverless::Function" {
			out = append(out, t.functionRoutes(r)...)
		}
	}
	for _, r := range t.resources {
		if r.kind == "AWS::Events::Rule" {
			out = append(out, t.ruleRoutes(r)...)
		}
	}
	return out
}

// functionRoutes is the Events of SAM function r, skipping event types it does not route.
func (t *Template) functionRoutes(r resource) []Route {
	events := field(r.properties, "Events")
	if events == nil || events.Kind != yaml.MappingNode {
		return nil
	}
	var out []Route
	for i := 0; i+1 < len(events.Content); i += 2 {
		if route, ok := t.eventRoute(r.id, events.Content[i].Value, events.Content[i+1]); ok {
			out = append(out, route)
		}
	}
	return out
}

// eventRoute is the route of event name of function fn, false for an event type it does
// not route.
func (t *Template) eventRoute(fn, name string, event *yaml.Node) (Route, bool) {
	props := field(event, "Properties")
	route := Route{Name: fn + name, Kind: scalar(field(event, "Type")), Function: fn}
	switch route.Kind {
	case "EventBridgeRule", "CloudWatchEvent":
		route.Kind = "EventBridgeRule"
		route.DeadLetter = optionalText(field(field(props, "DeadLetterConfig"), "Arn"))
		route.EventBus = optionalText(field(props, "EventBusName"))
		route.Pattern = decode(field(props, "Pattern"))
	case "Schedule", "ScheduleV2":
		route.Kind = "Schedule"
		route.DeadLetter = optionalText(field(field(props, "DeadLetterConfig"), "Arn"))
		route.Schedule = optionalText(field(props, "Schedule"))
		if route.Schedule == "" {
			route.Schedule = optionalText(field(props, "ScheduleExpression"))
		}
	case "SNS":
		route.Topic = optionalText(field(props, "Topic"))
	case "SQS":
		route.Queue = t.queueID(optionalText(field(props, "Queue")))
		if route.Queue == "" {
			route.Target = optionalText(field(props, "Queue"))
		}
		route.Polling = Polling{
			BatchSize:               optionalText(field(props, "BatchSize")),
			BatchingWindow:          optionalText(field(props, "MaximumBatchingWindowInSeconds")),
			MaximumConcurrency:      optionalText(field(field(props, "ScalingConfig"), "MaximumConcurrency")),
			ReportBatchItemFailures: slices.Contains(texts(field(props, "FunctionResponseTypes")), "ReportBatchItemFailures"),
		}
	default:
		return Route{}, false
	}
	return route, true
}

// ruleRoutes is a route for each target of AWS::Events::Rule r.
func (t *Template) ruleRoutes(r resource) []Route {
	targets := field(r.properties, "Targets")
	if targets == nil || targets.Kind != yaml.SequenceNode {
		return nil
	}
	var out []Route
	for _, target := range targets.Content {
		route := Route{
			Name:     r.id,
			Kind:     "EventBridgeRule",
			EventBus: optionalText(field(r.properties, "EventBusName")),
			Pattern:  decode(field(r.properties, "EventPattern")),
			Schedule: optionalText(field(r.properties, "ScheduleExpression")),
			Target:   optionalText(field(target, "Arn")),
			RoleArn:  optionalText(field(target, "RoleArn")),
			// DeadLetter belongs to the target, as in AWS::Events::Rule.
			DeadLetter: optionalText(field(field(target, "DeadLetterConfig"), "Arn")),
		}
		if route.Schedule != "" {
			route.Kind = "Schedule"
		}
		if id, ok := strings.CutSuffix(strings.TrimPrefix(route.Target, "!GetAtt "), ".Arn"); ok && functionTypes[t.ResourceType(id)] {
			route.Function, route.Target = id, ""
		}
		if id := t.queueID(route.Target); id != "" {
			route.Queue, route.Target = id, ""
		}
		out = append(out, route)
	}
	return out
}

// queueID is the logical id of the AWS::SQS::Queue of this template that raw ("!GetAtt
// X.Arn") names, or "".
func (t *Template) queueID(raw string) string {
	if id, ok := strings.CutSuffix(strings.TrimPrefix(raw, "!GetAtt "), ".Arn"); ok && t.ResourceType(id) == "AWS::SQS::Queue" {
		return id
	}
	return ""
}

// ResolvePattern returns a copy of an event pattern with every "!Ref X" leaf replaced by
// values[X] (parameter values, or pseudo parameters such as "AWS::AccountId"). It fails on a
// reference without a value and on any other intrinsic, so a pattern is never matched with
// unresolved text in it.
func ResolvePattern(pattern any, values map[string]string) (any, error) {
	switch p := pattern.(type) {
	case map[string]any:
		out := make(map[string]any, len(p))
		for k, v := range p {
			r, err := ResolvePattern(v, values)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(p))
		for i, v := range p {
			r, err := ResolvePattern(v, values)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case intrinsicText:
		name, ok := strings.CutPrefix(string(p), "!Ref ")
		if !ok {
			return nil, fmt.Errorf("cannot resolve %s in an event pattern", p)
		}
		v, ok := values[name]
		if !ok {
			return nil, fmt.Errorf("no value for %s", name)
		}
		return v, nil
	}
	return pattern, nil
}

// intrinsicText is an unresolved intrinsic in a decoded pattern. It is a string type so that
// a pattern prints and marshals readably, and distinct so that a literal value that merely
// starts with "!" is never taken for one.
type intrinsicText string

// decode turns a YAML value into JSON-like Go values, intrinsics into intrinsicText.
func decode(n *yaml.Node) any {
	n = resolve(n)
	if n == nil {
		return nil
	}
	if _, _, ok := intrinsic(n); ok {
		return intrinsicText(Text(n))
	}
	switch n.Kind {
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			out[n.Content[i].Value] = decode(n.Content[i+1])
		}
		return out
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			out = append(out, decode(item))
		}
		return out
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return n.Value
		}
		return v
	}
	return nil
}

func optionalText(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return Text(n)
}
