package templates

import (
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The product's templates, relative to this package.
const (
	hubPath    = "../../template.yaml"
	memberPath = "../../member-template.yaml"
)

func loadProduct(t *testing.T) (hub, member *Template) {
	t.Helper()
	hub, err := Load(hubPath)
	if err != nil {
		t.Fatal(err)
	}
	member, err = Load(memberPath)
	if err != nil {
		t.Fatal(err)
	}
	return hub, member
}

// unscopable are the only actions allowed on Resource "*": EC2 and SSM have no
// resource-level permissions for these Describe calls.
var unscopable = []string{
	"ec2:DescribeVpcs",
	"ec2:DescribeSubnets",
	"ec2:DescribeSecurityGroups",
	"ec2:DescribeVpcEndpoints",
	"ec2:DescribeVpcEndpointServiceConfigurations",
	"ec2:DescribeVpcEndpointServicePermissions",
	"ec2:DescribeVpcEndpointConnections",
	"ssm:DescribeParameters",
}

// hubEnv is the environment every function reads; reconcileEnv what the reconciler adds.
var (
	hubEnv = []string{
		"TAG_KEY", "TAG_VALUE", "SUBNET_TAG_KEY", "ENDPOINT_SERVICE_ID", "SPOKE_ROLE_NAME",
		"SPOKE_EXTERNAL_ID", "TUNNEL_PORT", "HTTP_PORT", "PARAMETER_PREFIX", "PRINCIPAL_MODE",
		"APPROVAL_MODE", "ALLOWED_ACCOUNTS", "DENIED_ACCOUNTS", "EVENT_BUS_NAME", "LOG_LEVEL",
	}
	reconcileEnv = []string{
		"DRY_RUN", "GRACE_PERIOD", "CONCURRENCY", "FANOUT_THRESHOLD", "FANOUT_BATCH_SIZE",
		"ORGANIZATION_ROLE_ARN",
	}
)

func TestNoRoleGrantsAWildcardAction(t *testing.T) {
	hub, member := loadProduct(t)
	for _, tpl := range []*Template{hub, member} {
		for _, role := range tpl.Roles() {
			if arns := tpl.ManagedPolicyArns(role); len(arns) > 0 {
				t.Errorf("%s %s: managed policies %v are not readable here; write the statements inline", tpl.Path, role, arns)
			}
			for _, s := range tpl.Policy(role) {
				if len(s.NotActions) > 0 || len(s.NotResource) > 0 {
					t.Errorf("%s %s %q: NotAction/NotResource grant everything else", tpl.Path, role, s.Sid)
				}
				for _, a := range s.Actions {
					if strings.Contains(a, "*") {
						t.Errorf("%s %s: action %q has a wildcard", tpl.Path, role, a)
					}
				}
			}
		}
	}
}

func TestResourceStarOnlyForActionsEC2CannotScope(t *testing.T) {
	hub, member := loadProduct(t)
	for _, tpl := range []*Template{hub, member} {
		for _, role := range tpl.Roles() {
			for _, g := range tpl.Grants(role) {
				if slices.Contains(g.Resources, "*") && !slices.Contains(unscopable, g.Action) {
					t.Errorf("%s %s: %s on Resource \"*\"; scope it", tpl.Path, role, g.Action)
				}
				if len(g.Resources) == 0 {
					t.Errorf("%s %s: %s has no Resource", tpl.Path, role, g.Action)
				}
			}
		}
	}
}

func TestEveryFunctionHasItsOwnRoleAndItsEnvironment(t *testing.T) {
	hub, _ := loadProduct(t)
	want := []string{"OnboardFunction", "AcceptFunction", "ReconcileFunction"}
	if got := hub.Functions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("functions = %v, want %v", got, want)
	}
	roles := hub.FunctionRoles()
	seen := map[string]string{}
	for _, fn := range want {
		role, ok := roles[fn]
		if !ok {
			t.Errorf("%s has no role of the template", fn)
			continue
		}
		if other, dup := seen[role]; dup {
			t.Errorf("%s and %s share role %s; the spoke trusts each function role by ARN", fn, other, role)
		}
		seen[role] = fn
		if name, _ := hub.Property(role, "RoleName"); name == "" {
			t.Errorf("%s: role %s has no fixed RoleName, so member stacks cannot name it in advance", fn, role)
		}

		env := hub.Env(fn)
		required := hubEnv
		if fn == "ReconcileFunction" {
			required = append(slices.Clone(hubEnv), reconcileEnv...)
		}
		for _, name := range required {
			if _, ok := env[name]; !ok {
				t.Errorf("%s: environment variable %s missing", fn, name)
			}
		}
	}
	if env := hub.Env("OnboardFunction"); env["EVENT_BUS_NAME"] != "!Ref EventBus" || env["PARAMETER_PREFIX"] != "!Ref ParameterPrefix" {
		t.Errorf("onboard env = %v: bus and prefix must come from the stack", env)
	}
}

