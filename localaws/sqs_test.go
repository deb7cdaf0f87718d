package localaws

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/sqssim"
)

// sqsClient is an SQS client of an account's root credentials.
func sqsClient(url, account string) *sqs.Client {
	return sqs.NewFromConfig(awsConfig(url, account, "secret", ""))
}

// createQueue creates a queue, lets the server clock pass the second
// before a new queue can be used, and returns its URL and ARN.
func createQueue(t *testing.T, srv *Server, c *sqs.Client, name string, attrs map[string]string) (url, arn string) {
	t.Helper()
	out, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("creating queue %s: %v", name, err)
	}
	srv.Clock().Skip(sqssim.DefaultCreationDelay)
	a, err := c.GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("reading the ARN of queue %s: %v", name, err)
	}
	return *out.QueueUrl, a.Attributes["QueueArn"]
}

// receive receives up to ten messages with every system attribute.
func receive(t *testing.T, c *sqs.Client, url string, wait int32) []types.Message {
	t.Helper()
	out, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: wait,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}, MessageAttributeNames: []string{"All"}})
	if err != nil {
		t.Fatalf("receiving from %s: %v", url, err)
	}
	return out.Messages
}

func depth(t *testing.T, srv *Server, queue string) QueueDepth {
	t.Helper()
	d, ok := srv.QueueDepth(queue)
	if !ok {
		t.Fatalf("queue %s does not exist", queue)
	}
	return d
}

