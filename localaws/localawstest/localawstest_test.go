package localawstest_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/localawstest"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
)

const (
	hub      = "111111111111"
	member   = "222222222222"
	stranger = "444444444444"
	service  = "vpce-svc-0a1b2c3d4e5f60001"
	extID    = "harness-test"
)

var topology = &localaws.Topology{Region: "us-east-1",
	Organization: &localaws.Organization{ID: "o-harness", Accounts: []string{hub, member}},
	Accounts: []localaws.Account{{ID: hub, EndpointServices: []localaws.EndpointService{{ID: service, AcceptanceRequired: true,
		AZs: []string{"use1-az1", "use1-az2"}, Ports: []int{50000}}}}}}

func deployed(t *testing.T) *localawstest.AWS {
	return localawstest.New(t, localawstest.Options{Topology: topology, Now: time.Now().UTC().Truncate(time.Second),
		Deploy: &localstack.DeployOptions{HubAccount: hub, Members: []string{member}, Parameters: map[string]string{"SpokeExternalId": extID}}})
}

// TestDeployGivesTheSpokeRoleTheTemplatesTrust: the member template's spoke
// role is assumable by the hub functions' roles with the external id, and
// by nobody else.
func TestDeployGivesTheSpokeRoleTheTemplatesTrust(t *testing.T) {
	a := deployed(t)
	ctx := context.Background()
	spoke := localawstest.RoleARN(member, "jenkins-agent-vpcs-spoke")
	assume := func(cfg aws.Config, roleARN, externalID string) error {
		in := &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("test")}
		if externalID != "" {
			in.ExternalId = aws.String(externalID)
		}
		_, err := sts.NewFromConfig(cfg).AssumeRole(ctx, in)
		return err
	}
	onboard := a.Session(hub, "jenkins-agent-vpcs-onboard", "onboard")
	onboard.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	for _, tc := range []struct {
		name        string
		cfg         aws.Config
		role, extID string
		ok          bool
	}{
		{"function role with the external id", onboard, spoke, extID, true},
		{"function role without the external id", onboard, spoke, "", false},
		{"function role with another external id", onboard, spoke, "other", false},
		{"the hub's root", a.Root(hub), spoke, extID, false},
		{"an account without a member stack", onboard, localawstest.RoleARN(stranger, "jenkins-agent-vpcs-spoke"), extID, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := assume(tc.cfg, tc.role, tc.extID)
			if tc.ok != (err == nil) {
				t.Errorf("AssumeRole %s: %v, want ok=%v", tc.role, err, tc.ok)
			}
		})
	}
	// The call log names each caller.
	var principals []string
	for _, c := range a.Calls() {
		if c.Action == "AssumeRole" {
			principals = append(principals, c.Principal)
		}
	}
	wantSession := "arn:aws:sts::" + hub + ":assumed-role/jenkins-agent-vpcs-onboard/onboard"
	if len(principals) != 5 || principals[0] != wantSession || principals[3] != localawstest.RootARN(hub) {
		t.Errorf("AssumeRole callers %v", principals)
	}
}

// TestDeployCreatesTheBusAndTheRoutes: the central bus, and the member's
// default-bus rules forwarding to it.
func TestDeployCreatesTheBusAndTheRoutes(t *testing.T) {
	a := deployed(t)
	ctx := context.Background()
	bus, err := a.EventBridge(hub).DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String("jenkins-agent-vpcs")})
	if err != nil {
		t.Fatalf("central bus: %v", err)
	}
	rules, err := a.EventBridge(member).ListRules(ctx, &eventbridge.ListRulesInput{})
	if err != nil || len(rules.Rules) == 0 {
		t.Fatalf("member rules: %v %v", rules, err)
	}
	forwards := 0
	for _, r := range rules.Rules {
		targets, err := a.EventBridge(member).ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: r.Name})
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range targets.Targets {
			if aws.ToString(tg.Arn) == aws.ToString(bus.Arn) && aws.ToString(tg.RoleArn) != "" {
				forwards++
			}
		}
	}
	if forwards == 0 {
		t.Errorf("no member rule forwards to %s with a role", aws.ToString(bus.Arn))
	}
	if a.Deployment == nil || a.Deployment.Parameters["SpokeExternalId"] != extID || len(a.Deployment.Routes) == 0 {
		t.Errorf("deployment %+v", a.Deployment)
	}
}

