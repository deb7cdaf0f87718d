package localaws

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// connectionTopicPolicy is the hub template's ConnectionTopicPolicy for the
// test topology's topic, with statement as its only statement.
func connectionTopicPolicy(statement string) PolicyDocument {
	return PolicyDocument(`{"Version":"2012-10-17","Statement":[` + statement + `]}`)
}

// The endpoint service's connection notifications reach the topic only when
// the topic's policy lets PrivateLink (vpce.amazonaws.com) publish for that
// service; otherwise SNS refuses the message and no subscriber sees it.
func TestIAMTopicPolicyDecidesConnectionNotifications(t *testing.T) {
	serviceARN := "arn:aws:ec2:" + region + ":" + hub + ":vpc-endpoint-service/vpce-svc-0123456789abcdef0"
	vpce := func(condition string) string {
		return `{"Sid":"EndpointServiceNotifications","Effect":"Allow","Principal":{"Service":"vpce.amazonaws.com"},
			"Action":"sns:Publish","Resource":"` + topicARN + `","Condition":` + condition + `}`
	}
	tests := []struct {
		name      string
		policy    PolicyDocument // nil: the topic has no policy
		relaxIAM  bool
		delivered bool
		reason    string // in the recorded denial
	}{
		{name: "the hub template's policy (aws:SourceAccount)", delivered: true,
			policy: connectionTopicPolicy(vpce(`{"StringEquals":{"aws:SourceAccount":"` + hub + `"}}`))},
		{name: "the PrivateLink guide's policy (aws:SourceArn and aws:SourceAccount)", delivered: true,
			policy: connectionTopicPolicy(vpce(`{"ArnLike":{"aws:SourceArn":"` + serviceARN + `"},"StringEquals":{"aws:SourceAccount":"` + hub + `"}}`))},
		{name: "no topic policy", reason: "has no resource-based policy"},
		{name: "no topic policy, IAM relaxed", relaxIAM: true, delivered: true},
		{name: "aws:SourceAccount names another account", reason: "aws:SourceAccount",
			policy: connectionTopicPolicy(vpce(`{"StringEquals":{"aws:SourceAccount":"` + member + `"}}`))},
		{name: "aws:SourceArn names another endpoint service", reason: "aws:SourceArn",
			policy: connectionTopicPolicy(vpce(`{"ArnLike":{"aws:SourceArn":"arn:aws:ec2:` + region + `:` + hub + `:vpc-endpoint-service/vpce-svc-0000000000000beef"}}`))},
		{name: "SNS's default policy: the owner account's principals only", reason: "AWS:SourceOwner",
			policy: connectionTopicPolicy(`{"Sid":"__default_statement_ID","Effect":"Allow","Principal":{"AWS":"*"},
				"Action":["SNS:Publish","SNS:Subscribe","SNS:GetTopicAttributes"],"Resource":"` + topicARN + `",
				"Condition":{"StringEquals":{"AWS:SourceOwner":"` + hub + `"}}}`)},
		{name: "another service principal", reason: "Principal does not name vpce.amazonaws.com",
			policy: connectionTopicPolicy(`{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sns:Publish","Resource":"` + topicARN + `"}`)},
		{name: "an explicit deny beside the allow", reason: "explicitly denied",
			policy: connectionTopicPolicy(vpce(`{"StringEquals":{"aws:SourceAccount":"`+hub+`"}}`) + `,
				{"Sid":"NoVpce","Effect":"Deny","Principal":"*","Action":"sns:*","Resource":"*","Condition":{"Bool":{"aws:PrincipalIsAWSService":"true"}}}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo := privateLinkTopology()
			topo.Accounts[0].Topics = nil
			if tc.policy != nil {
				topo.Accounts[0].Topics = []Topic{{Name: "jenkins-agent-vpcs-connections", Policy: tc.policy}}
			}
			srv, url := startServer(t, Options{Topology: topo, Relax: Relax{IAM: tc.relaxIAM, Delivery: true}})
			var notes recorder[string]
			defer srv.SubscribeTopic(topicARN, func(subject, _ string) { notes.add(subject) })()

			createEndpoint(t, spokeEC2(t, url))
			srv.Flush(5 * time.Second)
			got := notes.all()
			if delivered := len(got) == 1 && got[0] == "VPC Endpoint Connection Notification: Connect"; delivered != tc.delivered {
				t.Fatalf("messages on the topic %q, want delivered = %v (denials %+v)", got, tc.delivered, srv.Denials())
			}
			var refused []Denial
			for _, d := range srv.Denials() {
				if d.Action == "sns:Publish" {
					refused = append(refused, d)
				}
			}
			if tc.delivered {
				if len(refused) != 0 {
					t.Fatalf("delivered, but denials %+v", refused)
				}
				return
			}
			if len(refused) != 1 || refused[0].Principal != "vpce.amazonaws.com" || refused[0].Resource != topicARN ||
				!strings.Contains(refused[0].Reason, tc.reason) {
				t.Fatalf("denials %+v, want one of vpce.amazonaws.com on %s naming %q", refused, topicARN, tc.reason)
			}
		})
	}
}

// createEndpoint creates the member's endpoint to the test topology's
// endpoint service, which notifies its topic of the connection (Connect).
func createEndpoint(t *testing.T, spoke *ec2.Client) {
	t.Helper()
	vpcs, err := spoke.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{})
	if err != nil || len(vpcs.Vpcs) != 1 {
		t.Fatalf("describe vpcs = %+v, %v", vpcs, err)
	}
	subnets, err := spoke.DescribeSubnets(ctx(t), &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{*vpcs.Vpcs[0].VpcId}}}})
	if err != nil || len(subnets.Subnets) == 0 {
		t.Fatalf("describe subnets = %+v, %v", subnets, err)
	}
	if _, err := spoke.CreateVpcEndpoint(ctx(t), &ec2.CreateVpcEndpointInput{VpcId: vpcs.Vpcs[0].VpcId,
		ServiceName: aws.String("com.amazonaws.vpce." + region + ".vpce-svc-0123456789abcdef0"), VpcEndpointType: types.VpcEndpointTypeInterface,
		SubnetIds: []string{*subnets.Subnets[0].SubnetId}, PrivateDnsEnabled: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
}