// TestSQSRoundTrip follows messages through a queue with the SDK on a
// stopped clock: a delayed send, receive, visibility expiry, redrive to the
// dead-letter queue after maxReceiveCount receives, and a batch delete with
// one bad handle.
func TestSQSRoundTrip(t *testing.T) {
	// Subject: the lifecycle, not at-least-once delivery or short-poll sampling.
	srv, url := startServer(t, Options{Topology: testTopology(), Relax: Relax{SQS: true}})
	srv.Clock().Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	c := sqsClient(url, hub)
	// A new queue is usable a second after CreateQueue (API Reference,
	// CreateQueue); the clock is stopped, so it stays unusable until moved.
	early, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("early")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: early.QueueUrl, MessageBody: aws.String("too soon")})
	wantCode(t, err, "AWS.SimpleQueueService.NonExistentQueue")
	_, dlqARN := createQueue(t, srv, c, "work-dlq", nil)
	q, qARN := createQueue(t, srv, c, "work", map[string]string{"VisibilityTimeout": "30",
		"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":2}`})
	if want := "arn:aws:sqs:" + region + ":" + hub + ":work"; qARN != want || !strings.HasPrefix(q, url+"/") {
		t.Fatalf("queue ARN %s, URL %s: want %s on %s", qARN, q, want, url)
	}

	sentAt := srv.Clock().Now()
	sent, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(`{"vpc":"vpc-1"}`), DelaySeconds: 10,
		MessageAttributes: map[string]types.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String("retry")}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := receive(t, c, q, 0); len(got) != 0 {
		t.Fatalf("a delayed message was received: %v", got)
	}
	if d := depth(t, srv, qARN); d != (QueueDepth{Delayed: 1}) {
		t.Fatalf("depth during the delay = %+v", d)
	}
	srv.Clock().Advance(10 * time.Second)
	got := receive(t, c, q, 0)
	if len(got) != 1 || *got[0].MessageId != *sent.MessageId || *got[0].Body != `{"vpc":"vpc-1"}` {
		t.Fatalf("after the delay: %+v", got)
	}
	m := got[0]
	if m.Attributes["ApproximateReceiveCount"] != "1" || m.Attributes["SenderId"] != hub ||
		m.Attributes["SentTimestamp"] != strconv.FormatInt(sentAt.UnixMilli(), 10) ||
		*m.MessageAttributes["kind"].StringValue != "retry" || m.MD5OfMessageAttributes == nil {
		t.Fatalf("attributes of the first receive: %+v %+v", m.Attributes, m.MessageAttributes)
	}
	if d := depth(t, srv, q); d != (QueueDepth{InFlight: 1}) {
		t.Fatalf("depth in flight = %+v", d)
	}
	srv.Clock().Advance(29 * time.Second)
	if got := receive(t, c, q, 0); len(got) != 0 {
		t.Fatal("received a message before its visibility timeout ended")
	}
	srv.Clock().Advance(time.Second)
	got = receive(t, c, q, 0)
	if len(got) != 1 || got[0].Attributes["ApproximateReceiveCount"] != "2" || *got[0].ReceiptHandle == *m.ReceiptHandle {
		t.Fatalf("second receive: %+v", got)
	}
	// The first receive's handle is stale: deleting with it succeeds and
	// deletes nothing (API Reference, DeleteMessage).
	if _, err := c.DeleteMessage(ctx(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatalf("deleting with a stale handle: %v", err)
	}
	srv.Clock().Advance(30 * time.Second)
	_, err = c.ChangeMessageVisibility(ctx(t), &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(q), ReceiptHandle: got[0].ReceiptHandle, VisibilityTimeout: 60})
	var notInFlight *types.MessageNotInflight
	if !errors.As(err, &notInFlight) {
		t.Fatalf("changing the visibility of a visible message: %v", err)
	}
	// Received twice (maxReceiveCount): the next receive moves it.
	if got := receive(t, c, q, 0); len(got) != 0 {
		t.Fatalf("a message past maxReceiveCount was received: %+v", got)
	}
	dlq := receive(t, c, "http://elsewhere/"+hub+"/work-dlq", 0) // any host: the path names the queue
	if len(dlq) != 1 || *dlq[0].MessageId != *sent.MessageId || dlq[0].Attributes["DeadLetterQueueSourceArn"] != qARN {
		t.Fatalf("dead-letter queue holds %+v", dlq)
	}
	if s := srv.QueueStats(); s.Redriven != 1 {
		t.Fatalf("queue stats %+v, want one redriven message", s)
	}

	batch, err := c.SendMessageBatch(ctx(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(q), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("1")}, {Id: aws.String("b"), MessageBody: aws.String("2")},
		{Id: aws.String("c"), MessageBody: aws.String("3"), DelaySeconds: 901}}})
	if err != nil || len(batch.Successful) != 2 || len(batch.Failed) != 1 || *batch.Failed[0].Code != "InvalidParameterValue" {
		t.Fatalf("batch send with one bad delay: %+v %v", batch, err)
	}
	got = receive(t, c, q, 0)
	if len(got) != 2 {
		t.Fatalf("received %d of 2", len(got))
	}
	del, err := c.DeleteMessageBatch(ctx(t), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q), Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("x"), ReceiptHandle: got[0].ReceiptHandle}, {Id: aws.String("y"), ReceiptHandle: got[1].ReceiptHandle},
		{Id: aws.String("z"), ReceiptHandle: aws.String("not-a-handle")}}})
	if err != nil || len(del.Successful) != 2 || len(del.Failed) != 1 || *del.Failed[0].Id != "z" || *del.Failed[0].Code != "ReceiptHandleIsInvalid" || !del.Failed[0].SenderFault {
		t.Fatalf("batch delete with one bad handle: %+v %v", del, err)
	}
	if d := depth(t, srv, q); d != (QueueDepth{}) {
		t.Fatalf("queue not empty after the deletes: %+v", d)
	}
	// Retention counts from the first send, in the dead-letter queue too.
	srv.Clock().Set(sentAt.Add(4*24*time.Hour - time.Second))
	if d := depth(t, srv, dlqARN); d != (QueueDepth{Visible: 1}) {
		t.Fatalf("dead-letter queue before retention ends: %+v", d)
	}
	srv.Clock().Set(sentAt.Add(4 * 24 * time.Hour))
	if d := depth(t, srv, dlqARN); d != (QueueDepth{}) {
		t.Fatalf("dead-letter queue after retention ended: %+v", d)
	}
}

// isA reports whether err is (or wraps) a T.
func isA[T error](err error) bool {
	var x T
	return errors.As(err, &x)
}

// TestSQSErrors: what SQS refuses, with the code the SDK reports (the
// query-protocol code of x-amzn-query-error) and, for modeled errors, the
// SDK's error type.
func TestSQSErrors(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology(), Relax: Relax{SQS: true}})
	srv.Clock().Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	c := sqsClient(url, hub)
	q, _ := createQueue(t, srv, c, "q", map[string]string{"VisibilityTimeout": "30"})
	send := func(in *sqs.SendMessageInput) error {
		in.QueueUrl = aws.String(q)
		_, err := c.SendMessage(ctx(t), in)
		return err
	}
	entries := func(n int) []types.SendMessageBatchRequestEntry {
		var l []types.SendMessageBatchRequestEntry
		for i := range n {
			l = append(l, types.SendMessageBatchRequestEntry{Id: aws.String("e" + strconv.Itoa(i)), MessageBody: aws.String("x")})
		}
		return l
	}
	tests := []struct {
		name string
		call func() error
		code string
		is   func(error) bool
	}{
		{"no such queue", func() error {
			_, err := c.GetQueueUrl(ctx(t), &sqs.GetQueueUrlInput{QueueName: aws.String("nope")})
			return err
		}, "AWS.SimpleQueueService.NonExistentQueue", isA[*types.QueueDoesNotExist]},
		{"same name, other attributes", func() error {
			_, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{"VisibilityTimeout": "60"}})
			return err
		}, "QueueAlreadyExists", isA[*types.QueueNameExists]},
		{"visibility timeout out of range", func() error {
			_, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("r"), Attributes: map[string]string{"VisibilityTimeout": "43201"}})
			return err
		}, "InvalidAttributeValue", isA[*types.InvalidAttributeValue]},
		{"unknown attribute", func() error {
			_, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("r"), Attributes: map[string]string{"Colour": "red"}})
			return err
		}, "InvalidAttributeName", isA[*types.InvalidAttributeName]},
		{"redrive to a missing queue", func() error {
			_, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("r"), Attributes: map[string]string{
				"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:` + region + `:` + hub + `:gone","maxReceiveCount":3}`}})
			return err
		}, "InvalidAttributeValue", isA[*types.InvalidAttributeValue]},
		{"bad queue name", func() error {
			_, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("a b")})
			return err
		}, "InvalidParameterValue", nil},
		{"eleven messages per receive", func() error {
			_, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), MaxNumberOfMessages: 11})
			return err
		}, "InvalidParameterValue", nil},
		{"long poll over 20 s", func() error {
			_, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q), WaitTimeSeconds: 21})
			return err
		}, "InvalidParameterValue", nil},
		{"delay over 900 s", func() error {
			return send(&sqs.SendMessageInput{MessageBody: aws.String("x"), DelaySeconds: 901})
		}, "InvalidParameterValue", nil},
		{"control character in the body", func() error {
			return send(&sqs.SendMessageInput{MessageBody: aws.String("a\x01b")})
		}, "InvalidMessageContents", isA[*types.InvalidMessageContents]},
		{"eleven message attributes", func() error {
			attrs := map[string]types.MessageAttributeValue{}
			for i := range 11 {
				attrs["a"+strconv.Itoa(i)] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String("v")}
			}
			return send(&sqs.SendMessageInput{MessageBody: aws.String("x"), MessageAttributes: attrs})
		}, "InvalidParameterValue", nil},
		{"FIFO parameter on a standard queue", func() error {
			return send(&sqs.SendMessageInput{MessageBody: aws.String("x"), MessageGroupId: aws.String("g")})
		}, "InvalidParameterValue", nil},
		{"not a receipt handle", func() error {
			_, err := c.DeleteMessage(ctx(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: aws.String("xyz")})
			return err
		}, "ReceiptHandleIsInvalid", isA[*types.ReceiptHandleIsInvalid]},
		{"empty batch", func() error {
			_, err := c.SendMessageBatch(ctx(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(q), Entries: []types.SendMessageBatchRequestEntry{}})
			return err
		}, "AWS.SimpleQueueService.EmptyBatchRequest", isA[*types.EmptyBatchRequest]},
		{"eleven batch entries", func() error {
			_, err := c.SendMessageBatch(ctx(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(q), Entries: entries(11)})
			return err
		}, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", isA[*types.TooManyEntriesInBatchRequest]},
		{"repeated batch id", func() error {
			_, err := c.SendMessageBatch(ctx(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(q), Entries: append(entries(1), entries(1)...)})
			return err
		}, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", isA[*types.BatchEntryIdsNotDistinct]},
		{"queue of another Region", func() error {
			cfg := awsConfig(url, hub, "secret", "")
			cfg.Region = "us-west-2"
			_, err := sqs.NewFromConfig(cfg).SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("x")})
			return err
		}, "AWS.SimpleQueueService.NonExistentQueue", isA[*types.QueueDoesNotExist]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			wantCode(t, err, tt.code)
			if tt.is != nil && !tt.is(err) {
				t.Fatalf("%v is not of the SDK's modeled error type", err)
			}
		})
	}

	t.Run("Go API", func(t *testing.T) {
		arn := "arn:aws:sqs:" + region + ":" + hub + ":q"
		if err := srv.SetQueueAttributes(arn, map[string]string{"DelaySeconds": "5"}); err != nil {
			t.Fatal(err)
		}
		a, err := c.GetQueueAttributes(ctx(t), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q), AttributeNames: []types.QueueAttributeName{"DelaySeconds"}})
		if err != nil || a.Attributes["DelaySeconds"] != "5" {
			t.Fatalf("after SetQueueAttributes: %v %v", a, err)
		}
		if err := srv.SetQueueAttributes(arn, map[string]string{"DelaySeconds": "901"}); err == nil {
			t.Fatal("DelaySeconds 901 set")
		}
		if err := srv.SetQueueAttributes(arn+"-gone", map[string]string{"DelaySeconds": "1"}); err == nil {
			t.Fatal("attributes of a missing queue set")
		}
		if _, err := srv.CreateQueue(hub, region, "q", map[string]string{"DelaySeconds": "5"}); err != nil {
			t.Fatalf("CreateQueue of the queue with its attributes: %v", err)
		}
		if err := srv.SetQueueAttributes(arn, map[string]string{"DelaySeconds": "0"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("create again with the same attributes", func(t *testing.T) {
		again, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("q"), Attributes: map[string]string{"VisibilityTimeout": "30"}})
		if err != nil || *again.QueueUrl != q {
			t.Fatalf("CreateQueue of an existing queue with its attributes = %v, %v; want its URL", again, err)
		}
	})
	t.Run("purge twice within a minute", func(t *testing.T) {
		if _, err := c.PurgeQueue(ctx(t), &sqs.PurgeQueueInput{QueueUrl: aws.String(q)}); err != nil {
			t.Fatal(err)
		}
		_, err := c.PurgeQueue(ctx(t), &sqs.PurgeQueueInput{QueueUrl: aws.String(q)})
		var inProgress *types.PurgeQueueInProgress
		if !errors.As(err, &inProgress) {
			t.Fatalf("second purge: %v", err)
		}
	})
	t.Run("recreate within a minute of deleting", func(t *testing.T) {
		if _, err := c.DeleteQueue(ctx(t), &sqs.DeleteQueueInput{QueueUrl: aws.String(q)}); err != nil {
			t.Fatal(err)
		}
		_, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("q")})
		var recently *types.QueueDeletedRecently
		if !errors.As(err, &recently) {
			t.Fatalf("create after delete: %v", err)
		}
		srv.Clock().Advance(time.Minute)
		if _, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("q")}); err != nil {
			t.Fatalf("create a minute after delete: %v", err)
		}
	})
}

