package spoke_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/spoke"
)

// stsStub answers AssumeRole with credentials of the account it is told to.
type stsStub struct {
	mu      sync.Mutex
	calls   []sts.AssumeRoleInput
	account func(roleARN string) string
}

func (s *stsStub) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	s.mu.Lock()
	s.calls = append(s.calls, *in)
	s.mu.Unlock()
	acct := s.account(aws.ToString(in.RoleArn))
	if acct == "" {
		return nil, errors.New("AccessDenied")
	}
	return &sts.AssumeRoleOutput{
		Credentials:     &types.Credentials{AccessKeyId: aws.String("ASIA" + acct), SecretAccessKey: aws.String("s"), SessionToken: aws.String("t")},
		AssumedRoleUser: &types.AssumedRoleUser{Arn: aws.String("arn:aws:sts::" + acct + ":assumed-role/jenkins-agent-vpcs-spoke/test")},
	}, nil
}

func TestForAssumesOnceAndChecksTheAccount(t *testing.T) {
	stub := &stsStub{account: func(arn string) string { return strings.Split(arn, ":")[4] }}
	role := spoke.New(aws.Config{}, stub, "jenkins-agent-vpcs-spoke", "ext", "test", func(c aws.Config) aws.Config { return c })
	ctx := context.Background()
	for range 3 {
		c, err := role.For(ctx, "222222222222", "us-east-1")
		if err != nil {
			t.Fatal(err)
		}
		creds, _ := c.Credentials.Retrieve(ctx)
		if creds.AccessKeyID != "ASIA222222222222" || c.Region != "us-east-1" {
			t.Fatalf("credentials %+v region %s", creds, c.Region)
		}
	}
	if len(stub.calls) != 1 {
		t.Fatalf("assumed %d times, want once (cached)", len(stub.calls))
	}
	in := stub.calls[0]
	if aws.ToString(in.RoleArn) != "arn:aws:iam::222222222222:role/jenkins-agent-vpcs-spoke" || aws.ToString(in.ExternalId) != "ext" || aws.ToInt32(in.DurationSeconds) != 3600 {
		t.Errorf("AssumeRole input %+v", in)
	}
}

func TestForRefusesCredentialsOfAnotherAccount(t *testing.T) {
	stub := &stsStub{account: func(string) string { return "999999999999" }}
	role := spoke.New(aws.Config{}, stub, "jenkins-agent-vpcs-spoke", "", "test", func(c aws.Config) aws.Config { return c })
	_, err := role.For(context.Background(), "222222222222", "us-east-1")
	var access *spoke.AccessError
	if !errors.As(err, &access) || !strings.Contains(err.Error(), "not a role of account 222222222222") {
		t.Fatalf("want an AccessError naming the mismatch, got %v", err)
	}
}

func TestForReportsAMissingRole(t *testing.T) {
	stub := &stsStub{account: func(string) string { return "" }}
	role := spoke.New(aws.Config{}, stub, "jenkins-agent-vpcs-spoke", "", "test", func(c aws.Config) aws.Config { return c })
	if _, err := role.For(context.Background(), "333333333333", "us-east-1"); err == nil || !strings.Contains(err.Error(), "333333333333") {
		t.Fatalf("want an error naming the account, got %v", err)
	}
}

// The role is assumed in the partition of the Region asked for: a role ARN
// of another partition is refused by STS.
func TestForAssumesTheRoleOfTheRegionsPartition(t *testing.T) {
	for region, want := range map[string]string{
		"eu-west-1":     "arn:aws:iam::222222222222:role/jenkins-agent-vpcs-spoke",
		"cn-north-1":    "arn:aws-cn:iam::222222222222:role/jenkins-agent-vpcs-spoke",
		"us-gov-west-1": "arn:aws-us-gov:iam::222222222222:role/jenkins-agent-vpcs-spoke",
	} {
		stub := &stsStub{account: func(string) string { return "222222222222" }}
		role := spoke.New(aws.Config{}, stub, "jenkins-agent-vpcs-spoke", "", "test", func(c aws.Config) aws.Config { return c })
		if _, err := role.For(context.Background(), "222222222222", region); err != nil {
			t.Fatalf("%s: %v", region, err)
		}
		if got := aws.ToString(stub.calls[0].RoleArn); got != want {
			t.Errorf("%s: assumed %s, want %s", region, got, want)
		}
	}
}

// IAM is global: the clients of one account in several Regions share one
// AssumeRole, each with its own Region.
func TestForSharesTheRoleAcrossRegions(t *testing.T) {
	stub := &stsStub{account: func(arn string) string { return strings.Split(arn, ":")[4] }}
	role := spoke.New(aws.Config{}, stub, "jenkins-agent-vpcs-spoke", "", "test", func(c aws.Config) aws.Config { return c })
	ctx := context.Background()
	for _, region := range []string{"eu-west-1", "us-west-2", "eu-west-1"} {
		c, err := role.For(ctx, "222222222222", region)
		if err != nil {
			t.Fatal(err)
		}
		if creds, _ := c.Credentials.Retrieve(ctx); c.Region != region || creds.AccessKeyID != "ASIA222222222222" {
			t.Errorf("For(%s) = Region %s, key %s", region, c.Region, creds.AccessKeyID)
		}
	}
	if _, err := role.For(ctx, "333333333333", "us-west-2"); err != nil {
		t.Fatal(err)
	}
	if len(stub.calls) != 2 {
		t.Errorf("assumed %d times for two accounts in two Regions, want twice (once per account)", len(stub.calls))
	}
}
