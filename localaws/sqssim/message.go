package sqssim

import (
	"bytes"
	"crypto/md5" //nolint:gosec // SQS's message digests are MD5 (API Reference, SendMessage: MD5OfMessageBody)
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

type message struct {
	id, body, bodyMD5, attrsMD5 string
	attrs                       map[string]messageAttribute
	senderID                    string
	// sourceQueue is the queue a redriven message came from.
	sourceQueue string
	// sent is the enqueue time, which retention counts from (also in a
	// dead-letter queue: "The expiration of a message is always based on
	// its original enqueue timestamp", Developer Guide, "Using dead-letter
	// queues").
	sent         time.Time
	visibleAt    time.Time
	receives     int
	firstReceive time.Time
	handle       string
	// ghost marks a copy that a delete missed (at-least-once delivery).
	ghost bool
	// groupID, dedupID and sequence are a FIFO queue message's
	// MessageGroupId, MessageDeduplicationId and SequenceNumber.
	groupID, dedupID, sequence string
}

// messageAttribute is a MessageAttributeValue on the wire.
type messageAttribute struct {
	DataType    string `json:"DataType"`
	StringValue string `json:"StringValue,omitempty"`
	BinaryValue []byte `json:"BinaryValue,omitempty"`
}

func (q *queue) depth(now time.Time) Depth {
	var d Depth
	for _, m := range q.msgs {
		switch {
		case !now.Before(m.visibleAt):
			d.Visible++
		case m.receives == 0:
			d.Delayed++
		default:
			d.InFlight++
		}
	}
	return d
}

// expireLocked drops the messages older than the queue's retention period.
func (s *Service) expireLocked(q *queue, now time.Time) {
	keep := q.msgs[:0]
	retention := time.Duration(q.intAttr("MessageRetentionPeriod")) * time.Second
	for _, m := range q.msgs {
		if now.Sub(m.sent) < retention {
			keep = append(keep, m)
		}
	}
	q.msgs = keep
}

func newMessageID() string {
	a, b := rand.Uint64(), rand.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", uint32(a>>32), uint16(a>>16), uint16(a)&0xfff, uint16(b>>48)&0x3fff|0x8000, b&0xffffffffffff)
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b) //nolint:gosec // see the import
	return hex.EncodeToString(sum[:])
}

// attributesMD5 is MD5OfMessageAttributes as SQS computes it: over the
// attributes sorted by name, each as its name, data type, transport type
// (1 string, 2 binary) and value, lengths as 4-byte big-endian integers
// (Developer Guide, "Calculating the MD5 message digest for message
// attributes").
func attributesMD5(attrs map[string]messageAttribute) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	put := func(v []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(v)))
		b.Write(v)
	}
	for _, n := range names {
		a := attrs[n]
		put([]byte(n))
		put([]byte(a.DataType))
		if strings.HasPrefix(a.DataType, "Binary") {
			b.WriteByte(2)
			put(a.BinaryValue)
		} else {
			b.WriteByte(1)
			put([]byte(a.StringValue))
		}
	}
	return md5Hex(b.Bytes())
}

var attributeNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)

// checkAttributes validates message attributes and returns their size.
func checkMessageAttributes(attrs map[string]messageAttribute) (int, *awsproto.Error) {
	if len(attrs) > 10 {
		return 0, invalidParameter("Number of message attributes [%d] exceeds the allowed maximum [10].", len(attrs))
	}
	size := 0
	for n, a := range attrs {
		low := strings.ToLower(n)
		if !attributeNameRE.MatchString(n) || strings.HasPrefix(low, "aws.") || strings.HasPrefix(low, "amazon.") ||
			strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".") || strings.Contains(n, "..") {
			return 0, invalidParameter("Message attribute name '%s' is invalid.", n)
		}
		base, _, _ := strings.Cut(a.DataType, ".")
		switch base {
		case "String", "Number":
			if a.StringValue == "" {
				return 0, invalidParameter("Message (user) attribute '%s' must contain a non-empty value of type '%s'.", n, base)
			}
			if base == "Number" {
				if _, err := strconv.ParseFloat(a.StringValue, 64); err != nil {
					return 0, invalidParameter("Can't cast the value of message (user) attribute '%s' to a number.", n)
				}
			}
		case "Binary":
			if len(a.BinaryValue) == 0 {
				return 0, invalidParameter("Message (user) attribute '%s' must contain a non-empty value of type 'Binary'.", n)
			}
		default:
			return 0, invalidParameter("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", n)
		}
		size += len(n) + len(a.DataType) + len(a.StringValue) + len(a.BinaryValue)
	}
	return size, nil
}