// sqsTopology: a hub whose consumer role may receive from and delete on
// the work queue only, and a member whose producer role may send to it.
func sqsTopology() *Topology {
	work := "arn:aws:sqs:" + region + ":" + hub + ":work"
	return &Topology{Region: region, Organization: &Organization{ID: orgID}, Accounts: []Account{
		{ID: hub, Roles: []Role{{Name: "consumer", Trust: Trust{Principals: []string{"lambda.amazonaws.com"}},
			Policies: []RolePolicy{{Name: "queue", Document: PolicyDocument(`{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":["sqs:ReceiveMessage","sqs:DeleteMessage","sqs:GetQueueAttributes"],"Resource":"` + work + `"}]}`)}}}},
			EventBuses: []EventBus{{Name: "jenkins-agent-vpcs"}},
			// Listed before its dead-letter queue: seeding orders them.
			Queues: []Queue{{Name: "work", Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + work + `-dlq","maxReceiveCount":5}`}},
				{Name: "work-dlq"}}},
		{ID: member, Roles: []Role{{Name: "producer", Trust: Trust{Principals: []string{"lambda.amazonaws.com"}},
			Policies: []RolePolicy{{Name: "queue", Document: PolicyDocument(`{"Version":"2012-10-17","Statement":[
				{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"` + work + `"}]}`)}}}}},
	}}
}

