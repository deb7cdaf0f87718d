package localstack

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
)

// template.yaml's queues are created with its attributes, the onboarding
// queue redriving to its dead-letter queue, and each queue policy set on
// its queue, resolved as CloudFormation would.
func TestQueuesDeployAsTheTemplateSays(t *testing.T) {
	server := startQueueServer(t, localaws.QueueStrictness{})
	ctx := context.Background()
	wd, _ := os.Getwd()
	root, err := RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	const account, region = testAccount, "us-east-1"
	hub, err := newDeployment(filepath.Join(root, "template.yaml"), StackName, account, region,
		map[string]string{"OrganizationId": "o-aaaaaaaaaa", "EndpointServiceId": "vpce-svc-0123456789abcdef0", "SpokeExternalId": ExternalID})
	if err != nil {
		t.Fatal(err)
	}
	client := sqs.NewFromConfig(AdminConfig(server, region, account))
	if err := createQueues(ctx, client, hub); err != nil {
		t.Fatal(err)
	}
	if srv, ok := servers.Load(server); ok {
		srv.(*localaws.Server).Clock().Skip(queueCreationDelay)
	}
	if err := awaitQueues(ctx, client, hub.queueURLs); err != nil {
		t.Fatal(err)
	}
	if err := setQueuePolicies(ctx, client, hub); err != nil {
		t.Fatal(err)
	}
	for _, id := range hub.tpl.Resources("AWS::SQS::Queue") {
		created, err := hub.created(id)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := hub.queueURLs[id]; ok != created {
			t.Errorf("queue %s created %v, want %v (its Condition)", id, ok, created)
		}
	}
	attrs := func(id string) map[string]string {
		out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(hub.queueURLs[id]),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
		if err != nil {
			t.Fatalf("reading the attributes of %s: %v", id, err)
		}
		return out.Attributes
	}

	q := attrs("OnboardQueue")
	if q["VisibilityTimeout"] != "1800" || q["SqsManagedSseEnabled"] != "true" {
		t.Errorf("OnboardQueue attributes %v, want the template's visibility timeout and SSE", q)
	}
	var redrive map[string]any
	if err := json.Unmarshal([]byte(q["RedrivePolicy"]), &redrive); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", q["RedrivePolicy"], err)
	}
	dlqARN := attrs("OnboardQueueDeadLetterQueue")["QueueArn"]
	if redrive["deadLetterTargetArn"] != dlqARN || redrive["maxReceiveCount"] != float64(5) {
		t.Errorf("OnboardQueue redrive policy %v, want %s after 5 receives", redrive, dlqARN)
	}
	if want, _ := hub.attr("OnboardQueue", "Arn"); q["QueueArn"] != want {
		t.Errorf("OnboardQueue ARN %s, the template resolves it to %s", q["QueueArn"], want)
	}

	var policy struct {
		Statement []struct {
			Principal map[string]any
			Action    any
			Resource  any
			Condition map[string]map[string][]string
		}
	}
	if err := json.Unmarshal([]byte(q["Policy"]), &policy); err != nil || len(policy.Statement) != 1 {
		t.Fatalf("OnboardQueue policy %q: want one statement (%v)", q["Policy"], err)
	}
	var rules []string
	for _, id := range []string{"OnboardTagChangeRule", "OnboardTagCallRule", "OnboardVpcCallRule"} {
		arn, err := hub.attr(id, "Arn")
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, arn)
	}
	st := policy.Statement[0]
	if got := st.Condition["ArnEquals"]["aws:SourceArn"]; !reflect.DeepEqual(got, rules) {
		t.Errorf("OnboardQueue policy allows rules %v, want %v", got, rules)
	}
	if rules[0] != "arn:aws:events:us-east-1:123456789012:rule/jenkins-agent-vpcs/jenkins-agent-vpcs-OnboardTagChangeRule" {
		t.Errorf("rule ARN %s: a rule on a custom bus is rule/<bus>/<name>", rules[0])
	}
	if st.Resource != q["QueueArn"] || st.Action != "sqs:SendMessage" {
		t.Errorf("OnboardQueue policy statement %+v, want SendMessage on %s", st, q["QueueArn"])
	}
	if p := attrs("EventsDeadLetterQueue")["Policy"]; p == "" {
		t.Error("EventsDeadLetterQueue has no policy; the rules could not put failed events there")
	}
	if hub.queueURL("OnboardQueue") != hub.queueURLs["OnboardQueue"] {
		t.Errorf("!Ref OnboardQueue = %s, want the URL SQS gave: %s", hub.queueURL("OnboardQueue"), hub.queueURLs["OnboardQueue"])
	}
}
