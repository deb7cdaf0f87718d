package localaws

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/sqssim"
)

// TestSQSFIFOErrors: what FIFO queues refuse, with SQS's error codes, and
// what standard queues refuse of FIFO's parameters (SQS API Reference,
// CreateQueue, SetQueueAttributes, SendMessage).
func TestSQSFIFOErrors(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology()})
	c := sqsClient(url, hub)
	fifo, _ := createQueue(t, srv, c, "plain.fifo", map[string]string{"FifoQueue": "true"})
	standard, standardARN := createQueue(t, srv, c, "standard", nil)
	_, fifoDLQ := createQueue(t, srv, c, "dlq.fifo", map[string]string{"FifoQueue": "true"})
	create := func(name string, attrs map[string]string) func() error {
		return func() error {
			_, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
			return err
		}
	}
	send := func(q string, in sqs.SendMessageInput) func() error {
		return func() error {
			in.QueueUrl, in.MessageBody = aws.String(q), aws.String("reload")
			_, err := c.SendMessage(ctx(t), &in)
			return err
		}
	}
	redrive := func(arn string) string { return `{"deadLetterTargetArn":"` + arn + `","maxReceiveCount":3}` }
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"FIFO queue without .fifo", create("reload", map[string]string{"FifoQueue": "true"}), "InvalidParameterValue"},
		{".fifo name of a standard queue", create("reload.fifo", nil), "InvalidParameterValue"},
		{"FIFO name too long", create(strings.Repeat("r", 76)+".fifo", map[string]string{"FifoQueue": "true"}), "InvalidParameterValue"},
		{"content-based deduplication on a standard queue", create("cbd", map[string]string{"ContentBasedDeduplication": "true"}), "InvalidAttributeName"},
		{"unknown deduplication scope", create("scope.fifo", map[string]string{"FifoQueue": "true", "DeduplicationScope": "account"}), "InvalidAttributeValue"},
		{"per-group throughput with queue scope", create("limit.fifo", map[string]string{"FifoQueue": "true", "FifoThroughputLimit": "perMessageGroupId"}), "InvalidAttributeValue"},
		{"standard dead-letter queue of a FIFO queue", create("src.fifo", map[string]string{"FifoQueue": "true", "RedrivePolicy": redrive(standardARN)}), "InvalidAttributeValue"},
		{"FIFO dead-letter queue of a standard queue", create("src", map[string]string{"RedrivePolicy": redrive(fifoDLQ)}), "InvalidAttributeValue"},
		{"FifoQueue after creation", func() error {
			_, err := c.SetQueueAttributes(ctx(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(standard), Attributes: map[string]string{"FifoQueue": "true"}})
			return err
		}, "InvalidAttributeName"},
		{"no message group", send(fifo, sqs.SendMessageInput{MessageDeduplicationId: aws.String("1")}), "MissingParameter"},
		{"no deduplication id, no content-based deduplication", send(fifo, sqs.SendMessageInput{MessageGroupId: aws.String("g")}), "InvalidParameterValue"},
		{"delay per message", send(fifo, sqs.SendMessageInput{MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("1"), DelaySeconds: 5}), "InvalidParameterValue"},
		{"group id with a space", send(fifo, sqs.SendMessageInput{MessageGroupId: aws.String("a b"), MessageDeduplicationId: aws.String("1")}), "InvalidParameterValue"},
		{"deduplication id on a standard queue", send(standard, sqs.SendMessageInput{MessageDeduplicationId: aws.String("1")}), "InvalidParameterValue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.call(), tt.code) })
	}
	// A FIFO queue's attributes, defaults filled in.
	attrs, err := c.GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(fifo), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "false", "DeduplicationScope": "queue", "FifoThroughputLimit": "perQueue"} {
		if attrs.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, attrs.Attributes[k], v)
		}
	}
}

