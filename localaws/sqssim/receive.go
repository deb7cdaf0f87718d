package sqssim

import (
	"strconv"
	"strings"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

type receiveInput struct {
	queueRef
	AttributeNames              []string
	MessageSystemAttributeNames []string
	MessageAttributeNames       []string
	MaxNumberOfMessages         *int
	VisibilityTimeout           *int
	WaitTimeSeconds             *int
}

func (in receiveInput) check() *awsproto.Error {
	if n := in.MaxNumberOfMessages; n != nil && (*n < 1 || *n > 10) {
		return invalidParameter("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", *n)
	}
	if w := in.WaitTimeSeconds; w != nil && (*w < 0 || *w > 20) {
		return invalidParameter("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", *w)
	}
	if v := in.VisibilityTimeout; v != nil && (*v < 0 || *v > 43200) {
		return invalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.", *v)
	}
	return nil
}

type wireMessage struct {
	MessageID              string                      `json:"MessageId"`
	ReceiptHandle          string                      `json:"ReceiptHandle"`
	MD5OfBody              string                      `json:"MD5OfBody"`
	Body                   string                      `json:"Body"`
	Attributes             map[string]string           `json:"Attributes,omitempty"`
	MD5OfMessageAttributes string                      `json:"MD5OfMessageAttributes,omitempty"`
	MessageAttributes      map[string]messageAttribute `json:"MessageAttributes,omitempty"`
}

// pollInterval is how often a long poll looks again for messages that
// became visible by the passing of time (a delay or a visibility timeout
// ending) rather than by a call.
const pollInterval = 20 * time.Millisecond

// receiveMessage hands out up to MaxNumberOfMessages visible messages. A
// long poll (WaitTimeSeconds, or the queue's ReceiveMessageWaitTimeSeconds,
// above 0) waits until one is there or the wait is over, on the wall clock
// or the server clock, whichever passes it first (a test may hold the
// server clock still, or move it on), or until the caller hangs up or the
// service closes.
func (s *Service) receiveMessage(call *awsproto.Call, from Caller) (any, *awsproto.Error) {
	var in receiveInput
	if err := call.DecodeJSON(&in); err != nil {
		return nil, err
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	wallStart, clockStart := time.Now(), s.clock.Now()
	for {
		s.mu.Lock()
		q, err := s.queueByURLLocked(call, in.QueueURL)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		wait := q.intAttr("ReceiveMessageWaitTimeSeconds")
		if in.WaitTimeSeconds != nil {
			wait = *in.WaitTimeSeconds
		}
		out := s.takeLocked(q, in, wait == 0)
		changed := s.changed
		s.mu.Unlock()
		limit := time.Duration(wait) * time.Second
		if len(out) > 0 || time.Since(wallStart) >= limit || s.clock.Now().Sub(clockStart) >= limit {
			if len(out) == 0 {
				return struct{}{}, nil
			}
			return map[string]any{"Messages": out}, nil
		}
		select {
		case <-changed:
		case <-time.After(pollInterval):
		case <-from.Gone:
			return struct{}{}, nil
		case <-s.closed:
			return struct{}{}, nil
		}
	}
}

// takeLocked receives messages of q: redrives those received too often,
// samples when short polling, and makes the rest in flight.
func (s *Service) takeLocked(q *queue, in receiveInput, short bool) []wireMessage {
	now := s.clock.Now()
	s.expireLocked(q, now)
	limit := 1
	if in.MaxNumberOfMessages != nil {
		limit = *in.MaxNumberOfMessages
	}
	visibility := q.intAttr("VisibilityTimeout")
	if in.VisibilityTimeout != nil {
		visibility = *in.VisibilityTimeout
	}
	got := s.pickLocked(q, s.visibleLocked(q, now), limit, short, now)
	// One chance of a copy per answer: a long poll takes every 20 ms until
	// it has messages, and a chance on each of those looks would hand out
	// copies far more often than DuplicateRatio says.
	if s.strict && q.fifo == nil && len(got) < limit && (short || len(got) > 0) && s.rng.Float64() < s.opts.DuplicateRatio {
		if c := s.copyInFlightLocked(q, now, got); c != nil {
			got = append(got, c)
		}
	}
	out := make([]wireMessage, 0, len(got))
	for _, m := range got {
		s.receiveLocked(q, m, now, visibility)
		out = append(out, m.wire(in))
	}
	return out
}

// visibleLocked is the messages of q visible at now, in no order when
// strict: "messages may occasionally arrive out of order"; a FIFO queue's
// in order, as fifoVisible says.
func (s *Service) visibleLocked(q *queue, now time.Time) []*message {
	if q.fifo != nil {
		return fifoVisible(q, now)
	}
	var candidates []*message
	for _, m := range q.msgs {
		if !now.Before(m.visibleAt) {
			candidates = append(candidates, m)
		}
	}
	if s.strict {
		s.rng.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	}
	return candidates
}

// pickLocked takes up to limit of candidates: it redrives those received
// maxReceiveCount times and, when short polling a strict queue, skips some
// as a short poll that samples only some servers would.
func (s *Service) pickLocked(q *queue, candidates []*message, limit int, short bool, now time.Time) []*message {
	var got []*message
	missed := false
	for _, m := range candidates {
		if len(got) == limit {
			break
		}
		if q.redrive != nil && m.receives >= q.redrive.MaxReceiveCount && s.redriveLocked(q, m, now) {
			continue
		}
		if short && s.strict && q.fifo == nil && s.rng.Float64() < s.opts.ShortPollMissRatio {
			missed = true
			continue
		}
		got = append(got, m)
	}
	if missed && len(got) < limit {
		s.stats.ShortPollMisses++
	}
	return got
}

// receiveLocked makes m in flight for visibility seconds under a new
// receipt handle, counting a copy's first receive as a duplicate.
func (s *Service) receiveLocked(q *queue, m *message, now time.Time, visibility int) {
	if m.ghost {
		m.ghost = false
		s.stats.DuplicateReceives++
	}
	m.receives++
	if m.firstReceive.IsZero() {
		m.firstReceive = now
	}
	m.visibleAt = now.Add(time.Duration(visibility) * time.Second)
	m.handle = receiptHandle(q.arn, m.id)
}

// copyInFlightLocked is a copy of an in-flight message, from a server whose
// copy was not marked in flight: it is received now as well (see
// Strictness). The copy has its own receipt handle and visibility.
func (s *Service) copyInFlightLocked(q *queue, now time.Time, skip []*message) *message {
	for _, m := range q.msgs {
		if now.Before(m.visibleAt) && m.receives > 0 && !containsMessage(skip, m) {
			c := *m
			c.ghost, c.visibleAt = false, now
			q.msgs = append(q.msgs, &c)
			s.stats.DuplicateReceives++
			return &c
		}
	}
	return nil
}

func containsMessage(l []*message, m *message) bool {
	for _, x := range l {
		if x == m {
			return true
		}
	}
	return false
}

// redriveLocked moves a message received maxReceiveCount times to the
// dead-letter queue: "When the ReceiveCount for a message exceeds the
// maxReceiveCount for a queue, Amazon SQS moves the message to the
// dead-letter-queue" (CreateQueue, RedrivePolicy). It stays where it is when
// the dead-letter queue was deleted since.
func (s *Service) redriveLocked(q *queue, m *message, now time.Time) bool {
	dlq := s.queues[q.redrive.DeadLetterTargetArn]
	if dlq == nil {
		return false
	}
	for i, x := range q.msgs {
		if x == m {
			q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
			break
		}
	}
	moved := *m
	moved.receives, moved.firstReceive, moved.handle, moved.ghost = 0, time.Time{}, "", false
	moved.visibleAt, moved.sourceQueue = now, q.arn
	dlq.msgs = append(dlq.msgs, &moved)
	s.stats.Redriven++
	return true
}

// wire is a received message as ReceiveMessage answers it, with the
// system and message attributes the call asked for.
func (m *message) wire(in receiveInput) wireMessage {
	w := wireMessage{MessageID: m.id, ReceiptHandle: m.handle, MD5OfBody: m.bodyMD5, Body: m.body}
	system := map[string]string{
		"ApproximateReceiveCount":          strconv.Itoa(m.receives),
		"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstReceive.UnixMilli(), 10),
		"SenderId":                         m.senderID,
	}
	if m.sourceQueue != "" {
		system["DeadLetterQueueSourceArn"] = m.sourceQueue
	}
	if m.sequence != "" {
		system["MessageGroupId"], system["MessageDeduplicationId"], system["SequenceNumber"] = m.groupID, m.dedupID, m.sequence
	}
	for _, n := range append(append([]string{}, in.AttributeNames...), in.MessageSystemAttributeNames...) {
		if n == "All" {
			w.Attributes = system
			break
		}
		if v, ok := system[n]; ok {
			if w.Attributes == nil {
				w.Attributes = map[string]string{}
			}
			w.Attributes[n] = v
		}
	}
	for n, a := range m.attrs {
		if wanted(in.MessageAttributeNames, n) {
			if w.MessageAttributes == nil {
				w.MessageAttributes = map[string]messageAttribute{}
			}
			w.MessageAttributes[n] = a
		}
	}
	if len(w.MessageAttributes) > 0 {
		w.MD5OfMessageAttributes = attributesMD5(w.MessageAttributes)
	}
	return w
}

// wanted matches a message attribute name against MessageAttributeNames:
// "All" or ".*" for all, "prefix.*" for a prefix, or the name itself.
func wanted(names []string, n string) bool {
	for _, p := range names {
		switch {
		case p == "All" || p == ".*":
			return true
		case strings.HasSuffix(p, ".*") && strings.HasPrefix(n, strings.TrimSuffix(p, "*")):
			return true
		case p == n:
			return true
		}
	}
	return false
}
