package function_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/onboard"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/status"
)

// onboardQueueARN is the onboard queue the local deployment's event source
// mapping polls (template.yaml's OnboardQueue).
const onboardQueueARN = "arn:aws:sqs:us-east-1:" + hub + ":jenkins-agent-vpcs-OnboardQueue"

// sqsBatch is the event Lambda's SQS event source mapping hands the
// onboard function: one record per body, message ids m1, m2, ...
func sqsBatch(t *testing.T, bodies ...[]byte) []byte {
	t.Helper()
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("m%d", i+1), ReceiptHandle: fmt.Sprintf("handle-%d", i+1), Body: string(b),
			Attributes:  map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1767225600000"},
			EventSource: "aws:sqs", EventSourceARN: onboardQueueARN, AWSRegion: region,
			MessageAttributes: map[string]events.SQSMessageAttribute{},
		})
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// onboardBatch drives the onboard function's real handler entry with a
// batch and returns the messages its partial batch response names.
func (e *env) onboardBatch(payload []byte) []string {
	e.t.Helper()
	out, err := lambda.NewHandler(e.core("onboard").Onboard()).Invoke(context.Background(), payload)
	if err != nil {
		e.t.Fatalf("the batch failed as a whole: %v", err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		e.t.Fatalf("the response %s is not a partial batch response: %v", out, err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	return failed
}

// TestBatchCoalescesTheEventsOfOneVPC hands onboard one batch holding a
// tag change's two events (aws.tag and CloudTrail's CreateTags, which also
// names a second VPC) and a re-drive of the first VPC: each VPC converges
// once (one lease taken and given back, one endpoint), and nothing fails.
func TestBatchCoalescesTheEventsOfOneVPC(t *testing.T) {
	e := newEnv(t, nil)
	vpc, vpc2 := e.vpcs[savedVPC], e.vpcs[savedVPC2]
	e.tag(member, vpc, "true")
	e.tag(member, vpc2, "true")
	mark := e.mark()
	failed := e.onboardBatch(sqsBatch(t, e.event("tag-change-tagged.json"), e.event("cloudtrail-createtags-mixed.json"), e.event("redrive.json")))
	if len(failed) != 0 {
		t.Fatalf("batch item failures %v, want none\n%s", failed, e.logs)
	}
	releases, creates := 0, 0
	for _, c := range e.writes(mark) {
		switch c.Action {
		case "DeleteParameters":
			releases++
		case "CreateVpcEndpoint":
			creates++
		}
	}
	if releases != 2 || creates != 2 {
		t.Errorf("%d leases given back and %d endpoints created for 2 VPCs named by 3 messages, want 2 and 2 (one convergence each)", releases, creates)
	}
	e.assertOnboarded(member, vpc)
	e.assertOnboarded(member, vpc2)
}

// TestBatchReportsOnlyTheMessagesThatFailed mixes, in one batch, a
// malformed re-drive (handed out again, so that the queue's redrive
// policy ends it in the dead-letter queue), a forged event (refused: done
// with), a re-drive of a VPC the account does not show (its convergence
// fails) and a good tag change: the response names exactly the malformed
// and the failed messages, and the good VPC is onboarded.
func TestBatchReportsOnlyTheMessagesThatFailed(t *testing.T) {
	e := newEnv(t, nil)
	vpc := e.vpcs[savedVPC]
	e.tag(member, vpc, "true")
	missing := []byte(`{"account": "` + member + `", "region": "us-east-1", "vpcId": "vpc-0123456789abcdef0"}`)
	failed := e.onboardBatch(sqsBatch(t, e.event("malformed-redrive.json"), e.event("tag-change-forged-account.json"), missing, e.event("tag-change-tagged.json")))
	if want := []string{"m1", "m3"}; !slices.Equal(failed, want) {
		t.Fatalf("batch item failures %v, want %v\n%s", failed, want, e.logs)
	}
	e.assertOnboarded(member, vpc)
}

// TestBatchMalformedAsAWholeFailsTheInvocation: records that do not come
// from SQS cannot be named in a partial batch response, so the invocation
// fails and Lambda hands the whole batch out again.
func TestBatchMalformedAsAWholeFailsTheInvocation(t *testing.T) {
	e := newEnv(t, nil)
	batch := []byte(`{"Records":[{"eventSource":"aws:sqs","messageId":"m1","body":"{}"},{"eventSource":"aws:sqs","body":"{}"}]}`)
	_, err := lambda.NewHandler(e.core("onboard").Onboard()).Invoke(context.Background(), batch)
	if err == nil {
		t.Fatal("a batch with a record without messageId succeeded")
	}
	if want := "record 1 of the SQS batch has no messageId"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

// TestConnectingEndpointIsFollowedUpUntilReady: onboarding leaves the
// endpoint connecting (accepted, PrivateLink still making it available),
// so the onboard function puts a delayed follow-up on its own queue (the
// deployed OnboardQueue, through its role's FollowUps grant); the
// follow-up, handed back by the queue a minute later as the event source
// mapping would, finds the endpoint available and publishes ready, and
// sends no further follow-up.
func TestConnectingEndpointIsFollowedUpUntilReady(t *testing.T) {
	e := newEnv(t, nil)
	queue := e.w.Deployment.Queues["OnboardQueue"]
	if queue == "" {
		t.Fatalf("the deployment has no OnboardQueue: %v", e.w.Deployment.Queues)
	}
	e.cfg.OnboardQueueURL = queue
	e.w.Server.SetTransitionDelay(time.Minute)
	vpc := e.vpcs[savedVPC]
	ctx := context.Background()
	e.tag(member, vpc, "true")
	// The deployed rules put the tag's own events on the queue too; this
	// test hands onboard its batch itself, so they go.
	e.w.Server.Flush(10 * time.Second)
	if _, err := e.w.SQS(hub).PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(queue)}); err != nil {
		t.Fatal(err)
	}
	if failed := e.onboardBatch(sqsBatch(t, e.event("tag-change-tagged.json"))); len(failed) != 0 {
		t.Fatalf("batch item failures %v\n%s", failed, e.logs)
	}
	if st := e.footprint(member, vpc).Tags[agentvpc.TagStatus]; st != status.Connecting {
		t.Fatalf("status tag %q after onboarding, want %s", st, status.Connecting)
	}
	if d := e.w.QueueDepth(queue); d.Delayed != 1 || d.Visible != 0 {
		t.Fatalf("queue after onboarding: %+v, want one delayed follow-up", d)
	}

	e.w.Clock().Skip(e.cfg.FollowUpDelay + time.Second)
	out, err := e.w.SQS(hub).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10,
		MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("received %d messages a minute later, want the follow-up", len(out.Messages))
	}
	m := out.Messages[0]
	a, ok := m.MessageAttributes[event.FollowUpAttribute]
	if want := `{"account":"` + member + `","region":"us-east-1","vpcId":"` + vpc + `"}`; aws.ToString(m.Body) != want || !ok || aws.ToString(a.StringValue) != "1" {
		t.Fatalf("follow-up %s with attributes %v, want %s and follow-up 1", aws.ToString(m.Body), m.MessageAttributes, want)
	}
	var ev events.SQSEvent
	ev.Records = []events.SQSMessage{{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
		EventSource: "aws:sqs", EventSourceARN: onboardQueueARN, AWSRegion: region,
		MessageAttributes: map[string]events.SQSMessageAttribute{event.FollowUpAttribute: {StringValue: a.StringValue, DataType: aws.ToString(a.DataType)}}}}
	payload, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if failed := e.onboardBatch(payload); len(failed) != 0 {
		t.Fatalf("the follow-up failed: %v\n%s", failed, e.logs)
	}
	if _, err := e.w.SQS(hub).DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	f := e.assertOnboarded(member, vpc)
	if f.Tags[agentvpc.TagStatus] != status.Ready || f.Document["status"] != status.Ready {
		t.Errorf("after the follow-up: status tag %q, document status %v; want %s", f.Tags[agentvpc.TagStatus], f.Document["status"], status.Ready)
	}
	if d := e.w.QueueDepth(queue); d.Delayed+d.Visible != 0 {
		t.Errorf("queue after the ready follow-up: %+v, want no further follow-up", d)
	}
}

// failQueuedMessage puts a malformed message on the onboard queue,
// receives it as the event source mapping would and hands onboard the
// batch: the message fails, and onboard shortens its visibility. It
// returns the message's id.
func (e *env) failQueuedMessage(queue string) string {
	e.t.Helper()
	ctx := context.Background()
	c := e.w.SQS(hub)
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(`{"account": "2222", "region": "us-east-1", "vpcId": "vpc-1"}`)}); err != nil {
		e.t.Fatal(err)
	}
	// The queue may hold other messages (the deployed rules put tag events
	// on it): receive until the malformed one comes; the others stay in
	// flight.
	var m *sqstypes.Message
	for tries := 0; m == nil; tries++ {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
		if err != nil || tries > 20 {
			e.t.Fatalf("receiving the malformed message: %v after %d receives", err, tries)
		}
		for i := range out.Messages {
			if strings.Contains(aws.ToString(out.Messages[i].Body), `"2222"`) {
				m = &out.Messages[i]
			}
		}
	}
	var ev events.SQSEvent
	ev.Records = []events.SQSMessage{{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
		Attributes: m.Attributes, EventSource: "aws:sqs", EventSourceARN: onboardQueueARN, AWSRegion: region}}
	payload, err := json.Marshal(ev)
	if err != nil {
		e.t.Fatal(err)
	}
	if failed := e.onboardBatch(payload); !slices.Equal(failed, []string{aws.ToString(m.MessageId)}) {
		e.t.Fatalf("batch item failures %v, want the malformed message %s", failed, aws.ToString(m.MessageId))
	}
	return aws.ToString(m.MessageId)
}

