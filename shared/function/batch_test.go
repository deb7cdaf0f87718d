package function_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

// onboardQueueARN is the onboard queue the local deployment's event source
// mapping polls (template.yaml's OnboardQueue).
const onboardQueueARN = "arn:aws:sqs:us-east-1:" + hub + ":jenkins-agent-vpcs-OnboardQueue"

// sqsBatch is the event Lambda's SQS event source mapping hands the
// onboard function: one record per body, message ids m1, m2, ...
func sqsBatch(t *testing.T, bodies ...[]byte) []byte {
	t.Helper()
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("m%d", i+1), ReceiptHandle: fmt.Sprintf("handle-%d", i+1), Body: string(b),
			Attributes:  map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1767225600000"},
			EventSource: "aws:sqs", EventSourceARN: onboardQueueARN, AWSRegion: region,
			MessageAttributes: map[string]events.SQSMessageAttribute{},
		})
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// onboardBatch drives the onboard function's real handler entry with a
// batch and returns the messages its partial batch response names.
func (e *env) onboardBatch(payload []byte) []string {
	e.t.Helper()
	out, err := lambda.NewHandler(e.core("onboard").Onboard()).Invoke(context.Background(), payload)
	if err != nil {
		e.t.Fatalf("the batch failed as a whole: %v", err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		e.t.Fatalf("the response %s is not a partial batch response: %v", out, err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	return failed
}

// TestBatchCoalescesTheEventsOfOneVPC hands onboard one batch holding a
// tag change's two events (aws.tag and CloudTrail's CreateTags, which also
// names a second VPC) and a re-drive of the first VPC: each VPC converges
// once (one lease taken and given back, one endpoint), and nothing fails.
func TestBatchCoalescesTheEventsOfOneVPC(t *testing.T) {
	e := newEnv(t, nil)
	vpc, vpc2 := e.vpcs[savedVPC], e.vpcs[savedVPC2]
	e.tag(member, vpc, "true")
	e.tag(member, vpc2, "true")
	mark := e.mark()
	failed := e.onboardBatch(sqsBatch(t, e.event("tag-change-tagged.json"), e.event("cloudtrail-createtags-mixed.json"), e.event("redrive.json")))
	if len(failed) != 0 {
		t.Fatalf("batch item failures %v, want none\n%s", failed, e.logs)
	}
	releases, creates := 0, 0
	for _, c := range e.writes(mark) {
		switch c.Action {
		case "DeleteParameters":
			releases++
		case "CreateVpcEndpoint":
			creates++
		}
	}
	if releases != 2 || creates != 2 {
		t.Errorf("%d leases given back and %d endpoints created for 2 VPCs named by 3 messages, want 2 and 2 (one convergence each)", releases, creates)
	}
	e.assertOnboarded(member, vpc)
	e.assertOnboarded(member, vpc2)
}

// TestBatchReportsOnlyTheMessagesThatFailed mixes, in one batch, a
// malformed re-drive (handed out again, so that the queue's redrive
// policy ends it in the dead-letter queue), a forged event (refused: done
// with), a re-drive of a VPC the account does not show (its convergence
// fails) and a good tag change: the response names exactly the malformed
// and the failed messages, and the good VPC is onboarded.
func TestBatchReportsOnlyTheMessagesThatFailed(t *testing.T) {
	e := newEnv(t, nil)
	vpc := e.vpcs[savedVPC]
	e.tag(member, vpc, "true")
	missing := []byte(`{"account": "` + member + `", "region": "us-east-1", "vpcId": "vpc-0123456789abcdef0"}`)
	failed := e.onboardBatch(sqsBatch(t, e.event("malformed-redrive.json"), e.event("tag-change-forged-account.json"), missing, e.event("tag-change-tagged.json")))
	if want := []string{"m1", "m3"}; !slices.Equal(failed, want) {
		t.Fatalf("batch item failures %v, want %v\n%s", failed, want, e.logs)
	}
	e.assertOnboarded(member, vpc)
}

// TestBatchMalformedAsAWholeFailsTheInvocation: records that do not come
// from SQS cannot be named in a partial batch response, so the invocation
// fails and Lambda hands the whole batch out again.
func TestBatchMalformedAsAWholeFailsTheInvocation(t *testing.T) {
	e := newEnv(t, nil)
	batch := []byte(`{"Records":[{"eventSource":"aws:sqs","messageId":"m1","body":"{}"},{"eventSource":"aws:sqs","body":"{}"}]}`)
	_, err := lambda.NewHandler(e.core("onboard").Onboard()).Invoke(context.Background(), batch)
	if err == nil {
		t.Fatal("a batch with a record without messageId succeeded")
	}
	if want := "record 1 of the SQS batch has no messageId"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}
