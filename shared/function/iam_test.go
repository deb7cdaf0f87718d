package function_test

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/internal/templates"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/localawstest"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/sqssim"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/reconcile"
)

// notCalledByCode are grants the Lambda service uses on a function's
// behalf, not the function's code.
var notCalledByCode = map[string]string{
	"logs:CreateLogStream": "Lambda writes the function's logs",
	"logs:PutLogEvents":    "Lambda writes the function's logs",
	"sqs:SendMessage":      "Lambda sends failed asynchronous invocations to the dead-letter queue",
	// Lambda's event source mapping polls the onboarding queue with the role.
	"sqs:ReceiveMessage":     "Lambda's event source mapping receives the queue's messages",
	"sqs:DeleteMessage":      "Lambda's event source mapping deletes the messages the function handled",
	"sqs:GetQueueAttributes": "Lambda's event source mapping reads the queue's attributes",
	// A permission-only action (no API has its name): AWS checks it when
	// CreateVpcEndpoint names a service in another Region.
	"vpce:AllowMultiRegion": "CreateVpcEndpoint with a ServiceRegion other than the caller's Region",
}

// tour drives every function through every path that calls AWS against
// a local AWS with relax (the zero value: strict, the templates' policies
// enforced once the local AWS enforces IAM) and returns the call log.
func tour(t *testing.T, relax localaws.Relax) []localaws.Call {
	_, calls := tourWith(t, relax)
	return calls
}

// tourEnv is the strict tour, with the env it ran in.
func tourEnv(t *testing.T) (*env, []localaws.Call) { return tourWith(t, localaws.Relax{}) }

