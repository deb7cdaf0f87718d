package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// queueAPI is what Lambda's SQS poller calls, with the SDK's signatures:
// *sqs.Client satisfies it, against the local AWS or any other endpoint
// that speaks SQS's wire protocol.
type queueAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

var _ queueAPI = (*sqs.Client)(nil)

// EventSourceMapping is Lambda's event source mapping of an SQS queue to a
// function, as the Lambda developer guide describes it
// (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html,
// services-sqs-configure.html, services-sqs-scaling.html,
// services-sqs-errorhandling.html):
//
//   - pollers long-poll the queue with the function's execution role and
//     gather messages until BatchSize records or until BatchingWindow has
//     passed since the first one;
//   - each batch is one synchronous invocation with an events.SQSEvent;
//   - at most MaximumConcurrency invocations run at once;
//   - a function error (or an invocation that did not complete) deletes
//     nothing: the whole batch becomes visible again after the queue's
//     visibility timeout, and the queue's redrive policy counts receives;
//   - with ReportBatchItemFailures, a success deletes every record but those
//     the answer's batchItemFailures names; an answer Lambda cannot use
//     (not a JSON object, an itemIdentifier that is empty or not a message
//     of the batch) fails the whole batch.
//
// Not modelled: Lambda's scaling up from five pollers and its backing off
// after errors (the concurrency is MaximumConcurrency from the start), the
// 6 MB payload limit, FIFO queues, filter criteria.
type EventSourceMapping struct {
	QueueURL string
	QueueARN string
	Region   string
	// BatchSize is at most 10 here: one ReceiveMessage returns at most 10,
	// and larger batches need a batching window (Lambda's rule too).
	BatchSize      int
	BatchingWindow time.Duration
	// MaximumConcurrency caps the invocations at once (Lambda: 2 to 1000).
	MaximumConcurrency      int
	ReportBatchItemFailures bool

	Queue queueAPI
	// Invoke invokes the function synchronously with payload.
	Invoke func(ctx context.Context, payload []byte) (Result, error)
	// Done, if set, hears of each batch once Lambda has acted on it.
	Done func(Batch)

	// holding counts the records received and not yet settled.
	holding atomic.Int64
}

// Holding returns how many received records the mapping is gathering,
// delivering or settling: messages in flight that it will act on.
func (m *EventSourceMapping) Holding() int { return int(m.holding.Load()) }

// Batch is one invocation of an event source mapping and what came of it.
type Batch struct {
	Records []events.SQSMessage
	Result  Result
	Err     error // the invocation did not complete
	// Deleted are the message ids deleted from the queue after the invocation.
	Deleted []string
	// Refused says why Lambda treated a successful invocation's answer as a
	// failure of the whole batch ("" when it did not).
	Refused string
}

// longPoll is the longest wait ReceiveMessage allows (WaitTimeSeconds 20).
const longPoll = 20 * time.Second

// Run polls until ctx ends, with MaximumConcurrency pollers: each gathers a
// batch, invokes the function and settles the batch before it polls again,
// so no more than MaximumConcurrency invocations ever run at once.
func (m *EventSourceMapping) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range max(m.MaximumConcurrency, 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				records, err := m.gather(ctx)
				if err != nil {
					// The queue refused (throttling, permissions): Lambda keeps
					// polling; a pause keeps a lasting refusal from spinning.
					pause(ctx, time.Second)
					continue
				}
				if len(records) > 0 {
					m.deliver(ctx, records)
				}
			}
		})
	}
	wg.Wait()
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// gather receives one batch: a long poll for the first messages, then,
// within the batching window, more until the batch is full. Records
// received before an error are kept (their receipt is already counted).
func (m *EventSourceMapping) gather(ctx context.Context) ([]events.SQSMessage, error) {
	size := min(max(m.BatchSize, 1), 10)
	var records []events.SQSMessage
	var deadline time.Time
	for len(records) < size {
		wait := longPoll
		if len(records) > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			wait = left
		}
		msgs, err := receive(ctx, m.Queue, m.QueueURL, size-len(records), wait)
		if err != nil {
			if len(records) > 0 {
				return records, nil
			}
			return nil, err
		}
		if len(records) == 0 && len(msgs) > 0 {
			deadline = time.Now().Add(m.BatchingWindow)
		}
		m.holding.Add(int64(len(msgs)))
		for _, msg := range msgs {
			records = append(records, sqsRecord(msg, m.QueueARN, m.Region))
		}
		if len(records) > 0 && m.BatchingWindow <= 0 {
			break
		}
	}
	return records, nil
}