// TestSQSIAM: role sessions' SQS calls are decided by their identity
// policies, and across accounts by the queue's policy as well; batch calls
// are authorized as their single-message actions.
func TestSQSIAM(t *testing.T) {
	srv, url := startServer(t, Options{Topology: sqsTopology(), Relax: Relax{SQS: true}})
	root := sqsClient(url, hub)
	out, err := root.GetQueueUrl(ctx(t), &sqs.GetQueueUrlInput{QueueName: aws.String("work")})
	if err != nil {
		t.Fatalf("the seeded queue: %v", err)
	}
	q, arn := *out.QueueUrl, "arn:aws:sqs:"+region+":"+hub+":work"
	if d := depth(t, srv, q); d != (QueueDepth{}) {
		t.Fatalf("seeded queue depth %+v", d)
	}
	consumer := sqs.NewFromConfig(roleConfig(t, srv, url, hub, "consumer"))
	producer := sqs.NewFromConfig(roleConfig(t, srv, url, member, "producer"))

	_, err = consumer.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("x")})
	code, msg, status := apiError(t, err)
	if code != "AccessDenied" || status != 403 || !strings.Contains(msg, "is not authorized to perform: sqs:SendMessage on resource: "+arn) {
		t.Fatalf("consumer SendMessage = %s %d %q", code, status, msg)
	}
	_, err = consumer.SendMessageBatch(ctx(t), &sqs.SendMessageBatchInput{QueueUrl: aws.String(q),
		Entries: []types.SendMessageBatchRequestEntry{{Id: aws.String("a"), MessageBody: aws.String("x")}}})
	wantCode(t, err, "AccessDenied")
	if d := srv.Denials(); len(d) != 2 || d[1].Action != "sqs:SendMessage" || d[1].Resource != arn {
		t.Fatalf("denials %+v: want SendMessageBatch refused as sqs:SendMessage on %s", d, arn)
	}

	// Cross-account: the producer's own policy allows it, the queue's
	// policy does not (yet).
	_, err = producer.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("x")})
	if code, msg, _ := apiError(t, err); code != "AccessDenied" || !strings.Contains(msg, "resource-based policy") {
		t.Fatalf("cross-account send without a queue policy = %s %q", code, msg)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + member + `:role/producer"},
		"Action":"sqs:SendMessage","Resource":"` + arn + `"}]}`
	if _, err := root.SetQueueAttributes(ctx(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(q), Attributes: map[string]string{"Policy": policy}}); err != nil {
		t.Fatal(err)
	}
	if _, err := producer.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("x")}); err != nil {
		t.Fatalf("cross-account send the queue policy allows: %v", err)
	}
	got := receive(t, consumer, q, 0)
	if len(got) != 1 || !strings.HasPrefix(got[0].Attributes["SenderId"], "AROA") || !strings.HasSuffix(got[0].Attributes["SenderId"], ":sess") {
		t.Fatalf("consumer received %+v, want the producer's message with its role session as SenderId", got)
	}
	if _, err := consumer.DeleteMessage(ctx(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: got[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	_, err = consumer.ListQueues(ctx(t), &sqs.ListQueuesInput{})
	wantCode(t, err, "AccessDenied")

	// Within the account the queue policy alone may allow; its explicit
	// deny wins over the consumer's own allow.
	policy = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + hub + `:role/consumer"},"Action":"sqs:SendMessage","Resource":"` + arn + `"},
		{"Effect":"Deny","Principal":"*","Action":"sqs:ReceiveMessage","Resource":"` + arn + `"}]}`
	if _, err := root.SetQueueAttributes(ctx(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(q), Attributes: map[string]string{"Policy": policy}}); err != nil {
		t.Fatal(err)
	}
	if _, err := consumer.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("own")}); err != nil {
		t.Fatalf("same-account send the queue policy allows: %v", err)
	}
	_, err = consumer.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q)})
	if code, msg, _ := apiError(t, err); code != "AccessDenied" || !strings.Contains(msg, "explicit deny in a resource-based policy") {
		t.Fatalf("receive the queue policy denies = %s %q", code, msg)
	}
	if _, err := root.SetQueueAttributes(ctx(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(q), Attributes: map[string]string{"Policy": `{"Statement":[`}}); err == nil {
		t.Fatal("a malformed queue policy was accepted")
	}
}

