package localstack

import (
	"os"
	"path/filepath"
	"testing"
)

func hubDeployment(t *testing.T, overrides map[string]string) *deployment {
	t.Helper()
	wd, _ := os.Getwd()
	root, err := RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{"OrganizationId": "o-jenkinsagents0", "SpokeExternalId": "ext", "EndpointServiceId": "vpce-svc-0a1b2c3d4e5f60718"}
	for k, v := range overrides {
		params[k] = v
	}
	d, err := newDeployment(filepath.Join(root, "template.yaml"), StackName, HubAccount, "eu-west-1", params)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The functions' environment is the template's, with intrinsics resolved
// as CloudFormation would.
func TestHubValuesResolveAsCloudFormationWould(t *testing.T) {
	d := hubDeployment(t, map[string]string{"TagKey": "agents"})
	env := map[string]string{}
	for k, raw := range d.tpl.Env("OnboardFunction") {
		v, err := d.text(raw)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		env[k] = v
	}
	want := map[string]string{
		"ENDPOINT_SERVICE_ID": "vpce-svc-0a1b2c3d4e5f60718", // !If [CreateEndpointService, ...] with no NLB
		"TAG_KEY":             "agents",                     // override
		"TUNNEL_PORT":         "50000",                      // default
		"EVENT_BUS_NAME":      "jenkins-agent-vpcs",         // !Ref of the bus resource is its name
		"SPOKE_EXTERNAL_ID":   "ext",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for ref, want := range map[string]string{
		"!GetAtt OnboardRole.Arn":     "arn:aws:iam::111111111111:role/jenkins-agent-vpcs-onboard",
		"!GetAtt EventBus.Arn":        "arn:aws:events:eu-west-1:111111111111:event-bus/jenkins-agent-vpcs",
		"!GetAtt OnboardFunction.Arn": "arn:aws:lambda:eu-west-1:111111111111:function:jenkins-agent-vpcs-onboard",
	} {
		if got, err := d.text(ref); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", ref, got, err, want)
		}
	}
}

func TestMissingParameterAndUnknownReferenceFail(t *testing.T) {
	wd, _ := os.Getwd()
	root, _ := RepoRoot(wd)
	if _, err := newDeployment(filepath.Join(root, "template.yaml"), StackName, HubAccount, "eu-west-1", nil); err == nil {
		t.Error("a template parameter without default or value was accepted")
	}
	d := hubDeployment(t, nil)
	if _, err := d.text("!Ref NoSuchThing"); err == nil {
		t.Error("an unknown reference resolved")
	}
	if ok, err := d.condition("CreateEndpointService"); err != nil || ok {
		t.Errorf("CreateEndpointService = %v (%v), want false without an NLB", ok, err)
	}
	d = hubDeployment(t, map[string]string{"EndpointServiceId": "", "NetworkLoadBalancerArn": "arn:aws:elasticloadbalancing:eu-west-1:111111111111:loadbalancer/net/j/1"})
	if ok, err := d.condition("CreateEndpointService"); err != nil || !ok {
		t.Errorf("CreateEndpointService = %v (%v), want true with an NLB", ok, err)
	}
}