// checkBody refuses characters SQS does not accept: "#x9 | #xA | #xD |
// #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF" (SendMessage).
func checkBody(body string) *awsproto.Error {
	if body == "" {
		return missing("MessageBody")
	}
	for i, r := range body {
		ok := r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
		if r == utf8.RuneError && !strings.HasPrefix(body[i:], "\uFFFD") {
			ok = false
		}
		if !ok {
			return awsproto.Errorf("InvalidMessageContents", "Invalid binary character '#x%X' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF", r)
		}
	}
	return nil
}

type sendInput struct {
	queueRef
	ID                     string `json:"Id"`
	MessageBody            string
	DelaySeconds           *int
	MessageAttributes      map[string]messageAttribute
	MessageGroupID         string `json:"MessageGroupId"`
	MessageDeduplicationID string `json:"MessageDeduplicationId"`
}

type sendResult struct {
	ID                     string `json:"Id,omitempty"`
	MessageID              string `json:"MessageId"`
	MD5OfMessageBody       string
	MD5OfMessageAttributes string `json:",omitempty"`
	SequenceNumber         string `json:",omitempty"`
}

// sendLocked validates and enqueues one message.
func (s *Service) sendLocked(q *queue, in sendInput, senderID string, now time.Time) (sendResult, *awsproto.Error) {
	if err := checkBody(in.MessageBody); err != nil {
		return sendResult{}, err
	}
	attrSize, err := checkMessageAttributes(in.MessageAttributes)
	if err != nil {
		return sendResult{}, err
	}
	if limit := q.intAttr("MaximumMessageSize"); len(in.MessageBody)+attrSize > limit {
		return sendResult{}, invalidParameter("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", limit)
	}
	delay := q.intAttr("DelaySeconds")
	if in.DelaySeconds != nil {
		if *in.DelaySeconds < 0 || *in.DelaySeconds > 900 {
			return sendResult{}, invalidParameter("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", *in.DelaySeconds)
		}
		if q.fifo == nil {
			delay = *in.DelaySeconds
		}
	}
	m := &message{id: newMessageID(), body: in.MessageBody, bodyMD5: md5Hex([]byte(in.MessageBody)),
		attrs: in.MessageAttributes, attrsMD5: attributesMD5(in.MessageAttributes), senderID: senderID,
		sent: now, visibleAt: now.Add(time.Duration(delay) * time.Second)}
	if q.fifo == nil {
		for name, v := range map[string]string{"MessageGroupId": in.MessageGroupID, "MessageDeduplicationId": in.MessageDeduplicationID} {
			if v != "" {
				return sendResult{}, invalidParameter("Value %s for parameter %s is invalid. Reason: The request include parameter that is not valid for this queue type.", v, name)
			}
		}
	} else {
		key, dup, isDup, err := q.fifoSend(&in, now)
		if err != nil {
			return sendResult{}, err
		}
		if isDup {
			// Accepted, not delivered: the answer names the message it
			// duplicates.
			return sendResult{ID: in.ID, MessageID: dup.messageID, MD5OfMessageBody: m.bodyMD5, MD5OfMessageAttributes: m.attrsMD5, SequenceNumber: dup.sequence}, nil
		}
		m.groupID, m.dedupID, m.sequence = in.MessageGroupID, in.MessageDeduplicationID, q.nextSequence()
		q.fifo.accepted[key] = acceptedMessage{at: now, messageID: m.id, sequence: m.sequence}
	}
	q.msgs = append(q.msgs, m)
	s.notifyLocked()
	return sendResult{ID: in.ID, MessageID: m.id, MD5OfMessageBody: m.bodyMD5, MD5OfMessageAttributes: m.attrsMD5, SequenceNumber: m.sequence}, nil
}

func (s *Service) sendMessage(call *awsproto.Call, from Caller) (any, *awsproto.Error) {
	return onQueue(s, call, func(q *queue, in sendInput) (any, *awsproto.Error) {
		in.ID = ""
		return s.sendLocked(q, in, from.SenderID, s.clock.Now())
	})
}

// Send enqueues a message on behalf of an AWS service (an EventBridge
// target delivery), as SendMessage would, with string message attributes;
// the caller has authorized it.
func (s *Service) Send(queueARN, body, senderID string, attrs map[string]string) error {
	return s.SendToGroup(queueARN, "", body, senderID, attrs)
}

