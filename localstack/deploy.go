package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/internal/templates"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
)

// AdminConfig is an SDK configuration for an account's administrator on
// the local AWS (access key id = account id).
func AdminConfig(url, region, account string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(account, "local", ""),
		BaseEndpoint: aws.String(url),
	}
}

// DeployOptions say what Deploy deploys, and where.
type DeployOptions struct {
	RepoRoot string // holds template.yaml and member-template.yaml; default: found from the working directory
	// Topology supplies the Region, the organization and the hub's endpoint
	// service (template parameters OrganizationId and EndpointServiceId),
	// and, unless Members is set, the member accounts (every account but
	// the hub). It is not seeded: the server already holds it.
	Topology   *localaws.Topology
	HubAccount string // default 111111111111
	// Members are the accounts that get member-template.yaml (the spoke
	// role and the forwarding rules); nil means the topology's others.
	Members []string
	// Parameters override template.yaml's parameters (SpokeExternalId
	// defaults to ExternalID).
	Parameters map[string]string
	// Secrets are the Secrets Manager secrets the templates' dynamic
	// references read, by name (the local AWS has no Secrets Manager).
	Secrets map[string]string
}

// Deployment is what Deploy put into the local AWS.
type Deployment struct {
	Region string
	// Regions are the Regions served: the hub's first, then every other
	// Region a VPC of the topology is in (see Regions).
	Regions []string
	Hub     string
	Members []string
	// Parameters are the hub template's resolved parameters.
	Parameters map[string]string
	Routes     []route
	// Queues are the template's queues' URLs by logical id.
	Queues map[string]string
	// Pipes are the template's pipes (the caller runs them: Pipe).
	Pipes []PipeSpec
}

// Deploy creates in srv (served at url) what the product's templates
// create that the local AWS models, as Start does for the local stack, but
// starts no function: template.yaml in the hub (function roles, central
// bus, connection notification, the rules routing events to the
// functions) and member-template.yaml in each member (spoke role with its
// trust and external id, the rules forwarding VPC events to the hub bus).
// Tests use it to run the functions' code in-process against the same
// deployment.
func Deploy(ctx context.Context, srv *localaws.Server, url string, opts DeployOptions) (*Deployment, error) {
	var err error
	if opts.RepoRoot == "" {
		wd, _ := os.Getwd()
		if opts.RepoRoot, err = RepoRoot(wd); err != nil {
			return nil, err
		}
	}
	topo := opts.Topology
	if topo == nil {
		topo = &localaws.Topology{}
	}
	regions := Regions(topo)
	t := &target{AWS: srv, URL: url, Region: regions[0], Regions: regions, Hub: or(opts.HubAccount, HubAccount), Members: opts.Members, RepoRoot: opts.RepoRoot, Secrets: opts.Secrets}
	if t.Members == nil {
		for _, a := range topo.Accounts {
			if a.ID != t.Hub {
				t.Members = append(t.Members, a.ID)
			}
		}
	}
	hub, err := newHubDeployment(opts.RepoRoot, t.Hub, topo, opts.Parameters)
	if err != nil {
		return nil, err
	}
	routes, err := t.deploy(ctx, hub)
	if err != nil {
		return nil, err
	}
	pipes, err := pipeSpecs(hub)
	if err != nil {
		return nil, err
	}
	return &Deployment{Region: t.Region, Regions: regions, Hub: t.Hub, Members: t.Members, Parameters: hub.params, Routes: routes, Queues: hub.queueURLs, Pipes: pipes}, nil
}

// Regions are the Regions a topology's agent VPCs are in, the Regions the
// local stack serves: the topology's Region (the hub's; us-east-1 when
// unset) first, then every other Region a VPC names, sorted.
func Regions(topo *localaws.Topology) []string {
	hub := or(topo.Region, "us-east-1")
	var other []string
	for _, a := range topo.Accounts {
		for _, v := range a.VPCs {
			if v.Region != "" && v.Region != hub && !slices.Contains(other, v.Region) {
				other = append(other, v.Region)
			}
		}
	}
	slices.Sort(other)
	return append([]string{hub}, other...)
}

