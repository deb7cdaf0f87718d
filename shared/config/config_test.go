package config_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func base() map[string]string {
	return map[string]string{"ENDPOINT_SERVICE_ID": "vpce-svc-0123456789abcdef0", "EVENT_BUS_NAME": "jenkins-agent-vpcs"}
}

func TestLoadDefaults(t *testing.T) {
	c, err := config.Load(env(base()))
	if err != nil {
		t.Fatal(err)
	}
	if c.TagKey != "jenkins-agents" || c.TagValue != "true" || c.TunnelPort != 50000 || c.HTTPPort != 0 ||
		c.PrincipalMode != config.PrincipalRole || c.ApprovalMode != config.ApprovalAuto ||
		c.ParameterPrefix != "/jenkins-agent-vpcs" || c.SpokeRoleName != "jenkins-agent-vpcs-spoke" {
		t.Fatalf("unexpected defaults %+v", c)
	}
	if got := c.Ports(); len(got) != 1 || got[0] != 50000 {
		t.Fatalf("Ports() = %v", got)
	}
	if c.ParameterTier != "Standard" || c.OnboardConcurrency != 5 || c.ConnectionRate != 1 || c.OnboardQueueURL != "" ||
		c.FollowUpDelay != time.Minute || c.FollowUps != 15 {
		t.Fatalf("unexpected onboarding defaults %+v", c)
	}
}

func TestLoadNamesEveryBadVariable(t *testing.T) {
	tests := []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"ENDPOINT_SERVICE_ID": ""}, "ENDPOINT_SERVICE_ID is required"},
		{map[string]string{"EVENT_BUS_NAME": ""}, "EVENT_BUS_NAME is required"},
		{map[string]string{"ENDPOINT_SERVICE_ID": "svc-1"}, "ENDPOINT_SERVICE_ID must look like"},
		{map[string]string{"TUNNEL_PORT": "70000"}, "TUNNEL_PORT"},
		{map[string]string{"TUNNEL_PORT": "0"}, "TUNNEL_PORT"},
		{map[string]string{"HTTP_PORT": "http"}, "HTTP_PORT"},
		{map[string]string{"HTTP_PORT": "50000"}, "HTTP_PORT must differ"},
		{map[string]string{"PRINCIPAL_MODE": "org"}, "PRINCIPAL_MODE"},
		{map[string]string{"APPROVAL_MODE": "yes"}, "APPROVAL_MODE"},
		{map[string]string{"PARAMETER_READS": "path"}, "PARAMETER_READS"},
		{map[string]string{"ALLOWED_ACCOUNTS": "222222222222,12345"}, `ALLOWED_ACCOUNTS has "12345"`},
		{map[string]string{"ALLOWED_ACCOUNTS": "222222222222", "DENIED_ACCOUNTS": "222222222222"}, "also in DENIED_ACCOUNTS"},
		{map[string]string{"PARAMETER_PREFIX": "/aws/jenkins"}, "PARAMETER_PREFIX"},
		{map[string]string{"PARAMETER_PREFIX": "no-slash"}, "PARAMETER_PREFIX"},
		{map[string]string{"PARAMETER_PREFIX": "/a/b/c/d/e/f/g/h/i/j/k/l/m"}, "at most 12 levels"},
		{map[string]string{"SPOKE_ROLE_NAME": "bad role"}, "SPOKE_ROLE_NAME"},
		{map[string]string{"GRACE_PERIOD": "soon"}, "GRACE_PERIOD"},
		{map[string]string{"CONCURRENCY": "-1"}, "CONCURRENCY"},
		{map[string]string{"DRY_RUN": "maybe"}, "DRY_RUN"},
		{map[string]string{"ORGANIZATION_ROLE_ARN": "role/x"}, "ORGANIZATION_ROLE_ARN"},
		{map[string]string{"PARAMETER_TIER": "standard"}, `PARAMETER_TIER is "standard", want one of Standard, Intelligent-Tiering, Advanced`},
		{map[string]string{"ONBOARD_CONCURRENCY": "0"}, "ONBOARD_CONCURRENCY"},
		{map[string]string{"CONNECTION_RATE": "0"}, "CONNECTION_RATE"},
		{map[string]string{"FOLLOW_UP_DELAY": "16m"}, "FOLLOW_UP_DELAY must be at most 15m"},
		{map[string]string{"FOLLOW_UP_LIMIT": "none"}, "FOLLOW_UP_LIMIT"},
		{map[string]string{"ONBOARD_QUEUE_URL": "onboard-queue"}, "ONBOARD_QUEUE_URL must be an SQS queue URL"},
		{map[string]string{"AGENT_REGIONS": "us-west-2,Oregon"}, `AGENT_REGIONS has "Oregon", want Region names`},
		{map[string]string{"AGENT_REGIONS": "us-west-2 eu-west-1"}, `AGENT_REGIONS has "us-west-2 eu-west-1"`},
		{map[string]string{"ORGANIZATION_ROLE_ARN": "arn:aws:iam::111111111111:user/ops"}, `ORGANIZATION_ROLE_ARN must be an IAM role ARN: "arn:aws:iam::111111111111:user/ops" is not an IAM role ARN: resource "user/ops"`},
	}
	for _, tc := range tests {
		m := base()
		for k, v := range tc.set {
			m[k] = v
		}
		_, err := config.Load(env(m))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%v) = %v, want an error containing %q", tc.set, err, tc.want)
		}
	}
}