// TestFailedMessageComesBackSooner: a message onboard fails is handed back
// after a minute (onboard.RetryDelay of its first receive), not after the
// queue's 30-minute visibility timeout.
func TestFailedMessageComesBackSooner(t *testing.T) {
	e := newEnv(t, nil)
	queue := e.w.Deployment.Queues["OnboardQueue"]
	e.cfg.OnboardQueueURL = queue
	e.w.Server.Flush(10 * time.Second)
	ctx := context.Background()
	if _, err := e.w.SQS(hub).PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(queue)}); err != nil {
		t.Fatal(err)
	}
	id := e.failQueuedMessage(queue)
	e.w.Clock().Skip(onboard.RetryDelay(1) - 5*time.Second)
	if d := e.w.QueueDepth(queue); d.Visible != 0 || d.InFlight != 1 {
		t.Fatalf("queue just before the retry delay: %+v, want the message in flight", d)
	}
	e.w.Clock().Skip(10 * time.Second)
	out, err := e.w.SQS(hub).ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 1, WaitTimeSeconds: 1,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
	if err != nil || len(out.Messages) != 1 || aws.ToString(out.Messages[0].MessageId) != id {
		t.Fatalf("a minute later: %v, %+v; want message %s back", err, out, id)
	}
	if n := out.Messages[0].Attributes["ApproximateReceiveCount"]; n != "2" {
		t.Errorf("receive count %s, want 2", n)
	}
}

