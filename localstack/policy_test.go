package localstack

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/iam"
)

func TestRolePoliciesResolveAsCloudFormation(t *testing.T) {
	hubParams := map[string]string{"OrganizationId": "o-abc", "EndpointServiceId": "vpce-svc-0a1b2c3d4e5f60001", "SpokeExternalId": "x"}
	memberParams := map[string]string{"HubAccountId": HubAccount, "HubEventBusArn": "arn:aws:events:us-east-1:111111111111:event-bus/jenkins-agent-vpcs",
		"HubFunctionRoleArns": "arn:aws:iam::111111111111:role/a", "ExternalId": "x",
		"EndpointServiceName": "com.amazonaws.vpce.us-east-1.vpce-svc-0a1b2c3d4e5f60001"}
	tests := []struct {
		template, account string
		params            map[string]string
		role              string
		contains          []string // resolved text the documents must hold
	}{
		{"template.yaml", HubAccount, hubParams, "jenkins-agent-vpcs-onboard", []string{
			// !Sub with a variable map whose value is an !If
			`"arn:aws:ec2:us-east-1:111111111111:vpc-endpoint-service/vpce-svc-0a1b2c3d4e5f60001"`,
			`"aws:ResourceOrgID":"o-abc"`,
			`"arn:aws:ssm:us-east-1:111111111111:parameter/jenkins-agent-vpcs/*"`}},
		{"member-template.yaml", "222222222222", memberParams, "jenkins-agent-vpcs-spoke", []string{
			`"ec2:VpceServiceName":"com.amazonaws.vpce.us-east-1.vpce-svc-0a1b2c3d4e5f60001"`,
			`"arn:aws:ec2:us-east-1:222222222222:security-group/*"`}},
	}
	for _, tc := range tests {
		t.Run(tc.template, func(t *testing.T) {
			all, err := RolePolicies(filepath.Join("..", tc.template), "jenkins-agent-vpcs", tc.account, "us-east-1", tc.params)
			if err != nil {
				t.Fatal(err)
			}
			policies := all[tc.role]
			if len(policies) == 0 {
				t.Fatalf("no policies for %s (roles: %v)", tc.role, all)
			}
			var text strings.Builder
			for roleName, ps := range all {
				for _, p := range ps {
					if _, err := iam.ParsePolicy(p.Name, p.Document); err != nil {
						t.Errorf("%s policy %s does not parse: %v", roleName, p.Name, err)
					}
					if s := string(p.Document); strings.Contains(s, "!") || strings.Contains(s, "${") || strings.Contains(s, "AWS::") {
						t.Errorf("%s policy %s is not fully resolved: %s", roleName, p.Name, s)
					}
				}
			}
			for _, p := range policies {
				text.Write(p.Document)
			}
			for _, want := range tc.contains {
				if !strings.Contains(text.String(), want) {
					t.Errorf("%s policies lack %s:\n%s", tc.role, want, text.String())
				}
			}
		})
	}
}

func TestBusPolicyResolves(t *testing.T) {
	d, err := newDeployment(filepath.Join("..", "template.yaml"), StackName, HubAccount, "us-east-1", map[string]string{"OrganizationId": "o-abc", "EndpointServiceId": "vpce-svc-0a1b2c3d4e5f60001", "SpokeExternalId": "x"})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := d.busPolicies()
	if err != nil {
		t.Fatal(err)
	}
	doc := string(docs["arn:aws:events:us-east-1:111111111111:event-bus/jenkins-agent-vpcs"])
	for _, want := range []string{`"Principal":"*"`, `"aws:PrincipalOrgID":"o-abc"`, `"Sid":"OrganizationPutEvents"`} {
		if !strings.Contains(doc, want) {
			t.Errorf("bus policy lacks %s: %s (all: %v)", want, doc, docs)
		}
	}
	if _, err := iam.ParsePolicy("bus", []byte(doc)); err != nil {
		t.Error(err)
	}
}

func TestTopicPolicyResolves(t *testing.T) {
	d, err := newDeployment(filepath.Join("..", "template.yaml"), StackName, HubAccount, "us-east-1", map[string]string{"OrganizationId": "o-abc", "EndpointServiceId": "vpce-svc-0a1b2c3d4e5f60001", "SpokeExternalId": "x"})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := d.topicPolicies()
	if err != nil {
		t.Fatal(err)
	}
	topic, err := d.ref("ConnectionTopic")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(docs[topic])
	if len(docs) != 1 || doc == "" {
		t.Fatalf("topic policies %v, want one for %s", docs, topic)
	}
	for _, want := range []string{`"Service":"vpce.amazonaws.com"`, `"Action":"sns:Publish"`, `"Resource":"` + topic + `"`, `"aws:SourceAccount":"` + HubAccount + `"`} {
		if !strings.Contains(doc, want) {
			t.Errorf("topic policy lacks %s: %s", want, doc)
		}
	}
	if _, err := iam.ParsePolicy("topic", []byte(doc)); err != nil {
		t.Error(err)
	}
}
