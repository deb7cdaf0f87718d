package localaws

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// iamTopology: a member with one VPC and a role whose policy allows
// describes, and security-group changes only on managed groups.
func iamTopology() *Topology {
	return &Topology{Region: region, Organization: &Organization{ID: orgID}, Accounts: []Account{
		{ID: hub, Roles: []Role{{Name: "fn", Trust: Trust{Principals: []string{"lambda.amazonaws.com"}},
			Policies: []RolePolicy{{Name: "params", Document: PolicyDocument(`{"Statement":[
				{"Effect":"Allow","Action":"ssm:GetParameter","Resource":"arn:aws:ssm:eu-west-1:111111111111:parameter/allowed/*"},
				{"Sid":"NoSecrets","Effect":"Deny","Action":"ssm:*","Resource":"arn:aws:ssm:*:*:parameter/allowed/secret"}]}`)}}}},
			Parameters: []Parameter{{Name: "/allowed/x", Value: "1"}, {Name: "/allowed/secret", Value: "2"}, {Name: "/other", Value: "3"}}},
		{ID: member, Roles: []Role{{Name: "spoke", Trust: Trust{Principals: []string{hub}},
			Policies: []RolePolicy{{Name: "p", Document: PolicyDocument(`{"Version":"2012-10-17","Statement":[
				{"Sid":"Describe","Effect":"Allow","Action":"ec2:Describe*","Resource":"*"},
				{"Sid":"ManagedGroups","Effect":"Allow","Action":"ec2:DeleteSecurityGroup","Resource":"*",
				 "Condition":{"StringEquals":{"aws:ResourceTag/managed":"true"}}}]}`)}}}},
			VPCs: []VPC{{ID: "vpc-0aaaaaaaaaaaaaaa1", CIDR: "10.1.0.0/16", Subnets: []Subnet{{AZ: region + "a"}}}}},
	}}
}

