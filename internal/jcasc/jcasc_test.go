package jcasc

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from the generator")

var settings = Settings{
	ParameterPrefix: "/jenkins-agent-vpcs", SSMPrefix: "/jenkins-agent-vpcs/",
	Defaults:   Team{Cluster: "ci-agents", Label: "ecs", Image: "jenkins/inbound-agent:latest", CPU: 1024, Memory: 2048},
	LaunchType: "FARGATE",
}

func doc(account, vpc string) tunnel.Document {
	return tunnel.Document{Account: account, Region: "eu-west-1", VPCID: vpc, EndpointID: "vpce-0123456789abcdef0",
		EndpointState: "available", Status: "ready", Tunnel: "vpce-0123456789abcdef0-abcdefgh.vpce-svc-0a1b2c3d4e5f60718.eu-west-1.vpce.amazonaws.com:50000",
		AgentSubnets: []string{"subnet-0b22c33d44e55f66a", "subnet-0c33d44e55f66a77b"}, AgentSecurityGroup: "sg-0d44e55f66a77b88c",
		ServiceName: "com.amazonaws.vpce.eu-west-1.vpce-svc-0a1b2c3d4e5f60718"}
}

// fleet is the golden file's input: two teams, one VPC on the defaults,
// one whose label tag tries to read a file on the controller.
func fleet() []AgentVPC {
	return []AgentVPC{
		{Document: doc("333333333333", "vpc-0b11b22c33d44e55f")},
		{Document: doc("222222222222", "vpc-0a11b22c33d44e55f"), JenkinsURLPublished: true, Tags: map[string]string{
			"jenkins-agents": "true", TagCluster: "team-a", TagLabel: "team-a linux", TagImage: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/agents:2",
			TagCPU: "2048", TagMemory: "4096"}},
		{Document: doc("222222222222", "vpc-00aaaaaaaaaaaaaaa"), Tags: map[string]string{TagLabel: "team-a-small", TagCPU: "512"}},
		{Document: doc("444444444444", "vpc-0c11b22c33d44e55f"), Tags: map[string]string{TagLabel: "${readFile:/var/jenkins_home/secrets/master.key}"}},
	}
}

// The generated file for a small fleet, byte for byte: field names,
// order, quoting. go test ./internal/jcasc -update rewrites it.
func TestGolden(t *testing.T) {
	f, skipped := Generate(fleet(), settings)
	got, err := f.YAML()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "clouds.golden.yaml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("generated file differs from %s (go test -update rewrites it):\n%s", path, got)
	}
	if len(skipped) != 1 || skipped[0].VPC != "vpc-0c11b22c33d44e55f" || !strings.Contains(skipped[0].Reason, TagLabel) {
		t.Errorf("skipped %v, want only the VPC whose label tag is a reference", skipped)
	}
	// The same input in another order gives the same bytes.
	vpcs := fleet()
	vpcs[0], vpcs[3] = vpcs[3], vpcs[0]
	f2, _ := Generate(vpcs, settings)
	if again, _ := f2.YAML(); !bytes.Equal(again, got) {
		t.Error("the output depends on the order the VPCs were read in")
	}
}

// want is the cloud of doc("222222222222", "vpc-0a") on the defaults.
func want() ECSCloud {
	return ECSCloud{Name: "agents-222222222222-vpc-0a", Cluster: "arn:aws:ecs:eu-west-1:222222222222:cluster/ci-agents",
		RegionName: "eu-west-1", Tunnel: "${222222222222/vpc-0a/tunnel}",
		Templates: []TaskTemplate{{TemplateName: "agent", Label: "ecs", Image: "jenkins/inbound-agent:latest", LaunchType: "FARGATE",
			NetworkMode: "awsvpc", Subnets: "subnet-0b22c33d44e55f66a,subnet-0c33d44e55f66a77b", SecurityGroups: "sg-0d44e55f66a77b88c",
			CPU: 1024, MemoryReservation: 2048}}}
}

