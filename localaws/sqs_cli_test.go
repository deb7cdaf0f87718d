package localaws

import (
	"strings"
	"testing"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/sqssim"
)

func TestAWSCLIv1SQS(t *testing.T) { testSQSCLI(t, awsCLI(t, "1")) }
func TestAWSCLIv2SQS(t *testing.T) { testSQSCLI(t, awsCLI(t, "2")) }

// testSQSCLI drives a queue with the AWS CLI: the wire formats of both
// majors (botocore of CLI v1 speaks SQS's JSON protocol; older CLI v2
// releases, as Debian's, speak its query protocol).
func testSQSCLI(t *testing.T, bin string) {
	// Subject: the wire, not at-least-once delivery or short-poll sampling.
	srv, url := startServer(t, Options{Topology: testTopology(), Relax: Relax{SQS: true}})
	// A new queue is usable a second after it is created: the clock moves
	// on after each create, as a person at the CLI waits.
	settle := func() { srv.Clock().Skip(sqssim.DefaultCreationDelay) }
	c := newCLI(t, bin, url).as(hub, "x", "")
	dlq := c.must("sqs", "create-queue", "--queue-name", "cli-dlq")
	settle()
	dlqARN := str(c.must("sqs", "get-queue-attributes", "--queue-url", str(dlq, "QueueUrl"), "--attribute-names", "QueueArn"), "Attributes", "QueueArn")
	if dlqARN != "arn:aws:sqs:"+region+":"+hub+":cli-dlq" {
		t.Fatalf("dead-letter queue ARN %q", dlqARN)
	}
	q := str(c.must("sqs", "create-queue", "--queue-name", "cli", "--attributes",
		`{"VisibilityTimeout":"45","RedrivePolicy":"{\"deadLetterTargetArn\":\"`+dlqARN+`\",\"maxReceiveCount\":3}"}`), "QueueUrl")
	settle()
	if q != url+"/"+hub+"/cli" {
		t.Fatalf("queue URL %q, want it on the server", q)
	}
	if u := c.must("sqs", "get-queue-url", "--queue-name", "cli"); str(u, "QueueUrl") != q {
		t.Fatalf("get-queue-url = %v", u)
	}
	if _, ok := c.run("sqs", "get-queue-url", "--queue-name", "nope"); ok || !strings.Contains(c.lastError, "AWS.SimpleQueueService.NonExistentQueue") {
		t.Fatalf("get-queue-url of a missing queue: %s", c.lastError)
	}
	sent := c.must("sqs", "send-message", "--queue-url", q, "--message-body", `{"vpc":"vpc-1"}`,
		"--message-attributes", `{"kind":{"DataType":"String","StringValue":"retry"}}`)
	if str(sent, "MD5OfMessageBody") != "5ad16bb3643c22bbb6f2d92bc2216304" || str(sent, "MessageId") == "" {
		t.Fatalf("send-message = %v", sent)
	}
	got := c.must("sqs", "receive-message", "--queue-url", q, "--max-number-of-messages", "10", "--attribute-names", "All", "--message-attribute-names", "All")
	if str(got, "Messages", 0, "Body") != `{"vpc":"vpc-1"}` || str(got, "Messages", 0, "Attributes", "ApproximateReceiveCount") != "1" ||
		str(got, "Messages", 0, "MessageAttributes", "kind", "StringValue") != "retry" {
		t.Fatalf("receive-message = %v", got)
	}
	attrs := c.must("sqs", "get-queue-attributes", "--queue-url", q, "--attribute-names", "All")
	if str(attrs, "Attributes", "ApproximateNumberOfMessagesNotVisible") != "1" || str(attrs, "Attributes", "VisibilityTimeout") != "45" {
		t.Fatalf("get-queue-attributes = %v", attrs)
	}
	c.must("sqs", "delete-message", "--queue-url", q, "--receipt-handle", str(got, "Messages", 0, "ReceiptHandle"))
	batch := c.must("sqs", "send-message-batch", "--queue-url", q, "--entries", `[{"Id":"a","MessageBody":"1"},{"Id":"b","MessageBody":"2","DelaySeconds":901}]`)
	if str(batch, "Successful", 0, "Id") != "a" || str(batch, "Failed", 0, "Code") != "InvalidParameterValue" {
		t.Fatalf("send-message-batch = %v", batch)
	}
	if _, ok := c.run("sqs", "receive-message", "--queue-url", q, "--max-number-of-messages", "11"); ok || !strings.Contains(c.lastError, "InvalidParameterValue") {
		t.Fatalf("receive-message of 11: %s", c.lastError)
	}
	if l := c.must("sqs", "list-queues", "--queue-name-prefix", "cli"); str(l, "QueueUrls", 0) == "" || str(l, "QueueUrls", 2) != "" {
		t.Fatalf("list-queues = %v", l)
	}
	c.must("sqs", "purge-queue", "--queue-url", q)
	c.must("sqs", "delete-queue", "--queue-url", q)
}

func TestAWSCLIv1SQSFIFO(t *testing.T) { testSQSFIFOCLI(t, awsCLI(t, "1")) }
func TestAWSCLIv2SQSFIFO(t *testing.T) { testSQSFIFOCLI(t, awsCLI(t, "2")) }

// testSQSFIFOCLI sends to and receives from a FIFO queue with the AWS CLI:
// MessageGroupId and SequenceNumber over both wire protocols.
func testSQSFIFOCLI(t *testing.T, bin string) {
	srv, url := startServer(t, Options{Topology: testTopology()})
	c := newCLI(t, bin, url).as(hub, "x", "")
	q := str(c.must("sqs", "create-queue", "--queue-name", "cli.fifo", "--attributes", `{"FifoQueue":"true","ContentBasedDeduplication":"true"}`), "QueueUrl")
	srv.Clock().Skip(sqssim.DefaultCreationDelay)
	first := c.must("sqs", "send-message", "--queue-url", q, "--message-body", "reload", "--message-group-id", "jenkins")
	again := c.must("sqs", "send-message", "--queue-url", q, "--message-body", "reload", "--message-group-id", "jenkins")
	if str(first, "SequenceNumber") == "" || str(again, "MessageId") != str(first, "MessageId") {
		t.Fatalf("send-message = %v, then %v: want a sequence number, and the duplicate answered with the first", first, again)
	}
	if _, ok := c.run("sqs", "send-message", "--queue-url", q, "--message-body", "reload"); ok || !strings.Contains(c.lastError, "MissingParameter") {
		t.Fatalf("send-message without a group: %s", c.lastError)
	}
	got := c.must("sqs", "receive-message", "--queue-url", q, "--attribute-names", "All", "--max-number-of-messages", "10")
	if str(got, "Messages", 0, "Attributes", "MessageGroupId") != "jenkins" || str(got, "Messages", 1, "Body") != "" ||
		str(got, "Messages", 0, "Attributes", "SequenceNumber") != str(first, "SequenceNumber") {
		t.Fatalf("receive-message = %v", got)
	}
}
