package localaws

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

const topicARN = "arn:aws:sns:" + region + ":" + hub + ":jenkins-agent-vpcs-connections"

func privateLinkTopology() *Topology {
	t := testTopology()
	t.Accounts[0].EndpointServices = []EndpointService{{ID: "vpce-svc-0123456789abcdef0", AcceptanceRequired: true,
		AZs: []string{region + "a", region + "b"}, Ports: []int{50000}, NotificationTopicARN: topicARN,
		AllowedPrincipals: []string{"arn:aws:iam::" + member + ":role/jenkins-agent-vpcs-spoke"}}}
	// The hub template's ConnectionTopicPolicy: PrivateLink may publish the
	// service's notifications.
	t.Accounts[0].Topics = []Topic{{Name: "jenkins-agent-vpcs-connections", Policy: PolicyDocument(`{"Version":"2012-10-17","Statement":[{
		"Effect":"Allow","Principal":{"Service":"vpce.amazonaws.com"},"Action":"sns:Publish","Resource":"` + topicARN + `",
		"Condition":{"StringEquals":{"aws:SourceAccount":"` + hub + `"}}}]}`)}}
	return t
}

// spokeEC2 is an EC2 client of the member through hub role -> spoke role.
func spokeEC2(t *testing.T, url string) *ec2.Client {
	t.Helper()
	fn, err := sts.NewFromConfig(awsConfig(url, hub, "x", "")).AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + hub + ":role/jenkins-agent-vpcs-onboard"), RoleSessionName: aws.String("onboard")})
	if err != nil {
		t.Fatal(err)
	}
	c := fn.Credentials
	sp, err := sts.NewFromConfig(awsConfig(url, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)).AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + member + ":role/jenkins-agent-vpcs-spoke"), RoleSessionName: aws.String("onboard"), ExternalId: aws.String("jenkins-agent-vpcs")})
	if err != nil {
		t.Fatal(err)
	}
	c = sp.Credentials
	return ec2.NewFromConfig(awsConfig(url, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken))
}

