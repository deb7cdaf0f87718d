package core_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function/core"
)

// lambdaEnv is what Lambda sets for a function on provided.al2023
// (configuration-envvars: the execution role's session credentials and
// the region), as the local stack also sets it.
var lambdaEnv = map[string]string{
	"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token",
}

// setenv replaces every AWS_ variable of the process environment with env
// (the SDK clients read the process environment themselves) and points
// the SDK's shared files at nothing, so the default chain below sees only
// env.
func setenv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "") // restored when the test ends
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	missing := filepath.Join(t.TempDir(), "missing")
	t.Setenv("AWS_CONFIG_FILE", missing)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", missing)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// endpoints are the base endpoints the clients of the five services
// resolve from a configuration ("" for AWS's own).
func endpoints(cfg aws.Config) map[string]string {
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	return map[string]string{
		"ec2":           deref(ec2.NewFromConfig(cfg).Options().BaseEndpoint),
		"ssm":           deref(ssm.NewFromConfig(cfg).Options().BaseEndpoint),
		"eventbridge":   deref(eventbridge.NewFromConfig(cfg).Options().BaseEndpoint),
		"sts":           deref(sts.NewFromConfig(cfg).Options().BaseEndpoint),
		"organizations": deref(organizations.NewFromConfig(cfg).Options().BaseEndpoint),
	}
}

func every(url string) map[string]string {
	return map[string]string{"ec2": url, "ssm": url, "eventbridge": url, "sts": url, "organizations": url}
}

func with(env map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

// TestFromEnvironment checks the configuration read from Lambda's
// environment against the SDK's own default chain over the same
// environment: same region, credentials and endpoints of every client,
// AWS_ENDPOINT_URL_<SERVICE> and AWS_IGNORE_CONFIGURED_ENDPOINT_URLS
// included.
func TestFromEnvironment(t *testing.T) {
	const local, ssmLocal = "http://127.0.0.1:4566", "http://127.0.0.1:4567"
	withLocalSSM := every(local)
	withLocalSSM["ssm"] = ssmLocal
	onlySSM := every("")
	onlySSM["ssm"] = ssmLocal
	for _, tc := range []struct {
		name      string
		env       map[string]string
		region    string
		endpoints map[string]string
	}{
		{"Lambda", lambdaEnv, "eu-west-1", every("")},
		{"local stack", with(lambdaEnv, "AWS_ENDPOINT_URL", local, "AWS_DEFAULT_REGION", "eu-west-1"), "eu-west-1", every(local)},
		{"default region only", with(lambdaEnv, "AWS_REGION", "", "AWS_DEFAULT_REGION", "us-east-2"), "us-east-2", every("")},
		{"one service elsewhere", with(lambdaEnv, "AWS_ENDPOINT_URL", local, "AWS_ENDPOINT_URL_SSM", ssmLocal), "eu-west-1", withLocalSSM},
		{"only one service", with(lambdaEnv, "AWS_ENDPOINT_URL_SSM", ssmLocal), "eu-west-1", onlySSM},
		{"service id in capitals", with(lambdaEnv, "AWS_ENDPOINT_URL_EVENTBRIDGE", ssmLocal), "eu-west-1",
			map[string]string{"ec2": "", "ssm": "", "eventbridge": ssmLocal, "sts": "", "organizations": ""}},
		{"configured endpoints ignored", with(lambdaEnv, "AWS_ENDPOINT_URL", local, "AWS_ENDPOINT_URL_SSM", ssmLocal, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE"), "eu-west-1", every("")},
		{"configured endpoints not ignored", with(lambdaEnv, "AWS_ENDPOINT_URL", local, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false"), "eu-west-1", every(local)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setenv(t, tc.env)
			got, err := core.FromEnvironment()
			if err != nil {
				t.Fatal(err)
			}
			want, err := awsconfig.LoadDefaultConfig(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got.Region != tc.region || want.Region != tc.region {
				t.Errorf("region %q, the SDK's chain %q, want %q", got.Region, want.Region, tc.region)
			}
			gotCreds, err := got.Credentials.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			wantCreds, err := want.Credentials.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if gotCreds.AccessKeyID != wantCreds.AccessKeyID || gotCreds.SecretAccessKey != wantCreds.SecretAccessKey || gotCreds.SessionToken != wantCreds.SessionToken {
				t.Errorf("credentials %+v, the SDK's chain %+v", gotCreds, wantCreds)
			}
			for svc, url := range endpoints(got) {
				if url != tc.endpoints[svc] {
					t.Errorf("%s endpoint %q, want %q", svc, url, tc.endpoints[svc])
				}
				if sdk := endpoints(want)[svc]; url != sdk {
					t.Errorf("%s endpoint %q, the SDK's chain %q", svc, url, sdk)
				}
			}
			if n := got.Retryer().MaxAttempts(); n != core.ThrottledAttempts {
				t.Errorf("retryer makes up to %d attempts, want %d (throttling; other errors %d)", n, core.ThrottledAttempts, core.OtherAttempts)
			}
		})
	}
}

// TestFromEnvironmentRefuses: a cold start without what Lambda always sets
// ends with an error naming the variable, not with the first call failing.
func TestFromEnvironmentRefuses(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{with(lambdaEnv, "AWS_REGION", ""), "AWS_REGION"},
		{with(lambdaEnv, "AWS_ACCESS_KEY_ID", ""), "AWS_ACCESS_KEY_ID"},
		{with(lambdaEnv, "AWS_SECRET_ACCESS_KEY", ""), "AWS_SECRET_ACCESS_KEY"},
		{with(lambdaEnv, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "yes"), "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			setenv(t, tc.env)
			if _, err := core.FromEnvironment(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
