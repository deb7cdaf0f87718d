package localstack

import (
	"encoding/json"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
)

// noValue is what !Ref AWS::NoValue resolves to: the list item or mapping
// key that holds it disappears, as CloudFormation removes it.
type noValue struct{}

// value resolves a template node to a JSON value (strings, lists, maps)
// as CloudFormation would: intrinsics evaluated, AWS::NoValue removed,
// list parameters (CommaDelimitedList) expanded to lists.
func (d *deployment) value(n *yaml.Node) (any, error) {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return noValue{}, nil
	}
	if fn, arg := intrinsic(n); fn != "" {
		return d.intrinsicValue(n, fn, arg)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return d.sub(n.Value)
	case yaml.SequenceNode:
		return d.sequenceValue(n)
	case yaml.MappingNode:
		return d.mappingValue(n)
	}
	return nil, fmt.Errorf("cannot resolve a %v node", n.Kind)
}

// intrinsic names the intrinsic function n calls, in either form (the
// short !Tag or the full {"Fn::Name": arg} / {"Ref": arg}), and its
// argument; fn is "" when n is plain data.
func intrinsic(n *yaml.Node) (fn string, arg *yaml.Node) {
	switch {
	case strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!"):
		return strings.TrimPrefix(n.Tag, "!"), n
	case n.Kind == yaml.MappingNode && len(n.Content) == 2 && (n.Content[0].Value == "Ref" || strings.HasPrefix(n.Content[0].Value, "Fn::")):
		return strings.TrimPrefix(n.Content[0].Value, "Fn::"), n.Content[1]
	}
	return "", n
}

// intrinsicValue resolves n, a call of the intrinsic fn on arg. Ref,
// If and Sub are resolved here when they may give lists or drop the
// value; everything else is eval's.
func (d *deployment) intrinsicValue(n *yaml.Node, fn string, arg *yaml.Node) (any, error) {
	switch fn {
	case "Ref":
		if arg.Value == "AWS::NoValue" {
			return noValue{}, nil
		}
		if d.isList(arg.Value) {
			return d.list("!Ref " + arg.Value)
		}
	case "If":
		if arg.Kind != yaml.SequenceNode || len(arg.Content) != 3 {
			return nil, fmt.Errorf("!If takes [condition, then, else]")
		}
		ok, err := d.condition(arg.Content[0].Value)
		if err != nil {
			return nil, err
		}
		if ok {
			return d.value(arg.Content[1])
		}
		return d.value(arg.Content[2])
	case "Sub":
		if arg.Kind == yaml.SequenceNode && len(arg.Content) == 2 {
			return d.subWith(arg.Content[0].Value, arg.Content[1])
		}
	case "Split":
		return d.split(arg)
	}
	return d.eval(n)
}

// sequenceValue resolves a list: AWS::NoValue items removed, list values
// (list parameters) spliced in.
func (d *deployment) sequenceValue(n *yaml.Node) (any, error) {
	out := []any{}
	for _, c := range n.Content {
		v, err := d.value(c)
		if err != nil {
			return nil, err
		}
		switch x := v.(type) {
		case noValue:
		case []string:
			for _, s := range x {
				out = append(out, s)
			}
		default:
			out = append(out, v)
		}
	}
	return out, nil
}

// mappingValue resolves a map: keys whose value is AWS::NoValue removed.
func (d *deployment) mappingValue(n *yaml.Node) (any, error) {
	out := map[string]any{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		v, err := d.value(n.Content[i+1])
		if err != nil {
			return nil, err
		}
		if _, skip := v.(noValue); !skip {
			out[n.Content[i].Value] = v
		}
	}
	return out, nil
}

// subWith resolves !Sub [template, {Var: value}]: the map's variables
// first, then parameters, pseudo parameters and attributes.
func (d *deployment) subWith(template string, vars *yaml.Node) (string, error) {
	for i := 0; vars != nil && i+1 < len(vars.Content); i += 2 {
		v, err := d.value(vars.Content[i+1])
		if err != nil {
			return "", err
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("!Sub variable %s is not a string", vars.Content[i].Value)
		}
		template = strings.ReplaceAll(template, "${"+vars.Content[i].Value+"}", s)
	}
	return d.sub(template)
}

// isList reports whether a parameter's value is a list.
func (d *deployment) isList(name string) bool {
	for _, p := range d.tpl.Parameters() {
		if p.Name == name {
			return p.Type == "CommaDelimitedList" || strings.HasPrefix(p.Type, "List<")
		}
	}
	return false
}

// rolePolicies resolves a role's policy documents (inline and attached)
// to the JSON IAM stores.
func (d *deployment) rolePolicies(roleID string) ([]localaws.RolePolicy, error) {
	var out []localaws.RolePolicy
	for i, p := range d.tpl.PolicyDocuments(roleID) {
		name, err := d.text(p.Name)
		if err != nil || name == "" {
			name = fmt.Sprintf("policy-%d", i+1)
		}
		doc, err := d.value(p.Document)
		if err != nil {
			return nil, fmt.Errorf("resolving policy %s of %s, %w", name, roleID, err)
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("encoding policy %s of %s, %w", name, roleID, err)
		}
		out = append(out, localaws.RolePolicy{Name: name, Document: b})
	}
	return out, nil
}

