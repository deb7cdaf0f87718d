package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"gopkg.in/yaml.v3"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/internal/jcasc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/localawstest"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

// The hub (with an operations role and the Jenkins controller's role, each
// with what the README gives it), a member whose spoke role trusts the
// operations role and has two VPCs, and a member with no spoke role.
const jcascTopology = `
region: eu-west-1
accounts:
  - id: "111111111111"
    roles:
      - name: ops
        trust: {principals: ["111111111111"]}
        policies:
          - name: read-agent-vpcs
            document:
              Version: "2012-10-17"
              Statement:
                - {Effect: Allow, Action: sts:AssumeRole, Resource: "arn:aws:iam::*:role/jenkins-agent-vpcs-spoke"}
                - Effect: Allow
                  Action: [ssm:GetParametersByPath, ssm:GetParameters, ssm:GetParameter]
                  Resource: ["arn:aws:ssm:eu-west-1:111111111111:parameter/jenkins-agent-vpcs", "arn:aws:ssm:eu-west-1:111111111111:parameter/jenkins-agent-vpcs/*"]
                # -publish /jenkins-agent-vpcs-jcasc, as the README gives it.
                - Effect: Allow
                  Action: [ssm:GetParametersByPath, ssm:PutParameter, ssm:DeleteParameters]
                  Resource: ["arn:aws:ssm:eu-west-1:111111111111:parameter/jenkins-agent-vpcs-jcasc", "arn:aws:ssm:eu-west-1:111111111111:parameter/jenkins-agent-vpcs-jcasc/*"]
      - name: jenkins
        trust: {principals: ["111111111111"]}
        policies:
          - name: read-tunnels
            document:
              Version: "2012-10-17"
              Statement:
                - {Effect: Allow, Action: ssm:GetParameter, Resource: "arn:aws:ssm:eu-west-1:111111111111:parameter/jenkins-agent-vpcs/*"}
  - id: "222222222222"
    roles:
      - name: jenkins-agent-vpcs-spoke
        trust: {principals: ["arn:aws:iam::111111111111:role/ops"], externalId: ops}
        policies:
          - name: read
            document: {Statement: [{Effect: Allow, Action: "ec2:Describe*", Resource: "*"}]}
    vpcs:
      - {id: vpc-0aaaaaaaaaaaaaaa1, cidr: 10.1.0.0/16, tags: {jenkins-agents: "true", "jenkins-agents:cluster": team-a, "jenkins-agents:label": team-a, "jenkins-agents:cpu": "2048"}}
      - {id: vpc-0aaaaaaaaaaaaaaa2, cidr: 10.2.0.0/16, tags: {jenkins-agents: "true"}}
      - {id: vpc-0aaaaaaaaaaaaaaa3, cidr: 10.3.0.0/16, tags: {jenkins-agents: "true"}}
  - id: "333333333333"
    vpcs:
      - {id: vpc-0bbbbbbbbbbbbbbb1, cidr: 10.4.0.0/16, tags: {jenkins-agents: "true"}}
`

func document(account, vpc, status string) tunnel.Document {
	host := "vpce-0" + vpc[len(vpc)-16:] + "-abcdefgh.vpce-svc-0a1b2c3d4e5f60718.eu-west-1.vpce.amazonaws.com"
	return tunnel.Document{Account: account, Region: "eu-west-1", VPCID: vpc, EndpointID: "vpce-0" + vpc[len(vpc)-16:],
		EndpointState: "available", Status: status, Tunnel: tunnel.Tunnel(host, 50000), JenkinsURL: tunnel.JenkinsURL(host, 8080),
		AgentSubnets: []string{"subnet-0aaaaaaaaaaaaaa11"}, AgentSecurityGroup: "sg-0aaaaaaaaaaaaaa11",
		ServiceName: "com.amazonaws.vpce.eu-west-1.vpce-svc-0a1b2c3d4e5f60718"}
}