func TestPrivateLinkAcrossAccounts(t *testing.T) {
	// Relaxed delivery: the test expects the aws.tag event of its CreateTags,
	// which strict delivery may lose.
	srv, url := startServer(t, Options{Topology: privateLinkTopology(), TransitionDelay: time.Minute, Relax: Relax{Delivery: true}})
	srv.Clock().Set(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	var notes recorder[string]
	defer srv.SubscribeTopic(topicARN, func(_, m string) { notes.add(m) })()
	var tagEvents recorder[awsproto.Event]
	defer srv.Watch(member, region, "default", tagEvents.add)()

	spoke := spokeEC2(t, url)
	vpcs, err := spoke.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("tag:jenkins-agents"), Values: []string{"true"}}}})
	if err != nil || len(vpcs.Vpcs) != 1 || *vpcs.Vpcs[0].CidrBlock != "10.1.0.0/16" {
		t.Fatalf("describe vpcs = %+v, %v", vpcs, err)
	}
	vpcID := *vpcs.Vpcs[0].VpcId
	subnets, err := spoke.DescribeSubnets(ctx(t), &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}})
	if err != nil || len(subnets.Subnets) != 2 || *subnets.Subnets[0].AvailabilityZoneId == "" {
		t.Fatalf("describe subnets = %+v, %v", subnets, err)
	}
	if _, err := spoke.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: []string{vpcID}, Tags: []types.Tag{{Key: aws.String("owner"), Value: aws.String("ci")}}}); err != nil {
		t.Fatal(err)
	}
	srv.Flush(5 * time.Second)
	sawTag := false
	for _, ev := range tagEvents.all() {
		sawTag = sawTag || ev.Source == "aws.tag"
	}
	if !sawTag {
		t.Fatalf("no aws.tag event on the member's default bus: %+v", tagEvents.all())
	}

	var ids []string
	for _, s := range subnets.Subnets {
		ids = append(ids, *s.SubnetId)
	}
	in := &ec2.CreateVpcEndpointInput{VpcId: aws.String(vpcID), ServiceName: aws.String("com.amazonaws.vpce." + region + ".vpce-svc-0123456789abcdef0"),
		VpcEndpointType: types.VpcEndpointTypeInterface, SubnetIds: ids, PrivateDnsEnabled: aws.Bool(false), ClientToken: aws.String("tok-1")}
	ep, err := spoke.CreateVpcEndpoint(ctx(t), in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(string(ep.VpcEndpoint.State), "pendingAcceptance") {
		t.Fatalf("new endpoint state = %s", ep.VpcEndpoint.State)
	}
	again, err := spoke.CreateVpcEndpoint(ctx(t), in)
	if err != nil || *again.VpcEndpoint.VpcEndpointId != *ep.VpcEndpoint.VpcEndpointId {
		t.Fatalf("idempotent create = %v, %v", again, err)
	}
	in.SubnetIds = ids[:1]
	_, err = spoke.CreateVpcEndpoint(ctx(t), in)
	wantCode(t, err, "IdempotentParameterMismatch")
	// The member root is not an allowed principal.
	root := ec2.NewFromConfig(awsConfig(url, member, "x", ""))
	in.ClientToken, in.SubnetIds = aws.String("tok-2"), ids
	_, err = root.CreateVpcEndpoint(ctx(t), in)
	if err == nil {
		t.Fatal("endpoint created by a principal the service does not allow")
	}

	// EC2 is eventually consistent: wait out the window before reading.
	srv.Clock().Advance(DefaultConsistencyWindow)
	hubEC2 := ec2.NewFromConfig(awsConfig(url, hub, "x", ""))
	conns, err := hubEC2.DescribeVpcEndpointConnections(ctx(t), &ec2.DescribeVpcEndpointConnectionsInput{})
	if err != nil || len(conns.VpcEndpointConnections) != 1 || *conns.VpcEndpointConnections[0].VpcEndpointOwner != member {
		t.Fatalf("connections = %+v, %v", conns, err)
	}
	acc, err := hubEC2.AcceptVpcEndpointConnections(ctx(t), &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String("vpce-svc-0123456789abcdef0"),
		VpcEndpointIds: []string{*ep.VpcEndpoint.VpcEndpointId, "vpce-0000000000000dead"}})
	if err != nil || len(acc.Unsuccessful) != 1 || *acc.Unsuccessful[0].ResourceId != "vpce-0000000000000dead" {
		t.Fatalf("accept = %+v, %v", acc, err)
	}
	srv.Clock().Advance(DefaultConsistencyWindow)
	state := func() string {
		out, err := spoke.DescribeVpcEndpoints(ctx(t), &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{*ep.VpcEndpoint.VpcEndpointId}})
		if err != nil || len(out.VpcEndpoints) != 1 {
			t.Fatalf("describe endpoint = %+v, %v", out, err)
		}
		return strings.ToLower(string(out.VpcEndpoints[0].State))
	}
	if s := state(); s != "pending" {
		t.Fatalf("state after accept = %s", s)
	}
	srv.Clock().Advance(time.Minute)
	if s := state(); s != "available" {
		t.Fatalf("state after the delay = %s", s)
	}
	srv.Flush(5 * time.Second)
	if len(notes.all()) == 0 {
		t.Fatal("no connection notification on the topic")
	}

	_, err = root.DeleteVpc(ctx(t), &ec2.DeleteVpcInput{VpcId: aws.String(vpcID)})
	wantCode(t, err, "DependencyViolation")
}

func TestEC2FrontDoorErrors(t *testing.T) {
	srv, url := startServer(t, Options{Topology: privateLinkTopology()})
	_, err := ec2.NewFromConfig(awsConfig(url, "AKIANOTANACCOUNT0000", "x", "")).DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{})
	wantCode(t, err, "AuthFailure")
	c := ec2.NewFromConfig(awsConfig(url, member, "x", ""))
	_, err = c.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-0000000000000beef"}})
	wantCode(t, err, "InvalidVpcID.NotFound")

	srv.SetThrottle(true)
	srv.Clock().Set(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	var last error
	for range 101 {
		_, last = c.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{})
	}
	wantCode(t, last, "RequestLimitExceeded")
	var re *smithyhttp.ResponseError
	if !errors.As(last, &re) || re.HTTPStatusCode() != 503 {
		t.Fatalf("throttle status: %v", last)
	}
	if n := srv.CallCount("ec2", "DescribeVpcs", member); n != 102 {
		t.Fatalf("DescribeVpcs count = %d", n)
	}
	// The bucket holds 100: the 101st call of the loop is the one throttled.
	for _, c := range srv.Calls() {
		if c.Service == "ec2" && c.Action == "DescribeVpcs" && c.Account == member && c.Throttled != 1 {
			t.Fatalf("DescribeVpcs throttled %d times, want 1", c.Throttled)
		}
	}
}
