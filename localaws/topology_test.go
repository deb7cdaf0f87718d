package localaws

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestExampleTopology(t *testing.T) {
	topo, err := LoadTopology("testdata/topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, url := startServer(t, Options{Topology: topo})
	for acct, want := range map[string]int{"222222222222": 2, "333333333333": 1, "111111111111": 0} {
		out, err := ec2.NewFromConfig(awsConfig(url, acct, "x", "")).DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{})
		if err != nil || len(out.Vpcs) != want {
			t.Fatalf("%s VPCs = %v, %v", acct, out, err)
		}
	}
	sn, err := ec2.NewFromConfig(awsConfig(url, "222222222222", "x", "")).DescribeSubnets(ctx(t), &ec2.DescribeSubnetsInput{
		Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{"vpc-0aaaaaaaaaaaaaaa2"}}}})
	if err != nil || len(sn.Subnets) != 2 {
		t.Fatalf("subnets = %v, %v", sn, err)
	}
	svc, err := ec2.NewFromConfig(awsConfig(url, "111111111111", "x", "")).DescribeVpcEndpointServiceConfigurations(ctx(t), &ec2.DescribeVpcEndpointServiceConfigurationsInput{})
	if err != nil || len(svc.ServiceConfigurations) != 1 || len(svc.ServiceConfigurations[0].AvailabilityZones) != 3 || !*svc.ServiceConfigurations[0].AcceptanceRequired {
		t.Fatalf("service = %+v, %v", svc, err)
	}
	if v, _, ok := srv.Parameter("111111111111", "eu-west-1", "/jenkins-agent-vpcs/config/enabled"); !ok || v != "true" {
		t.Fatal("seeded parameter missing")
	}
	creds, err := srv.RoleCredentials("111111111111", "jenkins-agent-vpcs-reconcile", "reconcile", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sts.NewFromConfig(awsConfig(url, creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)).AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::333333333333:role/jenkins-agent-vpcs-spoke"), RoleSessionName: aws.String("reconcile"), ExternalId: aws.String("jenkins-agent-vpcs")})
	if err != nil {
		t.Fatalf("reconcile role cannot assume the spoke role: %v", err)
	}
	if p := srv.iam.ResourcePolicy("arn:aws:sns:eu-west-1:111111111111:jenkins-agent-vpcs-connections"); p == nil || len(p.Statements) != 1 {
		t.Fatalf("the connection topic's policy = %+v", p)
	}
	if _, err := ParseTopology([]byte("accounts: [{id: '444444444444', topics: [{name: t, policy: {Statement: {Effect: Perhaps}}}]}]")); err == nil {
		t.Fatal("a topic with a bad policy accepted")
	}
	if _, err := ParseTopology([]byte("accounts: [{id: '12'}]")); err == nil {
		t.Fatal("short account id accepted")
	}
}