// TestSQSFIFODeduplicationFoldsABurst is the JCasC reload queue's shape: a
// FIFO queue with content-based deduplication and a queue delay of the
// deduplication interval. A burst of identical messages is one message,
// delivered after the delay; once the interval has passed since the one
// accepted, the same body is a new message. On a stopped clock, with
// strict queues (FIFO has none of their looseness).
func TestSQSFIFODeduplicationFoldsABurst(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology()})
	srv.Clock().Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	c := sqsClient(url, hub)
	q, _ := createQueue(t, srv, c, "reload.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true", "DelaySeconds": "300"})
	start := srv.Clock().Now()
	send := func() *sqs.SendMessageOutput {
		t.Helper()
		out, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(`{"reload":true}`), MessageGroupId: aws.String("jenkins")})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := send()
	for range 5 {
		srv.Clock().Advance(59 * time.Second) // 4m55s after the first in all
		if again := send(); *again.MessageId != *first.MessageId || *again.SequenceNumber != *first.SequenceNumber {
			t.Fatalf("duplicate within the interval answered %s/%s, want the accepted message %s/%s",
				*again.MessageId, *again.SequenceNumber, *first.MessageId, *first.SequenceNumber)
		}
	}
	if d := depth(t, srv, q); d != (QueueDepth{Delayed: 1}) {
		t.Fatalf("after a burst of 6 sends: %+v, want one delayed message", d)
	}
	if got := receive(t, c, q, 0); len(got) != 0 {
		t.Fatalf("received %d messages before the queue's delay passed", len(got))
	}
	srv.Clock().Set(start.Add(300 * time.Second))
	got := receive(t, c, q, 0)
	if len(got) != 1 || got[0].Attributes["MessageGroupId"] != "jenkins" || got[0].Attributes["SequenceNumber"] != *first.SequenceNumber ||
		len(got[0].Attributes["MessageDeduplicationId"]) != 64 {
		t.Fatalf("after the delay: %+v, want the one message with its group, sequence number and SHA-256 deduplication id", got)
	}
	// Deleted, the id is still remembered until the interval is over.
	if _, err := c.DeleteMessage(ctx(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: got[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	srv.Clock().Set(start.Add(sqssim.DeduplicationInterval - time.Second))
	if again := send(); *again.MessageId != *first.MessageId {
		t.Fatal("a send within the interval after the message was deleted was accepted as new")
	}
	srv.Clock().Set(start.Add(sqssim.DeduplicationInterval))
	next := send()
	if *next.MessageId == *first.MessageId || *next.SequenceNumber <= *first.SequenceNumber {
		t.Fatalf("a send after the interval answered %s/%s, want a new message after %s", *next.MessageId, *next.SequenceNumber, *first.SequenceNumber)
	}
	if d := depth(t, srv, q); d != (QueueDepth{Delayed: 1}) {
		t.Fatalf("after the interval: %+v, want the new message delayed", d)
	}
}

// TestSQSFIFOGroupOrder: messages of a group come in the order sent, none
// while one of the group is in flight; other groups are not held.
func TestSQSFIFOGroupOrder(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology()})
	srv.Clock().Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	c := sqsClient(url, hub)
	q, _ := createQueue(t, srv, c, "order.fifo", map[string]string{"FifoQueue": "true", "VisibilityTimeout": "30"})
	for i, m := range []struct{ group, body string }{{"a", "a1"}, {"a", "a2"}, {"b", "b1"}, {"a", "a3"}} {
		if _, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(m.body),
			MessageGroupId: aws.String(m.group), MessageDeduplicationId: aws.String(string(rune('0' + i)))}); err != nil {
			t.Fatal(err)
		}
	}
	one := func() string {
		t.Helper()
		out, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return ""
		}
		return *out.Messages[0].Body
	}
	if got := one(); got != "a1" {
		t.Fatalf("first receive %q, want a1", got)
	}
	if got := one(); got != "b1" {
		t.Fatalf("second receive %q, want b1: group a is held while a1 is in flight", got)
	}
	if got := one(); got != "" {
		t.Fatalf("third receive %q, want nothing: both groups are in flight", got)
	}
	srv.Clock().Advance(31 * time.Second) // a1's and b1's visibility timeouts end
	all := receive(t, c, q, 0)
	var bodies []string
	for _, m := range all {
		bodies = append(bodies, *m.Body)
	}
	if strings.Join(bodies, ",") != "a1,a2,b1,a3" {
		t.Fatalf("after the timeouts: %v, want a1,a2,b1,a3 (the order sent)", bodies)
	}
}

