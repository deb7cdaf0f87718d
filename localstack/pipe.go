package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/stssim"
)

// pipeQueueAPI is what a pipe's SQS source calls, with the SDK's
// signatures: *sqs.Client satisfies it.
type pipeQueueAPI interface {
	queueAPI
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

var _ pipeQueueAPI = (*sqs.Client)(nil)

// Pipe is an EventBridge pipe (AWS::Pipes::Pipe) from an SQS queue to an
// API destination, run as the EventBridge User Guide describes it ("Amazon
// Simple Queue Service as a source", "Amazon EventBridge Pipes error
// handling and troubleshooting"):
//
//   - it polls the queue with the pipe's execution role (the role's
//     policy decides, as the local AWS evaluates it: sqs:GetQueueAttributes
//     when it starts, sqs:ReceiveMessage, sqs:DeleteMessage), up to
//     BatchSize messages at a time;
//   - it calls the API destination with the role (events:InvokeApiDestination),
//     once per message, through the local AWS's API destination machinery
//     (the connection's credentials, the rate limit; recorded in APICalls);
//   - "When your pipe successfully processes a batch, EventBridge deletes
//     its messages from the queue": a 2xx answer deletes the message;
//   - any other outcome leaves it: it comes back after the queue's
//     visibility timeout, and "For pipes with an Amazon SQS source,
//     EventBridge Pipes retries customer errors up to the maximum receive
//     count of the source queue", after which the queue's redrive policy
//     moves it to the dead-letter queue.
//
// Not modelled: a controller that does not answer at all is a pipe
// internal error on AWS, retried without counting against the queue's
// maximum receive count; here it counts like any failure. Pipes' gradual
// back-off after failures and its disabling of a pipe on continuous 4xx
// errors are not modelled either. The body is the SQS record (messageId,
// body, attributes, ...); Jenkins' reload endpoint ignores it.
type Pipe struct {
	Name      string
	ARN       string
	QueueURL  string
	QueueARN  string
	Region    string
	RoleARN   string
	TargetARN string // the API destination
	BatchSize int

	// Queue is an SQS client with the role's credentials.
	Queue pipeQueueAPI
	// Invoke calls the target with the role (localaws.Server.InvokeAPIDestination).
	Invoke func(ctx context.Context, body []byte, messageID string) (localaws.APICall, error)
	// Done, if set, hears of each message the pipe delivered or failed to.
	Done func(PipeDelivery)

	holding atomic.Int64
}

// PipeDelivery is one message a pipe handed to its target.
type PipeDelivery struct {
	MessageID string
	Receives  int // ApproximateReceiveCount
	Call      localaws.APICall
	Err       error // the call was not made (role refused, target missing)
	Deleted   bool
}

// Holding returns how many received messages the pipe is delivering.
func (p *Pipe) Holding() int { return int(p.holding.Load()) }

// Run polls until ctx ends.
func (p *Pipe) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if _, err := p.Queue.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(p.QueueURL),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameVisibilityTimeout}}); err == nil {
			break
		}
		pause(ctx, time.Second)
	}
	for ctx.Err() == nil {
		msgs, err := receive(ctx, p.Queue, p.QueueURL, min(max(p.BatchSize, 1), 10), longPoll)
		if err != nil {
			pause(ctx, time.Second)
			continue
		}
		p.holding.Add(int64(len(msgs)))
		for _, m := range msgs {
			p.deliver(ctx, m)
			p.holding.Add(-1)
		}
	}
}

// deliver calls the target with one message and deletes it on success.
func (p *Pipe) deliver(ctx context.Context, m sqstypes.Message) {
	d := PipeDelivery{MessageID: aws.ToString(m.MessageId)}
	d.Receives, _ = strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	body, err := json.Marshal(sqsRecord(m, p.QueueARN, p.Region))
	if err == nil {
		d.Call, err = p.Invoke(ctx, body, d.MessageID)
	}
	d.Err = err
	if err == nil && d.Call.Status >= http.StatusOK && d.Call.Status < http.StatusMultipleChoices {
		_, derr := p.Queue.DeleteMessage(context.WithoutCancel(ctx), &sqs.DeleteMessageInput{QueueUrl: aws.String(p.QueueURL), ReceiptHandle: m.ReceiptHandle})
		d.Deleted = derr == nil
	}
	if p.Done != nil {
		p.Done(d)
	}
}

// PipeSpec is an AWS::Pipes::Pipe of a deployed template, resolved.
type PipeSpec struct {
	LogicalID string
	Name, ARN string
	RoleARN   string
	// QueueID, QueueARN and QueueURL are the source queue's.
	QueueID, QueueARN, QueueURL string
	TargetARN                   string
	BatchSize                   int
}