// TestStateReadsBack: what the accessors read is what SDK calls wrote.
func TestStateReadsBack(t *testing.T) {
	// The clock is stopped: each read of what the test just wrote comes
	// Later, past EC2's consistency window.
	a := localawstest.New(t, localawstest.Options{Topology: topology, TransitionDelay: time.Minute, Now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)})
	ctx := context.Background()
	vpc := a.AddVPC(member, "10.1.0.0/16", map[string]string{"jenkins-agents": "true"})
	var subnet string
	for _, az := range []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"} {
		s := a.AddSubnet(member, vpc, az, nil)
		if id := a.AZID(member, az); subnet == "" && (id == "use1-az1" || id == "use1-az2") {
			subnet = s
		}
	}
	subnets, err := a.EC2(member).DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil || len(subnets.Subnets) != 4 {
		t.Fatalf("subnets of %s: %v %v", vpc, subnets, err)
	}

	mark := a.Mark()
	if _, err := a.EC2(hub).ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: aws.String(service),
		AddAllowedPrincipals: []string{localawstest.RootARN(member), "*"}}); err != nil {
		t.Fatal(err)
	}
	a.Later()
	if got := a.AllowedPrincipals(service); !slices.Equal(got, []string{"*", localawstest.RootARN(member)}) {
		t.Errorf("allowed principals %v", got)
	}
	newEndpoint := func() string {
		out, err := a.EC2(member).CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: aws.String(vpc), SubnetIds: []string{subnet},
			ServiceName: aws.String("com.amazonaws.vpce.us-east-1." + service), VpcEndpointType: ec2types.VpcEndpointTypeInterface})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.VpcEndpoint.VpcEndpointId)
	}
	for _, state := range []string{"rejected", "available", "deleted"} {
		id := newEndpoint()
		a.Later()
		if got := a.EndpointState(member, id); got != "pendingAcceptance" {
			t.Errorf("new endpoint is %s", got)
		}
		a.SetEndpointState(member, id, state)
		if got := a.EndpointState(member, id); got != state {
			t.Errorf("endpoint moved to %s is %s", state, got)
		}
	}
	if got := a.EndpointState(member, "vpce-0123456789abcdef0"); got != "" {
		t.Errorf("unknown endpoint is %q", got)
	}
	if n := a.CallCount("ec2", "CreateVpcEndpoint"); n != 3 {
		t.Errorf("CreateVpcEndpoint count %d", n)
	}
	since := a.CallsSince(mark)
	if len(since) == 0 || since[0].Action != "ModifyVpcEndpointServicePermissions" || since[0].Principal != localawstest.RootARN(hub) {
		t.Errorf("calls since the mark start with %+v", since[:min(1, len(since))])
	}

	if _, err := a.SSM(hub).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/p/one"), Value: aws.String("1"), Type: "String"}); err != nil {
		t.Fatal(err)
	}
	if v, ok := a.Parameter(hub, "/p/one"); !ok || v != "1" {
		t.Errorf("parameter %q %v", v, ok)
	}
	if _, ok := a.Parameter(member, "/p/one"); ok {
		t.Error("a parameter leaked across accounts")
	}
	if got := a.ParameterNames(hub); !slices.Equal(got, []string{"/p/one"}) {
		t.Errorf("parameter names %v", got)
	}

	if _, err := a.EventBridge(hub).PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String("test"), DetailType: aws.String("Hello"), Detail: aws.String(`{"n":1}`)}}}); err != nil {
		t.Fatal(err)
	}
	evs := a.Events(hub)
	if len(evs) != 1 || evs[0].DetailType != "Hello" || !strings.Contains(string(evs[0].Detail), `"n":1`) {
		t.Errorf("events of the hub %+v", evs)
	}
	if len(a.Events(member)) != 0 {
		t.Error("the hub's event is counted as the member's")
	}

	a.Fail(localaws.Fault{Account: member, Action: "DescribeVpcs", Code: "UnauthorizedOperation", Count: 1})
	_, err = a.EC2(member).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	if err == nil || !strings.Contains(err.Error(), "UnauthorizedOperation") {
		t.Errorf("fault not injected: %v", err)
	}
	if last := a.Calls()[len(a.Calls())-1]; last.Code != "UnauthorizedOperation" || last.Account != member {
		t.Errorf("last call %+v", last)
	}
	if _, err := a.EC2(member).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); err != nil {
		t.Errorf("a one-shot fault fired twice: %v", err)
	}
}

// TestQueuesThroughTheHarness: the harness's SQS client, queue URLs and
// depth read the same queues.
func TestQueuesThroughTheHarness(t *testing.T) {
	a := localawstest.New(t, localawstest.Options{Relax: localaws.Relax{SQS: true},
		Topology: &localaws.Topology{Region: "us-east-1", Accounts: []localaws.Account{{ID: hub, Queues: []localaws.Queue{{Name: "inbox"}}}}}})
	c := a.SQS(hub)
	if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(a.QueueURL(hub, "inbox")), MessageBody: aws.String("hi"),
		DelaySeconds: 5}); err != nil {
		t.Fatal(err)
	}
	if d := a.QueueDepth("arn:aws:sqs:us-east-1:" + hub + ":inbox"); d != (localaws.QueueDepth{Delayed: 1}) {
		t.Fatalf("depth %+v, want one delayed message", d)
	}
}
