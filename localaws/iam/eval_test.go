package iam

import (
	"strings"
	"testing"
)

const (
	acct    = "222222222222"
	session = "arn:aws:sts::222222222222:assumed-role/spoke/s"
	vpcARN  = "arn:aws:ec2:us-east-1:222222222222:vpc/vpc-1"
	sgARN   = "arn:aws:ec2:us-east-1:222222222222:security-group/sg-1"
	epARN   = "arn:aws:ec2:us-east-1:222222222222:vpc-endpoint/*"
)

func policy(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := ParsePolicy("test", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func req(action string, ctx map[string][]string, res ...Resource) Request {
	c := map[string][]string{"aws:PrincipalAccount": {acct}, "aws:PrincipalArn": {"arn:aws:iam::222222222222:role/spoke"}}
	for k, v := range ctx {
		c[k] = v
	}
	return Request{Action: action, Principal: session, Account: acct, Context: c, Resources: res}
}

func identityOnly(action string, ctx map[string][]string, res ...Resource) Request {
	r := req(action, ctx, res...)
	r.IdentityOnly = true
	return r
}

func TestEvaluate(t *testing.T) {
	managed := map[string]string{"jenkins-agent-vpcs:managed": "true"}
	tests := []struct {
		name   string
		policy string
		req    Request
		allow  bool
		reason string // substring of the decision's reason
	}{
		{"implicit deny", `{"Statement":{"Effect":"Allow","Action":"ec2:DescribeVpcs","Resource":"*"}}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group"}), false, "no statement matches"},
		{"action case-insensitive and wildcard", `{"Statement":[{"Effect":"Allow","Action":"EC2:describe*","Resource":"*"}]}`,
			req("ec2:DescribeVpcs", nil), true, "statement #1"},
		{"question mark wildcard", `{"Statement":[{"Effect":"Allow","Action":"ssm:GetParameter?","Resource":"*"}]}`,
			req("ssm:GetParameters", nil), true, ""},
		{"question mark needs one character", `{"Statement":[{"Effect":"Allow","Action":"ssm:GetParameter?","Resource":"*"}]}`,
			req("ssm:GetParameter", nil), false, ""},
		{"explicit deny wins", `{"Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"},{"Sid":"No","Effect":"Deny","Action":"ec2:DeleteSecurityGroup","Resource":"*"}]}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group"}), false, "explicitly denied by test statement No"},
		{"NotAction allows everything else", `{"Statement":{"Effect":"Allow","NotAction":"ec2:Delete*","Resource":"*"}}`,
			req("ec2:CreateSecurityGroup", nil, Resource{ARN: vpcARN, Type: "vpc"}), true, ""},
		{"NotAction excludes", `{"Statement":{"Effect":"Allow","NotAction":"ec2:Delete*","Resource":"*"}}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group"}), false, ""},
		{"NotResource excludes", `{"Statement":{"Effect":"Allow","Action":"ec2:*","NotResource":"arn:aws:ec2:*:*:vpc/*"}}`,
			req("ec2:CreateSecurityGroup", nil, Resource{ARN: vpcARN, Type: "vpc"}), false, ""},
		{"NotResource allows others", `{"Statement":{"Effect":"Allow","Action":"ec2:*","NotResource":"arn:aws:ec2:*:*:vpc/*"}}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group"}), true, ""},
		{"resource ARNs are case-sensitive", `{"Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"arn:aws:ec2:*:*:VPC/*"}}`,
			req("ec2:CreateSecurityGroup", nil, Resource{ARN: vpcARN, Type: "vpc"}), false, ""},
		{"every resource must be allowed", `{"Statement":{"Effect":"Allow","Action":"ec2:CreateSecurityGroup","Resource":"arn:aws:ec2:*:*:vpc/*"}}`,
			req("ec2:CreateSecurityGroup", nil, Resource{ARN: vpcARN, Type: "vpc"}, Resource{ARN: "arn:aws:ec2:us-east-1:222222222222:security-group/*", Type: "security-group"}), false, ""},
		{"resource tag matches", `{"Statement":{"Effect":"Allow","Action":"ec2:DeleteSecurityGroup","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/jenkins-agent-vpcs:managed":"true"}}}}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group", Tags: managed}), true, ""},
		{"resource tag missing", `{"Statement":{"Effect":"Allow","Action":"ec2:DeleteSecurityGroup","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/jenkins-agent-vpcs:managed":"true"}}}}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group"}), false, "key absent"},
		{"condition keys are case-insensitive", `{"Statement":{"Effect":"Allow","Action":"ec2:DeleteSecurityGroup","Resource":"*","Condition":{"StringEquals":{"AWS:RESOURCETAG/Jenkins-Agent-Vpcs:Managed":"true"}}}}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group", Tags: managed}), true, ""},
		{"StringEquals values are case-sensitive", `{"Statement":{"Effect":"Allow","Action":"ec2:DeleteSecurityGroup","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/jenkins-agent-vpcs:managed":"TRUE"}}}}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group", Tags: managed}), false, "do not satisfy"},
		{"StringEqualsIgnoreCase", `{"Statement":{"Effect":"Allow","Action":"ec2:DeleteSecurityGroup","Resource":"*","Condition":{"StringEqualsIgnoreCase":{"aws:ResourceTag/jenkins-agent-vpcs:managed":"TRUE"}}}}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group", Tags: managed}), true, ""},
		{"key not listed for the resource type is invisible", `{"Statement":{"Effect":"Allow","Action":"ec2:CreateVpcEndpoint","Resource":"*","Condition":{"StringEquals":{"ec2:VpceServiceName":"svc"}}}}`,
			req("ec2:CreateVpcEndpoint", nil, Resource{ARN: vpcARN, Type: "vpc", Keys: map[string][]string{"ec2:VpceServiceName": {"svc"}}}), false, "key absent"},
		{"key listed for the resource type is visible", `{"Statement":{"Effect":"Allow","Action":"ec2:CreateVpcEndpoint","Resource":"*","Condition":{"StringEquals":{"ec2:VpceServiceName":"svc"}}}}`,
			req("ec2:CreateVpcEndpoint", nil, Resource{ARN: epARN, Type: "vpc-endpoint", Keys: map[string][]string{"ec2:VpceServiceName": {"svc"}}}), true, ""},
		{"request tags invisible on a resource type without them", `{"Statement":{"Effect":"Allow","Action":"ec2:CreateVpcEndpoint","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/k":"v"}}}}`,
			req("ec2:CreateVpcEndpoint", map[string][]string{"aws:RequestTag/k": {"v"}}, Resource{ARN: vpcARN, Type: "vpc"}), false, "key absent"},
		{"global principal keys are always visible", `{"Statement":{"Effect":"Allow","Action":"ec2:CreateVpcEndpoint","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"222222222222"}}}}`,
			req("ec2:CreateVpcEndpoint", nil, Resource{ARN: vpcARN, Type: "vpc"}), true, ""},
		{"negated operator on a missing key is true", `{"Statement":{"Effect":"Allow","Action":"ec2:DeleteSecurityGroup","Resource":"*","Condition":{"StringNotEquals":{"aws:ResourceTag/owner":"other"}}}}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group"}), true, ""},
		{"StringNotLike fails on a match", `{"Statement":{"Effect":"Allow","Action":"ec2:DeleteSecurityGroup","Resource":"*","Condition":{"StringNotLike":{"aws:ResourceTag/jenkins-agent-vpcs:managed":["t*","x"]}}}}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group", Tags: managed}), false, ""},
		{"IfExists on a missing key is true", `{"Statement":{"Effect":"Allow","Action":"ec2:DeleteSecurityGroup","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:ResourceTag/owner":"me"}}}}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group"}), true, ""},
		{"IfExists on a present key checks it", `{"Statement":{"Effect":"Allow","Action":"ec2:DeleteSecurityGroup","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:ResourceTag/jenkins-agent-vpcs:managed":"false"}}}}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group", Tags: managed}), false, ""},
		{"Null true: key absent", `{"Statement":{"Effect":"Allow","Action":"ec2:DeleteSecurityGroup","Resource":"*","Condition":{"Null":{"aws:ResourceTag/owner":"true"}}}}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group"}), true, ""},
		{"Null false: key present required", `{"Statement":{"Effect":"Allow","Action":"ec2:DeleteSecurityGroup","Resource":"*","Condition":{"Null":{"aws:ResourceTag/owner":"false"}}}}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group"}), false, ""},
		// IAM User Guide, "Set operators for multivalued context keys":
		// ForAllValues is true when the request has no such key (hence the
		// documented pairing with a Null check), ForAnyValue is false.
		{"ForAllValues with no tags at all is true", `{"Statement":{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}}}`,
			req("ec2:CreateTags", nil, Resource{ARN: vpcARN, Type: "vpc"}), true, ""},
		{"ForAllValues with Null false refuses an empty set", `{"Statement":{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]},"Null":{"aws:TagKeys":"false"}}}}`,
			req("ec2:CreateTags", nil, Resource{ARN: vpcARN, Type: "vpc"}), false, "Null aws:TagKeys"},
		{"ForAllValues subset", `{"Statement":{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}}}`,
			req("ec2:CreateTags", map[string][]string{"aws:TagKeys": {"a"}}, Resource{ARN: vpcARN, Type: "vpc"}), true, ""},
		{"ForAllValues extra key", `{"Statement":{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}}}`,
			req("ec2:CreateTags", map[string][]string{"aws:TagKeys": {"a", "c"}}, Resource{ARN: vpcARN, Type: "vpc"}), false, ""},
		{"ForAnyValue with no key is false", `{"Statement":{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":["a"]}}}}`,
			req("ec2:CreateTags", nil, Resource{ARN: vpcARN, Type: "vpc"}), false, ""},
		{"ForAnyValue one of", `{"Statement":{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":["a"]}}}}`,
			req("ec2:CreateTags", map[string][]string{"aws:TagKeys": {"z", "a"}}, Resource{ARN: vpcARN, Type: "vpc"}), true, ""},
		{"ForAllValues negated: none of the forbidden keys", `{"Statement":{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"ForAllValues:StringNotEquals":{"aws:TagKeys":["owner"]}}}}`,
			req("ec2:CreateTags", map[string][]string{"aws:TagKeys": {"a", "owner"}}, Resource{ARN: vpcARN, Type: "vpc"}), false, ""},
		{"ArnLike", `{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/sp*"}}}}`,
			identityOnly("sts:AssumeRole", nil, Resource{ARN: "arn:aws:iam::333333333333:role/x", Type: "role"}), true, ""},
		{"ArnNotEquals", `{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*","Condition":{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::222222222222:role/spoke"}}}}`,
			req("sts:AssumeRole", nil, Resource{ARN: "arn:aws:iam::333333333333:role/x", Type: "role"}), false, ""},
		{"Bool", `{"Statement":{"Effect":"Allow","Action":"ec2:DescribeVpcs","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}}`,
			req("ec2:DescribeVpcs", map[string][]string{"aws:SecureTransport": {"True"}}), true, ""},
		{"Numeric", `{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*","Condition":{"NumericLessThanEquals":{"sts:DurationSeconds":"3600"}}}}`,
			req("sts:AssumeRole", map[string][]string{"sts:DurationSeconds": {"7200"}}, Resource{ARN: "arn:aws:iam::333333333333:role/x", Type: "role"}), false, ""},
		{"policy variable in Resource", `{"Statement":{"Effect":"Allow","Action":"ssm:GetParameter","Resource":"arn:aws:ssm:*:*:parameter/p/${aws:PrincipalAccount}/*"}}`,
			req("ssm:GetParameter", nil, Resource{ARN: "arn:aws:ssm:us-east-1:222222222222:parameter/p/222222222222/x", Type: "parameter"}), true, ""},
		{"policy variable in condition", `{"Statement":{"Effect":"Allow","Action":"ec2:DeleteSecurityGroup","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/owner":"${aws:PrincipalAccount}"}}}}`,
			req("ec2:DeleteSecurityGroup", nil, Resource{ARN: sgARN, Type: "security-group", Tags: map[string]string{"owner": acct}}), true, ""},
		{"several values are OR, several keys AND", `{"Statement":{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"StringEquals":{"ec2:CreateAction":["CreateSecurityGroup","CreateVpcEndpoint"],"aws:RequestTag/k":"v"}}}}`,
			req("ec2:CreateTags", map[string][]string{"aws:RequestTag/k": {"w"}}, Resource{ARN: epARN, Type: "vpc-endpoint", Keys: map[string][]string{"ec2:CreateAction": {"CreateVpcEndpoint"}}}), false, "aws:RequestTag/k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Evaluate([]*Policy{policy(t, tt.policy)}, tt.req)
			if d.Allowed != tt.allow {
				t.Fatalf("allowed = %v, want %v (%s)", d.Allowed, tt.allow, d.Reason)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q does not mention %q", d.Reason, tt.reason)
			}
		})
	}
}

