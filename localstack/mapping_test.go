package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
)

// The event source mapping needs only SQS's wire protocol: these tests run
// it against the local AWS's SQS with an account's administrator.

const testAccount = "123456789012"

// startQueueServer runs a local AWS with one account until the test ends
// and returns its URL; queues shapes its SQS strictness (zero: AWS's).
func startQueueServer(t *testing.T, queues localaws.QueueStrictness) string {
	t.Helper()
	srv, err := localaws.NewServer(localaws.Options{SQS: queues,
		Topology: &localaws.Topology{Region: "us-east-1", Accounts: []localaws.Account{{ID: testAccount}}}})
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("stopping the local AWS: %v", err)
		}
	})
	servers.Store(url, srv)
	return url
}

// servers are the local AWS servers by URL, for newTestQueue to let a new
// queue's first second pass.
var servers sync.Map

// testQueue is a fresh queue on the server: its client, URL and ARN.
type testQueue struct {
	client   *sqs.Client
	url, arn string
}

func newTestQueue(t *testing.T, server string, visibility int) testQueue {
	t.Helper()
	ctx := context.Background()
	client := sqs.NewFromConfig(AdminConfig(server, "us-east-1", testAccount))
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName:  aws.String(fmt.Sprintf("q%d", time.Now().UnixNano())),
		Attributes: map[string]string{"VisibilityTimeout": strconv.Itoa(visibility)},
	})
	if err != nil {
		t.Fatalf("creating a queue: %v", err)
	}
	if srv, ok := servers.Load(server); ok {
		srv.(*localaws.Server).Clock().Skip(queueCreationDelay) // a new queue is unusable for a second
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("reading the queue's ARN: %v", err)
	}
	return testQueue{client: client, url: aws.ToString(out.QueueUrl), arn: attrs.Attributes["QueueArn"]}
}

func (q testQueue) send(t *testing.T, bodies ...string) []string {
	t.Helper()
	var ids []string
	for _, b := range bodies {
		out, err := q.client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String(b),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String("test")}}})
		if err != nil {
			t.Fatalf("sending %q: %v", b, err)
		}
		ids = append(ids, aws.ToString(out.MessageId))
	}
	return ids
}

// depth is the queue's messages, visible or in flight.
func (q testQueue) depth(t *testing.T) int {
	t.Helper()
	out, err := q.client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatalf("reading the queue's depth: %v", err)
	}
	a, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	b, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return a + b
}

// run runs the mapping until it has settled batches holding n records, and
// returns those batches.
func run(t *testing.T, m *EventSourceMapping, n int) []Batch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var batches []Batch
	seen := map[string]bool{} // a standard queue may hand a message out twice
	all := make(chan struct{})
	m.Done = func(b Batch) {
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, b)
		before := len(seen)
		for _, r := range b.Records {
			seen[r.MessageId] = true
		}
		if before < n && len(seen) >= n {
			close(all)
		}
	}
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		mu.Lock()
		t.Errorf("only %d of %d messages delivered in 30s", len(seen), n)
		mu.Unlock()
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	return batches
}

