package agentvpc_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
)

const applyTopology = `
region: us-east-1
accounts:
  - id: "222222222222"
    vpcs:
      - id: vpc-0aaaaaaaaaaaaaaa1
        cidr: 10.1.0.0/16
        subnets: [{az: us-east-1a}]
`

// AuthorizeSecurityGroupIngress fails whole with InvalidPermission.Duplicate
// when one of its rules exists: the others must still be added, not taken
// as done.
func TestAuthorizeWithOneRuleAlreadyThereAddsTheOthers(t *testing.T) {
	top, err := localaws.ParseTopology([]byte(applyTopology))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := localaws.NewServer(localaws.Options{Topology: top})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); _ = srv.Close() })
	client := ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL),
		Credentials: credentials.NewStaticCredentialsProvider("222222222222", "secret", "")})
	ctx := context.Background()
	vpc := "vpc-0aaaaaaaaaaaaaaa1"
	group := func(name string) string {
		out, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(name), Description: aws.String(name), VpcId: aws.String(vpc)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.GroupId)
	}
	agent, endpoint := group(agentvpc.GroupName(agentvpc.RoleAgent)), group(agentvpc.GroupName(agentvpc.RoleEndpoint))
	// The invocation observed the groups, so they had become visible: the
	// clock has passed EC2's consistency window since their creation.
	later := func() { srv.Clock().Skip(srv.ConsistencyWindow()) }
	later()
	a := agentvpc.Applier{EC2: client}
	o := agentvpc.Observed{Account: "222222222222", Region: "us-east-1", VPCID: vpc, Exists: true, Groups: []agentvpc.SecurityGroup{
		{ID: agent, Name: agentvpc.GroupName(agentvpc.RoleAgent), Role: agentvpc.RoleAgent},
		{ID: endpoint, Name: agentvpc.GroupName(agentvpc.RoleEndpoint), Role: agentvpc.RoleEndpoint}}}
	step := func(ports ...int) []agentvpc.Step {
		return []agentvpc.Step{{Kind: agentvpc.AuthorizeRules, Role: agentvpc.RoleEndpoint, Rules: agentvpc.DesiredRules(ports, agent)}}
	}
	// A racing invocation added 50000 after this one observed the group.
	if _, err := a.Apply(ctx, agentvpc.Desired{}, o, step(50000)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, agentvpc.Desired{}, o, step(50000, 8080)); err != nil {
		t.Fatal(err)
	}
	later()
	out, err := client.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[int32]bool{}
	for _, r := range agentvpc.GroupOf(out.SecurityGroups[0]).Ingress {
		if r.SourceGroup == agent {
			got[r.FromPort] = true
		}
	}
	if !got[50000] || !got[8080] {
		t.Errorf("ingress from the agent group on %v, want 50000 and 8080", got)
	}
}

// Two invocations for one VPC race to create its groups (the tag event and
// the CloudTrail record arrive together). The loser gets
// InvalidGroup.Duplicate, and the winner's group may not be listed yet
// (eventual consistency): the loser must find it, not fail.
func TestCreateGroupLostToARacerFindsTheRacersGroup(t *testing.T) {
	top, err := localaws.ParseTopology([]byte(applyTopology))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := localaws.NewServer(localaws.Options{Topology: top, Consistency: localaws.Consistency{Window: 300 * time.Millisecond, Seed: 7}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); _ = srv.Close() })
	client := ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL),
		Credentials: credentials.NewStaticCredentialsProvider("222222222222", "secret", "")})
	ctx := context.Background()
	vpc := "vpc-0aaaaaaaaaaaaaaa1"
	a := agentvpc.Applier{EC2: client, RetryInterval: 50 * time.Millisecond}
	racer, err := client.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(agentvpc.GroupName(agentvpc.RoleAgent)),
		Description: aws.String("racer"), VpcId: aws.String(vpc),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup, Tags: []types.Tag{{Key: aws.String(agentvpc.TagManaged), Value: aws.String("true")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	faults := srv.ConsistencyFaults()
	out, err := a.Apply(ctx, agentvpc.Desired{}, agentvpc.Observed{Account: "222222222222", Region: "us-east-1", VPCID: vpc, Exists: true},
		[]agentvpc.Step{{Kind: agentvpc.CreateGroup, Role: agentvpc.RoleAgent}})
	if err != nil {
		t.Fatalf("losing the race to create the group: %v", err)
	}
	if got := out.GroupIDs[agentvpc.RoleAgent]; got != aws.ToString(racer.GroupId) {
		t.Errorf("agent group %q, want the racer's %q", got, aws.ToString(racer.GroupId))
	}
	if srv.ConsistencyFaults() == faults {
		t.Log("the racer's group was listed at once this time (the draw made it visible)")
	}
}
