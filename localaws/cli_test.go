package localaws

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// awsCLI finds an AWS CLI of the given major version: v1 is the first
// "aws" on PATH, v2 is Debian's /usr/bin/aws. Under CI=true a missing CLI
// fails the test; elsewhere it skips with the reason.
func awsCLI(t *testing.T, major string) string {
	t.Helper()
	path := "/usr/bin/aws"
	if major == "1" {
		p, err := exec.LookPath("aws")
		if err != nil {
			path = ""
		} else {
			path = p
		}
	}
	missing := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("AWS CLI v%s is required under CI: %s", major, why)
		}
		t.Skipf("AWS CLI v%s not available (%s); install it (v2: apt-get install -y awscli) to run this test", major, why)
	}
	if path == "" {
		missing("no aws on PATH")
	}
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		missing(path + ": " + err.Error())
	}
	if !strings.HasPrefix(string(out), "aws-cli/"+major+".") {
		missing(path + " is " + strings.TrimSpace(string(out)))
	}
	return path
}

// cli runs one AWS CLI command against the server as an access key, with a
// private HOME and config so nothing on the machine leaks in.
type cli struct {
	t         *testing.T
	bin, url  string
	home      string
	key       string
	secret    string
	token     string
	lastError string
}

func newCLI(t *testing.T, bin, url string) *cli {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "config"), []byte("[default]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, bin: bin, url: url, home: home, secret: "localaws"}
}

func (c *cli) as(key, secret, token string) *cli {
	cp := *c
	cp.key, cp.secret, cp.token = key, secret, token
	return &cp
}

// run returns the decoded JSON output; ok is false when the command failed
// (its stderr is in lastError).
func (c *cli) run(args ...string) (map[string]any, bool) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args = append(args, "--endpoint-url", c.url, "--output", "json", "--region", region)
	cmd := exec.CommandContext(ctx, c.bin, args...)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + c.home,
		"AWS_CONFIG_FILE=" + filepath.Join(c.home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(c.home, "credentials"),
		"AWS_ACCESS_KEY_ID=" + c.key, "AWS_SECRET_ACCESS_KEY=" + c.secret, "AWS_DEFAULT_REGION=" + region,
		"AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1",
	}
	if c.token != "" {
		env = append(env, "AWS_SESSION_TOKEN="+c.token)
	}
	if root := os.Getenv("PYENV_ROOT"); root != "" {
		env = append(env, "PYENV_ROOT="+root)
	} else if strings.Contains(c.bin, "/.pyenv/") {
		env = append(env, "PYENV_ROOT="+c.bin[:strings.Index(c.bin, "/.pyenv/")+len("/.pyenv")])
	}
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		c.lastError = stderr.String()
		return nil, false
	}
	var v map[string]any
	if len(strings.TrimSpace(string(out))) > 0 {
		if err := json.Unmarshal(out, &v); err != nil {
			c.t.Fatalf("aws %s: output is not JSON: %s", strings.Join(args, " "), out)
		}
	}
	return v, true
}

func (c *cli) must(args ...string) map[string]any {
	c.t.Helper()
	v, ok := c.run(args...)
	if !ok {
		c.t.Fatalf("aws %s failed: %s", strings.Join(args, " "), c.lastError)
	}
	return v
}

func str(v any, path ...any) string {
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[p]
		case int:
			l, _ := v.([]any)
			if p >= len(l) {
				return ""
			}
			v = l[p]
		}
	}
	s, _ := v.(string)
	return s
}

func TestAWSCLIv1(t *testing.T) { testCLI(t, awsCLI(t, "1")) }
func TestAWSCLIv2(t *testing.T) { testCLI(t, awsCLI(t, "2")) }