// The answer decides which messages stay on the queue.
func TestEventSourceMappingDeletesWhatTheAnswerAllows(t *testing.T) {
	// No copies of deleted messages: the queue's depth then says exactly
	// what the mapping deleted.
	server := startQueueServer(t, localaws.QueueStrictness{DuplicateRatio: -1})
	cases := []struct {
		name    string
		report  bool
		answer  func(ids []string) string
		fnError bool
		// keep are the indexes of the messages left on the queue.
		keep    []int
		refused bool
	}{
		{name: "null answer deletes all", report: true, answer: func([]string) string { return "null" }},
		{name: "empty list deletes all", report: true, answer: func([]string) string { return `{"batchItemFailures":[]}` }},
		{name: "object without the list deletes all", report: true, answer: func([]string) string { return `{}` }},
		{name: "listed failures stay", report: true, answer: func(ids []string) string {
			return `{"batchItemFailures":[{"itemIdentifier":"` + ids[1] + `"}]}`
		}, keep: []int{1}},
		{name: "function error keeps the batch", report: true, answer: func([]string) string { return "null" }, fnError: true, keep: []int{0, 1, 2}},
		{name: "unknown id fails the batch", report: true, answer: func([]string) string {
			return `{"batchItemFailures":[{"itemIdentifier":"not-in-the-batch"}]}`
		}, keep: []int{0, 1, 2}, refused: true},
		{name: "empty id fails the batch", report: true, answer: func([]string) string {
			return `{"batchItemFailures":[{"itemIdentifier":""}]}`
		}, keep: []int{0, 1, 2}, refused: true},
		{name: "misspelt key fails the batch", report: true, answer: func(ids []string) string {
			return `{"batchItemFailures":[{"itemId":"` + ids[0] + `"}]}`
		}, keep: []int{0, 1, 2}, refused: true},
		{name: "an answer that is not an object fails the batch", report: true, answer: func([]string) string { return `"done"` },
			keep: []int{0, 1, 2}, refused: true},
		{name: "without ReportBatchItemFailures the answer is ignored", answer: func(ids []string) string {
			return `{"batchItemFailures":[{"itemIdentifier":"` + ids[1] + `"}]}`
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := newTestQueue(t, server, 600)
			ids := q.send(t, "a", "b", "c")
			// One poller (Lambda's minimum is two), so that the three
			// messages make one batch.
			m := &EventSourceMapping{QueueURL: q.url, QueueARN: q.arn, Region: "us-east-1", BatchSize: 10, BatchingWindow: 500 * time.Millisecond,
				MaximumConcurrency: 1, ReportBatchItemFailures: c.report, Queue: q.client,
				Invoke: func(_ context.Context, payload []byte) (Result, error) {
					var ev events.SQSEvent
					if err := json.Unmarshal(payload, &ev); err != nil || len(ev.Records) == 0 {
						t.Errorf("payload %s is not an SQS event (%v)", payload, err)
					}
					res := Result{Payload: []byte(c.answer(ids))}
					if c.fnError {
						res.Error = &FunctionError{Type: "Failure", Message: "failed on purpose"}
					}
					return res, nil
				}}
			batches := run(t, m, 3)
			if len(batches) != 1 {
				t.Fatalf("%d batches, want the three messages in one", len(batches))
			}
			var wantDeleted []string
			for i, id := range ids {
				if !slices.Contains(c.keep, i) {
					wantDeleted = append(wantDeleted, id)
				}
			}
			got := slices.Sorted(slices.Values(batches[0].Deleted))
			if !slices.Equal(got, slices.Sorted(slices.Values(wantDeleted))) {
				t.Errorf("deleted %v, want %v", got, wantDeleted)
			}
			if (batches[0].Refused != "") != c.refused {
				t.Errorf("refused = %q, want refused %v", batches[0].Refused, c.refused)
			}
			if d := q.depth(t); d != len(c.keep) {
				t.Errorf("queue holds %d messages, want %d", d, len(c.keep))
			}
		})
	}
}

// Batches hold at most BatchSize records, no more than MaximumConcurrency
// invocations run at once, and every message is delivered.
func TestEventSourceMappingBatchesAndCapsConcurrency(t *testing.T) {
	server := startQueueServer(t, localaws.QueueStrictness{})
	q := newTestQueue(t, server, 600)
	var bodies []string
	for i := range 45 {
		bodies = append(bodies, strconv.Itoa(i))
	}
	q.send(t, bodies...)
	var running, peak atomic.Int64
	m := &EventSourceMapping{QueueURL: q.url, QueueARN: q.arn, Region: "us-east-1", BatchSize: 10, BatchingWindow: 300 * time.Millisecond,
		MaximumConcurrency: 3, ReportBatchItemFailures: true, Queue: q.client,
		Invoke: func(context.Context, []byte) (Result, error) {
			raise(&peak, running.Add(1))
			time.Sleep(200 * time.Millisecond)
			running.Add(-1)
			return Result{Payload: []byte("null")}, nil
		}}
	batches := run(t, m, 45)
	seen := map[string]bool{}
	for _, b := range batches {
		if len(b.Records) > 10 {
			t.Errorf("a batch of %d records, want at most 10", len(b.Records))
		}
		for _, r := range b.Records {
			if seen[r.Body] {
				t.Logf("message %s delivered twice (at-least-once delivery)", r.Body)
			}
			seen[r.Body] = true
		}
	}
	if len(seen) != 45 {
		t.Errorf("%d distinct messages delivered, want 45", len(seen))
	}
	t.Logf("peak %d, batches %d", peak.Load(), len(batches))
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak concurrency %d, want at most MaximumConcurrency 3 (and more than one)", p)
	}
	if d := q.depth(t); d != 0 {
		t.Errorf("queue holds %d messages after the batches succeeded, want 0", d)
	}
}

