package localaws

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"errors"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestGetCallerIdentityRoot(t *testing.T) {
	_, url := startServer(t, Options{Topology: testTopology()})
	out, err := sts.NewFromConfig(awsConfig(url, member, "x", "")).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *out.Account != member || *out.Arn != "arn:aws:iam::"+member+":root" || *out.UserId != member {
		t.Fatalf("identity = %s %s %s", *out.Account, *out.Arn, *out.UserId)
	}
}

func TestUnknownAccessKeyIsRefused(t *testing.T) {
	_, url := startServer(t, Options{})
	_, err := sts.NewFromConfig(awsConfig(url, "AKIAIOSFODNN7EXAMPLE", "x", "")).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	wantCode(t, err, "InvalidClientTokenId")
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
		t.Fatalf("want HTTP 403, got %v", err)
	}
}

func TestAssumeRoleChainAndSessionIdentity(t *testing.T) {
	_, url := startServer(t, Options{Topology: testTopology()})
	hubSTS := sts.NewFromConfig(awsConfig(url, hub, "x", ""))
	fn, err := hubSTS.AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + hub + ":role/jenkins-agent-vpcs-onboard"), RoleSessionName: aws.String("onboard"), DurationSeconds: aws.Int32(7200)})
	if err != nil {
		t.Fatal(err)
	}
	c := fn.Credentials
	if !strings.HasPrefix(*c.AccessKeyId, "ASIA") || *c.SecretAccessKey == "" || *c.SessionToken == "" || time.Until(*c.Expiration) < 7100*time.Second {
		t.Fatalf("credentials = %+v", c)
	}
	if got := *fn.AssumedRoleUser.Arn; got != "arn:aws:sts::"+hub+":assumed-role/jenkins-agent-vpcs-onboard/onboard" {
		t.Fatalf("assumed role arn = %s", got)
	}
	fnSTS := sts.NewFromConfig(awsConfig(url, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken))
	who, err := fnSTS.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *who.Account != hub || *who.Arn != *fn.AssumedRoleUser.Arn || !strings.HasSuffix(*who.UserId, ":onboard") {
		t.Fatalf("session identity = %s %s %s", *who.Account, *who.Arn, *who.UserId)
	}

	spokeARN := aws.String("arn:aws:iam::" + member + ":role/jenkins-agent-vpcs-spoke")
	// Role chaining caps the session at one hour.
	_, err = fnSTS.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: spokeARN, RoleSessionName: aws.String("s1"), ExternalId: aws.String("jenkins-agent-vpcs"), DurationSeconds: aws.Int32(3601)})
	wantCode(t, err, "ValidationError")
	// Wrong external id.
	_, err = fnSTS.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: spokeARN, RoleSessionName: aws.String("s1"), ExternalId: aws.String("nope")})
	wantCode(t, err, "AccessDenied")
	// The hub root is not the trusted function role.
	_, err = hubSTS.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: spokeARN, RoleSessionName: aws.String("s1"), ExternalId: aws.String("jenkins-agent-vpcs")})
	wantCode(t, err, "AccessDenied")

	spoke, err := fnSTS.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: spokeARN, RoleSessionName: aws.String("hub-onboard"), ExternalId: aws.String("jenkins-agent-vpcs")})
	if err != nil {
		t.Fatal(err)
	}
	sc := spoke.Credentials
	who, err = sts.NewFromConfig(awsConfig(url, *sc.AccessKeyId, *sc.SecretAccessKey, *sc.SessionToken)).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *who.Account != member || *who.Arn != "arn:aws:sts::"+member+":assumed-role/jenkins-agent-vpcs-spoke/hub-onboard" {
		t.Fatalf("spoke identity = %s %s", *who.Account, *who.Arn)
	}
}

func TestAssumeRoleRefusals(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology()})
	c := sts.NewFromConfig(awsConfig(url, hub, "x", ""))
	cases := []struct {
		name string
		in   sts.AssumeRoleInput
		code string
	}{
		{"missing role", sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + hub + ":role/nope"), RoleSessionName: aws.String("s1")}, "AccessDenied"},
		{"too short", sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + hub + ":role/open"), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(899)}, "ValidationError"},
		{"above max session", sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + hub + ":role/open"), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(3601)}, "ValidationError"},
		{"bad session name", sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + hub + ":role/open"), RoleSessionName: aws.String("a b")}, "ValidationError"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.AssumeRole(ctx(t), &tc.in)
			wantCode(t, err, tc.code)
		})
	}
	// A role trusting "*" is open to an account outside the topology.
	out, err := sts.NewFromConfig(awsConfig(url, "999999999999", "x", "")).AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + hub + ":role/open"), RoleSessionName: aws.String("s1")})
	if err != nil {
		t.Fatal(err)
	}
	// An organization condition admits members only.
	orgOnly := &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + member2 + ":role/org-only"), RoleSessionName: aws.String("s1")}
	_, err = sts.NewFromConfig(awsConfig(url, "999999999999", "x", "")).AssumeRole(ctx(t), orgOnly)
	wantCode(t, err, "AccessDenied")
	if _, err := c.AssumeRole(ctx(t), orgOnly); err != nil {
		t.Fatalf("org member refused: %v", err)
	}
	// Expired sessions fail as AWS fails them.
	srv.Clock().Advance(2 * time.Hour)
	_, err = sts.NewFromConfig(awsConfig(url, *out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)).
		GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	wantCode(t, err, "ExpiredToken")
	// A session key with the wrong token is invalid.
	_, err = sts.NewFromConfig(awsConfig(url, *out.Credentials.AccessKeyId, "x", "forged")).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	wantCode(t, err, "InvalidClientTokenId")
}

func TestOrgMembershipFromTopology(t *testing.T) {
	topo := testTopology()
	_, url := startServer(t, Options{Topology: topo})
	// The spoke trusts the onboard role of the hub, which is in the org.
	fn, err := sts.NewFromConfig(awsConfig(url, hub, "x", "")).AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + hub + ":role/jenkins-agent-vpcs-onboard"), RoleSessionName: aws.String("fn")})
	if err != nil {
		t.Fatal(err)
	}
	c := fn.Credentials
	_, err = sts.NewFromConfig(awsConfig(url, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)).AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + member2 + ":role/jenkins-agent-vpcs-spoke"), RoleSessionName: aws.String("s1"), ExternalId: aws.String("jenkins-agent-vpcs")})
	if err != nil {
		t.Fatalf("org member hub role should assume the spoke: %v", err)
	}
}
