package main

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
)

// TestStatusAgainstTheLocalAWS runs the command as an operator would, with
// the hub's credentials and AWS_ENDPOINT_URL pointing at a local AWS whose
// topology has one tagged VPC that was never onboarded.
func TestStatusAgainstTheLocalAWS(t *testing.T) {
	top, err := localaws.ParseTopology([]byte(`
region: us-east-1
accounts:
  - id: "111111111111"
    roles:
      - name: ops
        trust: {principals: ["111111111111"]}
        # What the README asks an operations role to have: reads only.
        policies:
          - name: read-agent-vpcs
            document:
              Version: "2012-10-17"
              Statement:
                - {Effect: Allow, Action: sts:AssumeRole, Resource: "arn:aws:iam::*:role/jenkins-agent-vpcs-spoke"}
                - Effect: Allow
                  Resource: "*"
                  Action: [ec2:DescribeVpcEndpointServiceConfigurations, ec2:DescribeVpcEndpointServicePermissions, ec2:DescribeVpcEndpointConnections, ssm:DescribeParameters]
                - Effect: Allow
                  Action: [ssm:GetParametersByPath, ssm:GetParameters]
                  Resource: ["arn:aws:ssm:us-east-1:111111111111:parameter/jenkins-agent-vpcs", "arn:aws:ssm:us-east-1:111111111111:parameter/jenkins-agent-vpcs/*"]
    endpointServices:
      - {id: vpce-svc-0a1b2c3d4e5f60001, acceptanceRequired: true, azs: [use1-az1, use1-az2], ports: [50000]}
  - id: "222222222222"
    roles:
      - name: jenkins-agent-vpcs-spoke
        trust: {principals: ["arn:aws:iam::111111111111:role/ops"], externalId: ops}
        # The member template's read statement; the command only reads.
        policies:
          - name: read
            document: {Statement: [{Effect: Allow, Action: "ec2:Describe*", Resource: "*"}]}
    vpcs:
      - {id: vpc-0aaaaaaaaaaaaaaa1, cidr: 10.1.0.0/16, tags: {jenkins-agents: "true"}, subnets: [{az: us-east-1a}, {az: us-east-1b}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	srv := localaws.New(localaws.Options{Topology: top})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	env := map[string]string{"AWS_ENDPOINT_URL": hs.URL, "AWS_ACCESS_KEY_ID": "111111111111", "AWS_SECRET_ACCESS_KEY": "x",
		"AWS_REGION": "us-east-1", "ALLOWED_ACCOUNTS": "222222222222"}
	for k, v := range env {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	var out bytes.Buffer
	getenv := func(k string) string { return env[k] }
	args := []string{"-service", "vpce-svc-0a1b2c3d4e5f60001", "-external-id", "ops"}
	// As the hub's root, which the spoke role does not trust: the account is reported unreadable.
	if err := run(context.Background(), args, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "not readable") {
		t.Errorf("an account whose spoke role refuses us must be reported:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), append(args, "-role-arn", "arn:aws:iam::111111111111:role/ops"), getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"222222222222", "vpc-0aaaaaaaaaaaaaaa1", "missing-endpoint", "converge-vpc", "missing-principal", "dry run"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if n := srv.CallCount("ec2", "CreateVpcEndpoint", "") + srv.CallCount("ec2", "ModifyVpcEndpointServicePermissions", ""); n != 0 {
		t.Errorf("the status command wrote to AWS (%d calls)", n)
	}
	if err := run(context.Background(), []string{"-deep", "sideways"}, getenv, &out, io.Discard); err == nil {
		t.Error("a bad -deep value was accepted")
	}
}