// queueConsumer are the actions a function may have on the queue it polls: what Lambda's
// poller needs (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html, execution role
// permissions), SendMessage for its own follow-ups, and ChangeMessageVisibility to hand a
// failed message back sooner.
var queueConsumer = []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:SendMessage", "sqs:ChangeMessageVisibility"}

// polledQueues maps each function to the raw ARNs of the queues its SQS events poll.
func polledQueues(tpl *Template) map[string][]string {
	out := map[string][]string{}
	for _, r := range tpl.Routes() {
		if r.Kind == "SQS" && r.Queue != "" {
			out[r.Function] = append(out[r.Function], "!GetAtt "+r.Queue+".Arn")
		}
	}
	return out
}

func TestHubGrantsAreScopedToTheProductsResources(t *testing.T) {
	hub, _ := loadProduct(t)
	roles := hub.FunctionRoles()
	polled := polledQueues(hub)
	for _, fn := range hub.Functions() {
		role := roles[fn]
		dlq, _ := hub.Property(fn, "DeadLetterQueue")
		for _, g := range hub.Grants(role) {
			service, _, _ := strings.Cut(g.Action, ":")
			for _, res := range g.Resources {
				var ok bool
				switch {
				case slices.Contains(unscopable, g.Action):
					ok = res == "*"
				case g.Action == "sts:AssumeRole":
					// The spoke role in any account, but only of the organization; or the one
					// organization role the operator names.
					ok = (res == "arn:${AWS::Partition}:iam::*:role/${SpokeRoleName}" && g.HasCondition) ||
						res == "!Ref OrganizationRoleArn"
				case service == "ec2":
					ok = strings.HasSuffix(res, ":vpc-endpoint-service/${ServiceId}")
				case service == "ssm":
					ok = strings.HasSuffix(res, ":parameter${ParameterPrefix}/*") ||
						(g.Action == "ssm:GetParametersByPath" && strings.HasSuffix(res, ":parameter${ParameterPrefix}"))
				case service == "events":
					ok = res == "!GetAtt EventBus.Arn"
				case service == "sqs":
					// The function's own dead-letter queue; the queue it polls (Lambda polls
					// with the execution role) and sends its follow-ups to.
					ok = (strings.HasSuffix(res, "DeadLetterQueue.Arn") && strings.Contains(dlq, res)) ||
						(slices.Contains(polled[fn], res) && slices.Contains(queueConsumer, g.Action))
				case service == "logs":
					logGroup, _ := hub.Property(fn, "LoggingConfig")
					ok = strings.HasSuffix(res, "LogGroup.Arn") && strings.Contains(logGroup, strings.TrimSuffix(strings.TrimPrefix(res, "!GetAtt "), ".Arn"))
				default:
					ok = false
				}
				if !ok {
					t.Errorf("%s (%s): %s on %q is not scoped to the product's own resource", role, fn, g.Action, res)
				}
			}
		}
	}
}

func TestSpokeRoleTrustsOnlyTheHubFunctionRolesWithTheExternalID(t *testing.T) {
	_, member := loadProduct(t)
	trust := member.Trust("SpokeRole")
	if len(trust) != 1 {
		t.Fatalf("spoke trust has %d statements, want 1: %+v", len(trust), trust)
	}
	s := trust[0]
	if s.Effect != "Allow" || !reflect.DeepEqual(s.Actions, []string{"sts:AssumeRole"}) {
		t.Errorf("spoke trust = %+v, want Allow sts:AssumeRole", s)
	}
	if want := map[string][]string{"AWS": {"!Ref HubFunctionRoleArns"}}; !reflect.DeepEqual(s.Principals, want) {
		t.Errorf("spoke trust principals = %v, want only %v", s.Principals, want)
	}
	if got := s.Conditions["StringEquals"]["sts:ExternalId"]; !reflect.DeepEqual(got, []string{"!Ref ExternalId"}) {
		t.Errorf("spoke trust sts:ExternalId = %v, want the ExternalId parameter", got)
	}
	params := map[string]Parameter{}
	for _, p := range member.Parameters() {
		params[p.Name] = p
	}
	if p := params["HubFunctionRoleArns"]; p.Type != "CommaDelimitedList" || p.HasDefault {
		t.Errorf("HubFunctionRoleArns = %+v, want a CommaDelimitedList without a default", p)
	}
	if p := params["ExternalId"]; !p.NoEcho || p.HasDefault {
		t.Errorf("ExternalId = %+v, want NoEcho and no default", p)
	}
}

