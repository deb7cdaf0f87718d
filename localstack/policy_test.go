package localstack

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/iam"
)

// memberParams are member-template.yaml's parameters for a hub in
// eu-west-1 serving extra, the hub stack's AgentRegions.
func memberParams(hubRegion, extra string) map[string]string {
	return map[string]string{"HubAccountId": HubAccount, "HubEventBusArn": "arn:aws:events:eu-west-1:111111111111:event-bus/jenkins-agent-vpcs",
		"HubFunctionRoleArns": "arn:aws:iam::111111111111:role/a", "ExternalId": "x",
		"EndpointServiceName": "com.amazonaws.vpce.eu-west-1.vpce-svc-0a1b2c3d4e5f60001",
		"HubRegion":           hubRegion, "AgentRegions": extra}
}

// IAM is global: the StackSet's instance in every Region would collide on
// the role names, so only the hub Region's instance (or a stack without
// HubRegion, the single-Region deployment) creates the roles.
func TestMemberRolesOnlyInTheHubRegion(t *testing.T) {
	tests := []struct {
		name, region, hubRegion string
		wantRoles               bool
	}{
		{"single Region, HubRegion empty", "eu-west-1", "", true},
		{"the hub's Region", "eu-west-1", "eu-west-1", true},
		{"another served Region", "us-west-2", "eu-west-1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			all, err := RolePolicies(filepath.Join("..", "member-template.yaml"), memberStack, "222222222222", tc.region, memberParams(tc.hubRegion, "us-west-2"))
			if err != nil {
				t.Fatal(err)
			}
			_, spoke := all["jenkins-agent-vpcs-spoke"]
			_, forward := all["jenkins-agent-vpcs-forward-events"]
			if spoke != tc.wantRoles || forward != tc.wantRoles {
				t.Errorf("roles in %s with HubRegion %q: spoke %v, forwarding %v; want both %v", tc.region, tc.hubRegion, spoke, forward, tc.wantRoles)
			}
		})
	}
}

// The one spoke role acts in every served Region and nowhere else, and
// creates endpoints only for the hub's service in the hub's Region: its
// policy, resolved as CloudFormation would, decided by the local AWS's IAM
// evaluation for the resources CreateVpcEndpoint names.
func TestSpokeRoleServesTheAgentRegionsOnly(t *testing.T) {
	const account, service = "222222222222", "com.amazonaws.vpce.eu-west-1.vpce-svc-0a1b2c3d4e5f60001"
	tests := []struct {
		name, agentRegions, requested, serviceName, serviceRegion string
		want                                                      bool
	}{
		{"hub Region, no ServiceRegion", "", "eu-west-1", service, "", true},
		{"hub Region, ServiceRegion named", "us-west-2", "eu-west-1", service, "eu-west-1", true},
		{"served Region, the hub's service Region", "us-west-2", "us-west-2", service, "eu-west-1", true},
		{"served Region, another service Region", "us-west-2", "us-west-2", service, "us-east-1", false},
		{"served Region, another service", "us-west-2", "us-west-2", "com.amazonaws.vpce.eu-west-1.vpce-svc-0ffffffffffffffff", "eu-west-1", false},
		{"Region not served", "us-west-2", "ap-south-1", service, "eu-west-1", false},
		{"second Region while only the hub's is served", "", "us-west-2", service, "eu-west-1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			all, err := RolePolicies(filepath.Join("..", "member-template.yaml"), memberStack, account, "eu-west-1", memberParams("eu-west-1", tc.agentRegions))
			if err != nil {
				t.Fatal(err)
			}
			var policies []*iam.Policy
			for _, rp := range all["jenkins-agent-vpcs-spoke"] {
				p, err := iam.ParsePolicy(rp.Name, rp.Document)
				if err != nil {
					t.Fatal(err)
				}
				policies = append(policies, p)
			}
			arn := func(kind, id string) string {
				return "arn:aws:ec2:" + tc.requested + ":" + account + ":" + kind + "/" + id
			}
			endpoint := iam.Resource{ARN: arn("vpc-endpoint", "*"), Type: "vpc-endpoint", Keys: map[string][]string{"ec2:VpceServiceName": {tc.serviceName}}}
			if tc.serviceRegion != "" {
				endpoint.Keys["ec2:VpceServiceRegion"] = []string{tc.serviceRegion}
			}
			req := iam.Request{
				Action: "ec2:CreateVpcEndpoint", Principal: "arn:aws:sts::" + account + ":assumed-role/jenkins-agent-vpcs-spoke/onboard", Account: account,
				Context: map[string][]string{"aws:RequestedRegion": {tc.requested}, "aws:RequestTag/jenkins-agent-vpcs:managed": {"true"}, "aws:TagKeys": {"jenkins-agent-vpcs:managed"}},
				Resources: []iam.Resource{
					{ARN: arn("vpc", "vpc-0a000000000000001"), Type: "vpc"},
					{ARN: arn("subnet", "subnet-0a000000000000011"), Type: "subnet"},
					{ARN: arn("security-group", "sg-0a000000000000001"), Type: "security-group", Tags: map[string]string{"jenkins-agent-vpcs:managed": "true"}},
					endpoint,
				},
			}
			if d := iam.Evaluate(policies, req); d.Allowed != tc.want {
				t.Errorf("CreateVpcEndpoint in %s for %s (ServiceRegion %q): allowed %v, want %v (%s on %s)", tc.requested, tc.serviceName, tc.serviceRegion, d.Allowed, tc.want, d.Reason, d.Resource)
			}
			cross := slices.ContainsFunc(all["jenkins-agent-vpcs-spoke"], func(p localaws.RolePolicy) bool { return strings.Contains(string(p.Document), "vpce:AllowMultiRegion") })
			if cross != (tc.agentRegions != "") {
				t.Errorf("AgentRegions %q: vpce:AllowMultiRegion granted %v, want it only with other Regions", tc.agentRegions, cross)
			}
		})
	}
}

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
			`"arn:aws:ec2:*:222222222222:security-group/*"`,
			`"aws:RequestedRegion":"us-east-1"`}},
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
