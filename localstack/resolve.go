package localstack

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/internal/templates"
)

// deployment is one template deployed as a stack in one account: what
// CloudFormation would resolve its intrinsics to. Values come back from
// internal/templates as raw text ("!Ref TagKey", "!If [C, !Ref A, !Ref B]",
// a !Sub's template string); they are parsed again as YAML and evaluated
// here with the parameters, the pseudo parameters and the physical ids of
// the resources.
type deployment struct {
	tpl        *templates.Template
	params     map[string]string
	pseudo     map[string]string
	conditions map[string]*yaml.Node
	// arns are the ARNs the local AWS gave resources created before the
	// rest (API destinations and their connections, reload.go), by
	// logical id: their ids are not known in advance.
	arns map[string]string
	// queueURLs are the URLs SQS gave the template's queues, by logical id.
	queueURLs map[string]string
}

// newDeployment loads a template and binds its parameters: overrides win
// over defaults; a parameter with neither is an error naming it.
func newDeployment(path, stackName, account, region string, overrides map[string]string) (*deployment, error) {
	tpl, err := templates.Load(path)
	if err != nil {
		return nil, err
	}
	d := &deployment{tpl: tpl, params: map[string]string{}, arns: map[string]string{}, queueURLs: map[string]string{}, pseudo: map[string]string{
		"AWS::AccountId": account, "AWS::Region": region, "AWS::StackName": stackName,
		"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": "",
	}}
	for _, p := range tpl.Parameters() {
		if v, ok := overrides[p.Name]; ok {
			d.params[p.Name] = v
		} else if p.HasDefault {
			d.params[p.Name] = p.Default
		} else {
			return nil, fmt.Errorf("deploying %s: parameter %s has no default and no value", path, p.Name)
		}
	}
	for name := range overrides {
		if _, ok := d.params[name]; !ok {
			return nil, fmt.Errorf("deploying %s: no parameter %s", path, name)
		}
	}
	// internal/templates does not expose Conditions; read them directly.
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s, %w", path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("reading conditions of %s, %w", path, err)
	}
	d.conditions = map[string]*yaml.Node{}
	if len(doc.Content) == 1 {
		root := doc.Content[0]
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value != "Conditions" {
				continue
			}
			section := root.Content[i+1]
			for j := 0; j+1 < len(section.Content); j += 2 {
				d.conditions[section.Content[j].Value] = section.Content[j+1]
			}
		}
	}
	return d, nil
}

// text evaluates raw template text (see templates.Text) to its value.
func (d *deployment) text(raw string) (string, error) {
	if !strings.HasPrefix(raw, "!") && !strings.HasPrefix(raw, "[") {
		return d.sub(raw)
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(raw), &n); err != nil {
		return "", fmt.Errorf("parsing %q, %w", raw, err)
	}
	return d.eval(n.Content[0])
}

// list evaluates text whose value is a list (a CommaDelimitedList parameter,
// a YAML sequence).
func (d *deployment) list(raw string) ([]string, error) {
	v, err := d.text(raw)
	if err != nil {
		return nil, err
	}
	if v == "" {
		return nil, nil
	}
	return strings.Split(v, ","), nil
}

// eval resolves a template node to a string: a list becomes its items
// joined by commas.
func (d *deployment) eval(n *yaml.Node) (string, error) {
	fn, arg := intrinsic(n)
	switch fn {
	case "":
		switch n.Kind {
		case yaml.ScalarNode:
			return d.sub(n.Value)
		case yaml.SequenceNode:
			parts, err := d.evalAll(n.Content)
			return strings.Join(parts, ","), err
		}
		return "", fmt.Errorf("cannot evaluate a %v node", n.Kind)
	case "Ref":
		return d.ref(arg.Value)
	case "GetAtt":
		id, attr, _ := strings.Cut(arg.Value, ".")
		if arg.Kind == yaml.SequenceNode && len(arg.Content) == 2 {
			id, attr = arg.Content[0].Value, arg.Content[1].Value
		}
		return d.attr(id, attr)
	case "Sub":
		if arg.Kind == yaml.SequenceNode && len(arg.Content) > 0 {
			return "", fmt.Errorf("!Sub with a variable map is not supported here")
		}
		return d.sub(arg.Value)
	case "If":
		return d.evalIf(arg)
	case "Join":
		if arg.Kind != yaml.SequenceNode || len(arg.Content) != 2 {
			return "", fmt.Errorf("!Join takes [delimiter, list]")
		}
		parts, err := d.strings(arg.Content[1])
		return strings.Join(parts, arg.Content[0].Value), err
	case "Split":
		parts, err := d.split(arg)
		return strings.Join(parts, ","), err
	}
	return "", fmt.Errorf("intrinsic !%s is not supported by the local stack", fn)
}