func TestRegions(t *testing.T) {
	for _, tc := range []struct {
		env    string
		hub    string
		want   []string
		serves map[string]bool
	}{
		{"", "eu-west-1", []string{"eu-west-1"}, map[string]bool{"eu-west-1": true, "us-west-2": false}},
		{" us-west-2 , eu-west-1,us-west-2", "eu-west-1", []string{"eu-west-1", "us-west-2"},
			map[string]bool{"eu-west-1": true, "us-west-2": true, "us-east-1": false}},
		{"us-west-2,ap-southeast-2", "eu-west-1", []string{"eu-west-1", "us-west-2", "ap-southeast-2"},
			map[string]bool{"ap-southeast-2": true, "eu-central-1": false}},
	} {
		m := base()
		m["AGENT_REGIONS"] = tc.env
		c, err := config.Load(env(m))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Regions(tc.hub); !slices.Equal(got, tc.want) {
			t.Errorf("AGENT_REGIONS=%q: Regions(%s) = %v, want %v", tc.env, tc.hub, got, tc.want)
		}
		for region, want := range tc.serves {
			if got := c.Serves(region, tc.hub); got != want {
				t.Errorf("AGENT_REGIONS=%q: Serves(%s, %s) = %v, want %v", tc.env, region, tc.hub, got, want)
			}
		}
	}
}

func TestLoadReportsAllProblemsAtOnce(t *testing.T) {
	_, err := config.Load(env(map[string]string{"TUNNEL_PORT": "x"}))
	for _, name := range []string{"ENDPOINT_SERVICE_ID", "EVENT_BUS_NAME", "TUNNEL_PORT"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func TestAccountAllowedAndTagged(t *testing.T) {
	m := base()
	m["ALLOWED_ACCOUNTS"] = "222222222222, 333333333333"
	m["DENIED_ACCOUNTS"] = "444444444444"
	m["HTTP_PORT"] = "8080"
	c, err := config.Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	for acct, want := range map[string]bool{"222222222222": true, "333333333333": true, "444444444444": false, "555555555555": false, "12": false} {
		if got, why := c.AccountAllowed(acct); got != want || (!got && why == "") {
			t.Errorf("AccountAllowed(%s) = %v %q, want %v", acct, got, why, want)
		}
	}
	for _, tc := range []struct {
		value string
		want  bool
	}{{"true", true}, {"TRUE", true}, {" True ", true}, {"false", false}, {"yes", false}} {
		if got := c.Tagged(map[string]string{"jenkins-agents": tc.value}); got != tc.want {
			t.Errorf("Tagged(%q) = %v, want %v", tc.value, got, tc.want)
		}
	}
	if c.Tagged(map[string]string{"Jenkins-Agents": "true"}) {
		t.Error("the tag key must match exactly")
	}
	if got := c.Ports(); len(got) != 2 || got[1] != 8080 {
		t.Errorf("Ports() = %v", got)
	}
}