func tourWith(t *testing.T, relax localaws.Relax) (*env, []localaws.Call) {
	e, vpcs := fleetWith(t, map[string]string{"ALLOWED_ACCOUNTS": "", "DENIED_ACCOUNTS": "666666666666"}, relax)
	one, two, three := vpcs[0], vpcs[1], vpcs[2]
	ctx := context.Background()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Accept: an unmanaged endpoint rejected, ours accepted, a held one in
	// manual mode, and a stranger outside the organization left pending
	// (its account cannot be read), which fails each accept invocation.
	e.allow("*")
	outsider := e.handMade(stranger, e.vpcs["vpc-stranger"], true)
	e.handMade(member, one, false)
	e.handMade(member, one, true)
	requireUnsettled(t, e.accept(), outsider)
	e.cfg.ApprovalMode = config.ApprovalManual
	e.handMade(member, one, true)
	requireUnsettled(t, e.accept(), outsider)
	e.cfg.ApprovalMode = config.ApprovalAuto

	// Drift for the reconciler: every kind of repair.
	f1, f3 := e.footprint(member, one), e.footprint(member2, three)
	must(e.w.EC2(member).DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{f1.Endpoints[0].ID}}))
	must(e.w.EC2(member2).ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(f3.Endpoints[0].ID), RemoveSubnetIds: f3.Endpoints[0].SubnetIDs[:1]}))
	for _, g := range f3.Groups {
		if g.Role == agentvpc.RoleEndpoint {
			must(e.w.EC2(member2).AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(g.ID),
				IpPermissions: []types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
					IpRanges: []types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}))
		}
	}
	// A security group of the owner's own attached to the endpoint: the
	// repair takes it off (the spoke policy's RepairEndpointSecurityGroups).
	foreign, err := e.w.EC2(member2).CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("owners-own"),
		Description: aws.String("not the product's"), VpcId: aws.String(three)})
	if err != nil {
		t.Fatal(err)
	}
	e.w.Later() // the owner attaches the new group once EC2 shows it
	must(e.w.EC2(member2).ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(f3.Endpoints[0].ID),
		AddSecurityGroupIds: []string{aws.ToString(foreign.GroupId)}}))
	must(e.w.SSM(hub).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(e.cfg.ParameterPrefix + "/" + member2 + "/vpc-0123456789abcdef0/tunnel"),
		Value: aws.String("old:50000"), Type: "String"}))
	e.untag(member, two)
	e.addVPC(member2, "vpc-four", "10.5.0.0/16", map[string]string{"jenkins-agents": "true"}) // its tag event was lost
	must(e.w.EC2(hub).ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{ServiceId: aws.String(e.service),
		AddAllowedPrincipals: []string{localawstest.RoleARN("666666666666", "jenkins-agent-vpcs-spoke")}}))
	e.w.Clock().Skip(5 * time.Minute)
	// Reading each account's path: the deep run lists parameter names,
	// and fan-out puts batches on the bus.
	e.cfg.ParameterReads = "account"
	if rep := e.reconcile(reconcile.Request{Deep: reconcile.DeepAll}); rep.Repairs == 0 || len(rep.FailedRepairs) > 0 {
		t.Fatalf("tour reconcile: %+v", rep)
	}
	e.cfg.FanoutThreshold = 1
	e.reconcile(reconcile.Request{})
	e.cfg.FanoutThreshold, e.cfg.ParameterReads = 50, "prefix"
	e.reconcile(reconcile.Request{}) // the default: the whole prefix paged
	// Onboard: a VPC tagged again gets a new endpoint, still connecting when
	// published, so onboard puts its follow-up on the queue (FollowUps).
	e.cfg.OnboardQueueURL = e.w.Deployment.Queues["OnboardQueue"]
	e.w.Server.SetTransitionDelay(time.Minute)
	e.tag(member, two, "true")
	e.w.Later()
	e.redrive(member, two)
	if e.w.QueueDepth(e.cfg.OnboardQueueURL).Delayed == 0 {
		t.Fatal("the tour's onboarding of a connecting endpoint sent no follow-up")
	}
	e.w.Server.SetTransitionDelay(0)
	// Onboard: a message it fails comes back sooner (RetrySooner).
	e.failQueuedMessage(e.cfg.OnboardQueueURL)
	// Onboard: untag and removal of the last agent VPC of an account.
	e.untag(member2, three)
	e.w.Later() // a re-drive acts on the tags EC2 shows
	e.vpcs[savedVPC] = three
	if err := invoke(t, e.core("onboard").Onboard(), []byte(`{"account":"`+member2+`","region":"us-east-1","vpcId":"`+three+`"}`)); err != nil {
		t.Fatal(err)
	}

	// With the templates' policies enforced, nothing the functions do on
	// any of these paths may be refused: a denial is a grant the templates
	// lack (or a call the code should not make).
	if relax.IAM {
		return e, e.w.Calls()
	}
	for _, d := range e.w.Server.Denials() {
		// The one denial the tour provokes on purpose: a stranger outside the
		// organization connected (the service allows "*"), and the hub roles'
		// policy lets them assume spoke roles only in the organization's
		// accounts (aws:ResourceOrgID), so reading the stranger's account is
		// refused and its connection is not accepted.
		if d.Action == "sts:AssumeRole" && strings.Contains(d.Resource, "::"+stranger+":") && strings.Contains(d.Reason, "aws:ResourceOrgID") {
			continue
		}
		t.Errorf("denied: %s called %s on %s: %s", d.Principal, d.Action, d.Resource, d.Reason)
	}
	return e, e.w.Calls()
}

// actionsByIdentity sorts the actions of a call log by who called them:
// the hub actions per function (its role's sessions), and the spoke role's
// actions (whichever function assumed it). Test set-up calls as an
// account's root are nobody's.
func actionsByIdentity(calls []localaws.Call) (hubCalls map[string]map[string]bool, spokeCalls map[string]bool) {
	hubCalls = map[string]map[string]bool{}
	spokeCalls = map[string]bool{}
	for _, c := range calls {
		action := c.Service + ":" + c.Action
		if c.Service == "sqs" {
			action = "sqs:" + sqssim.IAMAction(c.Action) // a batch call is authorized as its single action
		}
		switch {
		case strings.Contains(c.Principal, ":assumed-role/jenkins-agent-vpcs-spoke/"):
			spokeCalls[action] = true
		case c.Account == hub && strings.Contains(c.Principal, ":assumed-role/jenkins-agent-vpcs-"):
			fn := strings.TrimPrefix(strings.Split(c.Principal, "/")[1], "jenkins-agent-vpcs-")
			if hubCalls[fn] == nil {
				hubCalls[fn] = map[string]bool{}
			}
			hubCalls[fn][action] = true
		}
	}
	return hubCalls, spokeCalls
}