// agentvpcs jcasc as an operator runs it: every ready agent VPC whose
// tags can be read becomes a cloud, the others are named on stderr, and
// every reference in the file resolves, read the way the secret-ssm
// plugin reads it and with the Jenkins controller's role, to the
// published tunnel (and jenkins-url).
func TestJCasCAgainstTheLocalAWS(t *testing.T) {
	a, _, published, getenv := jcascWorld(t)
	ctx := context.Background()
	var out, errOut bytes.Buffer
	args := []string{"jcasc", "-role-arn", "arn:aws:iam::111111111111:role/ops", "-external-id", "ops", "-cluster", "ci", "-check"}
	if err := run(ctx, args, getenv, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var file jcasc.File
	if err := yaml.Unmarshal(out.Bytes(), &file); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, out.String())
	}
	var names []string
	for _, c := range file.Jenkins.Clouds {
		names = append(names, c.ECS.Name)
	}
	if want := []string{"agents-222222222222-vpc-0aaaaaaaaaaaaaaa1", "agents-222222222222-vpc-0aaaaaaaaaaaaaaa2"}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("clouds %v, want %v\n%s", names, want, out.String())
	}
	if c := file.Jenkins.Clouds[0].ECS; c.Cluster != "arn:aws:ecs:eu-west-1:222222222222:cluster/team-a" || c.Templates[0].Label != "team-a" || c.Templates[0].CPU != 2048 {
		t.Errorf("the team's tags were not applied: %+v", c)
	}
	if c := file.Jenkins.Clouds[1].ECS; c.Cluster != "arn:aws:ecs:eu-west-1:222222222222:cluster/ci" || c.Templates[0].Label != "ecs" {
		t.Errorf("the defaults were not applied: %+v", c)
	}
	for _, want := range []string{"vpc-0aaaaaaaaaaaaaa99: the VPC no longer exists", "333333333333/vpc-0bbbbbbbbbbbbbbb1: reading its tags"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}

	// Jenkins' side: CASC_SSM_PREFIX=/jenkins-agent-vpcs/, the controller's role.
	wantResolved(t, out.Bytes(), ssm.NewFromConfig(a.Session("111111111111", "jenkins", "jenkins")), published)

	// Without tags every ready VPC that is published takes the flags.
	out.Reset()
	errOut.Reset()
	if err := run(ctx, []string{"jcasc", "-tags=false", "-cluster", "ci"}, getenv, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "- ecs:"); n != 4 {
		t.Errorf("-tags=false gave %d clouds, want the 4 ready ones:\n%s", n, out.String())
	}
	for _, bad := range [][]string{{"jcasc", "-launch-type", "LAMBDA"}, {"jcasc", "extra"}} {
		if err := run(ctx, bad, getenv, &out, &errOut); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
}