func testCLI(t *testing.T, bin string) {
	// This test is about the CLIs' wire formats. Where a step reads what
	// the previous one wrote, the clock passes EC2's consistency window in
	// between, as a person at the CLI waits for a change to show.
	srv, url := startServer(t, Options{Topology: privateLinkTopology()})
	base := newCLI(t, bin, url)
	mem, hubCLI := base.as(member, "x", ""), base.as(hub, "x", "")

	if id := mem.must("sts", "get-caller-identity"); str(id, "Account") != member || str(id, "Arn") != "arn:aws:iam::"+member+":root" {
		t.Fatalf("get-caller-identity = %v", id)
	}
	bad := base.as("AKIANOTANACCOUNT0000", "x", "")
	if _, ok := bad.run("sts", "get-caller-identity"); ok || !strings.Contains(bad.lastError, "InvalidClientTokenId") {
		t.Fatalf("unknown key: ok=%v %s", ok, bad.lastError)
	}

	vpcs := mem.must("ec2", "describe-vpcs", "--filters", "Name=tag:jenkins-agents,Values=true")
	vpcID := str(vpcs, "Vpcs", 0, "VpcId")
	if vpcID == "" || str(vpcs, "Vpcs", 0, "CidrBlock") != "10.1.0.0/16" {
		t.Fatalf("describe-vpcs = %v", vpcs)
	}
	mem.must("ec2", "create-tags", "--resources", vpcID, "--tags", "Key=owner,Value=cli")
	later(srv)
	if v := mem.must("ec2", "describe-vpcs", "--filters", "Name=tag:owner,Values=cli"); str(v, "Vpcs", 0, "VpcId") != vpcID {
		t.Fatalf("tag not visible: %v", v)
	}

	fn := hubCLI.must("sts", "assume-role", "--role-arn", "arn:aws:iam::"+hub+":role/jenkins-agent-vpcs-onboard", "--role-session-name", "cli")
	if !strings.HasPrefix(str(fn, "Credentials", "AccessKeyId"), "ASIA") || str(fn, "AssumedRoleUser", "Arn") != "arn:aws:sts::"+hub+":assumed-role/jenkins-agent-vpcs-onboard/cli" {
		t.Fatalf("assume-role = %v", fn)
	}
	fnCLI := base.as(str(fn, "Credentials", "AccessKeyId"), str(fn, "Credentials", "SecretAccessKey"), str(fn, "Credentials", "SessionToken"))
	sp := fnCLI.must("sts", "assume-role", "--role-arn", "arn:aws:iam::"+member+":role/jenkins-agent-vpcs-spoke", "--role-session-name", "cli", "--external-id", "jenkins-agent-vpcs")
	spoke := base.as(str(sp, "Credentials", "AccessKeyId"), str(sp, "Credentials", "SecretAccessKey"), str(sp, "Credentials", "SessionToken"))
	if id := spoke.must("sts", "get-caller-identity"); str(id, "Arn") != "arn:aws:sts::"+member+":assumed-role/jenkins-agent-vpcs-spoke/cli" {
		t.Fatalf("spoke identity = %v", id)
	}

	sn := mem.must("ec2", "describe-subnets", "--filters", "Name=vpc-id,Values="+vpcID)
	ep := spoke.must("ec2", "create-vpc-endpoint", "--vpc-id", vpcID, "--vpc-endpoint-type", "Interface",
		"--service-name", "com.amazonaws.vpce."+region+".vpce-svc-0123456789abcdef0", "--subnet-ids", str(sn, "Subnets", 0, "SubnetId"), str(sn, "Subnets", 1, "SubnetId"),
		"--no-private-dns-enabled", "--client-token", "cli-token")
	epID := str(ep, "VpcEndpoint", "VpcEndpointId")
	if !strings.HasPrefix(epID, "vpce-") || str(ep, "VpcEndpoint", "State") != "pendingAcceptance" {
		t.Fatalf("create-vpc-endpoint = %v", ep)
	}
	later(srv)
	conns := hubCLI.must("ec2", "describe-vpc-endpoint-connections")
	if str(conns, "VpcEndpointConnections", 0, "VpcEndpointId") != epID || str(conns, "VpcEndpointConnections", 0, "VpcEndpointState") != "pendingAcceptance" {
		t.Fatalf("describe-vpc-endpoint-connections = %v", conns)
	}
	acc := hubCLI.must("ec2", "accept-vpc-endpoint-connections", "--service-id", "vpce-svc-0123456789abcdef0", "--vpc-endpoint-ids", epID, "vpce-0000000000000dead")
	if str(acc, "Unsuccessful", 0, "ResourceId") != "vpce-0000000000000dead" {
		t.Fatalf("accept-vpc-endpoint-connections = %v", acc)
	}

	if v := hubCLI.must("ssm", "put-parameter", "--name", "/jav/"+member+"/"+vpcID+"/tunnel", "--value", "h:50000", "--type", "String"); v["Version"] != float64(1) {
		t.Fatalf("put-parameter = %v", v)
	}
	if _, ok := hubCLI.run("ssm", "put-parameter", "--name", "/jav/"+member+"/"+vpcID+"/tunnel", "--value", "h:50000", "--type", "String"); ok || !strings.Contains(hubCLI.lastError, "ParameterAlreadyExists") {
		t.Fatalf("duplicate put-parameter: %s", hubCLI.lastError)
	}
	hubCLI.must("ssm", "put-parameter", "--name", "/jav/"+member+"/"+vpcID+"/doc", "--value", `{"a":1}`, "--type", "String")
	byPath := hubCLI.must("ssm", "get-parameters-by-path", "--path", "/jav", "--recursive")
	if ps, _ := byPath["Parameters"].([]any); len(ps) != 2 {
		t.Fatalf("get-parameters-by-path = %v", byPath)
	}

	put := mem.must("events", "put-events", "--entries", `[{"Source":"jav.cli","DetailType":"t","Detail":"{\"a\":1}"},{"Source":"jav.cli","DetailType":"t","Detail":"[1"}]`)
	if put["FailedEntryCount"] != float64(1) || str(put, "Entries", 1, "ErrorCode") != "MalformedDetail" || str(put, "Entries", 0, "EventId") == "" {
		t.Fatalf("put-events = %v", put)
	}
	if n := srv.CallCount("events", "PutEvents", member); n != 1 {
		t.Fatalf("PutEvents counted %d", n)
	}
}
