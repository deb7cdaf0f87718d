package sqssim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// FIFO queues, as the SQS API Reference (the SDK's sqs package renders it:
// CreateQueue, SendMessage, ReceiveMessage) and the Developer Guide
// ("Amazon SQS FIFO queues", "Exactly-once processing") describe them:
//
//   - FifoQueue is set at creation only ("You can't change it for an
//     existing queue") and the name must end with ".fifo"; the dead-letter
//     queue of a FIFO queue must be a FIFO queue, and that of a standard
//     queue a standard queue (Developer Guide, "Using dead-letter queues").
//   - Every message needs a MessageGroupId ("If you do not provide a
//     MessageGroupId when sending a message to a FIFO queue, the action
//     fails") and a MessageDeduplicationId, given or, with
//     ContentBasedDeduplication, "a SHA-256 hash ... using the body of the
//     message (but not the attributes of the message)"; without either the
//     send fails.
//   - A message whose deduplication id was accepted in the last 5 minutes
//     ("the 5-minute deduplication interval") is accepted and not
//     delivered; "Amazon SQS continues to keep track of the message
//     deduplication ID even after the message is received and deleted".
//     DeduplicationScope messageGroup makes the id count per group.
//   - "When you set FifoQueue, you can't set DelaySeconds per message. You
//     can set this parameter only on a queue level." A DelaySeconds of 0 is
//     accepted, as SQS accepts it (it is the SDKs' zero value).
//   - Messages of a group are received in the order sent, and "While
//     messages with a particular MessageGroupId are invisible, no more
//     messages belonging to the same MessageGroupId are returned until the
//     visibility timeout expires" (ReceiveMessage).
//   - Each message gets a SequenceNumber, "128 bits", increasing; the
//     local SQS numbers per queue, as 20 decimal digits.
//   - Delivery is exactly once: none of Strictness's looseness applies.
//
// Error codes and messages: MissingParameter and InvalidParameterValue are
// SQS's common errors; the messages are those SQS answers as clients
// report them (for example "The queue should either have
// ContentBasedDeduplication enabled or MessageDeduplicationId provided
// explicitly", InvalidParameterValue). The wording for a dead-letter queue
// of the other type is the emulator's.

// DeduplicationInterval is how long SQS remembers an accepted deduplication
// id, on the server clock.
const DeduplicationInterval = 5 * time.Minute