func TestRetryDelay(t *testing.T) {
	for receives, want := range map[int]time.Duration{0: time.Minute, 1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 4: 8 * time.Minute, 5: 15 * time.Minute, 50: 15 * time.Minute} {
		if got := onboard.RetryDelay(receives); got != want {
			t.Errorf("RetryDelay(%d) = %s, want %s", receives, got, want)
		}
	}
}

// TestBatchStopsBeforeTheInvocationsDeadline: a convergence still running
// close to the invocation's deadline (here a CreateVpcEndpoint that hangs
// for a minute) is cut short before it, so the invocation answers in time:
// its message named in the partial batch response, the VPC's lease given
// back. Lambda would otherwise end the invocation at its timeout, leave
// every message of the batch until the queue's 30-minute visibility
// timeout, and the lease held until it expires.
func TestBatchStopsBeforeTheInvocationsDeadline(t *testing.T) {
	e := newEnv(t, nil)
	vpc := e.vpcs[savedVPC]
	e.tag(member, vpc, "true")
	e.w.Server.InjectFault(localaws.Fault{Service: "ec2", Action: "CreateVpcEndpoint", Account: member, Latency: localaws.Duration(time.Minute)})
	deadline := time.Now().Add(35 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	out, err := lambda.NewHandler(e.core("onboard").Onboard()).Invoke(ctx, sqsBatch(t, e.event("tag-change-tagged.json")))
	if err != nil {
		t.Fatalf("the batch failed as a whole: %v\n%s", err, e.logs)
	}
	if left := time.Until(deadline); left < 5*time.Second {
		t.Errorf("answered %s before the deadline, want the reserve kept (about 20 s)", left)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m1" {
		t.Fatalf("response %s (%v), want m1 named", out, err)
	}
	if _, _, held := e.w.Server.Parameter(hub, region, "/jenkins-agent-vpcs/"+member+"/"+vpc+"/lease"); held {
		t.Errorf("the lease of %s is still held after the invocation answered", vpc)
	}
}