// TestEventBridgeRuleToQueue: a rule delivers its events to an SQS queue
// target when the queue's policy lets events.amazonaws.com send for that
// rule; otherwise the delivery is refused (listed in Denials) and the event
// goes to the target's dead-letter queue with EventBridge's attributes.
func TestEventBridgeRuleToQueue(t *testing.T) {
	// Subject: routing and authorization, not at-least-once delivery.
	srv, url := startServer(t, Options{Topology: sqsTopology(), Relax: Relax{SQS: true, Delivery: true}})
	c := sqsClient(url, hub)
	eb := eventbridge.NewFromConfig(awsConfig(url, hub, "secret", ""))
	ruleARN := func(name string) string {
		return "arn:aws:events:" + region + ":" + hub + ":rule/jenkins-agent-vpcs/" + name
	}
	allow := func(queueARN, rule string) map[string]string {
		return map[string]string{"Policy": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},
			"Action":"sqs:SendMessage","Resource":"` + queueARN + `","Condition":{"ArnEquals":{"aws:SourceArn":"` + rule + `"}}}]}`}
	}
	inbox, inboxARN := createQueue(t, srv, c, "inbox", nil)
	if _, err := c.SetQueueAttributes(ctx(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(inbox), Attributes: allow(inboxARN, ruleARN("to-inbox"))}); err != nil {
		t.Fatal(err)
	}
	closed, closedARN := createQueue(t, srv, c, "closed", nil)
	dlq, dlqARN := createQueue(t, srv, c, "undelivered", nil)
	if _, err := c.SetQueueAttributes(ctx(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(dlq), Attributes: allow(dlqARN, ruleARN("to-closed"))}); err != nil {
		t.Fatal(err)
	}
	for name, targets := range map[string][]ebtypes.Target{
		"to-inbox":  {{Id: aws.String("q"), Arn: aws.String(inboxARN)}, {Id: aws.String("detail"), Arn: aws.String(inboxARN), InputPath: aws.String("$.detail")}},
		"to-closed": {{Id: aws.String("q"), Arn: aws.String(closedARN), DeadLetterConfig: &ebtypes.DeadLetterConfig{Arn: aws.String(dlqARN)}}},
	} {
		if _, err := eb.PutRule(ctx(t), &eventbridge.PutRuleInput{Name: aws.String(name), EventBusName: aws.String("jenkins-agent-vpcs"),
			EventPattern: aws.String(`{"source":["app"]}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := eb.PutTargets(ctx(t), &eventbridge.PutTargetsInput{Rule: aws.String(name), EventBusName: aws.String("jenkins-agent-vpcs"), Targets: targets}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eb.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{EventBusName: aws.String("jenkins-agent-vpcs"),
		Source: aws.String("app"), DetailType: aws.String("Tagged"), Detail: aws.String(`{"vpc":"vpc-1"}`)}}}); err != nil {
		t.Fatal(err)
	}
	if !srv.Flush(5 * time.Second) {
		t.Fatal("deliveries did not finish")
	}

	got := receive(t, c, inbox, 0)
	bodies := map[string]bool{}
	for _, m := range got {
		bodies[*m.Body] = true
		if m.Attributes["SenderId"] != "events.amazonaws.com" {
			t.Errorf("SenderId %q", m.Attributes["SenderId"])
		}
	}
	var event struct {
		Source string          `json:"source"`
		Detail json.RawMessage `json:"detail"`
	}
	for b := range bodies {
		if b != `{"vpc":"vpc-1"}` && (json.Unmarshal([]byte(b), &event) != nil || event.Source != "app" || string(event.Detail) != `{"vpc":"vpc-1"}`) {
			t.Errorf("unexpected message body %s", b)
		}
	}
	if len(got) != 2 || !bodies[`{"vpc":"vpc-1"}`] {
		t.Fatalf("inbox got %d messages %v: want the event and its detail (InputPath)", len(got), bodies)
	}

	if d := depth(t, srv, closed); d != (QueueDepth{}) {
		t.Fatalf("the queue whose policy does not allow EventBridge got messages: %+v", d)
	}
	denied := false
	for _, d := range srv.Denials() {
		denied = denied || (d.Principal == "events.amazonaws.com" && d.Action == "sqs:SendMessage" && d.Resource == closedARN)
	}
	if !denied {
		t.Fatalf("no denial of events.amazonaws.com on %s in %+v", closedARN, srv.Denials())
	}
	undelivered := receive(t, c, dlq, 0)
	if len(undelivered) != 1 || undelivered[0].MessageAttributes["ERROR_CODE"].StringValue == nil ||
		*undelivered[0].MessageAttributes["ERROR_CODE"].StringValue != "NO_PERMISSIONS" ||
		*undelivered[0].MessageAttributes["RULE_ARN"].StringValue != ruleARN("to-closed") ||
		*undelivered[0].MessageAttributes["TARGET_ARN"].StringValue != closedARN ||
		json.Unmarshal([]byte(*undelivered[0].Body), &event) != nil || event.Source != "app" {
		t.Fatalf("dead-letter queue got %+v", undelivered)
	}
}