// evalIf resolves !If [condition, then, else] to a string.
func (d *deployment) evalIf(arg *yaml.Node) (string, error) {
	if arg.Kind != yaml.SequenceNode || len(arg.Content) != 3 {
		return "", fmt.Errorf("!If takes [condition, then, else]")
	}
	ok, err := d.condition(arg.Content[0].Value)
	if err != nil {
		return "", err
	}
	if ok {
		return d.eval(arg.Content[1])
	}
	return d.eval(arg.Content[2])
}

// strings resolves a node whose value is a list of strings: a YAML
// sequence (AWS::NoValue items dropped, list parameters spliced in), a
// list parameter, or an intrinsic that gives a list (!Split, !If).
func (d *deployment) strings(n *yaml.Node) ([]string, error) {
	v, err := d.value(n)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case []string:
		return x, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, item := range x {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("list item %v is not a string", item)
			}
			out = append(out, s)
		}
		return out, nil
	case string:
		return []string{x}, nil
	case noValue:
		return nil, nil
	}
	return nil, fmt.Errorf("%v is not a list of strings", v)
}

// split resolves !Split [delimiter, text] to its parts, as CloudFormation
// does: an empty text gives one empty string.
func (d *deployment) split(arg *yaml.Node) ([]string, error) {
	if arg.Kind != yaml.SequenceNode || len(arg.Content) != 2 {
		return nil, fmt.Errorf("!Split takes [delimiter, text]")
	}
	text, err := d.eval(arg.Content[1])
	if err != nil {
		return nil, err
	}
	return strings.Split(text, arg.Content[0].Value), nil
}

// evalAll resolves each node to a string, stopping at the first error.
func (d *deployment) evalAll(nodes []*yaml.Node) ([]string, error) {
	parts := make([]string, 0, len(nodes))
	for _, c := range nodes {
		v, err := d.eval(c)
		if err != nil {
			return nil, err
		}
		parts = append(parts, v)
	}
	return parts, nil
}

func (d *deployment) condition(name string) (bool, error) {
	n, ok := d.conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %s", name)
	}
	return d.boolean(n)
}

func (d *deployment) boolean(n *yaml.Node) (bool, error) {
	fn, arg := strings.TrimPrefix(n.Tag, "!"), n
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 {
		fn, arg = strings.TrimPrefix(n.Content[0].Value, "Fn::"), n.Content[1]
	}
	switch fn {
	case "Condition":
		return d.condition(arg.Value)
	case "Equals":
		if len(arg.Content) != 2 {
			return false, fmt.Errorf("!Equals takes two values")
		}
		a, err := d.eval(arg.Content[0])
		if err != nil {
			return false, err
		}
		b, err := d.eval(arg.Content[1])
		return a == b, err
	case "Not":
		v, err := d.boolean(arg.Content[0])
		return !v, err
	case "And", "Or":
		all := fn == "And"
		for _, c := range arg.Content {
			v, err := d.boolean(c)
			if err != nil {
				return false, err
			}
			if v != all {
				return v, nil
			}
		}
		return all, nil
	}
	return false, fmt.Errorf("condition function %s is not supported", fn)
}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

func (d *deployment) sub(s string) (string, error) {
	var err error
	out := subVar.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		var v string
		var e error
		if id, attr, ok := strings.Cut(name, "."); ok {
			v, e = d.attr(id, attr)
		} else {
			v, e = d.ref(name)
		}
		if e != nil && err == nil {
			err = e
		}
		return v
	})
	return out, err
}