func TestRolesGrantExactlyWhatTheFunctionsCall(t *testing.T) {
	hub, err := templates.Load(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	member, err := templates.Load(filepath.Join("..", "..", "member-template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	hubCalls, spokeCalls := actionsByIdentity(tour(t, localaws.Relax{}))
	roles := hub.FunctionRoles()
	check := func(who string, called map[string]bool, granted []string) {
		t.Helper()
		for _, a := range slices.Sorted(maps.Keys(called)) {
			if !slices.Contains(granted, a) {
				t.Errorf("%s calls %s, which its role does not grant", who, a)
			}
		}
		for _, g := range granted {
			if !called[g] && notCalledByCode[g] == "" {
				t.Errorf("%s's role grants %s, which no code calls", who, g)
			}
		}
	}
	for fn, logical := range map[string]string{"onboard": "OnboardFunction", "accept": "AcceptFunction", "reconcile": "ReconcileFunction"} {
		if len(hubCalls[fn]) == 0 {
			t.Fatalf("the tour made no calls as %s", fn)
		}
		check(fn, hubCalls[fn], hub.Actions(roles[logical]))
	}
	check("the spoke role", spokeCalls, member.Actions("SpokeRole"))
}

// notNeededByCode are statements the functions' own calls never use, with
// the reason they are granted (by Sid, in any role).
var notNeededByCode = map[string]string{
	"Logs":        "Lambda writes the function's logs with its role",
	"DeadLetters": "Lambda sends failed asynchronous invocations to the dead-letter queue with the function's role",
	"QueuePoller": "Lambda's event source mapping polls the onboarding queue with the function's role",
}

// Every statement of every role's policy allows at least one request the
// tour makes: a statement that allows nothing the code does is a grant too
// many (or a path the tour misses). Decided per statement, resource and
// condition, as the local AWS's IAM evaluation decided each request.
func TestEveryPolicyStatementIsUsed(t *testing.T) {
	e, calls := tourEnv(t)
	roles := map[string]bool{}
	for _, c := range calls {
		if i := strings.Index(c.Principal, ":assumed-role/jenkins-agent-vpcs-"); i >= 0 {
			role, _, _ := strings.Cut(c.Principal[i+len(":assumed-role/"):], "/")
			roles[c.Account+"/"+role] = true
		}
	}
	if len(roles) < 4 {
		t.Fatalf("the tour used %d roles: %v", len(roles), roles)
	}
	// A role deployed in several accounts (the spoke role) needs each
	// statement used in one of them.
	unused := map[string]map[string]int{} // role -> statement -> accounts where unused
	accounts := map[string]int{}
	for _, key := range slices.Sorted(maps.Keys(roles)) {
		account, role, _ := strings.Cut(key, "/")
		accounts[role]++
		if unused[role] == nil {
			unused[role] = map[string]int{}
		}
		for _, st := range e.w.Server.UnusedStatements(account, role) {
			unused[role][st]++
		}
	}
	for _, role := range slices.Sorted(maps.Keys(unused)) {
		for _, st := range slices.Sorted(maps.Keys(unused[role])) {
			sid := st[strings.LastIndex(st, " ")+1:]
			if unused[role][st] == accounts[role] && notNeededByCode[sid] == "" {
				t.Errorf("%s: %s allowed no request of the tour", role, st)
			}
		}
	}
}