// One cloud per case: what tags, defaults and settings make of it.
func TestGenerate(t *testing.T) {
	withDoc := func(change func(*tunnel.Document)) tunnel.Document {
		d := doc("222222222222", "vpc-0a")
		change(&d)
		return d
	}
	tests := []struct {
		name   string
		vpc    AgentVPC
		change func(*Settings)
		want   func(*ECSCloud) // changes want(); nil: the VPC is skipped
		reason string          // part of the skip reason
	}{
		{name: "defaults", vpc: AgentVPC{Document: doc("222222222222", "vpc-0a")}, want: func(*ECSCloud) {}},
		{name: "tags over defaults", vpc: AgentVPC{Document: doc("222222222222", "vpc-0a"), Tags: map[string]string{
			TagCluster: "arn:aws:ecs:eu-west-1:222222222222:cluster/team", TagLabel: " a b ", TagImage: "x/y:1", TagCPU: "256", TagMemory: "512"}},
			want: func(c *ECSCloud) {
				c.Cluster = "arn:aws:ecs:eu-west-1:222222222222:cluster/team"
				c.Templates[0].Label, c.Templates[0].Image, c.Templates[0].CPU, c.Templates[0].MemoryReservation = "a b", "x/y:1", 256, 512
			}},
		{name: "jenkins-url published", vpc: AgentVPC{Document: doc("222222222222", "vpc-0a"), JenkinsURLPublished: true},
			change: func(s *Settings) { s.JenkinsURL = "https://jenkins.internal/" },
			want:   func(c *ECSCloud) { c.JenkinsURL = "${222222222222/vpc-0a/jenkins-url}" }},
		{name: "jenkins-url not published", vpc: AgentVPC{Document: doc("222222222222", "vpc-0a")},
			change: func(s *Settings) { s.JenkinsURL = "https://jenkins.internal/" },
			want:   func(c *ECSCloud) { c.JenkinsURL = "https://jenkins.internal/" }},
		{name: "role in the VPC's account", vpc: AgentVPC{Document: doc("222222222222", "vpc-0a")},
			change: func(s *Settings) { s.ECSRoleName, s.CredentialsID, s.LaunchType = "jenkins-ecs", "aws-ci", "EC2" },
			want: func(c *ECSCloud) {
				c.AssumedRoleArn, c.CredentialsID, c.Templates[0].LaunchType = "arn:aws:iam::222222222222:role/jenkins-ecs", "aws-ci", "EC2"
			}},
		{name: "China partition", vpc: AgentVPC{Document: withDoc(func(d *tunnel.Document) { d.Region = "cn-north-1" })},
			want: func(c *ECSCloud) {
				c.Cluster, c.RegionName = "arn:aws-cn:ecs:cn-north-1:222222222222:cluster/ci-agents", "cn-north-1"
			}},
		{name: "no CASC_SSM_PREFIX", vpc: AgentVPC{Document: doc("222222222222", "vpc-0a")}, change: func(s *Settings) { s.SSMPrefix = "" },
			want: func(c *ECSCloud) { c.Tunnel = "${/jenkins-agent-vpcs/222222222222/vpc-0a/tunnel}" }},
		{name: "CASC_SSM_PREFIX elsewhere", vpc: AgentVPC{Document: doc("222222222222", "vpc-0a")}, change: func(s *Settings) { s.SSMPrefix = "jenkins.master." },
			reason: "not under the controller's CASC_SSM_PREFIX"},
		{name: "cluster of another account", vpc: AgentVPC{Document: doc("222222222222", "vpc-0a"), Tags: map[string]string{TagCluster: "arn:aws:ecs:eu-west-1:333333333333:cluster/theirs"}},
			reason: "not in the VPC's account"},
		{name: "cluster tag with a reference", vpc: AgentVPC{Document: doc("222222222222", "vpc-0a"), Tags: map[string]string{TagCluster: "${sysProp:user.home}"}},
			reason: "neither an ECS cluster name"},
		{name: "image tag with an escape", vpc: AgentVPC{Document: doc("222222222222", "vpc-0a"), Tags: map[string]string{TagImage: "x^${y}"}},
			reason: "not an image reference"},
		{name: "label expression", vpc: AgentVPC{Document: doc("222222222222", "vpc-0a"), Tags: map[string]string{TagLabel: "a && b"}},
			reason: "not space-separated label names"},
		{name: "cpu not a number", vpc: AgentVPC{Document: doc("222222222222", "vpc-0a"), Tags: map[string]string{TagCPU: "1 vCPU"}},
			reason: "tag jenkins-agents:cpu is \"1 vCPU\""},
		{name: "no cluster anywhere", vpc: AgentVPC{Document: doc("222222222222", "vpc-0a")}, change: func(s *Settings) { s.Defaults.Cluster = "" },
			reason: "no ECS cluster"},
		{name: "no subnets", vpc: AgentVPC{Document: withDoc(func(d *tunnel.Document) { d.AgentSubnets = nil })},
			reason: "no agent subnets"},
		{name: "a subnet that is not one", vpc: AgentVPC{Document: withDoc(func(d *tunnel.Document) { d.AgentSubnets = []string{"${x}"} })},
			reason: "is not a subnet id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := settings
			if tt.change != nil {
				tt.change(&s)
			}
			f, skipped := Generate([]AgentVPC{tt.vpc}, s)
			if tt.want == nil {
				if len(f.Jenkins.Clouds) != 0 || len(skipped) != 1 || !strings.Contains(skipped[0].Reason, tt.reason) {
					t.Errorf("got clouds %+v, skipped %v; want it skipped because %q", f.Jenkins.Clouds, skipped, tt.reason)
				}
				return
			}
			w := want()
			tt.want(&w)
			if len(f.Jenkins.Clouds) != 1 || len(skipped) != 0 || !reflect.DeepEqual(f.Jenkins.Clouds[0].ECS, w) {
				t.Errorf("got clouds %+v, skipped %v; want %+v", f.Jenkins.Clouds, skipped, w)
			}
		})
	}
}

