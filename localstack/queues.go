package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// queueAttributes are the AWS::SQS::Queue properties that are SQS queue
// attributes of the same name (CreateQueue's Attributes; the
// CloudFormation resource reference lists them). The others (QueueName,
// Tags, FifoQueue's naming) are handled apart or not modelled.
var queueAttributes = []string{
	"DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
	"VisibilityTimeout", "SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
	"RedrivePolicy", "RedriveAllowPolicy", "FifoQueue", "ContentBasedDeduplication",
}

// createQueues creates the template's queues through SQS (CreateQueue
// with the template's attributes), those without a redrive policy first
// so that every dead-letter queue exists before a queue names it, and
// remembers each queue's URL (what !Ref of a queue gives).
func createQueues(ctx context.Context, client *sqs.Client, d *deployment) error {
	ids := d.tpl.Resources("AWS::SQS::Queue")
	slices.SortStableFunc(ids, func(a, b string) int {
		_, ra := d.tpl.Property(a, "RedrivePolicy")
		_, rb := d.tpl.Property(b, "RedrivePolicy")
		switch {
		case ra == rb:
			return 0
		case rb:
			return -1
		}
		return 1
	})
	for _, id := range ids {
		if ok, err := d.created(id); err != nil || !ok {
			if err != nil {
				return err
			}
			continue // its Condition is false: CloudFormation does not create it
		}
		attrs, err := d.queueAttributes(id)
		if err != nil {
			return err
		}
		name := d.queueName(id)
		out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
		if err != nil {
			return fmt.Errorf("creating queue %s (%s), %w", name, id, err)
		}
		d.queueURLs[id] = aws.ToString(out.QueueUrl)
	}
	return nil
}

// queueCreationDelay is how long SQS asks to wait before using a queue it
// just created: "After you create a queue, you must wait at least one
// second after the queue is created to be able to use the queue" (SQS API
// Reference, CreateQueue).
const queueCreationDelay = time.Second

// awaitQueues waits until SQS answers for every queue (see
// queueCreationDelay): CloudFormation reports a queue created only once it
// can be used.
func awaitQueues(ctx context.Context, client *sqs.Client, urls map[string]string) error {
	deadline := time.Now().Add(30 * time.Second)
	for id, url := range urls {
		for {
			_, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
				AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
			var missing *sqstypes.QueueDoesNotExist
			if err == nil {
				break
			}
			if !errors.As(err, &missing) || time.Now().After(deadline) {
				return fmt.Errorf("waiting for queue %s (%s) to be usable, %w", url, id, err)
			}
			pause(ctx, 100*time.Millisecond)
		}
	}
	return nil
}

// queueAttributes resolves a queue's properties to SQS attributes: the
// redrive policies become the JSON SQS takes, with numbers as numbers.
func (d *deployment) queueAttributes(id string) (map[string]string, error) {
	attrs := map[string]string{}
	for _, name := range queueAttributes {
		n := d.tpl.PropertyNode(id, name)
		if n == nil {
			continue
		}
		v, err := d.value(n)
		if err != nil {
			return nil, fmt.Errorf("resolving %s of %s, %w", name, id, err)
		}
		switch x := v.(type) {
		case noValue:
		case string:
			attrs[name] = x
		case map[string]any:
			for k, s := range x {
				if i, err := strconv.Atoi(fmt.Sprint(s)); err == nil {
					x[k] = i
				}
			}
			b, err := json.Marshal(x)
			if err != nil {
				return nil, fmt.Errorf("encoding %s of %s, %w", name, id, err)
			}
			attrs[name] = string(b)
		default:
			return nil, fmt.Errorf("%s of %s is a %T, not a queue attribute", name, id, v)
		}
	}
	return attrs, nil
}

// setQueuePolicies gives each queue the policy its AWS::SQS::QueuePolicy
// sets (SetQueueAttributes Policy): without one, SQS refuses EventBridge's
// deliveries. Two resources naming one queue are refused: on AWS the later
// would replace the earlier.
func setQueuePolicies(ctx context.Context, client *sqs.Client, d *deployment) error {
	set := map[string]string{}
	for _, id := range d.tpl.Resources("AWS::SQS::QueuePolicy") {
		if ok, err := d.created(id); err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		queues, err := d.value(d.tpl.PropertyNode(id, "Queues"))
		if err != nil {
			return fmt.Errorf("resolving the queues of %s, %w", id, err)
		}
		list, ok := queues.([]any)
		if !ok || len(list) == 0 {
			return fmt.Errorf("%s: Queues is not a list of queue URLs", id)
		}
		doc, err := d.value(d.tpl.PropertyNode(id, "PolicyDocument"))
		if err != nil {
			return fmt.Errorf("resolving the policy document of %s, %w", id, err)
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("encoding the policy document of %s, %w", id, err)
		}
		for _, q := range list {
			url, _ := q.(string)
			if other, dup := set[url]; dup {
				return fmt.Errorf("%s: queue %s already has a policy from %s", id, url, other)
			}
			set[url] = id
			if _, err := client.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
				QueueUrl: aws.String(url), Attributes: map[string]string{"Policy": string(b)},
			}); err != nil {
				return fmt.Errorf("setting the policy of queue %s (%s), %w", url, id, err)
			}
		}
	}
	return nil
}

// queueName is a queue's QueueName, or the name CloudFormation generates.
func (d *deployment) queueName(id string) string {
	if raw, ok := d.tpl.Property(id, "QueueName"); ok {
		if name, err := d.text(raw); err == nil && name != "" {
			return name
		}
	}
	return d.physicalName(id)
}

// queueURL is what !Ref of a queue gives: the URL SQS answered when the
// queue was created, or, before that, the URL AWS would give it.
func (d *deployment) queueURL(id string) string {
	if url, ok := d.queueURLs[id]; ok {
		return url
	}
	return "https://sqs." + d.pseudo["AWS::Region"] + ".amazonaws.com/" + d.pseudo["AWS::AccountId"] + "/" + d.queueName(id)
}