// A record is what Lambda gives the function: events.SQSEvent's shape with
// the queue's ARN, the Region, the system attributes and the message
// attributes.
func TestEventSourceMappingRecordShape(t *testing.T) {
	server := startQueueServer(t, localaws.QueueStrictness{})
	q := newTestQueue(t, server, 600)
	ids := q.send(t, `{"source":"aws.tag"}`)
	var raw []byte
	m := &EventSourceMapping{QueueURL: q.url, QueueARN: q.arn, Region: "us-east-1", BatchSize: 10, MaximumConcurrency: 2, Queue: q.client,
		Invoke: func(_ context.Context, payload []byte) (Result, error) { raw = payload; return Result{}, nil }}
	run(t, m, 1)
	var ev struct {
		Records []map[string]any `json:"Records"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil || len(ev.Records) != 1 {
		t.Fatalf("payload %s: want one record (%v)", raw, err)
	}
	r := ev.Records[0]
	for k, want := range map[string]any{"messageId": ids[0], "body": `{"source":"aws.tag"}`, "eventSource": "aws:sqs",
		"eventSourceARN": q.arn, "awsRegion": "us-east-1"} {
		if r[k] != want {
			t.Errorf("record %s = %v, want %v", k, r[k], want)
		}
	}
	for _, k := range []string{"receiptHandle", "md5OfBody", "md5OfMessageAttributes"} {
		if s, _ := r[k].(string); s == "" {
			t.Errorf("record has no %s: %v", k, r)
		}
	}
	attrs, _ := r["attributes"].(map[string]any)
	for _, k := range []string{"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} {
		if _, ok := attrs[k]; !ok {
			t.Errorf("record attributes %v lack %s", attrs, k)
		}
	}
	if attrs["ApproximateReceiveCount"] != "1" {
		t.Errorf("ApproximateReceiveCount = %v, want 1", attrs["ApproximateReceiveCount"])
	}
	kind, _ := r["messageAttributes"].(map[string]any)["kind"].(map[string]any)
	if kind["stringValue"] != "test" || kind["dataType"] != "String" || kind["stringListValues"] == nil || kind["binaryListValues"] == nil {
		t.Errorf("message attribute kind = %v, want Lambda's shape with stringValue test", kind)
	}
}

// The mapping polls with the function's execution role, as Lambda does: a
// role without sqs:DeleteMessage leaves every message of a successful
// batch on the queue, and the template's three poller actions are enough.
func TestEventSourceMappingPollsWithTheExecutionRole(t *testing.T) {
	cases := []struct {
		name    string
		actions []string
		deleted bool
	}{
		{name: "the poller's three actions", actions: []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}, deleted: true},
		{name: "no DeleteMessage", actions: []string{"sqs:ReceiveMessage", "sqs:GetQueueAttributes"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			server := startQueueServer(t, localaws.QueueStrictness{DuplicateRatio: -1})
			v, _ := servers.Load(server)
			srv := v.(*localaws.Server)
			q := newTestQueue(t, server, 600)
			doc, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{
				map[string]any{"Effect": "Allow", "Action": c.actions, "Resource": q.arn}}})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Seed(&localaws.Topology{Region: "us-east-1", Accounts: []localaws.Account{{ID: testAccount, Roles: []localaws.Role{{
				Name: "poller", Trust: localaws.Trust{Principals: []string{"lambda.amazonaws.com"}},
				Policies: []localaws.RolePolicy{{Name: "poller", Document: doc}}}}}}}); err != nil {
				t.Fatal(err)
			}
			creds, err := srv.RoleCredentials(testAccount, "poller", "fn", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			role := AdminConfig(server, "us-east-1", testAccount)
			role.Credentials = credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)
			q.send(t, "a", "b", "c")
			m := &EventSourceMapping{QueueURL: q.url, QueueARN: q.arn, Region: "us-east-1", BatchSize: 10, BatchingWindow: 500 * time.Millisecond,
				MaximumConcurrency: 1, ReportBatchItemFailures: true, Queue: sqs.NewFromConfig(role),
				Invoke: func(context.Context, []byte) (Result, error) { return Result{Payload: []byte("null")}, nil }}
			var deleted int
			for _, b := range run(t, m, 3) {
				deleted += len(b.Deleted)
			}
			want, depth := 0, 3
			if c.deleted {
				want, depth = 3, 0
			}
			if deleted != want || q.depth(t) != depth {
				t.Errorf("deleted %d, queue holds %d; want %d deleted and %d left", deleted, q.depth(t), want, depth)
			}
		})
	}
}