func TestSpokeChangesOnlyWhatTheProductManages(t *testing.T) {
	_, member := loadProduct(t)
	managed := []string{"true"}
	// Actions that use or change an existing group or endpoint: it must carry the managed tag.
	groupChanges := []string{
		"ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup",
		"ec2:CreateVpcEndpoint", "ec2:ModifyVpcEndpoint",
	}
	endpointChanges := []string{"ec2:ModifyVpcEndpoint", "ec2:DeleteVpcEndpoints"}
	var createEndpointScoped, vpcTagsScoped int
	for _, s := range member.Policy("SpokeRole") {
		for _, res := range s.Resources {
			for _, a := range s.Actions {
				if slices.Contains(unscopable, a) {
					continue
				}
				// Endpoints and security groups: created only with the managed tag and changed
				// only when they carry it (or, for creation, only for the hub's service).
				if (strings.Contains(res, ":vpc-endpoint/") || strings.Contains(res, ":security-group/")) && len(s.Conditions) == 0 {
					t.Errorf("spoke %q: %s on %s has no condition", s.Sid, a, res)
				}
				if strings.Contains(res, ":vpc-endpoint/") && a == "ec2:CreateVpcEndpoint" {
					eq := s.Conditions["StringEquals"]
					if !reflect.DeepEqual(eq["ec2:VpceServiceName"], []string{"!Ref EndpointServiceName"}) ||
						!reflect.DeepEqual(eq["aws:RequestTag/jenkins-agent-vpcs:managed"], managed) {
						t.Errorf("spoke %q: CreateVpcEndpoint conditions = %v, want the hub's service name and the managed tag", s.Sid, s.Conditions)
					}
					createEndpointScoped++
				}
				changesGroup := strings.Contains(res, ":security-group/") && slices.Contains(groupChanges, a)
				changesEndpoint := strings.Contains(res, ":vpc-endpoint/") && slices.Contains(endpointChanges, a)
				// One exception: the reconciler removes foreign groups from a managed endpoint,
				// and ModifyVpcEndpoint is authorized on each group it removes (untagged);
				// such groups are held to the account's VPCs in the Region instead.
				repairsGroups := changesGroup && a == "ec2:ModifyVpcEndpoint" && reflect.DeepEqual(s.Conditions["ArnLike"]["ec2:Vpc"],
					[]string{"arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:vpc/*"})
				if (changesGroup || changesEndpoint) && !repairsGroups {
					if !reflect.DeepEqual(s.Conditions["StringEquals"]["aws:ResourceTag/jenkins-agent-vpcs:managed"], managed) {
						t.Errorf("spoke %q: %s on %s without aws:ResourceTag managed=true", s.Sid, a, res)
					}
				}
				if a == "ec2:CreateTags" && !strings.Contains(res, ":vpc/") {
					if got := s.Conditions["StringEquals"]["ec2:CreateAction"]; len(got) == 0 {
						t.Errorf("spoke %q: CreateTags on %s outside resource creation", s.Sid, res)
					}
				}
				if (a == "ec2:CreateTags" || a == "ec2:DeleteTags") && strings.Contains(res, ":vpc/") {
					got := s.Conditions["ForAllValues:StringEquals"]["aws:TagKeys"]
					if !reflect.DeepEqual(got, []string{"jenkins-agent-vpcs:status", "jenkins-agent-vpcs:endpoint"}) {
						t.Errorf("spoke %q: %s on VPCs limited to tag keys %v, want only the status keys", s.Sid, a, got)
					}
					vpcTagsScoped++
				}
			}
		}
	}
	if createEndpointScoped != 1 || vpcTagsScoped != 2 {
		t.Errorf("found %d CreateVpcEndpoint grants on endpoints and %d VPC tag grants; want 1 and 2", createEndpointScoped, vpcTagsScoped)
	}
}

// forwardRoleARN is how the member rules name the forwarding role: by its name, since
// only the hub Region's stack instance creates it (IAM is global) and the rules of the
// other Regions cannot !GetAtt it.
const forwardRoleARN = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${ForwardEventsRoleName}"

