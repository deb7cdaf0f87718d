package onboard

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/converge"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
)

// SQS is what the follow-ups call on the onboard queue.
type SQS interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
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