// jcascWorld is the topology with five agent VPCs published by the hub's
// own code (tunnel.Store.Publish, as onboarding publishes), and the
// environment of an operator on the hub.
func jcascWorld(t *testing.T) (*localawstest.AWS, tunnel.Store, map[string]tunnel.Document, func(string) string) {
	t.Helper()
	top, err := localaws.ParseTopology([]byte(jcascTopology))
	if err != nil {
		t.Fatal(err)
	}
	a := localawstest.New(t, localawstest.Options{Topology: top})
	ctx := context.Background()
	store := tunnel.Store{SSM: a.SSM("111111111111"), Prefix: "/jenkins-agent-vpcs"}
	published := map[string]tunnel.Document{}
	for _, d := range []tunnel.Document{
		document("222222222222", "vpc-0aaaaaaaaaaaaaaa1", "ready"),              // tagged by its team
		document("222222222222", "vpc-0aaaaaaaaaaaaaaa2", "ready"),              // on the defaults
		document("222222222222", "vpc-0aaaaaaaaaaaaaaa3", "pending-acceptance"), // not ready
		document("222222222222", "vpc-0aaaaaaaaaaaaaa99", "ready"),              // published, VPC since deleted
		document("333333333333", "vpc-0bbbbbbbbbbbbbbb1", "ready"),              // tags unreadable
	} {
		if _, err := store.Publish(ctx, d); err != nil {
			t.Fatal(err)
		}
		published[d.VPCID] = d
	}
	env := map[string]string{"AWS_ENDPOINT_URL": a.URL, "AWS_ACCESS_KEY_ID": "111111111111", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "eu-west-1"}
	for k, v := range env {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	return a, store, published, func(k string) string { return env[k] }
}

// -publish keeps one standard-tier parameter per cloud under its path,
// each a whole configuration-as-code file of one cloud: written when it
// changes, deleted when its agent VPC leaves; never inside the agent VPCs'
// prefix.
func TestJCasCPublish(t *testing.T) {
	a, store, _, getenv := jcascWorld(t)
	ctx := context.Background()
	var out, errOut bytes.Buffer
	args := []string{"jcasc", "-role-arn", "arn:aws:iam::111111111111:role/ops", "-external-id", "ops", "-cluster", "ci", "-publish", "/jenkins-agent-vpcs-jcasc"}
	names := func() []string {
		var in []string
		for _, n := range a.ParameterNames("111111111111") {
			if strings.HasPrefix(n, "/jenkins-agent-vpcs-jcasc/") {
				in = append(in, n)
			}
		}
		return in
	}
	if err := run(ctx, args, getenv, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	want := []string{"/jenkins-agent-vpcs-jcasc/agents-222222222222-vpc-0aaaaaaaaaaaaaaa1", "/jenkins-agent-vpcs-jcasc/agents-222222222222-vpc-0aaaaaaaaaaaaaaa2"}
	if got := names(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("published %v, want %v", got, want)
	}
	for _, n := range want {
		v, _ := a.Parameter("111111111111", n)
		var one jcasc.File
		if err := yaml.Unmarshal([]byte(v), &one); err != nil || len(one.Jenkins.Clouds) != 1 || "/jenkins-agent-vpcs-jcasc/"+one.Jenkins.Clouds[0].ECS.Name != n {
			t.Errorf("%s holds %q (%v), want the file of that one cloud", n, v, err)
		}
		if !strings.Contains(out.String(), v[len("jenkins:\n  clouds:\n"):]) {
			t.Errorf("%s differs from the printed cloud", n)
		}
	}
	puts := a.CallCount("ssm", "PutParameter")
	if err := run(ctx, args, getenv, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if n := a.CallCount("ssm", "PutParameter"); n != puts {
		t.Errorf("an unchanged fleet wrote %d parameters", n-puts)
	}
	if _, err := store.Remove(ctx, "222222222222", "vpc-0aaaaaaaaaaaaaaa2"); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, args, getenv, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if got := names(); strings.Join(got, " ") != want[0] {
		t.Errorf("after the VPC left, published %v, want %v", got, want[:1])
	}
	for _, inside := range []string{"/jenkins-agent-vpcs", "/jenkins-agent-vpcs/jcasc", "jcasc", "/x/"} {
		if err := run(ctx, []string{"jcasc", "-cluster", "ci", "-publish", inside}, getenv, &out, &errOut); err == nil {
			t.Errorf("-publish %s was accepted", inside)
		}
	}
}

// wantResolved resolves the file as the secret-ssm plugin does, with
// CASC_SSM_PREFIX=/jenkins-agent-vpcs/, and wants every cloud's tunnel and
// jenkinsUrl to be what was published for its VPC.
func wantResolved(t *testing.T, file []byte, controller *ssm.Client, published map[string]tunnel.Document) {
	t.Helper()
	ctx := context.Background()
	resolved, err := jcasc.ResolveYAML(ctx, file, jcasc.SSMSource(controller, "/jenkins-agent-vpcs/"))
	if err != nil {
		t.Fatal(err)
	}
	var applied jcasc.File
	if err := yaml.Unmarshal(resolved, &applied); err != nil {
		t.Fatal(err)
	}
	for _, c := range applied.Jenkins.Clouds {
		d := published[strings.TrimPrefix(c.ECS.Name, "agents-222222222222-")]
		if c.ECS.Tunnel != d.Tunnel || c.ECS.JenkinsURL != d.JenkinsURL {
			t.Errorf("%s resolves to tunnel %q and jenkinsUrl %q, want %q and %q", c.ECS.Name, c.ECS.Tunnel, c.ECS.JenkinsURL, d.Tunnel, d.JenkinsURL)
		}
	}
	// A controller with another CASC_SSM_PREFIX resolves nothing (its role
	// may not even read there).
	if _, err := jcasc.ResolveYAML(ctx, file, jcasc.SSMSource(controller, "/elsewhere/")); err == nil {
		t.Error("the file resolved with a CASC_SSM_PREFIX its parameters are not under")
	}
}

// BenchmarkJCasC runs the command over 100 member accounts with 3 ready
// agent VPCs each, in the strict local AWS with AWS's default quotas
// enforced, and reports the calls it makes per account:
//
//	go test ./cmd/agentvpcs -run XXX -bench JCasC -count 5
func BenchmarkJCasC(b *testing.B) {
	const accounts, perAccount = 100, 3
	var top strings.Builder
	hub, _, _ := strings.Cut(jcascTopology, `  - id: "222222222222"`) // the hub's part
	top.WriteString(hub)
	var docs []tunnel.Document
	for i := range accounts {
		account := fmt.Sprintf("5%011d", i)
		fmt.Fprintf(&top, `  - id: "%s"
    roles:
      - name: jenkins-agent-vpcs-spoke
        trust: {principals: ["arn:aws:iam::111111111111:role/ops"], externalId: ops}
        policies: [{name: read, document: {Statement: [{Effect: Allow, Action: "ec2:Describe*", Resource: "*"}]}}]
    vpcs:
`, account)
		for j := range perAccount {
			vpc := fmt.Sprintf("vpc-0%016x", i*perAccount+j)
			fmt.Fprintf(&top, "      - {id: %s, cidr: 10.%d.0.0/16, tags: {jenkins-agents: \"true\"}}\n", vpc, j)
			docs = append(docs, document(account, vpc, "ready"))
		}
	}
	topo, err := localaws.ParseTopology([]byte(top.String()))
	if err != nil {
		b.Fatal(err)
	}
	a := localawstest.New(b, localawstest.Options{Topology: topo})
	store := tunnel.Store{SSM: a.SSM("111111111111"), Prefix: "/jenkins-agent-vpcs"}
	for _, d := range docs { // as fast as the local AWS takes them: the setup, not the measure
		if _, err := store.Publish(context.Background(), d); err != nil {
			b.Fatal(err)
		}
	}
	a.Server.SetThrottle(true)
	env := map[string]string{"AWS_ENDPOINT_URL": a.URL, "AWS_ACCESS_KEY_ID": "111111111111", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "eu-west-1"}
	for k, v := range env {
		b.Setenv(k, v)
	}
	b.Setenv("AWS_CONFIG_FILE", b.TempDir()+"/none")
	b.Setenv("AWS_SHARED_CREDENTIALS_FILE", b.TempDir()+"/none")
	args := []string{"jcasc", "-role-arn", "arn:aws:iam::111111111111:role/ops", "-external-id", "ops", "-cluster", "ci"}
	mark := len(a.Calls())
	for b.Loop() {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut); err != nil {
			b.Fatal(err, errOut.String())
		}
		if n := strings.Count(out.String(), "- ecs:"); n != accounts*perAccount {
			b.Fatalf("%d clouds, want %d\n%s", n, accounts*perAccount, errOut.String())
		}
	}
	b.ReportMetric(float64(len(a.Calls())-mark)/float64(b.N)/accounts, "calls/account")
}