func TestMemberForwardsExactlyWhatTheHubRoutesToOnboard(t *testing.T) {
	hub, member := loadProduct(t)
	var hubPatterns, memberPatterns []string
	onboardQueues := polledQueues(hub)["OnboardFunction"]
	for _, r := range hub.Routes() {
		if r.Kind == "EventBridgeRule" && r.Queue != "" && slices.Contains(onboardQueues, "!GetAtt "+r.Queue+".Arn") {
			hubPatterns = append(hubPatterns, Text(hub.PropertyNode(r.Name, "EventPattern")))
		}
	}
	for _, rule := range member.Resources("AWS::Events::Rule") {
		pattern, _ := member.Property(rule, "EventPattern")
		memberPatterns = append(memberPatterns, pattern)
		targets, _ := member.Property(rule, "Targets")
		if !strings.Contains(targets, "Arn: !Ref HubEventBusArn") || !strings.Contains(targets, "RoleArn: "+forwardRoleARN) {
			t.Errorf("member rule %s targets %s, want the hub bus with the forwarding role", rule, targets)
		}
	}
	if len(hubPatterns) != 3 || !reflect.DeepEqual(hubPatterns, memberPatterns) {
		t.Errorf("hub onboard patterns\n  %v\nmember forwarding patterns\n  %v\nwant the same three", hubPatterns, memberPatterns)
	}
	if name, _ := member.Property("ForwardEventsRole", "RoleName"); name != "!Ref ForwardEventsRoleName" {
		t.Errorf("forwarding role RoleName = %q, want the ForwardEventsRoleName the rules name", name)
	}
	if got := member.Grants("ForwardEventsRole"); !reflect.DeepEqual(got, []Grant{{Action: "events:PutEvents", Resources: []string{"!Ref HubEventBusArn"}}}) {
		t.Errorf("forwarding role grants = %+v, want only PutEvents on the hub bus", got)
	}
}

func TestEveryDeadLetterQueueHasAnAlarm(t *testing.T) {
	hub, _ := loadProduct(t)
	alarmed := map[string]bool{}
	for _, alarm := range hub.Resources("AWS::CloudWatch::Alarm") {
		dims, _ := hub.Property(alarm, "Dimensions")
		for _, q := range hub.Resources("AWS::SQS::Queue") {
			if strings.Contains(dims, "!GetAtt "+q+".QueueName") {
				alarmed[q] = true
			}
		}
	}
	// Every queue but those a function or a pipe polls holds only failures.
	var deadLetterQueues []string
	polled := slices.Concat(slices.Collect(maps.Values(polledQueues(hub)))...)
	for _, p := range hub.Resources("AWS::Pipes::Pipe") {
		source, _ := hub.Property(p, "Source")
		polled = append(polled, source)
	}
	for _, q := range hub.Resources("AWS::SQS::Queue") {
		if !slices.Contains(polled, "!GetAtt "+q+".Arn") {
			deadLetterQueues = append(deadLetterQueues, q)
		}
	}
	if len(deadLetterQueues) != 7 {
		t.Errorf("dead-letter queues = %v, want the events queue, the onboarding queue's, one per function and the Jenkins reload rule's and queue's", deadLetterQueues)
	}
	for _, q := range deadLetterQueues {
		if !alarmed[q] {
			t.Errorf("queue %s has no alarm", q)
		}
	}
}

// The onboarding queue takes messages only from the product's rules on the central bus:
// events.amazonaws.com, SendMessage, and aws:SourceArn exactly the rules that target it.
func TestOnboardQueueIsWrittenOnlyByItsRules(t *testing.T) {
	hub, _ := loadProduct(t)
	var rules []string
	for _, r := range hub.Routes() {
		if r.Kind == "EventBridgeRule" && r.Queue == "OnboardQueue" {
			rules = append(rules, "!GetAtt "+r.Name+".Arn")
		}
	}
	if len(rules) != 3 {
		t.Fatalf("rules targeting OnboardQueue = %v, want the three onboard rules", rules)
	}
	if queues, _ := hub.Property("OnboardQueuePolicy", "Queues"); queues != "[!Ref OnboardQueue]" {
		t.Errorf("OnboardQueuePolicy applies to %s, want only OnboardQueue", queues)
	}
	policy := hub.ResourcePolicy("OnboardQueuePolicy")
	if len(policy) != 1 {
		t.Fatalf("OnboardQueuePolicy has %d statements, want 1: %+v", len(policy), policy)
	}
	st := policy[0]
	if st.Effect != "Allow" || !reflect.DeepEqual(st.Actions, []string{"sqs:SendMessage"}) ||
		!reflect.DeepEqual(st.Resources, []string{"!GetAtt OnboardQueue.Arn"}) ||
		!reflect.DeepEqual(st.Principals, map[string][]string{"Service": {"events.amazonaws.com"}}) {
		t.Errorf("OnboardQueuePolicy statement = %+v, want events.amazonaws.com allowed sqs:SendMessage on the queue only", st)
	}
	if got := st.Conditions["ArnEquals"]["aws:SourceArn"]; !reflect.DeepEqual(got, rules) || len(st.Conditions) != 1 {
		t.Errorf("OnboardQueuePolicy conditions = %v, want ArnEquals aws:SourceArn %v only", st.Conditions, rules)
	}
}