// pipeSpecs resolves the template's pipes whose conditions hold. Only
// what the local stack runs is accepted: an SQS queue of the template as
// the source, an API destination of the template as the target.
func pipeSpecs(d *deployment) ([]PipeSpec, error) {
	var out []PipeSpec
	for _, id := range d.tpl.Resources("AWS::Pipes::Pipe") {
		if ok, err := d.created(id); err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		p := PipeSpec{LogicalID: id, Name: d.physicalName(id), BatchSize: 10}
		p.ARN = d.arn("pipes", "pipe/"+p.Name)
		for prop, to := range map[string]*string{"RoleArn": &p.RoleARN, "Source": &p.QueueARN, "Target": &p.TargetARN} {
			v, err := d.propertyValue(id, prop)
			if err != nil {
				return nil, fmt.Errorf("resolving pipe %s, %w", id, err)
			}
			*to = v
		}
		if p.QueueID = keyOfQueue(d, p.QueueARN); p.QueueID == "" {
			return nil, fmt.Errorf("pipe %s: source %s is not a queue of the template (the local stack runs SQS sources only)", id, p.QueueARN)
		}
		p.QueueURL = d.queueURL(p.QueueID)
		if d.tpl.ResourceType(keyOf(d.arns, p.TargetARN)) != "AWS::Events::ApiDestination" {
			return nil, fmt.Errorf("pipe %s: target %s is not an API destination of the template (the local stack runs those only)", id, p.TargetARN)
		}
		v, err := d.value(d.tpl.PropertyNode(id, "SourceParameters"))
		if err != nil {
			return nil, fmt.Errorf("resolving the source parameters of pipe %s, %w", id, err)
		}
		if params, ok := v.(map[string]any); ok {
			if sqsParams, ok := params["SqsQueueParameters"].(map[string]any); ok && sqsParams["BatchSize"] != nil {
				if p.BatchSize, err = strconv.Atoi(fmt.Sprint(sqsParams["BatchSize"])); err != nil {
					return nil, fmt.Errorf("pipe %s: BatchSize %v is not a number", id, sqsParams["BatchSize"])
				}
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// keyOfQueue is the logical id of the template's queue whose ARN is arn.
func keyOfQueue(d *deployment, arn string) string {
	for _, id := range d.tpl.Resources("AWS::SQS::Queue") {
		if a, err := d.attr(id, "Arn"); err == nil && a == arn {
			return id
		}
	}
	return ""
}

// NewPipe is the pipe spec describes, deployed in srv (served at url): it
// polls with the pipe role's session credentials and calls its target as
// that role. Run it.
func NewPipe(srv *localaws.Server, url, region string, spec PipeSpec) (*Pipe, error) {
	account, role, ok := stssim.ParseRoleARN(spec.RoleARN)
	if !ok {
		return nil, fmt.Errorf("pipe %s: RoleArn %s is not a role ARN", spec.LogicalID, spec.RoleARN)
	}
	creds, err := srv.RoleCredentials(account, role, spec.Name, 12*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("issuing the credentials of pipe %s's role, %w", spec.LogicalID, err)
	}
	cfg := aws.Config{Region: region, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)}
	p := &Pipe{Name: spec.Name, ARN: spec.ARN, QueueURL: spec.QueueURL, QueueARN: spec.QueueARN, Region: region,
		RoleARN: spec.RoleARN, TargetARN: spec.TargetARN, BatchSize: spec.BatchSize, Queue: sqs.NewFromConfig(cfg)}
	p.Invoke = func(ctx context.Context, body []byte, id string) (localaws.APICall, error) {
		return srv.InvokeAPIDestination(ctx, p.RoleARN, p.TargetARN, p.ARN, id, body)
	}
	return p, nil
}

// startPipes runs the deployed pipes.
func (s *Stack) startPipes(specs []PipeSpec) error {
	for _, spec := range specs {
		p, err := NewPipe(s.AWS, s.URL, s.Region, spec)
		if err != nil {
			return err
		}
		p.Done = func(d PipeDelivery) {
			if s.opts.Trace != nil {
				fmt.Fprintf(s.opts.Trace, "  %s  pipe %s: message %s (receive %d) -> %d %v deleted=%v\n", time.Now().Format("15:04:05.000"),
					spec.LogicalID, d.MessageID, d.Receives, d.Call.Status, d.Err, d.Deleted)
			}
		}
		s.pipes = append(s.pipes, p)
		s.bg.Go(func() { p.Run(s.ctx) })
	}
	return nil
}

// pipeSources are the logical ids of the queues the stack's pipes poll.
func (s *Stack) pipeSources() map[string]bool {
	out := map[string]bool{}
	for _, p := range s.pipeSpecs {
		out[p.QueueID] = true
	}
	return out
}