// roleConfig is an SDK config with the credentials Lambda would give a role.
func roleConfig(t *testing.T, srv *Server, url, account, role string) aws.Config {
	t.Helper()
	c, err := srv.RoleCredentials(account, role, "sess", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return awsConfig(url, c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
}

// apiError returns the code, message and HTTP status of an SDK error.
func apiError(t *testing.T, err error) (code, message string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an API error, got %v", err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), ae.ErrorMessage(), status
}

func TestIAMDeniesEC2CallsTheRolesPolicyDoesNotAllow(t *testing.T) {
	// This test is about IAM; each step reads what the previous wrote, a
	// consistency window later.
	srv, url := startServer(t, Options{Topology: iamTopology()})
	spoke := ec2.NewFromConfig(roleConfig(t, srv, url, member, "spoke"))
	admin := ec2.NewFromConfig(awsConfig(url, member, "x", ""))
	vpc := "vpc-0aaaaaaaaaaaaaaa1"

	if _, err := spoke.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{}); err != nil {
		t.Fatalf("describe allowed by the policy: %v", err)
	}
	_, err := spoke.CreateSecurityGroup(ctx(t), &ec2.CreateSecurityGroupInput{GroupName: aws.String("g"), Description: aws.String("d"), VpcId: aws.String(vpc)})
	code, msg, status := apiError(t, err)
	want := "You are not authorized to perform this operation. User: arn:aws:sts::" + member + ":assumed-role/spoke/sess is not authorized to perform: ec2:CreateSecurityGroup on resource: arn:aws:ec2:" + region + ":" + member + ":vpc/" + vpc + " because no identity-based policy allows the ec2:CreateSecurityGroup action. Encoded authorization failure message: "
	if code != "UnauthorizedOperation" || status != http.StatusForbidden || !strings.HasPrefix(msg, want) || len(msg) <= len(want) {
		t.Fatalf("denial = %s %d %q\nwant UnauthorizedOperation 403 %q<encoded>", code, status, msg, want)
	}
	later(srv)
	groups, err := admin.DescribeSecurityGroups(ctx(t), &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{{Name: aws.String("group-name"), Values: []string{"g"}}}})
	if err != nil || len(groups.SecurityGroups) != 0 {
		t.Fatalf("a denied call created a group: %+v, %v", groups, err)
	}
	d := srv.Denials()
	if len(d) != 1 || d[0].Action != "ec2:CreateSecurityGroup" || !strings.HasSuffix(d[0].Resource, "vpc/"+vpc) || !strings.Contains(d[0].Reason, "no statement matches") {
		t.Fatalf("denials = %+v", d)
	}

	// The managed tag decides a delete: an untagged group is refused, a
	// tagged one deleted; an unknown group is evaluated without tags.
	plain, err := admin.CreateSecurityGroup(ctx(t), &ec2.CreateSecurityGroupInput{GroupName: aws.String("plain"), Description: aws.String("d"), VpcId: aws.String(vpc)})
	if err != nil {
		t.Fatal(err)
	}
	managed, err := admin.CreateSecurityGroup(ctx(t), &ec2.CreateSecurityGroupInput{GroupName: aws.String("managed"), Description: aws.String("d"), VpcId: aws.String(vpc),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup, Tags: []types.Tag{{Key: aws.String("managed"), Value: aws.String("true")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	later(srv)
	for _, tc := range []struct {
		id, code string
	}{{*plain.GroupId, "UnauthorizedOperation"}, {"sg-0123456789abcdef0", "UnauthorizedOperation"}, {*managed.GroupId, ""}} {
		_, err := spoke.DeleteSecurityGroup(ctx(t), &ec2.DeleteSecurityGroupInput{GroupId: aws.String(tc.id)})
		if tc.code == "" {
			if err != nil {
				t.Errorf("delete %s: %v", tc.id, err)
			}
			continue
		}
		if code, msg, _ := apiError(t, err); code != tc.code || !strings.Contains(msg, "security-group/"+tc.id) {
			t.Errorf("delete %s = %s %q, want %s", tc.id, code, msg, tc.code)
		}
	}
	if got := len(srv.Denials()); got != 3 {
		t.Errorf("%d denials recorded, want 3", got)
	}
}

func TestIAMTagOnCreateNeedsCreateTags(t *testing.T) {
	srv, url := startServer(t, Options{Topology: iamTopology()})
	spoke := ec2.NewFromConfig(roleConfig(t, srv, url, member, "spoke"))
	create := func() error {
		_, err := spoke.CreateSecurityGroup(ctx(t), &ec2.CreateSecurityGroupInput{GroupName: aws.String("g"), Description: aws.String("d"), VpcId: aws.String("vpc-0aaaaaaaaaaaaaaa1"),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup, Tags: []types.Tag{{Key: aws.String("managed"), Value: aws.String("true")}}}}})
		return err
	}
	if err := srv.PutRolePolicy(member, "spoke", "create", []byte(`{"Statement":[{"Effect":"Allow","Action":"ec2:CreateSecurityGroup","Resource":"*",
		"Condition":{"StringEqualsIfExists":{"aws:RequestTag/managed":"true"}}}]}`)); err != nil {
		t.Fatal(err)
	}
	code, msg, _ := apiError(t, create())
	if code != "UnauthorizedOperation" || !strings.Contains(msg, "perform: ec2:CreateTags on resource: arn:aws:ec2:"+region+":"+member+":security-group/*") {
		t.Fatalf("tag-on-create without ec2:CreateTags = %s %q", code, msg)
	}
	// ec2:CreateAction scopes CreateTags to tagging at creation.
	for _, tc := range []struct {
		action string
		ok     bool
	}{{"CreateVpcEndpoint", false}, {"CreateSecurityGroup", true}} {
		if err := srv.PutRolePolicy(member, "spoke", "tag", []byte(`{"Statement":{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*",
			"Condition":{"StringEquals":{"ec2:CreateAction":"`+tc.action+`"}}}}`)); err != nil {
			t.Fatal(err)
		}
		if err := create(); (err == nil) != tc.ok {
			t.Errorf("ec2:CreateAction %s: err = %v, want ok=%v", tc.action, err, tc.ok)
		}
	}
}

func TestIAMRelaxedLetsEverythingThrough(t *testing.T) {
	srv, url := startServer(t, Options{Topology: iamTopology(), Relax: Relax{IAM: true}})
	spoke := ec2.NewFromConfig(roleConfig(t, srv, url, member, "spoke"))
	if _, err := spoke.CreateSecurityGroup(ctx(t), &ec2.CreateSecurityGroupInput{GroupName: aws.String("g"), Description: aws.String("d"), VpcId: aws.String("vpc-0aaaaaaaaaaaaaaa1")}); err != nil {
		t.Fatalf("relaxed IAM: %v", err)
	}
	if d := srv.Denials(); len(d) != 0 {
		t.Fatalf("relaxed IAM recorded denials: %+v", d)
	}
}

func TestIAMDeniesSSMAndSTS(t *testing.T) {
	srv, url := startServer(t, Options{Topology: iamTopology()})
	cfg := roleConfig(t, srv, url, hub, "fn")
	params := ssm.NewFromConfig(cfg)
	if out, err := params.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/allowed/x")}); err != nil || *out.Parameter.Value != "1" {
		t.Fatalf("allowed parameter: %+v, %v", out, err)
	}
	tests := []struct {
		name, param, message string
	}{
		{"outside the policy's prefix", "/other", "User: arn:aws:sts::" + hub + ":assumed-role/fn/sess is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:" + region + ":" + hub + ":parameter/other because no identity-based policy allows the ssm:GetParameter action"},
		{"explicit deny", "/allowed/secret", "User: arn:aws:sts::" + hub + ":assumed-role/fn/sess is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:" + region + ":" + hub + ":parameter/allowed/secret with an explicit deny in an identity-based policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := params.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String(tc.param)})
			code, msg, status := apiError(t, err)
			if code != "AccessDeniedException" || status != http.StatusBadRequest || msg != tc.message {
				t.Fatalf("got %s %d %q\nwant AccessDeniedException 400 %q", code, status, msg, tc.message)
			}
		})
	}
	_, err := sts.NewFromConfig(cfg).AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + member + ":role/spoke"), RoleSessionName: aws.String("x")})
	code, msg, status := apiError(t, err)
	if code != "AccessDenied" || status != http.StatusForbidden || !strings.Contains(msg, "because no identity-based policy allows the sts:AssumeRole action") {
		t.Fatalf("assume without sts:AssumeRole = %s %d %q", code, status, msg)
	}
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("GetCallerIdentity needs no permission: %v", err)
	}
}

