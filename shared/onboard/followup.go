package onboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/converge"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
)

// SQS is what the follow-ups and retries call on the onboard queue.
type SQS interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

var _ SQS = (*sqs.Client)(nil)

// Queue sends the onboard function's follow-ups to its own queue: a
// re-drive request of the VPC, delayed (SendMessage's DelaySeconds, at
// most 900), with the follow-up count as a message attribute, which the
// batch decoder puts on the hint (event.FollowUpAttribute). A follow-up
// sent twice (a retried call) is two looks at the VPC, which the lease
// and the coalescing make harmless.
type Queue struct {
	SQS SQS
	URL string
}

var _ converge.FollowUps = Queue{}

// FollowUp implements converge.FollowUps.
func (q Queue) FollowUp(ctx context.Context, vpc event.RedriveRequest, count int, delay time.Duration) error {
	body, err := json.Marshal(vpc)
	if err != nil {
		return fmt.Errorf("encoding the follow-up of %s, %w", vpc.VPCID, err)
	}
	seconds := min(max(int32(delay/time.Second), 0), 900)
	_, err = q.SQS.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(q.URL), MessageBody: aws.String(string(body)), DelaySeconds: seconds,
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			event.FollowUpAttribute: {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(count))},
		},
	})
	if err != nil {
		return fmt.Errorf("sending the follow-up of %s to %s, %w", vpc.VPCID, q.URL, err)
	}
	return nil
}

// RetryDelay is how long a failed message of the onboard queue stays
// invisible before its next receive: a minute, doubling with each receive
// (1, 2, 4, 8 minutes), at most 15. Without it the message would come
// back only when the queue's visibility timeout (30 minutes, six times the
// function's timeout) has passed; with it, a VPC whose convergence failed
// for a moment (a connection EC2 does not list yet, a spoke role not
// assumable yet) is tried again within minutes, and one that keeps failing
// reaches the dead-letter queue (after 5 receives) in about a quarter of an
// hour rather than two and a half hours.
func RetryDelay(receives int) time.Duration {
	return min(time.Minute<<min(max(receives-1, 0), 4), 15*time.Minute)
}

// Retry shortens the visibility timeout of the batch's failed messages to
// RetryDelay (ChangeMessageVisibilityBatch, ten entries per call). It is a
// best effort: a message whose change failed comes back when its
// visibility timeout passes.
func (q Queue) Retry(ctx context.Context, failed []event.Message) error {
	var errs []error
	for start := 0; start < len(failed); start += 10 {
		in := &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(q.URL)}
		for i, m := range failed[start:min(start+10, len(failed))] {
			in.Entries = append(in.Entries, sqstypes.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.ReceiptHandle),
				VisibilityTimeout: int32(RetryDelay(m.Receives) / time.Second)})
		}
		out, err := q.SQS.ChangeMessageVisibilityBatch(ctx, in)
		if err != nil {
			errs = append(errs, fmt.Errorf("shortening the visibility of %d failed messages, %w", len(in.Entries), err))
			continue
		}
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("shortening the visibility of failed message %s: %s %s", aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return errors.Join(errs...)
}