var (
	fifoNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,75}\.fifo$`)
	// MessageGroupId and MessageDeduplicationId: up to 128 "alphanumeric
	// characters (a-z, A-Z, 0-9) and punctuation (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~)".
	fifoTokenRE = regexp.MustCompile("^[A-Za-z0-9!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~]{1,128}$")
)

// fifoDefaults are the FIFO attributes' values when not given.
var fifoDefaults = map[string]string{
	"ContentBasedDeduplication": "false",
	"DeduplicationScope":        "queue",
	"FifoThroughputLimit":       "perQueue",
}

// checkQueueName validates a queue name for its type.
func checkQueueName(name string, fifo bool) *awsproto.Error {
	switch {
	case fifo && !fifoNameRE.MatchString(name):
		return invalidParameter("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
	case !fifo && !queueNameRE.MatchString(name):
		return invalidParameter("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	return nil
}

// checkFIFOAttributes validates the attributes only FIFO queues have: on a
// standard queue they are unknown; on a FIFO queue their values must be
// valid, and perMessageGroupId needs DeduplicationScope messageGroup.
func checkFIFOAttributes(fifo bool, current, attrs map[string]string) *awsproto.Error {
	valid := map[string][]string{
		"ContentBasedDeduplication": {"true", "false"},
		"DeduplicationScope":        {"messageGroup", "queue"},
		"FifoThroughputLimit":       {"perQueue", "perMessageGroupId"},
	}
	for name, values := range valid {
		v, ok := attrs[name]
		if !ok {
			continue
		}
		if !fifo {
			return awsproto.Errorf("InvalidAttributeName", "Unknown Attribute %s.", name)
		}
		if !contains(values, v) {
			return invalidAttributeValue(name, "Must be one of "+strings.Join(values, ", ")+".")
		}
	}
	if !fifo {
		return nil
	}
	scope, limit := or(attrs["DeduplicationScope"], current["DeduplicationScope"]), or(attrs["FifoThroughputLimit"], current["FifoThroughputLimit"])
	if limit == "perMessageGroupId" && scope != "messageGroup" {
		return invalidAttributeValue("FifoThroughputLimit", "The perMessageGroupId value is allowed only when the value for DeduplicationScope is messageGroup.")
	}
	return nil
}

// fifoState is what a FIFO queue keeps besides its messages.
type fifoState struct {
	// accepted maps deduplication keys to when their message was accepted.
	accepted map[string]acceptedMessage
	// seq is the last sequence number given.
	seq uint64
}

// acceptedMessage is a message a deduplication key stands for: a send of a
// duplicate answers its MessageId and SequenceNumber.
type acceptedMessage struct {
	at        time.Time
	messageID string
	sequence  string
}

// fifoSend is the FIFO part of a send: it refuses what a FIFO queue does
// not take, and finds the message a duplicate stands for (dup true).
func (q *queue) fifoSend(in *sendInput, now time.Time) (key string, dup acceptedMessage, isDup bool, err *awsproto.Error) {
	if in.DelaySeconds != nil && *in.DelaySeconds != 0 {
		return "", acceptedMessage{}, false, invalidParameter("Value %d for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.", *in.DelaySeconds)
	}
	if in.MessageGroupID == "" {
		return "", acceptedMessage{}, false, missing("MessageGroupId")
	}
	if !fifoTokenRE.MatchString(in.MessageGroupID) {
		return "", acceptedMessage{}, false, invalidParameter("Value %s for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.", in.MessageGroupID)
	}
	if in.MessageDeduplicationID == "" {
		if q.attrs["ContentBasedDeduplication"] != "true" {
			return "", acceptedMessage{}, false, invalidParameter("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		}
		sum := sha256.Sum256([]byte(in.MessageBody))
		in.MessageDeduplicationID = hex.EncodeToString(sum[:])
	} else if !fifoTokenRE.MatchString(in.MessageDeduplicationID) {
		return "", acceptedMessage{}, false, invalidParameter("Value %s for parameter MessageDeduplicationId is invalid. Reason: MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length.", in.MessageDeduplicationID)
	}
	key = in.MessageDeduplicationID
	if q.attrs["DeduplicationScope"] == "messageGroup" {
		key = in.MessageGroupID + "\x00" + key
	}
	for k, a := range q.fifo.accepted {
		if now.Sub(a.at) >= DeduplicationInterval {
			delete(q.fifo.accepted, k)
		}
	}
	if a, ok := q.fifo.accepted[key]; ok {
		return key, a, true, nil
	}
	return key, acceptedMessage{}, false, nil
}

// nextSequence is the queue's next SequenceNumber.
func (q *queue) nextSequence() string {
	q.fifo.seq++
	return fmt.Sprintf("%020d", q.fifo.seq)
}

// fifoVisible is the messages of FIFO queue q that a receive may take
// at now: of each group, the messages in the order sent, and none of a
// group while one of its messages is in flight.
func fifoVisible(q *queue, now time.Time) []*message {
	held := map[string]bool{}
	for _, m := range q.msgs {
		if m.receives > 0 && now.Before(m.visibleAt) {
			held[m.groupID] = true
		}
	}
	var out []*message
	for _, m := range q.msgs { // q.msgs is in the order sent
		if held[m.groupID] {
			continue
		}
		if now.Before(m.visibleAt) {
			// A delayed message holds back the rest of its group: they
			// were sent after it.
			held[m.groupID] = true
			continue
		}
		out = append(out, m)
	}
	return out
}

// IsFIFO reports whether a queue ARN names a FIFO queue.
func (s *Service) IsFIFO(queueARN string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[queueARN]
	return q != nil && q.fifo != nil
}
