package templates

import (
	"reflect"
	"slices"
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

func TestHubGrantsAreScopedToTheProductsResources(t *testing.T) {
	hub, _ := loadProduct(t)
	roles := hub.FunctionRoles()
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
					ok = strings.HasSuffix(res, "DeadLetterQueue.Arn") && strings.Contains(dlq, res)
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
					[]string{"arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc/*"})
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

func TestMemberForwardsExactlyWhatTheHubRoutesToOnboard(t *testing.T) {
	hub, member := loadProduct(t)
	var hubPatterns, memberPatterns []string
	events := field(hub.resource("OnboardFunction").properties, "Events")
	for i := 1; i < len(events.Content); i += 2 {
		if scalar(field(events.Content[i], "Type")) == "EventBridgeRule" {
			hubPatterns = append(hubPatterns, Text(field(field(events.Content[i], "Properties"), "Pattern")))
		}
	}
	for _, rule := range member.Resources("AWS::Events::Rule") {
		pattern, _ := member.Property(rule, "EventPattern")
		memberPatterns = append(memberPatterns, pattern)
		targets, _ := member.Property(rule, "Targets")
		if !strings.Contains(targets, "Arn: !Ref HubEventBusArn") || !strings.Contains(targets, "RoleArn: !GetAtt ForwardEventsRole.Arn") {
			t.Errorf("member rule %s targets %s, want the hub bus with the forwarding role", rule, targets)
		}
	}
	if len(hubPatterns) != 3 || !reflect.DeepEqual(hubPatterns, memberPatterns) {
		t.Errorf("hub onboard patterns\n  %v\nmember forwarding patterns\n  %v\nwant the same three", hubPatterns, memberPatterns)
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
	queues := hub.Resources("AWS::SQS::Queue")
	if len(queues) != 5 {
		t.Errorf("queues = %v, want the events queue, one per function and the Jenkins reload queue", queues)
	}
	for _, q := range queues {
		if !alarmed[q] {
			t.Errorf("queue %s has no alarm", q)
		}
	}
}