// newHubDeployment binds template.yaml's parameters for the topology (see
// hubParameters) in the hub's Region. A topology with VPCs in other
// Regions sets AgentRegions to them, when the template has that parameter
// and the overrides do not set it.
func newHubDeployment(repoRoot, hubAccount string, topo *localaws.Topology, overrides map[string]string) (*deployment, error) {
	path := filepath.Join(repoRoot, "template.yaml")
	params := hubParameters(topo, hubAccount, overrides)
	regions := Regions(topo)
	if _, set := params["AgentRegions"]; !set && len(regions) > 1 {
		tpl, err := templates.Load(path)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(tpl.Parameters(), func(p templates.Parameter) bool { return p.Name == "AgentRegions" }) {
			params["AgentRegions"] = strings.Join(regions[1:], ",")
		}
	}
	return newDeployment(path, StackName, hubAccount, regions[0], params)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// hubParameters are template.yaml's parameters for a topology: the
// external id of the local deployment, the organization and the hub's
// first endpoint service, then the overrides.
func hubParameters(topo *localaws.Topology, hubAccount string, overrides map[string]string) map[string]string {
	params := map[string]string{"SpokeExternalId": ExternalID}
	if topo.Organization != nil {
		params["OrganizationId"] = topo.Organization.ID
	}
	for _, a := range topo.Accounts {
		if a.ID == hubAccount && len(a.EndpointServices) > 0 {
			params["EndpointServiceId"] = a.EndpointServices[0].ID
		}
	}
	for k, v := range overrides {
		params[k] = v
	}
	return params
}

// target is a local AWS the templates are deployed into.
type target struct {
	AWS    *localaws.Server
	URL    string
	Region string // the hub's
	// Regions are the Regions served, the hub's first: each member
	// account gets the member template in each.
	Regions  []string
	Hub      string
	Members  []string
	RepoRoot string
	Secrets  map[string]string // see DeployOptions.Secrets
}

// deploy deploys the hub template, then the member template in every member.
func (s *target) deploy(ctx context.Context, hub *deployment) ([]route, error) {
	routes, err := s.deployHub(ctx, hub)
	if err != nil {
		return nil, fmt.Errorf("deploying template.yaml, %w", err)
	}
	if err := s.deployMembers(ctx, hub); err != nil {
		return nil, err
	}
	return routes, nil
}

// route is one deployed event route of the hub template: to a function,
// or to a queue; or, for Kind SQS, a function's event source mapping.
type route struct {
	Name     string // the rule's physical name, the topic ARN, or the SQS event's logical id
	Kind     string // EventBridgeRule, Schedule, SNS, SQS
	Bus      string
	Schedule string
	Topic    string
	Function string // logical id ("" for a rule whose target is a queue)
	// Queue is the queue the rule targets or, for Kind SQS, the queue
	// polled: its logical id, ARN and URL.
	Queue, QueueARN, QueueURL string
	// Mapping is the event source mapping of Kind SQS.
	Mapping mappingSettings
}

// mappingSettings are an SQS event's settings, resolved, with Lambda's
// defaults where the template has none (BatchSize 10, no batching window;
// MaximumConcurrency unset lets Lambda scale to 1,000, which the local
// stack caps at the function's execution environments).
type mappingSettings struct {
	BatchSize               int
	BatchingWindowSeconds   int
	MaximumConcurrency      int
	ReportBatchItemFailures bool
}

// deployHub creates what template.yaml creates that the local AWS needs:
// the function roles, the central bus and its policy, the connection
// topic's policy and notification, and the rules that route events to the
// functions. It returns the routes.
func (s *target) deployHub(ctx context.Context, hub *deployment) ([]route, error) {
	cfg := AdminConfig(s.URL, s.Region, s.Hub)
	events := eventbridge.NewFromConfig(cfg)
	if err := s.createAPIDestinations(ctx, events, hub); err != nil {
		return nil, err
	}
	if err := s.createHubRoles(hub); err != nil {
		return nil, err
	}
	if err := s.putHubPolicies(hub); err != nil {
		return nil, err
	}
	if err := createBuses(ctx, events, hub); err != nil {
		return nil, err
	}
	queues := sqs.NewFromConfig(cfg)
	if err := createQueues(ctx, queues, hub); err != nil {
		return nil, err
	}
	// A new queue cannot be used for a second (SQS API Reference,
	// CreateQueue); a CloudFormation deployment takes longer than that, so
	// the deploy lets the local AWS's time pass rather than wait for it
	// (and the in-process harness's clock may be stopped).
	s.AWS.Clock().Skip(queueCreationDelay)
	if err := awaitQueues(ctx, queues, hub.queueURLs); err != nil {
		return nil, err
	}
	if err := setQueuePolicies(ctx, queues, hub); err != nil {
		return nil, err
	}
	if err := createConnectionNotifications(ctx, ec2.NewFromConfig(cfg), hub); err != nil {
		return nil, err
	}
	if err := s.supportRegions(ctx, ec2.NewFromConfig(cfg), hub.params["EndpointServiceId"]); err != nil {
		return nil, err
	}
	if err := s.putAPIDestinationRules(ctx, events, hub); err != nil {
		return nil, err
	}
	return deployRoutes(ctx, events, hub)
}

// createHubRoles creates the hub template's roles, trusting the services
// their trust policies name.
func (s *target) createHubRoles(hub *deployment) error {
	var roles []localaws.Role
	for _, roleID := range hub.tpl.Roles() {
		if ok, err := hub.created(roleID); err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		name, err := hub.ref(roleID)
		if err != nil {
			return fmt.Errorf("naming role %s, %w", roleID, err)
		}
		var principals []string
		for _, st := range hub.tpl.Trust(roleID) {
			principals = append(principals, st.Principals["Service"]...)
		}
		policies, err := hub.rolePolicies(roleID)
		if err != nil {
			return err
		}
		roles = append(roles, localaws.Role{Name: name, MaxSessionDuration: 43200, Trust: localaws.Trust{Principals: principals}, Policies: policies})
	}
	if err := s.AWS.Seed(&localaws.Topology{Region: s.Region, Accounts: []localaws.Account{{ID: s.Hub, Roles: roles}}}); err != nil {
		return fmt.Errorf("creating the hub roles, %w", err)
	}
	return nil
}

// putHubPolicies sets the resource policies of the hub's buses and topics.
func (s *target) putHubPolicies(hub *deployment) error {
	busPolicies, err := hub.busPolicies()
	if err != nil {
		return err
	}
	for arn, doc := range busPolicies {
		if err := s.AWS.PutResourcePolicy(arn, doc); err != nil {
			return fmt.Errorf("setting the policy of %s, %w", arn, err)
		}
	}
	// The connection topic's policy lets PrivateLink publish the endpoint
	// service's notifications; without it the local AWS drops them, as
	// SNS refuses them.
	topicPolicies, err := hub.topicPolicies()
	if err != nil {
		return err
	}
	for arn, doc := range topicPolicies {
		if err := s.AWS.PutResourcePolicy(arn, doc); err != nil {
			return fmt.Errorf("setting the policy of topic %s, %w", arn, err)
		}
	}
	return nil
}

// supportRegions makes the hub's existing endpoint service (the
// topology's, EndpointServiceId) accept endpoints from the other served
// Regions, as the README's deployment asks of whoever owns the service:
// ModifyVpcEndpointServiceConfiguration AddSupportedRegion (EC2 API
// Reference; the service's own Region is always supported). Regions
// already supported are left alone, so a template that enables them itself
// is not contradicted.
func (s *target) supportRegions(ctx context.Context, ec2c *ec2.Client, serviceID string) error {
	if serviceID == "" || len(s.Regions) < 2 {
		return nil
	}
	out, err := ec2c.DescribeVpcEndpointServiceConfigurations(ctx, &ec2.DescribeVpcEndpointServiceConfigurationsInput{ServiceIds: []string{serviceID}})
	if err != nil {
		return fmt.Errorf("describing endpoint service %s, %w", serviceID, err)
	}
	var supported []string
	for _, c := range out.ServiceConfigurations {
		for _, r := range c.SupportedRegions {
			supported = append(supported, aws.ToString(r.Region))
		}
	}
	var add []string
	for _, r := range s.Regions[1:] {
		if !slices.Contains(supported, r) {
			add = append(add, r)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if _, err := ec2c.ModifyVpcEndpointServiceConfiguration(ctx, &ec2.ModifyVpcEndpointServiceConfigurationInput{ServiceId: aws.String(serviceID), AddSupportedRegions: add}); err != nil {
		return fmt.Errorf("adding supported Regions %v to endpoint service %s, %w", add, serviceID, err)
	}
	return nil
}

// createBuses creates the template's event buses; one that exists is kept.
func createBuses(ctx context.Context, events *eventbridge.Client, hub *deployment) error {
	for _, id := range hub.tpl.Resources("AWS::Events::EventBus") {
		name, err := hub.ref(id)
		if err != nil {
			return err
		}
		if _, err := events.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(name)}); err != nil && !strings.Contains(err.Error(), "ResourceAlreadyExists") {
			return fmt.Errorf("creating bus %s, %w", name, err)
		}
	}
	return nil
}

// createConnectionNotifications subscribes the template's topics to its
// endpoint services' connection events.
func createConnectionNotifications(ctx context.Context, ec2c *ec2.Client, hub *deployment) error {
	for _, id := range hub.tpl.Resources("AWS::EC2::VPCEndpointConnectionNotification") {
		service, err := hub.propertyValue(id, "ServiceId")
		if err != nil {
			return err
		}
		topic, err := hub.propertyValue(id, "ConnectionNotificationArn")
		if err != nil {
			return err
		}
		kinds, err := hub.propertyValue(id, "ConnectionEvents")
		if err != nil {
			return err
		}
		if _, err := ec2c.CreateVpcEndpointConnectionNotification(ctx, &ec2.CreateVpcEndpointConnectionNotificationInput{
			ServiceId: aws.String(service), ConnectionNotificationArn: aws.String(topic), ConnectionEvents: strings.Split(kinds, ","),
		}); err != nil {
			return fmt.Errorf("creating the connection notification of %s to %s, %w", service, topic, err)
		}
	}
	return nil
}

// deployRoutes puts the rules that route events and schedules to the
// functions and the queues, and returns every route, SNS subscriptions and
// SQS event source mappings included (the stack runs those itself).
func deployRoutes(ctx context.Context, events *eventbridge.Client, hub *deployment) ([]route, error) {
	var out []route
	for _, r := range hub.tpl.Routes() {
		if r.Function == "" && r.Queue == "" {
			continue
		}
		// A rule whose Condition is false does not exist; one with targets
		// beyond an ARN is putAPIDestinationRules' (reload.go).
		if ok, err := hub.created(r.Name); err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		if full, err := hasResolvedTargets(hub, r.Name); hub.tpl.ResourceType(r.Name) == "AWS::Events::Rule" && (err != nil || full) {
			if err != nil {
				return nil, err
			}
			continue
		}
		rt, err := hubRoute(hub, r)
		if err != nil {
			return nil, err
		}
		target := rt.QueueARN
		if r.Function != "" {
			if target, err = hub.attr(r.Function, "Arn"); err != nil {
				return nil, err
			}
		}
		if r.Kind != "SNS" && r.Kind != "SQS" {
			if err := putRule(ctx, events, hub, r, rt.Name, rt.Bus, rt.Schedule, target, ""); err != nil {
				return nil, err
			}
		}
		out = append(out, rt)
	}
	return out, nil
}

// hubRoute is the route r of the hub template, its names resolved: an SNS
// route is named by its topic, a rule by its physical name.
func hubRoute(hub *deployment, r templates.Route) (route, error) {
	rt := route{Name: ruleName(hub.physicalName(r.Name)), Kind: r.Kind, Function: r.Function, Bus: "default", Queue: r.Queue}
	var err error
	if r.Queue != "" {
		rt.QueueURL = hub.queueURL(r.Queue)
		if rt.QueueARN, err = hub.attr(r.Queue, "Arn"); err != nil {
			return route{}, err
		}
	}
	switch r.Kind {
	case "SQS":
		rt.Name = r.Name
		if rt.Mapping, err = hub.mappingSettings(r.Polling); err != nil {
			return route{}, fmt.Errorf("reading the event source mapping %s, %w", r.Name, err)
		}
	case "SNS":
		if rt.Topic, err = hub.text(r.Topic); err != nil {
			return route{}, err
		}
		rt.Name = rt.Topic
	case "Schedule":
		if rt.Schedule, err = hub.text(r.Schedule); err != nil {
			return route{}, err
		}
	case "EventBridgeRule":
		if r.EventBus != "" {
			if rt.Bus, err = hub.text(r.EventBus); err != nil {
				return route{}, err
			}
		}
	}
	return rt, nil
}

// deployMember creates what member-template.yaml creates in one member
// account and Region: the spoke role (trust and external id from the
// template) and the forwarding role, where the template's condition
// creates them (the hub's Region), and the default-bus rules forwarding VPC
// events to the hub bus.
func (s *target) deployMember(ctx context.Context, member *deployment, account, region string) error {
	var roles []localaws.Role
	for _, roleID := range member.tpl.Roles() {
		// The roles are global: only the hub Region's stack instance
		// creates them (the template's condition).
		if ok, err := member.created(roleID); err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		name, err := member.ref(roleID)
		if err != nil {
			return err
		}
		role := localaws.Role{Name: name}
		if role.Policies, err = member.rolePolicies(roleID); err != nil {
			return err
		}
		if raw, ok := member.tpl.Property(roleID, "MaxSessionDuration"); ok {
			role.MaxSessionDuration, _ = strconv.Atoi(raw)
		}
		for _, st := range member.tpl.Trust(roleID) {
			for _, p := range st.Principals["AWS"] {
				l, err := member.list(p)
				if err != nil {
					return fmt.Errorf("reading the trust of %s, %w", roleID, err)
				}
				role.Trust.Principals = append(role.Trust.Principals, l...)
			}
			role.Trust.Principals = append(role.Trust.Principals, st.Principals["Service"]...)
			for _, raw := range st.Conditions["StringEquals"]["sts:ExternalId"] {
				if role.Trust.ExternalID, err = member.text(raw); err != nil {
					return err
				}
			}
		}
		roles = append(roles, role)
	}
	if len(roles) > 0 {
		if err := s.AWS.Seed(&localaws.Topology{Region: region, Accounts: []localaws.Account{{ID: account, Roles: roles}}}); err != nil {
			return fmt.Errorf("creating the roles of %s, %w", account, err)
		}
	}
	events := eventbridge.NewFromConfig(AdminConfig(s.URL, region, account))
	for _, r := range member.tpl.Routes() {
		if r.Kind != "EventBridgeRule" || r.Target == "" {
			continue
		}
		target, err := member.text(r.Target)
		if err != nil {
			return err
		}
		roleARN := ""
		if r.RoleArn != "" {
			if roleARN, err = member.text(r.RoleArn); err != nil {
				return err
			}
		}
		if err := putRule(ctx, events, member, r, ruleName(member.physicalName(r.Name)), "default", "", target, roleARN); err != nil {
			return fmt.Errorf("deploying %s in %s %s, %w", r.Name, account, region, err)
		}
	}
	return nil
}

func putRule(ctx context.Context, events *eventbridge.Client, d *deployment, r templates.Route, name, bus, schedule, targetARN, roleARN string) error {
	in := &eventbridge.PutRuleInput{Name: aws.String(name), EventBusName: aws.String(bus), State: ebtypes.RuleStateEnabled}
	if schedule != "" {
		in.ScheduleExpression = aws.String(schedule)
	}
	if r.Pattern != nil {
		pattern, err := d.eventPattern(r)
		if err != nil {
			return err
		}
		in.EventPattern = aws.String(pattern)
	}
	if _, err := events.PutRule(ctx, in); err != nil {
		return fmt.Errorf("creating rule %s on bus %s, %w", name, bus, err)
	}
	target := ebtypes.Target{Id: aws.String("target"), Arn: aws.String(targetARN)}
	if roleARN != "" {
		target.RoleArn = aws.String(roleARN)
	}
	if r.DeadLetter != "" {
		dlq, err := d.text(r.DeadLetter)
		if err != nil {
			return fmt.Errorf("resolving the dead-letter queue of %s, %w", r.Name, err)
		}
		target.DeadLetterConfig = &ebtypes.DeadLetterConfig{Arn: aws.String(dlq)}
	}
	out, err := events.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), EventBusName: aws.String(bus), Targets: []ebtypes.Target{target}})
	if err != nil {
		return fmt.Errorf("adding target %s to rule %s, %w", targetARN, name, err)
	}
	if out.FailedEntryCount > 0 {
		return fmt.Errorf("adding target %s to rule %s: %s", targetARN, name, aws.ToString(out.FailedEntries[0].ErrorMessage))
	}
	return nil
}

