package localaws

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/sqssim"
)

// benchmarkQueue sends a batch of ten, receives them and deletes them in a
// batch, per op, through the SDK v2 client over loopback HTTP, with backlog
// messages waiting in the queue (delayed, so that they stay out of the
// receives but in the queue the receive looks through).
func benchmarkQueue(b *testing.B, backlog int) {
	srv, url := startServer(b, Options{Topology: testTopology(), Relax: Relax{SQS: true}})
	cfg := awsConfig(url, hub, "x", "")
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	c := sqs.NewFromConfig(cfg)
	cx := context.Background()
	out, err := c.CreateQueue(cx, &sqs.CreateQueueInput{QueueName: aws.String("bench")})
	if err != nil {
		b.Fatal(err)
	}
	q := out.QueueUrl
	srv.Clock().Skip(sqssim.DefaultCreationDelay)
	for i := 0; i < backlog; i += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for j := range 10 {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String("e" + strconv.Itoa(j)), MessageBody: aws.String("backlog"), DelaySeconds: 900})
		}
		if _, err := c.SendMessageBatch(cx, &sqs.SendMessageBatchInput{QueueUrl: q, Entries: entries}); err != nil {
			b.Fatal(err)
		}
	}
	entries := make([]types.SendMessageBatchRequestEntry, 10)
	for j := range entries {
		entries[j] = types.SendMessageBatchRequestEntry{Id: aws.String("e" + strconv.Itoa(j)), MessageBody: aws.String(`{"vpc":"vpc-0123456789abcdef0"}`)}
	}
	b.ResetTimer()
	for range b.N {
		if _, err := c.SendMessageBatch(cx, &sqs.SendMessageBatchInput{QueueUrl: q, Entries: entries}); err != nil {
			b.Fatal(err)
		}
		got, err := c.ReceiveMessage(cx, &sqs.ReceiveMessageInput{QueueUrl: q, MaxNumberOfMessages: 10})
		if err != nil || len(got.Messages) != 10 {
			b.Fatalf("received %v, %v", got, err)
		}
		del := make([]types.DeleteMessageBatchRequestEntry, len(got.Messages))
		for i, m := range got.Messages {
			del[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String("d" + strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
		}
		if _, err := c.DeleteMessageBatch(cx, &sqs.DeleteMessageBatchInput{QueueUrl: q, Entries: del}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if d, _ := srv.QueueDepth(*q); d.Visible+d.InFlight != 0 || d.Delayed != backlog {
		b.Fatalf("queue left with %+v", d)
	}
}

// BenchmarkSQSBatchRoundTrip: send 10, receive 10, delete 10, empty queue.
func BenchmarkSQSBatchRoundTrip(b *testing.B) { benchmarkQueue(b, 0) }

// BenchmarkSQSBatchRoundTripBacklog10k: the same with 10,000 messages waiting.
func BenchmarkSQSBatchRoundTripBacklog10k(b *testing.B) { benchmarkQueue(b, 10000) }
