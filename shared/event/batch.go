package event

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
)

// SourceSQS is the eventSource of the records Lambda's event source
// mapping hands a function polling an SQS queue.
const SourceSQS = "aws:sqs"

// FollowUpAttribute is the message attribute of a follow-up the onboard
// function sends itself: how many follow-ups of the VPC came before it
// (see Hint.FollowUp).
const FollowUpAttribute = "follow-up"

// Message is one record of an SQS batch: its message id (what a partial
// batch response names when the record must be handed out again) and its
// body decoded as a single onboard event (Decode), or why it could not be.
type Message struct {
	ID     string
	Result Result
	Err    error
	// ReceiptHandle and Receives (SQS's ApproximateReceiveCount, 1 for the
	// first) let the function hand a failed message back sooner than its
	// visibility timeout.
	ReceiptHandle string
	Receives      int
}

// IsBatch reports whether payload is an SQS batch: a Records list whose
// first record comes from SQS. Records from SNS are the accept function's.
func IsBatch(payload []byte) bool {
	var probe struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
	}
	return json.Unmarshal(payload, &probe) == nil && len(probe.Records) > 0 && probe.Records[0].EventSource == SourceSQS
}

// DecodeBatch decodes the onboard function's SQS batch: every record must
// come from SQS and carry a message id (a batch that does not is
// malformed as a whole, since a partial batch response could not name its
// records), a message received twice counts once, and each body is
// decoded as Decode decodes a direct event.
// The onboard queue carries the hub rules' EventBridge events and the
// function's own follow-ups, which are re-drive requests
// ({"account","region","vpcId"}) with the FollowUpAttribute attribute.
func (d Decoder) DecodeBatch(payload []byte) ([]Message, error) {
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, &MalformedError{Reason: "SQS batch: " + err.Error()}
	}
	if len(ev.Records) == 0 {
		return nil, &MalformedError{Reason: "SQS batch has no records"}
	}
	out := make([]Message, 0, len(ev.Records))
	seen := map[string]bool{}
	for i, r := range ev.Records {
		switch {
		case r.EventSource != SourceSQS:
			return nil, &MalformedError{Reason: fmt.Sprintf("record %d of the SQS batch has eventSource %q, want %s", i, r.EventSource, SourceSQS)}
		case r.MessageId == "":
			return nil, &MalformedError{Reason: fmt.Sprintf("record %d of the SQS batch has no messageId", i)}
		case seen[r.MessageId]:
			// A standard queue may hand a message out twice, and Lambda's
			// poller may put both receipts in one batch: one is enough.
			continue
		}
		seen[r.MessageId] = true
		res, err := d.Decode([]byte(r.Body))
		if err == nil {
			err = followUps(r, res.Hints)
		}
		receives, _ := strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
		out = append(out, Message{ID: r.MessageId, Result: res, Err: err, ReceiptHandle: r.ReceiptHandle, Receives: max(receives, 1)})
	}
	return out, nil
}

// followUps sets the follow-up count the record's attribute carries on
// its hints (a follow-up is a re-drive: one hint).
func followUps(r events.SQSMessage, hints []Hint) error {
	a, ok := r.MessageAttributes[FollowUpAttribute]
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(derefString(a.StringValue))
	if err != nil || n < 0 {
		return &MalformedError{Reason: fmt.Sprintf("message %s has %s attribute %q, want a count", r.MessageId, FollowUpAttribute, derefString(a.StringValue))}
	}
	for i := range hints {
		hints[i].FollowUp = n
	}
	return nil
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