// ruleName keeps a generated name within EventBridge's 64 characters.
func ruleName(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}

// mappingSettings resolves an SQS event's settings.
// eventPattern is route r's pattern as PutRule takes it, its references
// to the template's parameters and pseudo parameters filled in.
func (d *deployment) eventPattern(r templates.Route) (string, error) {
	values := map[string]string{}
	maps.Copy(values, d.params)
	maps.Copy(values, d.pseudo)
	pattern, err := templates.ResolvePattern(r.Pattern, values)
	if err != nil {
		return "", fmt.Errorf("resolving the pattern of %s, %w", r.Name, err)
	}
	b, err := json.Marshal(pattern)
	if err != nil {
		return "", fmt.Errorf("encoding the pattern of %s, %w", r.Name, err)
	}
	return string(b), nil
}

func (d *deployment) mappingSettings(p templates.Polling) (mappingSettings, error) {
	m := mappingSettings{BatchSize: 10, ReportBatchItemFailures: p.ReportBatchItemFailures}
	for _, f := range []struct {
		raw string
		to  *int
	}{{p.BatchSize, &m.BatchSize}, {p.BatchingWindow, &m.BatchingWindowSeconds}, {p.MaximumConcurrency, &m.MaximumConcurrency}} {
		if f.raw == "" {
			continue
		}
		v, err := d.text(f.raw)
		if err != nil {
			return m, err
		}
		if *f.to, err = strconv.Atoi(v); err != nil {
			return m, fmt.Errorf("%s is %q, not a number", f.raw, v)
		}
	}
	return m, nil
}

// propertyValue evaluates a resource property.
func (d *deployment) propertyValue(id, prop string) (string, error) {
	raw, ok := d.tpl.Property(id, prop)
	if !ok {
		return "", fmt.Errorf("%s has no %s", id, prop)
	}
	return d.text(raw)
}