func (d *deployment) ref(name string) (string, error) {
	if v, ok := d.pseudo[name]; ok {
		return v, nil
	}
	if v, ok := d.params[name]; ok {
		return v, nil
	}
	kind := d.tpl.ResourceType(name)
	if _, ok := d.samRule(name); ok && kind == "" {
		kind = "AWS::Events::Rule"
	}
	switch kind {
	case "":
		return "", fmt.Errorf("!Ref %s: no such parameter or resource", name)
	case "AWS::Events::EventBus":
		return d.property(name, "Name")
	case "AWS::IAM::Role":
		return d.property(name, "RoleName")
	case "AWS::Serverless::Function", "AWS::Lambda::Function":
		return d.property(name, "FunctionName")
	case "AWS::SNS::Topic":
		return d.arn("sns", d.physicalName(name)), nil
	case "AWS::SQS::Queue":
		return d.queueURL(name), nil
	}
	return d.physicalName(name), nil
}

func (d *deployment) attr(id, attr string) (string, error) {
	if d.tpl.ResourceType(id) == "AWS::SQS::Queue" {
		switch attr {
		case "Arn":
			return d.arn("sqs", d.queueName(id)), nil
		case "QueueName":
			return d.queueName(id), nil
		case "QueueUrl":
			return d.queueURL(id), nil
		}
	}
	if attr != "Arn" {
		return "", fmt.Errorf("!GetAtt %s.%s: only Arn is supported", id, attr)
	}
	if arn, ok := d.arns[id]; ok {
		return arn, nil
	}
	name, err := d.ref(id)
	if err != nil {
		return "", err
	}
	if r, ok := d.samRule(id); ok {
		return d.ruleARN(name, r.EventBus)
	}
	switch d.tpl.ResourceType(id) {
	case "AWS::Events::EventBus":
		return d.arn("events", "event-bus/"+name), nil
	case "AWS::IAM::Role":
		return "arn:aws:iam::" + d.pseudo["AWS::AccountId"] + ":role/" + name, nil
	case "AWS::Serverless::Function", "AWS::Lambda::Function":
		return d.arn("lambda", "function:"+name), nil
	case "AWS::SNS::Topic":
		return name, nil
	case "AWS::Events::Rule":
		bus, _ := d.tpl.Property(id, "EventBusName")
		return d.ruleARN(name, bus)
	}
	return d.arn(strings.ToLower(strings.Split(d.tpl.ResourceType(id), "::")[1]), name), nil
}

// samRule is the rule SAM generates for a function's EventBridgeRule or
// Schedule event, named by its logical id (<Function><Event>).
func (d *deployment) samRule(id string) (templates.Route, bool) {
	if d.tpl.ResourceType(id) != "" {
		return templates.Route{}, false
	}
	for _, r := range d.tpl.Routes() {
		if r.Name == id && r.Function != "" && (r.Kind == "EventBridgeRule" || r.Kind == "Schedule") {
			return r, true
		}
	}
	return templates.Route{}, false
}

// ruleARN is the ARN of rule name on the bus raw names ("" or default:
// the account's default bus). A rule on a custom bus is
// rule/<bus>/<name> (the rule resource types of
// ../shared/aws/iam-authorization.json, events section): the aws:SourceArn
// EventBridge presents to a queue or a dead-letter queue.
func (d *deployment) ruleARN(name, raw string) (string, error) {
	if raw != "" {
		bus, err := d.text(raw)
		if err != nil {
			return "", err
		}
		if bus = bus[strings.LastIndex(bus, "/")+1:]; bus != "" && bus != "default" {
			return d.arn("events", "rule/"+bus+"/"+name), nil
		}
	}
	return d.arn("events", "rule/"+name), nil
}

// property evaluates a resource's name property, or falls back to the
// generated physical name CloudFormation gives a resource without one.
func (d *deployment) property(id, prop string) (string, error) {
	if raw, ok := d.tpl.Property(id, prop); ok {
		return d.text(raw)
	}
	return d.physicalName(id), nil
}

func (d *deployment) physicalName(id string) string { return d.pseudo["AWS::StackName"] + "-" + id }

func (d *deployment) arn(service, resource string) string {
	return "arn:aws:" + service + ":" + d.pseudo["AWS::Region"] + ":" + d.pseudo["AWS::AccountId"] + ":" + resource
}