// receive asks the queue at url for up to n messages with a long poll of
// wait, rounded up to the whole seconds the API takes and at least one: a
// long poll returns as soon as messages are there, where a loop of short
// polls would hammer the queue (and, on a standard queue, see copies of
// messages in flight). Lambda's pollers and pipes receive alike.
func receive(ctx context.Context, q queueAPI, url string, n int, wait time.Duration) ([]sqstypes.Message, error) {
	seconds := min(max((wait+time.Second-1)/time.Second, 1), longPoll/time.Second)
	out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(url),
		MaxNumberOfMessages:         int32(n),
		WaitTimeSeconds:             int32(seconds),
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return nil, fmt.Errorf("receiving from %s, %w", url, err)
	}
	return out.Messages, nil
}

// sqsRecord is a message received from the queue queueARN in region as
// Lambda hands it to a function, and as a pipe with an SQS source passes it
// on (the same record shape).
func sqsRecord(msg sqstypes.Message, queueARN, region string) events.SQSMessage {
	r := events.SQSMessage{
		MessageId:              aws.ToString(msg.MessageId),
		ReceiptHandle:          aws.ToString(msg.ReceiptHandle),
		Body:                   aws.ToString(msg.Body),
		Md5OfBody:              aws.ToString(msg.MD5OfBody),
		Md5OfMessageAttributes: aws.ToString(msg.MD5OfMessageAttributes),
		Attributes:             msg.Attributes,
		MessageAttributes:      map[string]events.SQSMessageAttribute{},
		EventSourceARN:         queueARN,
		EventSource:            "aws:sqs",
		AWSRegion:              region,
	}
	if r.Attributes == nil {
		r.Attributes = map[string]string{}
	}
	for name, a := range msg.MessageAttributes {
		r.MessageAttributes[name] = events.SQSMessageAttribute{
			StringValue: a.StringValue, BinaryValue: a.BinaryValue, DataType: aws.ToString(a.DataType),
			StringListValues: nonNil(a.StringListValues), BinaryListValues: nonNil(a.BinaryListValues),
		}
	}
	return r
}

// nonNil gives [] for a missing list: Lambda's records carry empty lists.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// deliver invokes the function with a batch and deletes what Lambda would.
func (m *EventSourceMapping) deliver(ctx context.Context, records []events.SQSMessage) {
	b := Batch{Records: records}
	payload, err := json.Marshal(events.SQSEvent{Records: records})
	if err != nil {
		b.Err = fmt.Errorf("encoding the batch, %w", err)
	} else {
		b.Result, b.Err = m.Invoke(ctx, payload)
	}
	var keep map[string]bool
	if b.Err == nil && b.Result.Error == nil {
		if keep, err = m.failures(b.Result.Payload, records); err != nil {
			b.Refused = err.Error()
		}
	}
	if b.Err == nil && b.Result.Error == nil && b.Refused == "" {
		for _, r := range records {
			if keep[r.MessageId] {
				continue
			}
			// A delete that fails leaves the message to come back, as on Lambda.
			if _, err := m.Queue.DeleteMessage(context.WithoutCancel(ctx), &sqs.DeleteMessageInput{
				QueueUrl: aws.String(m.QueueURL), ReceiptHandle: aws.String(r.ReceiptHandle),
			}); err == nil {
				b.Deleted = append(b.Deleted, r.MessageId)
			}
		}
	}
	m.holding.Add(-int64(len(records)))
	if m.Done != nil {
		m.Done(b)
	}
}

// failures reads a successful invocation's answer: the message ids to keep
// on the queue. Without ReportBatchItemFailures Lambda ignores the answer.
// With it, an empty answer, null, an object without batchItemFailures or
// with an empty list is a complete success; anything it cannot read, or an
// itemIdentifier that is empty or names no record of the batch, fails the
// whole batch (services-sqs-errorhandling.html, "Success and failure
// conditions").
func (m *EventSourceMapping) failures(answer []byte, records []events.SQSMessage) (map[string]bool, error) {
	if !m.ReportBatchItemFailures {
		return nil, nil
	}
	text := strings.TrimSpace(string(answer))
	if text == "" || text == "null" {
		return nil, nil
	}
	var resp struct {
		BatchItemFailures []struct {
			ItemIdentifier *string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if err := json.Unmarshal([]byte(text), &resp); err != nil {
		return nil, fmt.Errorf("answer is not a batch response: %w", err)
	}
	inBatch := map[string]bool{}
	for _, r := range records {
		inBatch[r.MessageId] = true
	}
	keep := map[string]bool{}
	var errs []error
	for _, f := range resp.BatchItemFailures {
		switch {
		case f.ItemIdentifier == nil || *f.ItemIdentifier == "":
			errs = append(errs, errors.New("a batchItemFailures entry has no itemIdentifier"))
		case !inBatch[*f.ItemIdentifier]:
			errs = append(errs, fmt.Errorf("itemIdentifier %q is not a message of the batch", *f.ItemIdentifier))
		default:
			keep[*f.ItemIdentifier] = true
		}
	}
	return keep, errors.Join(errs...)
}