func TestPutRolePolicyRefusesUnknownRolesAndBadDocuments(t *testing.T) {
	srv, _ := startServer(t, Options{Topology: iamTopology()})
	if err := srv.PutRolePolicy(member, "nope", "p", []byte(`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`)); err == nil || !strings.Contains(err.Error(), "no role nope") {
		t.Errorf("unknown role: %v", err)
	}
	if err := srv.PutRolePolicy(member, "spoke", "p", []byte(`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringMaybe":{"k":"v"}}}}`)); err == nil {
		t.Error("a document with an unknown operator was accepted")
	}
	if _, err := ParseTopology([]byte("accounts:\n- id: \"444444444444\"\n  roles:\n  - name: r\n    policies: [{name: p, document: {Statement: {Effect: Perhaps}}}]\n")); err == nil {
		t.Error("a topology with a bad policy was accepted")
	}
}

// allowForwarding gives the member the rule role "events" that may put
// events on the hub bus, and the hub bus the organization's bus policy, as
// the templates do.
func allowForwarding(t *testing.T, srv *Server, hubBus string) {
	t.Helper()
	if err := srv.Seed(&Topology{Region: region, Accounts: []Account{{ID: member, Roles: []Role{{Name: "events",
		Trust:    Trust{Principals: []string{"events.amazonaws.com"}},
		Policies: []RolePolicy{{Name: "put", Document: PolicyDocument(`{"Statement":{"Effect":"Allow","Action":"events:PutEvents","Resource":"` + hubBus + `"}}`)}}}}}}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.PutResourcePolicy(hubBus, []byte(`{"Version":"2012-10-17","Statement":{"Sid":"OrganizationPutEvents","Effect":"Allow","Principal":"*",
		"Action":"events:PutEvents","Resource":"`+hubBus+`","Condition":{"StringEquals":{"aws:PrincipalOrgID":"`+orgID+`"}}}}`)); err != nil {
		t.Fatal(err)
	}
}

func TestIAMRuleForwardingToAnotherAccountsBus(t *testing.T) {
	hubBus := "arn:aws:events:" + region + ":" + hub + ":event-bus/jenkins-agent-vpcs"
	tests := []struct {
		name      string
		allow     bool   // role and bus policy as the templates make them
		org       string // the organization the bus policy names
		roleARN   string
		delivered bool
		reason    string
	}{
		{"role and bus policy allow", true, orgID, "arn:aws:iam::" + member + ":role/events", true, ""},
		{"bus policy names another organization", true, "o-other", "arn:aws:iam::" + member + ":role/events", false, "no resource-based policy allows it"},
		{"role without a policy", false, orgID, "arn:aws:iam::" + member + ":role/events", false, "no identity-based policy allows it"},
		{"no role: the bus policy decides for the account", true, orgID, "", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, url := startServer(t, Options{Topology: testTopology()})
			if tc.allow {
				allowForwarding(t, srv, hubBus)
			} else if err := srv.Seed(&Topology{Accounts: []Account{{ID: member, Roles: []Role{{Name: "events"}}}}}); err != nil {
				t.Fatal(err)
			}
			if err := srv.PutResourcePolicy(hubBus, []byte(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"events:PutEvents","Resource":"`+hubBus+`",
				"Condition":{"StringEquals":{"aws:PrincipalOrgID":"`+tc.org+`"}}}}`)); err != nil {
				t.Fatal(err)
			}
			memberEB := eventbridge.NewFromConfig(awsConfig(url, member, "x", ""))
			if _, err := memberEB.PutRule(ctx(t), &eventbridge.PutRuleInput{Name: aws.String("to-hub"), EventPattern: aws.String(`{"source":["jav.test"]}`)}); err != nil {
				t.Fatal(err)
			}
			target := ebtypes.Target{Id: aws.String("hub"), Arn: aws.String(hubBus)}
			if tc.roleARN != "" {
				target.RoleArn = aws.String(tc.roleARN)
			}
			if _, err := memberEB.PutTargets(ctx(t), &eventbridge.PutTargetsInput{Rule: aws.String("to-hub"), Targets: []ebtypes.Target{target}}); err != nil {
				t.Fatal(err)
			}
			var watched recorder[awsproto.Event]
			defer srv.Watch(hub, region, "jenkins-agent-vpcs", watched.add)()
			if _, err := memberEB.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
				{Source: aws.String("jav.test"), DetailType: aws.String("x"), Detail: aws.String(`{}`)}}}); err != nil {
				t.Fatal(err)
			}
			srv.Flush(5 * time.Second)
			if got := len(watched.all()) == 1; got != tc.delivered {
				t.Fatalf("delivered = %v, want %v (denials %+v)", got, tc.delivered, srv.Denials())
			}
			d := srv.Denials()
			if tc.delivered != (len(d) == 0) || (len(d) > 0 && (!strings.Contains(d[0].Reason, tc.reason) || d[0].Action != "events:PutEvents")) {
				t.Fatalf("denials = %+v, want reason %q", d, tc.reason)
			}
		})
	}
}
