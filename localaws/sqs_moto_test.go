package localaws

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/sqssim"
)

// sqsScenario runs SQS calls both emulators implement and records what
// they answered, leaving out ids, handles and times.
func sqsScenario(t *testing.T, url string, settle func()) *observations {
	t.Helper()
	o := &observations{}
	cx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := sqs.NewFromConfig(awsConfig(url, motoAccount, "x", ""))
	_, err := c.GetQueueUrl(cx, &sqs.GetQueueUrlInput{QueueName: aws.String("missing")})
	o.err("GetQueueUrl(missing)", err)
	q, err := c.CreateQueue(cx, &sqs.CreateQueueInput{QueueName: aws.String("diff"), Attributes: map[string]string{"VisibilityTimeout": "40"}})
	o.err("CreateQueue", err)
	if err != nil {
		return o
	}
	if settle != nil {
		settle()
	}
	_, err = c.CreateQueue(cx, &sqs.CreateQueueInput{QueueName: aws.String("diff"), Attributes: map[string]string{"VisibilityTimeout": "40"}})
	o.err("CreateQueue(same attributes)", err)
	_, err = c.CreateQueue(cx, &sqs.CreateQueueInput{QueueName: aws.String("diff"), Attributes: map[string]string{"VisibilityTimeout": "41"}})
	o.err("CreateQueue(other attributes)", err)
	attrs, err := c.GetQueueAttributes(cx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []types.QueueAttributeName{"All"}})
	o.err("GetQueueAttributes", err)
	if err == nil {
		for _, k := range []string{"VisibilityTimeout", "DelaySeconds", "MessageRetentionPeriod", "MaximumMessageSize", "ReceiveMessageWaitTimeSeconds",
			"SqsManagedSseEnabled", "ApproximateNumberOfMessages"} {
			o.add("GetQueueAttributes."+k, "%s", attrs.Attributes[k])
		}
	}
	sent, err := c.SendMessage(cx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(`{"vpc":"vpc-1"}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"kind":  {DataType: aws.String("String"), StringValue: aws.String("retry")},
			"count": {DataType: aws.String("Number"), StringValue: aws.String("3")},
			"blob":  {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2}}}})
	o.err("SendMessage", err)
	if err == nil {
		o.add("SendMessage.MD5OfMessageBody", "%s", aws.ToString(sent.MD5OfMessageBody))
		o.add("SendMessage.MD5OfMessageAttributes", "%s", aws.ToString(sent.MD5OfMessageAttributes))
	}
	_, err = c.SendMessage(cx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("x"), DelaySeconds: 901})
	o.err("SendMessage(DelaySeconds 901)", err)
	_, err = c.ReceiveMessage(cx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 11})
	o.err("ReceiveMessage(11)", err)
	got, err := c.ReceiveMessage(cx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"ApproximateReceiveCount"}, MessageAttributeNames: []string{"All"}})
	o.err("ReceiveMessage", err)
	if err != nil || len(got.Messages) != 1 {
		return o
	}
	m := got.Messages[0]
	o.add("ReceiveMessage.Message", "%s %s %s %s", aws.ToString(m.Body), aws.ToString(m.MD5OfBody), m.Attributes["ApproximateReceiveCount"], aws.ToString(m.MD5OfMessageAttributes))
	again, err := c.ReceiveMessage(cx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl})
	o.add("ReceiveMessage(in flight)", "%d messages, %v", len(again.Messages), err)
	del, err := c.DeleteMessageBatch(cx, &sqs.DeleteMessageBatchInput{QueueUrl: q.QueueUrl, Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("ok"), ReceiptHandle: m.ReceiptHandle}, {Id: aws.String("bad"), ReceiptHandle: aws.String("garbage")}}})
	o.err("DeleteMessageBatch", err)
	if err == nil {
		var failed []string
		for _, f := range del.Failed {
			failed = append(failed, aws.ToString(f.Id)+":"+aws.ToString(f.Code))
		}
		o.add("DeleteMessageBatch.Result", "%d ok, failed %v", len(del.Successful), failed)
	}
	_, err = c.SendMessageBatch(cx, &sqs.SendMessageBatchInput{QueueUrl: q.QueueUrl, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("1")}, {Id: aws.String("a"), MessageBody: aws.String("2")}}})
	o.err("SendMessageBatch(repeated id)", err)
	_, err = c.DeleteQueue(cx, &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl})
	o.err("DeleteQueue", err)
	_, err = c.SendMessage(cx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("x")})
	o.err("SendMessage(deleted queue)", err)
	return o
}

// TestSQSAgainstMoto compares the local SQS's answers with moto_server's:
// error codes, defaults, digests (MD5OfMessageAttributes of string, number
// and binary attributes included) and batch results. They agree on all of
// them, so any difference fails.
func TestSQSAgainstMoto(t *testing.T) {
	motoURL := startMoto(t)
	// Subject: the answers, not at-least-once delivery or short-poll sampling.
	srv, localURL := startServer(t, Options{Relax: Relax{SQS: true}, Topology: &Topology{Region: region, Accounts: []Account{{ID: motoAccount}}}})
	// A new queue is usable a second after it is created (moto: at once).
	settle := func() { srv.Clock().Skip(sqssim.DefaultCreationDelay) }
	local, moto := sqsScenario(t, localURL, settle), sqsScenario(t, motoURL, nil)
	keys := map[string]bool{}
	for _, k := range append(local.keys, moto.keys...) {
		keys[k] = true
	}
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if l, m := local.m[k], moto.m[k]; l != m {
			diffs = append(diffs, fmt.Sprintf("%s:\n\tlocalaws: %s\n\tmoto:     %s", k, l, m))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("differences from moto:\n%s", strings.Join(diffs, "\n"))
	}
}