// TestSQSLongPoll: a long poll returns as soon as a message arrives, and an
// empty one returns empty when its wait is over.
func TestSQSLongPoll(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology(), Relax: Relax{SQS: true}})
	c := sqsClient(url, hub)
	q, _ := createQueue(t, srv, c, "poll", map[string]string{"ReceiveMessageWaitTimeSeconds": "1"})
	start := time.Now()
	if got := receive(t, c, q, 0); len(got) != 0 || time.Since(start) > 2*time.Second {
		t.Fatalf("an explicit short poll on a long-polling queue waited %v and got %d", time.Since(start), len(got))
	}
	start = time.Now()
	if _, err := c.ReceiveMessage(ctx(t), &sqs.ReceiveMessageInput{QueueUrl: aws.String(q)}); err != nil || time.Since(start) < time.Second {
		t.Fatalf("the queue's ReceiveMessageWaitTimeSeconds 1 returned after %v (%v)", time.Since(start), err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(200 * time.Millisecond)
		if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("late")}); err != nil {
			t.Error(err)
		}
	}()
	start = time.Now()
	got := receive(t, c, q, 10)
	wg.Wait()
	if len(got) != 1 || time.Since(start) > 5*time.Second {
		t.Fatalf("long poll got %d messages after %v", len(got), time.Since(start))
	}
}

