package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"gopkg.in/yaml.v3"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/internal/templates"
)

// The Jenkins reload section of template.yaml (JenkinsUrl set): the
// connection holding the reload token, the API destination, the fold queue
// the rule on the hub bus sends to, and the pipe from that queue to the
// destination (pipe.go). The connection and destination are created before
// the hub's roles, so the pipe role's policy names the destination's real
// ARN; the rule after the buses and queues.

// DefaultReloadTokenSecret is the Secrets Manager secret name the local
// stack gives template.yaml's JenkinsReloadTokenSecret when Options.Jenkins
// is set and the parameter is not.
const DefaultReloadTokenSecret = "jenkins-agent-vpcs/casc-reload-token"

// reloadDefaults points the template at opts.Jenkins: JenkinsUrl is its
// URL and the token secret holds its token, unless opts says otherwise
// (a test of a wrong token sets Secrets itself).
func (opts *Options) reloadDefaults() {
	if opts.Jenkins == nil {
		return
	}
	params := maps.Clone(opts.Parameters)
	if params == nil {
		params = map[string]string{}
	}
	if params["JenkinsUrl"] == "" {
		params["JenkinsUrl"] = opts.Jenkins.URL
	}
	if params["JenkinsReloadTokenSecret"] == "" {
		params["JenkinsReloadTokenSecret"] = DefaultReloadTokenSecret
	}
	secrets := maps.Clone(opts.Secrets)
	if secrets == nil {
		secrets = map[string]string{}
	}
	if _, ok := secrets[params["JenkinsReloadTokenSecret"]]; !ok {
		secrets[params["JenkinsReloadTokenSecret"]] = opts.Jenkins.Token
	}
	opts.Parameters, opts.Secrets = params, secrets
}

