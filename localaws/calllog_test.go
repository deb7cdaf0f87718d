package localaws

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestCallLogNamesThePrincipalAndTheOutcome(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology()})
	start := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	srv.Clock().Set(start)
	c := ctx(t)

	// The hub's root assumes the function role; the session then reads a
	// parameter that does not exist and describes VPCs through a fault.
	assumed, err := sts.NewFromConfig(awsConfig(url, hub, "s", "")).AssumeRole(c, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + hub + ":role/jenkins-agent-vpcs-onboard"), RoleSessionName: aws.String("onboard")})
	if err != nil {
		t.Fatal(err)
	}
	cr := assumed.Credentials
	session := awsConfig(url, aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken))
	srv.Clock().Advance(time.Second)
	_, err = ssm.NewFromConfig(session).GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/missing")})
	wantCode(t, err, "ParameterNotFound")
	srv.InjectFault(Fault{Service: "ec2", Action: "DescribeVpcs", Code: "RequestLimitExceeded", Count: 1})
	_, err = ec2.NewFromConfig(session).DescribeVpcs(c, &ec2.DescribeVpcsInput{})
	wantCode(t, err, "RequestLimitExceeded")
	if _, err := ec2.NewFromConfig(session).DescribeVpcs(c, &ec2.DescribeVpcsInput{}); err != nil {
		t.Fatal(err)
	}
	// A call with unknown credentials is refused before anyone is known: not logged.
	bad := aws.Config{Region: region, BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("ASIANOBODY", "s", "t")}
	if _, err := ssm.NewFromConfig(bad).GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/x")}); err == nil {
		t.Fatal("unknown credentials were accepted")
	}

	sessionARN := "arn:aws:sts::" + hub + ":assumed-role/jenkins-agent-vpcs-onboard/onboard"
	want := []Call{
		{Seq: 1, Service: "sts", Action: "AssumeRole", Account: hub, Principal: "arn:aws:iam::" + hub + ":root", Region: region, Time: start},
		{Seq: 2, Service: "ssm", Action: "GetParameter", Account: hub, Principal: sessionARN, Region: region, Code: "ParameterNotFound", Time: start.Add(time.Second)},
		{Seq: 3, Service: "ec2", Action: "DescribeVpcs", Account: hub, Principal: sessionARN, Region: region, Code: "RequestLimitExceeded", Time: start.Add(time.Second)},
		{Seq: 4, Service: "ec2", Action: "DescribeVpcs", Account: hub, Principal: sessionARN, Region: region, Time: start.Add(time.Second)},
	}
	got := srv.CallLog()
	if len(got) != len(want) {
		t.Fatalf("call log has %d calls, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// The counters are a separate API and keep counting.
	if n := srv.CallCount("ec2", "DescribeVpcs", hub); n != 2 {
		t.Errorf("CallCount = %d, want 2", n)
	}

	srv.ResetCallLog()
	if got := srv.CallLog(); len(got) != 0 {
		t.Fatalf("reset left %+v", got)
	}
	if srv.CallCount("ec2", "DescribeVpcs", hub) != 2 {
		t.Error("resetting the call log reset the counters")
	}
	if _, err := ec2.NewFromConfig(awsConfig(url, member, "s", "")).DescribeVpcs(c, &ec2.DescribeVpcsInput{}); err != nil {
		t.Fatal(err)
	}
	if got := srv.CallLog(); len(got) != 1 || got[0].Seq != 5 || got[0].Principal != "arn:aws:iam::"+member+":root" {
		t.Errorf("after reset: %+v, want one call numbered 5 by %s's root", got, member)
	}
}

func TestCallLogKeepsTheNewestCallsWithinItsBound(t *testing.T) {
	var l callLog
	now := time.Now()
	for i := range maxCallLog + 1 {
		l.record("ec2", "DescribeVpcs", hub, "arn:aws:iam::"+hub+":root", "us-east-1", string(rune(i)), now)
	}
	calls := l.list()
	if len(calls) > maxCallLog || len(calls) < maxCallLog/2 {
		t.Fatalf("the log holds %d calls, want at most %d and not far fewer", len(calls), maxCallLog)
	}
	for i, c := range calls {
		if want := int64(maxCallLog + 1 - len(calls) + i + 1); c.Seq != want {
			t.Fatalf("call %d has seq %d, want %d: the newest calls, in order", i, c.Seq, want)
		}
	}
}