// TestEventBridgeRuleToFIFOQueue: a rule target's SqsParameters give the
// message its group; a target without them cannot send to a FIFO queue and
// the event goes to the target's dead-letter queue. Duplicated deliveries
// of a constant Input are one message (content-based deduplication).
func TestEventBridgeRuleToFIFOQueue(t *testing.T) {
	srv, url := startServer(t, Options{Topology: sqsTopology()}) // strict delivery: duplicates
	c := sqsClient(url, hub)
	eb := eventbridge.NewFromConfig(awsConfig(url, hub, "secret", ""))
	rule := "arn:aws:events:" + region + ":" + hub + ":rule/jenkins-agent-vpcs/"
	allow := func(queueARN string) map[string]string {
		return map[string]string{"Policy": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},
			"Action":"sqs:SendMessage","Resource":"` + queueARN + `","Condition":{"ArnLike":{"aws:SourceArn":"` + rule + `*"}}}]}`}
	}
	fold, foldARN := createQueue(t, srv, c, "fold.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	dlq, dlqARN := createQueue(t, srv, c, "undelivered", nil)
	for q, arn := range map[string]string{fold: foldARN, dlq: dlqARN} {
		if _, err := c.SetQueueAttributes(ctx(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(q), Attributes: allow(arn)}); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]ebtypes.Target{
		"grouped":   {Id: aws.String("q"), Arn: aws.String(foldARN), Input: aws.String(`{"reload":true}`), SqsParameters: &ebtypes.SqsParameters{MessageGroupId: aws.String("jenkins")}},
		"ungrouped": {Id: aws.String("q"), Arn: aws.String(foldARN), DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: aws.String(dlqARN)}},
	} {
		pattern := `{"source":["app"],"detail-type":["` + name + `"]}`
		if _, err := eb.PutRule(ctx(t), &eventbridge.PutRuleInput{Name: aws.String(name), EventBusName: aws.String("jenkins-agent-vpcs"), EventPattern: aws.String(pattern)}); err != nil {
			t.Fatal(err)
		}
		if _, err := eb.PutTargets(ctx(t), &eventbridge.PutTargetsInput{Rule: aws.String(name), EventBusName: aws.String("jenkins-agent-vpcs"), Targets: []ebtypes.Target{target}}); err != nil {
			t.Fatal(err)
		}
	}
	// A rule's dead-letter queue cannot be FIFO.
	_, err := eb.PutTargets(ctx(t), &eventbridge.PutTargetsInput{Rule: aws.String("grouped"), EventBusName: aws.String("jenkins-agent-vpcs"),
		Targets: []ebtypes.Target{{Id: aws.String("fifo-dlq"), Arn: aws.String(dlqARN), DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: aws.String(foldARN)}}}})
	wantCode(t, err, "ValidationException")

	var entries []ebtypes.PutEventsRequestEntry
	for i := range 10 {
		entries = append(entries, ebtypes.PutEventsRequestEntry{EventBusName: aws.String("jenkins-agent-vpcs"), Source: aws.String("app"),
			DetailType: aws.String("grouped"), Detail: aws.String(`{"vpc":"vpc-` + string(rune('0'+i)) + `"}`)})
	}
	entries[9].DetailType = aws.String("ungrouped")
	if _, err := eb.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: entries}); err != nil {
		t.Fatal(err)
	}
	if !srv.Flush(5 * time.Second) {
		t.Fatal("deliveries did not finish")
	}
	got := receive(t, c, fold, 0)
	if len(got) != 1 || *got[0].Body != `{"reload":true}` || got[0].Attributes["MessageGroupId"] != "jenkins" {
		t.Fatalf("FIFO queue got %+v, want one message for nine events", got)
	}
	undelivered := receive(t, c, dlq, 1) // a long poll: a short one samples (strict standard queue)
	if len(undelivered) == 0 || *undelivered[0].MessageAttributes["TARGET_ARN"].StringValue != foldARN ||
		!strings.Contains(*undelivered[0].MessageAttributes["ERROR_MESSAGE"].StringValue, "MessageGroupId") {
		t.Fatalf("dead-letter queue got %+v, want the ungrouped event with why", undelivered)
	}
}