// created says whether CloudFormation creates resource id: it has no
// Condition, or its Condition holds. (internal/templates does not expose
// resource conditions; they are read from the file.)
func (d *deployment) created(id string) (bool, error) {
	raw, err := os.ReadFile(d.tpl.Path)
	if err != nil {
		return false, fmt.Errorf("reading %s, %w", d.tpl.Path, err)
	}
	var doc struct {
		Resources map[string]struct {
			Condition string `yaml:"Condition"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return false, fmt.Errorf("reading the conditions of %s, %w", d.tpl.Path, err)
	}
	cond := doc.Resources[id].Condition
	if cond == "" {
		return true, nil
	}
	return d.condition(cond)
}

var secretReference = regexp.MustCompile(`\{\{resolve:secretsmanager:([^:}]+)\}\}`)

// resolveSecrets replaces Secrets Manager dynamic references (whole
// SecretString) with the secrets' values, as CloudFormation does at
// deploy time; an unknown secret fails the deployment, as it fails the
// stack.
func (s *target) resolveSecrets(v string) (string, error) {
	var missing string
	out := secretReference.ReplaceAllStringFunc(v, func(ref string) string {
		name := secretReference.FindStringSubmatch(ref)[1]
		val, ok := s.Secrets[name]
		if !ok {
			missing = name
		}
		return val
	})
	if missing != "" {
		return "", fmt.Errorf("secret %s does not exist (no value in the local stack's Secrets)", missing)
	}
	return out, nil
}

// createAPIDestinations creates the template's connections and API
// destinations whose conditions hold and records their ARNs for !GetAtt.
func (s *target) createAPIDestinations(ctx context.Context, events *eventbridge.Client, hub *deployment) error {
	for _, id := range hub.tpl.Resources("AWS::Events::Connection") {
		if ok, err := hub.created(id); err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		in, err := s.connectionInput(hub, id)
		if err != nil {
			return fmt.Errorf("resolving connection %s, %w", id, err)
		}
		out, err := events.CreateConnection(ctx, in)
		if err != nil {
			return fmt.Errorf("creating connection %s, %w", id, err)
		}
		hub.arns[id] = aws.ToString(out.ConnectionArn)
	}
	for _, id := range hub.tpl.Resources("AWS::Events::ApiDestination") {
		if ok, err := hub.created(id); err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		in, err := apiDestinationInput(hub, id)
		if err != nil {
			return fmt.Errorf("resolving API destination %s, %w", id, err)
		}
		out, err := events.CreateApiDestination(ctx, in)
		if err != nil {
			return fmt.Errorf("creating API destination %s, %w", id, err)
		}
		hub.arns[id] = aws.ToString(out.ApiDestinationArn)
	}
	return nil
}

// connectionInput is the CreateConnection call of connection id, its
// dynamic references resolved.
func (s *target) connectionInput(hub *deployment, id string) (*eventbridge.CreateConnectionInput, error) {
	authType, err := hub.propertyValue(id, "AuthorizationType")
	if err != nil {
		return nil, err
	}
	v, err := hub.value(hub.tpl.PropertyNode(id, "AuthParameters"))
	if err != nil {
		return nil, err
	}
	auth, _ := v.(map[string]any)
	in := &eventbridge.CreateConnectionInput{Name: aws.String(hub.physicalName(id)), AuthorizationType: ebtypes.ConnectionAuthorizationType(authType),
		AuthParameters: &ebtypes.CreateConnectionAuthRequestParameters{}}
	if key, ok := auth["ApiKeyAuthParameters"].(map[string]any); ok {
		value, err := s.resolveSecrets(fmt.Sprint(key["ApiKeyValue"]))
		if err != nil {
			return nil, err
		}
		in.AuthParameters.ApiKeyAuthParameters = &ebtypes.CreateConnectionApiKeyAuthRequestParameters{
			ApiKeyName: aws.String(fmt.Sprint(key["ApiKeyName"])), ApiKeyValue: aws.String(value)}
	}
	if h, ok := auth["InvocationHttpParameters"].(map[string]any); ok {
		in.AuthParameters.InvocationHttpParameters = &ebtypes.ConnectionHttpParameters{}
		params, _ := h["QueryStringParameters"].([]any)
		for _, p := range params {
			m, _ := p.(map[string]any)
			value, err := s.resolveSecrets(fmt.Sprint(m["Value"]))
			if err != nil {
				return nil, err
			}
			in.AuthParameters.InvocationHttpParameters.QueryStringParameters = append(in.AuthParameters.InvocationHttpParameters.QueryStringParameters,
				ebtypes.ConnectionQueryStringParameter{Key: aws.String(fmt.Sprint(m["Key"])), Value: aws.String(value), IsValueSecret: fmt.Sprint(m["IsValueSecret"]) == "true"})
		}
	}
	return in, nil
}

func apiDestinationInput(hub *deployment, id string) (*eventbridge.CreateApiDestinationInput, error) {
	in := &eventbridge.CreateApiDestinationInput{Name: aws.String(hub.physicalName(id))}
	for prop, dst := range map[string]**string{"ConnectionArn": &in.ConnectionArn, "InvocationEndpoint": &in.InvocationEndpoint} {
		v, err := hub.propertyValue(id, prop)
		if err != nil {
			return nil, err
		}
		*dst = aws.String(v)
	}
	method, err := hub.propertyValue(id, "HttpMethod")
	if err != nil {
		return nil, err
	}
	in.HttpMethod = ebtypes.ApiDestinationHttpMethod(method)
	if raw, ok := hub.tpl.Property(id, "InvocationRateLimitPerSecond"); ok {
		v, err := hub.text(raw)
		if err != nil {
			return nil, err
		}
		rate, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("InvocationRateLimitPerSecond %q is not a number", v)
		}
		in.InvocationRateLimitPerSecond = aws.Int32(int32(rate))
	}
	return in, nil
}

// putAPIDestinationRules puts the template's AWS::Events::Rule resources
// whose conditions hold and whose targets are more than an ARN (see
// resolvedTargets): API destinations with their roles, retry policies and
// dead-letter queues, and SQS FIFO queues with their Input and
// SqsParameters. deployRoutes leaves these rules to it.
func (s *target) putAPIDestinationRules(ctx context.Context, events *eventbridge.Client, hub *deployment) error {
	for _, r := range hub.tpl.Routes() {
		if hub.tpl.ResourceType(r.Name) != "AWS::Events::Rule" || r.Function != "" {
			continue
		}
		if ok, err := hub.created(r.Name); err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		targets, err := resolvedTargets(hub, r.Name)
		if err != nil || len(targets) == 0 {
			if err != nil {
				return fmt.Errorf("resolving the targets of %s, %w", r.Name, err)
			}
			continue
		}
		if err := putRuleWithTargets(ctx, events, hub, r, targets); err != nil {
			return err
		}
	}
	return nil
}

// ruleTarget is a resolved AWS::Events::Rule target, as JSON: the SDK's
// Target but for the numbers and booleans the resolver gives as text.
type ruleTarget struct {
	ID               string `json:"Id"`
	Arn, RoleArn     string
	Input            string
	RetryPolicy      map[string]string
	DeadLetterConfig struct{ Arn string }
	SqsParameters    struct{ MessageGroupId string } //nolint:revive // the CloudFormation property's name
}

// resolvedTargets are rule id's targets that need more than deployRoutes
// gives a target (an ARN, a role and a dead-letter queue): API destinations
// of the template, and targets with an Input or SqsParameters. Nil when the
// rule has none.
func resolvedTargets(hub *deployment, id string) ([]ebtypes.Target, error) {
	v, err := hub.value(hub.tpl.PropertyNode(id, "Targets"))
	if err != nil {
		return nil, err
	}
	list, _ := v.([]any)
	var out []ebtypes.Target
	for _, item := range list {
		m, _ := item.(map[string]any)
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		var t ruleTarget
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, err
		}
		isAPI := hub.tpl.ResourceType(keyOf(hub.arns, t.Arn)) == "AWS::Events::ApiDestination"
		if !isAPI && t.Input == "" && t.SqsParameters.MessageGroupId == "" {
			continue
		}
		out = append(out, sdkTarget(t))
	}
	return out, nil
}

// hasResolvedTargets says whether rule id is one putAPIDestinationRules puts.
func hasResolvedTargets(hub *deployment, id string) (bool, error) {
	targets, err := resolvedTargets(hub, id)
	return len(targets) > 0, err
}

func sdkTarget(t ruleTarget) ebtypes.Target {
	target := ebtypes.Target{Id: aws.String(t.ID), Arn: aws.String(t.Arn)}
	if t.RoleArn != "" {
		target.RoleArn = aws.String(t.RoleArn)
	}
	if t.Input != "" {
		target.Input = aws.String(t.Input)
	}
	if t.SqsParameters.MessageGroupId != "" {
		target.SqsParameters = &ebtypes.SqsParameters{MessageGroupId: aws.String(t.SqsParameters.MessageGroupId)}
	}
	if t.DeadLetterConfig.Arn != "" {
		target.DeadLetterConfig = &ebtypes.DeadLetterConfig{Arn: aws.String(t.DeadLetterConfig.Arn)}
	}
	if p := t.RetryPolicy; p != nil {
		target.RetryPolicy = &ebtypes.RetryPolicy{}
		if n, err := strconv.Atoi(p["MaximumRetryAttempts"]); err == nil {
			target.RetryPolicy.MaximumRetryAttempts = aws.Int32(int32(n))
		}
		if n, err := strconv.Atoi(p["MaximumEventAgeInSeconds"]); err == nil {
			target.RetryPolicy.MaximumEventAgeInSeconds = aws.Int32(int32(n))
		}
	}
	return target
}

// keyOf is the key of value v in m, "" when none.
func keyOf(m map[string]string, v string) string {
	for k, x := range m {
		if x == v {
			return k
		}
	}
	return ""
}

func putRuleWithTargets(ctx context.Context, events *eventbridge.Client, hub *deployment, r templates.Route, targets []ebtypes.Target) error {
	bus, err := hub.text(r.EventBus)
	if err != nil {
		return err
	}
	pattern, err := hub.eventPattern(r)
	if err != nil {
		return err
	}
	name := ruleName(hub.physicalName(r.Name))
	if _, err := events.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventBusName: aws.String(bus),
		EventPattern: aws.String(pattern), State: ebtypes.RuleStateEnabled}); err != nil {
		return fmt.Errorf("creating rule %s on bus %s, %w", name, bus, err)
	}
	out, err := events.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), EventBusName: aws.String(bus), Targets: targets})
	if err != nil {
		return fmt.Errorf("adding the targets of rule %s, %w", name, err)
	}
	if out.FailedEntryCount > 0 {
		return fmt.Errorf("adding the targets of rule %s: %s", name, aws.ToString(out.FailedEntries[0].ErrorMessage))
	}
	return nil
}
