package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"gopkg.in/yaml.v3"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/internal/jcasc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
)

var agentvpcsBinary struct {
	once sync.Once
	path string
	err  error
}

// agentvpcs runs the operator command, built once, against the stack as
// the local stack's operations role, and returns its standard output.
func agentvpcs(t *testing.T, s *localstack.Stack, args ...string) string {
	t.Helper()
	agentvpcsBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "e2e-agentvpcs-")
		if err != nil {
			agentvpcsBinary.err = err
			return
		}
		agentvpcsBinary.path = filepath.Join(dir, "agentvpcs")
		cmd := exec.Command("go", "build", "-o", agentvpcsBinary.path, "./cmd/agentvpcs")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			agentvpcsBinary.err = &exec.ExitError{ProcessState: cmd.ProcessState, Stderr: out}
		}
	})
	if agentvpcsBinary.err != nil {
		t.Fatalf("building cmd/agentvpcs: %v", agentvpcsBinary.err)
	}
	args = append([]string{args[0], "-role-arn", "arn:aws:iam::" + s.Hub + ":role/" + localstack.OperatorRole}, args[1:]...)
	cmd := exec.Command(agentvpcsBinary.path, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_ENDPOINT_URL=" + s.URL, "AWS_REGION=" + s.Region, "AWS_ACCESS_KEY_ID=" + s.Hub, "AWS_SECRET_ACCESS_KEY=local",
		"SPOKE_EXTERNAL_ID=" + localstack.ExternalID, "PARAMETER_PREFIX=" + s.Parameters["ParameterPrefix"]}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("agentvpcs %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("agentvpcs %s:\n%s", args[0], stderr.String())
	}
	return stdout.String()
}

// The round trip of the README: teams tag their VPCs, the real functions
// onboard them, `agentvpcs jcasc -check` prints one ECS cloud per ready
// agent VPC, and every reference in it, resolved the way the secret-ssm
// plugin resolves it (CASC_SSM_PREFIX=<prefix>/, GetParameter), is the
// tunnel the hub published; an untagged VPC leaves the file.
func TestGeneratedJCasCResolvesToThePublishedTunnels(t *testing.T) {
	s := start(t, localstack.Options{})
	ctx := context.Background()
	if got := agentvpcs(t, s, "jcasc", "-cluster", "ci", "-check"); got != "jenkins:\n  clouds: []\n" {
		t.Fatalf("no agent VPC yet, got:\n%s", got)
	}
	// Team A chooses its cluster and label; team B takes the defaults.
	if _, err := s.EC2(teamA.Account).CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{teamA.VPC}, Tags: []ec2types.Tag{
		{Key: aws.String(jcasc.TagCluster), Value: aws.String("team-a")}, {Key: aws.String(jcasc.TagLabel), Value: aws.String("team-a linux")}}}); err != nil {
		t.Fatal(err)
	}
	tag(t, s, teamA, true)
	tag(t, s, teamB, true)
	converge(t, s, ready(t, s, teamA, teamB))

	out := agentvpcs(t, s, "jcasc", "-cluster", "ci", "-check")
	var file jcasc.File
	if err := yaml.Unmarshal([]byte(out), &file); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, out)
	}
	if len(file.Jenkins.Clouds) != 2 {
		t.Fatalf("want one cloud per ready agent VPC (2):\n%s", out)
	}
	a, b := file.Jenkins.Clouds[0].ECS, file.Jenkins.Clouds[1].ECS
	if a.Cluster != "arn:aws:ecs:"+s.Region+":"+teamA.Account+":cluster/team-a" || a.Templates[0].Label != "team-a linux" {
		t.Errorf("team A's tags not applied: %+v", a)
	}
	if b.Cluster != "arn:aws:ecs:"+s.Region+":"+teamB.Account+":cluster/ci" || b.Templates[0].Label != "ecs" {
		t.Errorf("team B not on the defaults: %+v", b)
	}

	resolved, err := jcasc.ResolveYAML(ctx, []byte(out), jcasc.SSMSource(s.SSM(s.Hub), s.Parameters["ParameterPrefix"]+"/"))
	if err != nil {
		t.Fatal(err)
	}
	var applied jcasc.File
	if err := yaml.Unmarshal(resolved, &applied); err != nil {
		t.Fatal(err)
	}
	for i, v := range []localstack.AgentVPC{teamA, teamB} {
		st := status(t, s, v)
		c := applied.Jenkins.Clouds[i].ECS
		if c.Tunnel != st.Tunnel || !strings.HasSuffix(c.Tunnel, ":"+tunnelPort) {
			t.Errorf("%s: the tunnel resolves to %q, the hub published %q", v.VPC, c.Tunnel, st.Tunnel)
		}
		if subnets := strings.Join(toStrings(st.Document["agentSubnets"]), ","); c.Templates[0].Subnets != subnets || c.Templates[0].SecurityGroups != st.Document["agentSecurityGroup"] {
			t.Errorf("%s: subnets %q and group %q, the document has %q and %v", v.VPC, c.Templates[0].Subnets, c.Templates[0].SecurityGroups, subnets, st.Document["agentSecurityGroup"])
		}
	}

	tag(t, s, teamA, false)
	converge(t, s, func() bool { return status(t, s, teamA).Clean() })
	out = agentvpcs(t, s, "jcasc", "-cluster", "ci", "-check")
	if strings.Contains(out, teamA.VPC) || !strings.Contains(out, teamB.VPC) {
		t.Errorf("after untagging team A, want team B's cloud only:\n%s", out)
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