// Every rule that sends its undeliverable events to a dead-letter queue is allowed to by
// that queue's policy, or EventBridge cannot put them there.
func TestEveryRuleMayUseItsDeadLetterQueue(t *testing.T) {
	hub, _ := loadProduct(t)
	allowed := map[string][]string{} // queue ARN text -> rule ARNs its policy allows
	for _, id := range hub.Resources("AWS::SQS::QueuePolicy") {
		for _, st := range hub.ResourcePolicy(id) {
			if st.Effect == "Allow" && slices.Contains(st.Actions, "sqs:SendMessage") && slices.Contains(st.Principals["Service"], "events.amazonaws.com") {
				for _, res := range st.Resources {
					allowed[res] = append(allowed[res], st.Conditions["ArnEquals"]["aws:SourceArn"]...)
				}
			}
		}
	}
	n := 0
	for _, r := range hub.Routes() {
		if r.DeadLetter == "" {
			continue
		}
		n++
		if !slices.Contains(allowed[r.DeadLetter], "!GetAtt "+r.Name+".Arn") {
			t.Errorf("rule %s sends failures to %s, whose policy allows only %v", r.Name, r.DeadLetter, allowed[r.DeadLetter])
		}
	}
	if n != 6 {
		t.Errorf("%d rules have a dead-letter queue, want 6 (three onboard rules, the schedule, the fan-out, the Jenkins reload)", n)
	}
}

// Lambda asks for a visibility timeout of at least six times the function's timeout
// (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html), and the
// mapping's settings are the documented ones.
func TestPolledQueuesOutlastTheirFunction(t *testing.T) {
	hub, _ := loadProduct(t)
	n := 0
	for _, r := range hub.Routes() {
		if r.Kind != "SQS" {
			continue
		}
		n++
		timeout, ok := hub.Property(r.Function, "Timeout")
		if !ok {
			timeout = Text(field(hub.globals, "Timeout"))
		}
		visibility, _ := hub.Property(r.Queue, "VisibilityTimeout")
		fnSeconds, err1 := strconv.Atoi(timeout)
		queueSeconds, err2 := strconv.Atoi(visibility)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: timeout %q and %s visibility timeout %q must be numbers", r.Function, timeout, r.Queue, visibility)
		}
		if queueSeconds < 6*fnSeconds {
			t.Errorf("%s visibility timeout %d s < 6 x %s timeout %d s", r.Queue, queueSeconds, r.Function, fnSeconds)
		}
		redrive, _ := hub.Property(r.Queue, "RedrivePolicy")
		if !strings.Contains(redrive, "maxReceiveCount: 5") || !strings.Contains(redrive, "deadLetterTargetArn: !GetAtt "+r.Queue+"DeadLetterQueue.Arn") {
			t.Errorf("%s redrive policy = %s, want its dead-letter queue after 5 receives", r.Queue, redrive)
		}
		if !r.Polling.ReportBatchItemFailures || r.Polling.BatchSize != "10" || r.Polling.MaximumConcurrency != "!Ref OnboardConcurrency" {
			t.Errorf("%s polling = %+v, want batches of 10, partial batch responses, concurrency from OnboardConcurrency", r.Name, r.Polling)
		}
	}
	if n != 1 {
		t.Errorf("%d SQS events, want the onboard function's", n)
	}
	params := map[string]Parameter{}
	for _, p := range hub.Parameters() {
		params[p.Name] = p
	}
	if p := params["OnboardConcurrency"]; p.Type != "Number" || p.Default != "5" {
		t.Errorf("OnboardConcurrency = %+v, want a Number defaulting to 5", p)
	}
	if env := hub.Env("OnboardFunction"); env["ONBOARD_QUEUE_URL"] != "!Ref OnboardQueue" {
		t.Errorf("onboard ONBOARD_QUEUE_URL = %q, want the queue's URL (!Ref OnboardQueue)", env["ONBOARD_QUEUE_URL"])
	}
}