// TestSQSStrictness: with the default strictness, a queue is what AWS
// promises and no more: short polls miss messages that are there, deleted
// messages come back, and the order is not the send order.
func TestSQSStrictness(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology(), Seed: 7, SQS: QueueStrictness{DuplicateRatio: 0.2}})
	srv.Clock().Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	c := sqsClient(url, hub)
	q, _ := createQueue(t, srv, c, "loose", nil)
	const n = 40
	for i := range n {
		if _, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	var order []string
	seen := map[string]int{}
	for round := 0; round < 50 && len(seen) < n; round++ {
		for _, m := range receive(t, c, q, 0) {
			order = append(order, *m.Body)
			seen[*m.Body]++
			if _, err := c.DeleteMessage(ctx(t), &sqs.DeleteMessageInput{QueueUrl: aws.String(q), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(seen) != n {
		t.Fatalf("received %d of %d messages", len(seen), n)
	}
	inOrder := true
	for i := 1; i < len(order); i++ {
		a, _ := strconv.Atoi(order[i-1])
		b, _ := strconv.Atoi(order[i])
		inOrder = inOrder && a < b
	}
	// Deletes that missed a copy: those come back after the visibility
	// timeout.
	srv.Clock().Advance(31 * time.Second)
	for range 10 {
		for _, m := range receive(t, c, q, 0) {
			seen[*m.Body]++
		}
	}
	again := 0
	for _, k := range seen {
		again += k - 1
	}
	stats := srv.Strictness().Queues
	t.Logf("strictness: %+v, %d messages received again", stats, again)
	if inOrder || stats.ShortPollMisses == 0 || stats.DuplicateReceives == 0 || again == 0 {
		t.Fatalf("strict queue: in send order %v, short-poll misses %d, duplicate receives %d, messages received again %d; want none in order and the rest above 0",
			inOrder, stats.ShortPollMisses, stats.DuplicateReceives, again)
	}
}

// TestQueueTargetsGetStrictDelivery: deliveries to queue targets are target
// deliveries like any other, duplicated when strict delivery says so; the
// admin endpoint shows the queue filling.
func TestQueueTargetsGetStrictDelivery(t *testing.T) {
	srv, url := startServer(t, Options{Topology: sqsTopology(), Relax: Relax{SQS: true},
		Delivery: DeliveryOptions{DuplicateRatio: 1, DropTagRatio: -1, MaxDelay: 10 * time.Millisecond}})
	c := sqsClient(url, hub)
	eb := eventbridge.NewFromConfig(awsConfig(url, hub, "secret", ""))
	q, arn := createQueue(t, srv, c, "inbox", nil)
	rule := "arn:aws:events:" + region + ":" + hub + ":rule/jenkins-agent-vpcs/r"
	if _, err := c.SetQueueAttributes(ctx(t), &sqs.SetQueueAttributesInput{QueueUrl: aws.String(q), Attributes: map[string]string{"Policy": `{"Statement":[{"Effect":"Allow",
		"Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"` + arn + `","Condition":{"ArnEquals":{"aws:SourceArn":"` + rule + `"}}}]}`}}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx(t), &eventbridge.PutRuleInput{Name: aws.String("r"), EventBusName: aws.String("jenkins-agent-vpcs"), EventPattern: aws.String(`{"source":["app"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx(t), &eventbridge.PutTargetsInput{Rule: aws.String("r"), EventBusName: aws.String("jenkins-agent-vpcs"),
		Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(arn)}}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := eb.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{EventBusName: aws.String("jenkins-agent-vpcs"),
			Source: aws.String("app"), DetailType: aws.String("t"), Detail: aws.String(`{}`)}}}); err != nil {
			t.Fatal(err)
		}
	}
	if !srv.Flush(5 * time.Second) {
		t.Fatal("deliveries did not finish")
	}
	if d := depth(t, srv, arn); d.Visible != 6 || srv.DeliveryStats().Duplicated != 3 {
		t.Fatalf("queue depth %+v after 3 events delivered twice each (delivery stats %+v)", d, srv.DeliveryStats())
	}
	resp, err := http.Get(url + "/_localaws/queues")
	if err != nil {
		t.Fatal(err)
	}
	var admin struct {
		Strict bool
		Depths map[string]QueueDepth
	}
	decodeBody(t, resp, &admin)
	if admin.Strict || admin.Depths[arn].Visible != 6 {
		t.Fatalf("GET /_localaws/queues = %+v", admin)
	}
}

// TestSQSQueryProtocolToTheQueueURL: a query-protocol call posted to the
// queue's URL without a QueueUrl parameter (as older SDKs send them) names
// that queue; the answer is SQS's XML.
func TestSQSQueryProtocolToTheQueueURL(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology(), Relax: Relax{SQS: true}})
	if _, err := srv.CreateQueue(hub, region, "legacy", nil); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url+"/"+hub+"/legacy", strings.NewReader("Action=SendMessage&MessageBody=hello&Version=2012-11-05"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+hub+"/20260301/"+region+"/sqs/aws4_request, SignedHeaders=host, Signature=x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<MD5OfMessageBody>5d41402abc4b2a76b9719d911017c592</MD5OfMessageBody>") {
		t.Fatalf("SendMessage to the queue URL = %d %s (%v)", resp.StatusCode, body, err)
	}
	if d := depth(t, srv, "arn:aws:sqs:"+region+":"+hub+":legacy"); d.Visible != 1 {
		t.Fatalf("depth %+v", d)
	}
}

// TestNewQueueUsableAtOnceWhenConsistent: Relax.Consistency turns the
// second before a new queue can be used off.
func TestNewQueueUsableAtOnceWhenConsistent(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology(), Relax: Relax{SQS: true, Consistency: true}})
	srv.Clock().Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	c := sqsClient(url, hub)
	out, err := c.CreateQueue(ctx(t), &sqs.CreateQueueInput{QueueName: aws.String("now")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendMessage(ctx(t), &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String("x")}); err != nil {
		t.Fatalf("send right after create, consistency relaxed: %v", err)
	}
}