func TestResourcePolicy(t *testing.T) {
	bus := `{"Statement":{"Sid":"OrganizationPutEvents","Effect":"Allow","Principal":"*","Action":"events:PutEvents",
		"Resource":"arn:aws:events:us-east-1:111111111111:event-bus/hub","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}}`
	identity := `{"Statement":{"Effect":"Allow","Action":"events:PutEvents","Resource":"arn:aws:events:us-east-1:111111111111:event-bus/hub"}}`
	busRes := func() Resource {
		return Resource{ARN: "arn:aws:events:us-east-1:111111111111:event-bus/hub", Type: "event-bus", Policy: policy(t, bus)}
	}
	tests := []struct {
		name     string
		identity []*Policy
		org      string
		account  string
		allow    bool
		missing  string
	}{
		{"cross-account needs both", []*Policy{policy(t, identity)}, "o-1", acct, true, ""},
		{"cross-account outside the organization", []*Policy{policy(t, identity)}, "o-2", acct, false, "resource-based"},
		{"cross-account without an identity policy", nil, "o-1", acct, false, "identity-based"},
		{"same account: the resource policy alone suffices", nil, "o-1", "111111111111", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Request{Action: "events:PutEvents", Principal: "arn:aws:sts::" + tt.account + ":assumed-role/fwd/s", Account: tt.account,
				Context: map[string][]string{"aws:PrincipalOrgID": {tt.org}}, Resources: []Resource{busRes()}}
			d := Evaluate(tt.identity, r)
			if d.Allowed != tt.allow || d.Missing != tt.missing {
				t.Fatalf("allowed %v missing %q, want %v %q (%s)", d.Allowed, d.Missing, tt.allow, tt.missing, d.Reason)
			}
		})
	}
}

func TestParsePolicyRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"no statement":     `{"Version":"2012-10-17"}`,
		"bad effect":       `{"Statement":{"Effect":"Maybe","Action":"*","Resource":"*"}}`,
		"action and not":   `{"Statement":{"Effect":"Allow","Action":"*","NotAction":"x","Resource":"*"}}`,
		"unknown operator": `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringSortOf":{"k":"v"}}}}`,
		"qualified Null":   `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAnyValue:Null":{"k":"true"}}}}`,
		"unknown set":      `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForSome:StringEquals":{"k":"v"}}}}`,
		"not json":         `Statement: []`,
		"string principal": `{"Statement":{"Effect":"Allow","Principal":"me","Action":"*","Resource":"*"}}`,
	} {
		if _, err := ParsePolicy(name, []byte(doc)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func TestFactsCoverTheProductsActions(t *testing.T) {
	for _, a := range []string{"ec2:CreateVpcEndpoint", "ec2:ModifyVpcEndpoint", "ssm:GetParametersByPath", "events:PutEvents", "sts:AssumeRole"} {
		if _, ok := Facts(a); !ok {
			t.Errorf("no facts for %s", a)
		}
	}
	f, _ := Facts("ec2:ModifyVpcEndpoint")
	sg, ok := f.resourceType("security-group")
	if !ok || !sg.visible("ec2:Vpc") || sg.visible("ec2:VpceServiceName") || !sg.visible("aws:ResourceTag/x") {
		t.Errorf("ModifyVpcEndpoint security-group keys wrong: %+v", sg)
	}
}

func TestGlob(t *testing.T) {
	for _, tt := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*c", "abc", true}, {"a*c", "ab", false}, {"a?c", "abc", true}, {"a?c", "ac", false},
		{"arn:aws:ssm:*:*:parameter/p/*", "arn:aws:ssm:us-east-1:1:parameter/p/a/b", true}, {"*b*", "aaa", false},
	} {
		if got := Glob(tt.p, tt.s); got != tt.want {
			t.Errorf("Glob(%q, %q) = %v", tt.p, tt.s, got)
		}
	}
}

func TestCrossAccountWithoutResourcePolicyIsDenied(t *testing.T) {
	p := policy(t, `{"Statement":{"Effect":"Allow","Action":"ssm:GetParameter","Resource":"*"}}`)
	d := Evaluate([]*Policy{p}, req("ssm:GetParameter", nil, Resource{ARN: "arn:aws:ssm:us-east-1:111111111111:parameter/x", Type: "parameter"}))
	if d.Allowed || d.Missing != "resource-based" {
		t.Fatalf("cross-account read without a resource policy: %+v", d)
	}
}

// An allowed request names the statement that allowed each resource, so
// a test can tell which grants the code uses; a denied one names none.
func TestDecisionNamesTheAllowingStatements(t *testing.T) {
	p := policy(t, `{"Statement":[
		{"Sid":"InVpc","Effect":"Allow","Action":"ec2:CreateSecurityGroup","Resource":"arn:aws:ec2:*:*:vpc/*"},
		{"Sid":"Group","Effect":"Allow","Action":"ec2:CreateSecurityGroup","Resource":"arn:aws:ec2:*:*:security-group/*"}]}`)
	both := req("ec2:CreateSecurityGroup", nil, Resource{ARN: vpcARN, Type: "vpc"}, Resource{ARN: sgARN, Type: "security-group"})
	d := Evaluate([]*Policy{p}, both)
	if !d.Allowed || strings.Join(d.Allowing, ",") != "test statement InVpc,test statement Group" {
		t.Fatalf("allowed %v by %q, want both statements", d.Allowed, d.Allowing)
	}
	vpcOnly := policy(t, `{"Statement":{"Sid":"InVpc","Effect":"Allow","Action":"ec2:CreateSecurityGroup","Resource":"arn:aws:ec2:*:*:vpc/*"}}`)
	if d := Evaluate([]*Policy{vpcOnly}, both); d.Allowed || len(d.Allowing) != 0 {
		t.Fatalf("allowed %v by %q, want a denial naming no statement", d.Allowed, d.Allowing)
	}
}

// A service principal (vpce.amazonaws.com publishing a connection
// notification) has no identity policies: the resource's policy alone
// decides, and a resource without one refuses.
func TestServicePrincipal(t *testing.T) {
	const topic = "arn:aws:sns:us-east-1:111111111111:connections"
	statement := func(principal, condition string) string {
		return `{"Statement":{"Effect":"Allow","Principal":` + principal + `,"Action":"sns:Publish","Resource":"` + topic + `","Condition":` + condition + `}}`
	}
	tests := []struct {
		name   string
		policy string // "" means none
		allow  bool
	}{
		{"the service, from the topic's account", statement(`{"Service":"vpce.amazonaws.com"}`, `{"StringEquals":{"aws:SourceAccount":"111111111111"}}`), true},
		{"the service, from another account", statement(`{"Service":"vpce.amazonaws.com"}`, `{"StringEquals":{"aws:SourceAccount":"222222222222"}}`), false},
		{"any principal includes services", statement(`"*"`, `{"ArnLike":{"aws:SourceArn":"arn:aws:ec2:*:111111111111:vpc-endpoint-service/*"}}`), true},
		{"an account is not its services", statement(`{"AWS":"arn:aws:iam::111111111111:root"}`, `{}`), false},
		{"another service", statement(`{"Service":"events.amazonaws.com"}`, `{}`), false},
		{"no policy", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Resource{ARN: topic, Type: "topic"}
			if tt.policy != "" {
				res.Policy = policy(t, tt.policy)
			}
			d := Evaluate(nil, Request{Action: "sns:Publish", Principal: "vpce.amazonaws.com", Resources: []Resource{res},
				Context: map[string][]string{"aws:SourceAccount": {"111111111111"},
					"aws:SourceArn": {"arn:aws:ec2:us-east-1:111111111111:vpc-endpoint-service/vpce-svc-1"}}})
			if d.Allowed != tt.allow || (!d.Allowed && d.Missing != "resource-based") {
				t.Fatalf("allowed %v missing %q, want %v (%s)", d.Allowed, d.Missing, tt.allow, d.Reason)
			}
		})
	}
}