// SendToGroup is Send with a MessageGroupId (what an EventBridge target's
// SqsParameters give a FIFO queue; "" for none). An AWS service sends no
// MessageDeduplicationId: a FIFO queue must deduplicate by content.
func (s *Service) SendToGroup(queueARN, groupID, body, senderID string, attrs map[string]string) error {
	in := sendInput{MessageBody: body, MessageGroupID: groupID}
	if len(attrs) > 0 {
		in.MessageAttributes = map[string]messageAttribute{}
		for k, v := range attrs {
			if v == "" {
				continue
			}
			in.MessageAttributes[k] = messageAttribute{DataType: "String", StringValue: v}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[queueARN]
	if q == nil {
		return noQueue()
	}
	if _, err := s.sendLocked(q, in, senderID, s.clock.Now()); err != nil {
		return err
	}
	return nil
}

// batchError is an entry of a batch call's Failed list.
type batchError struct {
	ID          string `json:"Id"`
	Code        string `json:"Code"`
	Message     string `json:"Message"`
	SenderFault bool   `json:"SenderFault"`
}

const batchLimit = 1048576

var batchIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// checkBatch applies the rules every batch call shares.
func checkBatch(kind string, ids []string) *awsproto.Error {
	if len(ids) == 0 {
		return awsproto.Errorf("AWS.SimpleQueueService.EmptyBatchRequest", "There should be at least one %s in the request.", kind)
	}
	if len(ids) > 10 {
		return awsproto.Errorf("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "Maximum number of entries per request are 10. You have sent %d.", len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !batchIDRE.MatchString(id) {
			return awsproto.Errorf("AWS.SimpleQueueService.InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[id] {
			return awsproto.Errorf("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id %s repeated.", id)
		}
		seen[id] = true
	}
	return nil
}

type sendMessageBatchInput struct {
	queueRef
	Entries []sendInput
}

func (s *Service) sendMessageBatch(call *awsproto.Call, from Caller) (any, *awsproto.Error) {
	return onQueue(s, call, func(q *queue, in sendMessageBatchInput) (any, *awsproto.Error) {
		ids, total := make([]string, len(in.Entries)), 0
		for i, e := range in.Entries {
			ids[i] = e.ID
			total += len(e.MessageBody)
			for n, a := range e.MessageAttributes {
				total += len(n) + len(a.DataType) + len(a.StringValue) + len(a.BinaryValue)
			}
		}
		if err := checkBatch("SendMessageBatchRequestEntry", ids); err != nil {
			return nil, err
		}
		// "The total size of all messages sent in a single SendMessageBatch
		// call cannot exceed 1,048,576 bytes (1 MiB)" (Developer Guide, "Amazon
		// SQS batch actions").
		if total > batchLimit {
			return nil, awsproto.Errorf("AWS.SimpleQueueService.BatchRequestTooLong", "Batch requests cannot be longer than %d bytes. You have sent %d bytes.", batchLimit, total)
		}
		now := s.clock.Now()
		ok, failed := []sendResult{}, []batchError{}
		for _, e := range in.Entries {
			r, err := s.sendLocked(q, e, from.SenderID, now)
			if err != nil {
				failed = append(failed, batchError{ID: e.ID, Code: err.Code, Message: err.Message, SenderFault: true})
				continue
			}
			ok = append(ok, r)
		}
		return map[string]any{"Successful": ok, "Failed": failed}, nil
	})
}

// receiptHandle names one receive of one message of one queue.
func receiptHandle(queueARN, messageID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(queueARN + "\x00" + messageID + "\x00" + strconv.FormatUint(rand.Uint64(), 36)))
}

// parseHandle checks that a receipt handle is one of q's.
func parseHandle(q *queue, h string) *awsproto.Error {
	if h == "" {
		return missing("ReceiptHandle")
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	parts := strings.Split(string(b), "\x00")
	if err != nil || len(parts) != 3 || parts[0] != q.arn {
		return invalidHandle(h)
	}
	return nil
}

func (q *queue) byHandle(h string) *message {
	for _, m := range q.msgs {
		if m.handle == h {
			return m
		}
	}
	return nil
}

// deleteLocked deletes the message a receipt handle names. A handle that
// is not the message's latest, or of a message already deleted, deletes
// nothing and succeeds: "You must provide the most recently received
// receipt handle when you request to delete the message (otherwise, the
// request succeeds, but the message will not be deleted)" (API Reference,
// DeleteMessage). When strict, a delete sometimes misses a copy, which
// comes back after its visibility timeout (see Strictness).
func (s *Service) deleteLocked(q *queue, h string) *awsproto.Error {
	if err := parseHandle(q, h); err != nil {
		return err
	}
	m := q.byHandle(h)
	if m == nil {
		return nil
	}
	if s.strict && q.fifo == nil && s.rng.Float64() < s.opts.DuplicateRatio {
		m.ghost, m.handle = true, ""
		return nil
	}
	for i, x := range q.msgs {
		if x == m {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			break
		}
	}
	return nil
}

type deleteMessageInput struct {
	queueRef
	ReceiptHandle string
}

func (s *Service) deleteMessage(call *awsproto.Call, _ Caller) (any, *awsproto.Error) {
	return onQueue(s, call, func(q *queue, in deleteMessageInput) (any, *awsproto.Error) {
		if err := s.deleteLocked(q, in.ReceiptHandle); err != nil {
			return nil, err
		}
		return struct{}{}, nil
	})
}

type handleEntry struct {
	ID                string `json:"Id"`
	ReceiptHandle     string
	VisibilityTimeout *int
}

func (s *Service) deleteMessageBatch(call *awsproto.Call, _ Caller) (any, *awsproto.Error) {
	return s.handleBatch(call, "DeleteMessageBatchRequestEntry", func(q *queue, e handleEntry) *awsproto.Error {
		return s.deleteLocked(q, e.ReceiptHandle)
	})
}

func (s *Service) changeMessageVisibilityBatch(call *awsproto.Call, _ Caller) (any, *awsproto.Error) {
	return s.handleBatch(call, "ChangeMessageVisibilityBatchRequestEntry", func(q *queue, e handleEntry) *awsproto.Error {
		if e.VisibilityTimeout == nil {
			return missing("VisibilityTimeout")
		}
		return s.changeVisibilityLocked(q, e.ReceiptHandle, *e.VisibilityTimeout)
	})
}

type handleBatchInput struct {
	queueRef
	Entries []handleEntry
}

// handleBatch runs fn for each entry of a batch call on receipt handles.
func (s *Service) handleBatch(call *awsproto.Call, kind string, fn func(*queue, handleEntry) *awsproto.Error) (any, *awsproto.Error) {
	return onQueue(s, call, func(q *queue, in handleBatchInput) (any, *awsproto.Error) {
		ids := make([]string, len(in.Entries))
		for i, e := range in.Entries {
			ids[i] = e.ID
		}
		if err := checkBatch(kind, ids); err != nil {
			return nil, err
		}
		type okEntry struct {
			ID string `json:"Id"`
		}
		ok, failed := []okEntry{}, []batchError{}
		for _, e := range in.Entries {
			if err := fn(q, e); err != nil {
				failed = append(failed, batchError{ID: e.ID, Code: err.Code, Message: err.Message, SenderFault: true})
				continue
			}
			ok = append(ok, okEntry{e.ID})
		}
		return map[string]any{"Successful": ok, "Failed": failed}, nil
	})
}

// changeVisibilityLocked sets when an in-flight message becomes visible.
func (s *Service) changeVisibilityLocked(q *queue, h string, timeout int) *awsproto.Error {
	if err := parseHandle(q, h); err != nil {
		return err
	}
	if timeout < 0 || timeout > 43200 {
		return invalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.", timeout)
	}
	m := q.byHandle(h)
	now := s.clock.Now()
	if m == nil {
		return invalidParameter("Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", h)
	}
	if !now.Before(m.visibleAt) {
		return awsproto.Errorf("AWS.SimpleQueueService.MessageNotInflight", "Message not inflight.")
	}
	// "The maximum visibility timeout for a message is 12 hours from when
	// the message is first received" (ChangeMessageVisibility).
	if now.Add(time.Duration(timeout)*time.Second).Sub(m.firstReceive) > 12*time.Hour {
		return invalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]", timeout)
	}
	m.visibleAt = now.Add(time.Duration(timeout) * time.Second)
	if timeout == 0 {
		s.notifyLocked()
	}
	return nil
}

type changeMessageVisibilityInput struct {
	queueRef
	ReceiptHandle     string
	VisibilityTimeout *int
}

func (s *Service) changeMessageVisibility(call *awsproto.Call, _ Caller) (any, *awsproto.Error) {
	return onQueue(s, call, func(q *queue, in changeMessageVisibilityInput) (any, *awsproto.Error) {
		if in.VisibilityTimeout == nil {
			return nil, missing("VisibilityTimeout")
		}
		if err := s.changeVisibilityLocked(q, in.ReceiptHandle, *in.VisibilityTimeout); err != nil {
			return nil, err
		}
		return struct{}{}, nil
	})
}