// RolePolicies returns the IAM policies of every role of a template, by
// role name, resolved as CloudFormation would resolve them when the
// template is deployed as stackName in account/region with params (the
// defaults apply to parameters not given). Tests that seed a topology
// by hand give its roles the templates' policies with it.
func RolePolicies(templatePath, stackName, account, region string, params map[string]string) (map[string][]localaws.RolePolicy, error) {
	d, err := newDeployment(templatePath, stackName, account, region, params)
	if err != nil {
		return nil, err
	}
	out := map[string][]localaws.RolePolicy{}
	for _, roleID := range d.tpl.Roles() {
		if ok, err := d.created(roleID); err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue // its Condition is false: CloudFormation does not create it
		}
		name, err := d.ref(roleID)
		if err != nil {
			return nil, fmt.Errorf("naming role %s, %w", roleID, err)
		}
		if out[name], err = d.rolePolicies(roleID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// busPolicies resolves the template's AWS::Events::EventBusPolicy
// resources into one policy document per bus ARN.
func (d *deployment) busPolicies() (map[string][]byte, error) {
	statements := map[string][]any{}
	for _, id := range d.tpl.Resources("AWS::Events::EventBusPolicy") {
		bus, err := d.propertyValue(id, "EventBusName")
		if err != nil {
			return nil, err
		}
		st, err := d.value(d.tpl.PropertyNode(id, "Statement"))
		if err != nil {
			return nil, fmt.Errorf("resolving the statement of %s, %w", id, err)
		}
		m, ok := st.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: Statement is not a mapping", id)
		}
		if sid, err := d.propertyValue(id, "StatementId"); err == nil {
			m["Sid"] = sid
		}
		arn := bus
		if !strings.HasPrefix(bus, "arn:") {
			arn = d.arn("events", "event-bus/"+bus)
		}
		statements[arn] = append(statements[arn], m)
	}
	out := map[string][]byte{}
	for arn, sts := range statements {
		b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": sts})
		if err != nil {
			return nil, err
		}
		out[arn] = b
	}
	return out, nil
}

// topicPolicies resolves the template's AWS::SNS::TopicPolicy resources
// into one policy document per topic ARN: a resource's PolicyDocument
// becomes the policy of every topic its Topics lists (ARNs, as !Ref of an
// AWS::SNS::Topic gives), replacing the topic's default policy as
// CloudFormation does. Two resources naming one topic are refused: on AWS
// the later would silently replace the earlier.
func (d *deployment) topicPolicies() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, id := range d.tpl.Resources("AWS::SNS::TopicPolicy") {
		topics, err := d.value(d.tpl.PropertyNode(id, "Topics"))
		if err != nil {
			return nil, fmt.Errorf("resolving the topics of %s, %w", id, err)
		}
		list, ok := topics.([]any)
		if !ok || len(list) == 0 {
			return nil, fmt.Errorf("%s: Topics is not a list of topic ARNs", id)
		}
		doc, err := d.value(d.tpl.PropertyNode(id, "PolicyDocument"))
		if err != nil {
			return nil, fmt.Errorf("resolving the policy document of %s, %w", id, err)
		}
		if _, ok := doc.(map[string]any); !ok {
			return nil, fmt.Errorf("%s: PolicyDocument is not a mapping", id)
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("encoding the policy document of %s, %w", id, err)
		}
		for _, t := range list {
			arn, _ := t.(string)
			if !strings.HasPrefix(arn, "arn:aws:sns:") {
				return nil, fmt.Errorf("%s: topic %v is not an SNS topic ARN", id, t)
			}
			if _, dup := out[arn]; dup {
				return nil, fmt.Errorf("%s: topic %s already has a policy from another AWS::SNS::TopicPolicy", id, arn)
			}
			out[arn] = b
		}
	}
	return out, nil
}

// operatorPolicies: what cmd/agentvpcs -role-arn needs, and nothing that
// writes: the hub's service, permissions and connections (EC2 describes have
// no resource-level permissions, hence "*"), the published parameters, and
// the spoke roles, to read member accounts. An operator adds the same to
// the role they name in the member stack set's HubFunctionRoleArns.
func operatorPolicies(hub *deployment) []localaws.RolePolicy {
	prefix := strings.TrimPrefix(hub.params["ParameterPrefix"], "/")
	doc, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Sid": "SpokeRole", "Effect": "Allow", "Action": "sts:AssumeRole",
			"Resource": "arn:aws:iam::*:role/" + hub.params["SpokeRoleName"]},
		map[string]any{"Sid": "ReadService", "Effect": "Allow", "Resource": "*", "Action": []string{
			"ec2:DescribeVpcEndpointServiceConfigurations", "ec2:DescribeVpcEndpointServicePermissions",
			"ec2:DescribeVpcEndpointConnections"}},
		// GetParameter: `agentvpcs jcasc -check` reads each parameter as the
		// Jenkins secret-ssm plugin does.
		map[string]any{"Sid": "ReadParameters", "Effect": "Allow", "Action": []string{"ssm:GetParametersByPath", "ssm:GetParameters", "ssm:GetParameter"},
			"Resource": []string{
				"arn:aws:ssm:" + hub.pseudo["AWS::Region"] + ":" + hub.pseudo["AWS::AccountId"] + ":parameter/" + prefix,
				"arn:aws:ssm:" + hub.pseudo["AWS::Region"] + ":" + hub.pseudo["AWS::AccountId"] + ":parameter/" + prefix + "/*"}},
		map[string]any{"Sid": "ListParameters", "Effect": "Allow", "Action": "ssm:DescribeParameters", "Resource": "*"},
	}})
	return []localaws.RolePolicy{{Name: "read-agent-vpcs", Document: doc}}
}
