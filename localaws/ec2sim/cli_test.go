package ec2sim

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestAWSCLI drives the service with the AWS CLI on the PATH (v1, botocore),
// which serializes lists and tags its own way. Skipped without the CLI or
// with -short.
func TestAWSCLI(t *testing.T) {
	bin, err := exec.LookPath("aws")
	if err != nil || testing.Short() {
		t.Skip("no aws CLI on PATH, or -short")
	}
	w := newWorld(t)
	run := func(args ...string) map[string]any {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--endpoint-url", w.url, "--output", "json", "ec2"}, args...)...)
		cmd.Env = append(os.Environ(),
			"AWS_ACCESS_KEY_ID="+spoke, "AWS_SECRET_ACCESS_KEY=secret", "AWS_DEFAULT_REGION="+usEast1,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=",
		)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws %v: %v\n%s", args, err, out)
		}
		if len(out) == 0 {
			return nil
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("aws %v printed %s", args, out)
		}
		return m
	}
	created := run("create-vpc", "--cidr-block", "10.4.0.0/16", "--tag-specifications", "ResourceType=vpc,Tags=[{Key=jenkins-agents,Value=true}]")
	id, _ := path(created, "Vpc", "VpcId").(string)
	if id == "" {
		t.Fatalf("create-vpc printed %v", created)
	}
	run("create-tags", "--resources", id, "--tags", "Key=team,Value=ci")
	run("delete-tags", "--resources", id, "--tags", "Key=jenkins-agents")
	described := run("describe-vpcs", "--filters", "Name=tag:team,Values=ci", "Name=cidr,Values=10.4.0.0/16")
	if path(described, "Vpcs", 0, "VpcId") != id || path(described, "Vpcs", 0, "Tags", 1) != nil || path(described, "Vpcs", 0, "Tags", 0, "Key") != "team" {
		t.Fatalf("describe-vpcs printed %v", described)
	}
}