// No agent VPC is still a file configuration-as-code accepts: an empty
// list, not a null that would fail to configure the clouds.
func TestEmptyFleet(t *testing.T) {
	f, _ := Generate(nil, settings)
	got, err := f.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "jenkins:\n  clouds: []\n" {
		t.Errorf("empty fleet gives %q", got)
	}
	var back map[string]map[string][]any
	if err := yaml.Unmarshal(got, &back); err != nil || back["jenkins"]["clouds"] == nil {
		t.Errorf("read back as %v, %v", back, err)
	}
}

// Resolve follows configuration-as-code's rules for the forms a file can
// hold (SecretSourceResolver, FixedInterpolatorStringLookup).
func TestResolve(t *testing.T) {
	params := map[string]string{"a/tunnel": "host:50000", "b": "${a/tunnel}", "self": "${self}", "name": "a/tunnel"}
	src := func(_ context.Context, key string) (string, bool, error) { v, ok := params[key]; return v, ok, nil }
	tests := []struct{ in, want, err string }{
		{in: "${a/tunnel}", want: "host:50000"},
		{in: "tcp://${a/tunnel}/x", want: "tcp://host:50000/x"},
		{in: "no references", want: "no references"},
		{in: "^${a/tunnel}", want: "${a/tunnel}"},                           // escaped: kept, without the ^
		{in: "${${name}}", want: "host:50000"},                              // nested: the inner one names the outer
		{in: "${b}", want: "host:50000"},                                    // a value is resolved in turn
		{in: "${missing:-fallback}", want: "fallback"},                      // bash-style default
		{in: "${a/tunnel:-fallback}", want: "host:50000"},                   // default unused
		{in: "${unclosed", want: "${unclosed"},                              // no closing brace: text
		{in: "${missing}", err: `unable to resolve variable "missing"`},     // strict
		{in: "${readFile:/etc/passwd}", err: "readFile lookup"},             // a lookup, not a parameter
		{in: "${self}", err: "nest deeper"},                                 // a loop ends
		{in: "x ${a/tunnel} ${missing}", err: "unable to resolve variable"}, // one bad reference fails the value
	}
	for _, tt := range tests {
		got, err := Resolve(context.Background(), tt.in, src)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("Resolve(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("Resolve(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// A cloud that would not fit the standard tier is refused before any
// call, rather than written to the charged advanced tier.
func TestPublishRefusesACloudOverTheStandardTier(t *testing.T) {
	d := doc("222222222222", "vpc-0a")
	for len(d.AgentSubnets) < 200 {
		d.AgentSubnets = append(d.AgentSubnets, "subnet-0b22c33d44e55f66a")
	}
	f, skipped := Generate([]AgentVPC{{Document: d}}, settings)
	if len(skipped) != 0 {
		t.Fatal(skipped)
	}
	_, _, err := Publication{Path: "/jcasc"}.Publish(context.Background(), f)
	if err == nil || !strings.Contains(err.Error(), "over the standard tier's 4096") {
		t.Errorf("got %v", err)
	}
}

// BenchmarkGenerate: the file of 1,000 agent VPCs in 100 accounts,
// generated and encoded (go test ./internal/jcasc -run XXX -bench Generate -count 5).
func BenchmarkGenerate(b *testing.B) {
	var vpcs []AgentVPC
	for i := range 1000 {
		account := fmt.Sprintf("2%011d", i%100)
		vpcs = append(vpcs, AgentVPC{Document: doc(account, fmt.Sprintf("vpc-0%016x", i)), Tags: map[string]string{TagLabel: "team-" + account}})
	}
	var size int
	for b.Loop() {
		f, skipped := Generate(vpcs, settings)
		out, err := f.YAML()
		if err != nil || len(skipped) != 0 {
			b.Fatal(err, skipped)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes-of-yaml")
}
