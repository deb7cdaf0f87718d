package sqssim

import (
	"encoding/json"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// Strictness shapes the loose guarantees of standard queues when the
// service is strict (localaws.Options.Relax.SQS turns them off). A zero
// ratio takes its default; a negative one turns that behaviour off.
//
//   - At-least-once delivery: "On rare occasions, one of the servers that
//     stores a copy of a message might be unavailable when you receive or
//     delete a message. If this occurs, the copy of the message isn't deleted
//     on the server that is unavailable, and you might get that message copy
//     again when you receive messages." (Amazon SQS Developer Guide, "Amazon
//     SQS at-least-once delivery").
//   - Short polling: "a weighted random set of machines is sampled on a
//     ReceiveMessage call. Therefore, only the messages on the sampled
//     machines are returned. If the number of messages in the queue is small
//     (fewer than 1,000), you most likely get fewer messages than you
//     requested" (API Reference, ReceiveMessage).
//   - Order: "more than one copy of a message might be delivered, and
//     messages may occasionally arrive out of order" (Developer Guide,
//     "Amazon SQS standard queues").
type Strictness struct {
	// DuplicateRatio is the share of deletes that miss a copy (the message
	// comes back after its visibility timeout) and of receives that also
	// hand out a copy of a message in flight (default 0.02).
	DuplicateRatio float64 `json:"duplicateRatio"`
	// ShortPollMissRatio is the share of available messages a short poll
	// (WaitTimeSeconds 0) does not see (default 0.25).
	ShortPollMissRatio float64 `json:"shortPollMissRatio"`
	// Seed seeds the RNG (0: the seed given to New).
	Seed int64 `json:"seed"`
}

// Defaults of Strictness.
const (
	DefaultDuplicateRatio     = 0.02
	DefaultShortPollMissRatio = 0.25
)

func (o Strictness) resolved(seed int64) Strictness {
	out := Strictness{DuplicateRatio: awsproto.ResolveRatio(o.DuplicateRatio, DefaultDuplicateRatio),
		ShortPollMissRatio: awsproto.ResolveRatio(o.ShortPollMissRatio, DefaultShortPollMissRatio), Seed: o.Seed}
	if out.Seed == 0 {
		out.Seed = seed
	}
	return out
}

// Stats count what strictness did.
type Stats struct {
	// DuplicateReceives counts messages handed out again that had been
	// deleted, or that were in flight.
	DuplicateReceives int `json:"duplicateReceives"`
	// ShortPollMisses counts short polls that returned fewer messages than
	// they could have.
	ShortPollMisses int `json:"shortPollMisses"`
	// Redriven counts messages moved to a dead-letter queue.
	Redriven int `json:"redriven"`
}

// Depth is how many messages a queue holds, by state.
type Depth struct {
	Visible  int `json:"visible"`
	InFlight int `json:"inFlight"`
	Delayed  int `json:"delayed"`
}

// Service is SQS standard queues, per account and Region.
type Service struct {
	clock  awsproto.Clock
	strict bool
	opts   Strictness

	mu      sync.Mutex
	queues  map[string]*queue    // by queue ARN
	deleted map[string]time.Time // queue ARN -> when it was deleted
	rng     *rand.Rand
	stats   Stats
	// changed is closed (and replaced) whenever messages may have become
	// receivable, waking long polls.
	changed chan struct{}
	// closed ends every long poll (Close).
	closed    chan struct{}
	closeOnce sync.Once
	// creationDelay is how long a queue created by CreateQueue stays
	// unusable (see SetCreationDelay).
	creationDelay time.Duration
}

// DefaultCreationDelay is how long a new queue cannot be used: "After you
// create a queue, you must wait at least one second after the queue is
// created to be able to use the queue" (API Reference, CreateQueue).
const DefaultCreationDelay = time.Second

// SetCreationDelay sets how long, on the server clock, a queue created by
// CreateQueue answers AWS.SimpleQueueService.NonExistentQueue to the calls
// that use it (DefaultCreationDelay unless set; 0 turns it off). Queues
// created by Create (seeding, deploys) are there from the start.
func (s *Service) SetCreationDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creationDelay = d
}

// Close ends the long polls under way (they answer what they have); the
// queues stay.
func (s *Service) Close() { s.closeOnce.Do(func() { close(s.closed) }) }

// New is an empty SQS on clock c; strict turns on the behaviours of
// Strictness (opts, with seed when opts.Seed is 0).
func New(c awsproto.Clock, strict bool, opts Strictness, seed int64) *Service {
	o := opts.resolved(seed)
	return &Service{clock: c, strict: strict, opts: o, queues: map[string]*queue{}, deleted: map[string]time.Time{},
		rng: rand.New(rand.NewPCG(uint64(o.Seed), 0x737173)), changed: make(chan struct{}), closed: make(chan struct{}),
		creationDelay: DefaultCreationDelay}
}

// Strictness returns the options in force and whether the service is strict.
func (s *Service) Strictness() (Strictness, bool) { return s.opts, s.strict }

// Stats returns what strictness did so far.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Caller is who sends a call and where it arrived.
type Caller struct {
	// Endpoint is the scheme and host the call was sent to: queue URLs are
	// built on it so that they route back to this server.
	Endpoint string
	// SenderID is the SenderId of messages the caller sends: the account
	// for root credentials, "<role id>:<session>" for a role session.
	SenderID string
	// Gone, when set, is closed when the caller hung up: a long poll for
	// it ends.
	Gone <-chan struct{}
}

// QueueARN is the ARN of a queue.
func QueueARN(account, region, name string) string {
	return "arn:aws:sqs:" + region + ":" + account + ":" + name
}

// ParseQueueURL reads the account and name of a queue URL
// (<endpoint>/<account>/<name>); any host is accepted, as the queue URL
// names a queue of the Region the call is signed for.
func ParseQueueURL(u string) (account, name string, ok bool) {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	parts := strings.Split(u, "/")
	if len(parts) != 3 || len(parts[1]) != 12 || parts[2] == "" {
		return "", "", false
	}
	return parts[1], parts[2], true
}

// queueByURL finds the queue a call's QueueUrl names in the call's Region.
func (s *Service) queueByURLLocked(call *awsproto.Call, url string) (*queue, *awsproto.Error) {
	if url == "" {
		return nil, missing("QueueUrl")
	}
	account, name, ok := ParseQueueURL(url)
	if !ok {
		return nil, &awsproto.Error{Code: "InvalidAddress", Status: 404, Message: "The address " + url + " is not valid for this endpoint."}
	}
	q := s.queues[QueueARN(account, call.Region, name)]
	if q == nil || !s.usableLocked(q) {
		return nil, noQueue()
	}
	return q, nil
}

// usableLocked reports whether a queue's creation delay has passed.
func (s *Service) usableLocked(q *queue) bool {
	return !s.clock.Now().Before(q.usableAt)
}

// Handle answers one SQS call.
func (s *Service) Handle(call *awsproto.Call, from Caller) ([]byte, error) {
	type handler func(*awsproto.Call, Caller) (any, *awsproto.Error)
	handlers := map[string]handler{
		"CreateQueue":                  s.createQueue,
		"GetQueueUrl":                  s.getQueueURL,
		"GetQueueAttributes":           s.getQueueAttributes,
		"SetQueueAttributes":           s.setQueueAttributes,
		"DeleteQueue":                  s.deleteQueue,
		"PurgeQueue":                   s.purgeQueue,
		"ListQueues":                   s.listQueues,
		"SendMessage":                  s.sendMessage,
		"SendMessageBatch":             s.sendMessageBatch,
		"ReceiveMessage":               s.receiveMessage,
		"DeleteMessage":                s.deleteMessage,
		"DeleteMessageBatch":           s.deleteMessageBatch,
		"ChangeMessageVisibility":      s.changeMessageVisibility,
		"ChangeMessageVisibilityBatch": s.changeMessageVisibilityBatch,
	}
	h, ok := handlers[call.Action]
	if !ok {
		return nil, &awsproto.Error{Code: "InvalidAction", Status: 400, Message: "The action " + call.Action + " is not valid for this endpoint."}
	}
	out, err := h(call, from)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// Depth returns a queue's depth by ARN, or by URL (any host: the path
// names the account and queue), looked up in every Region.
func (s *Service) Depth(arnOrURL string) (Depth, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var q *queue
	if strings.HasPrefix(arnOrURL, "arn:") {
		q = s.queues[arnOrURL]
	} else if account, name, ok := ParseQueueURL(arnOrURL); ok {
		for _, arn := range sortedQueueARNs(s.queues) {
			if c := s.queues[arn]; c.account == account && c.name == name {
				q = c
				break
			}
		}
	}
	if q == nil {
		return Depth{}, false
	}
	now := s.clock.Now()
	s.expireLocked(q, now)
	return q.depth(now), true
}

// Depths returns every queue's depth by ARN.
func (s *Service) Depths() map[string]Depth {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	out := make(map[string]Depth, len(s.queues))
	for arn, q := range s.queues {
		s.expireLocked(q, now)
		out[arn] = q.depth(now)
	}
	return out
}

// Exists reports whether a queue ARN names a queue that can be used.
func (s *Service) Exists(arn string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[arn]
	return q != nil && s.usableLocked(q)
}

// notifyLocked wakes long polls.
func (s *Service) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func sortedQueueARNs(m map[string]*queue) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// queueRef is the QueueUrl by which a call names the queue it works on.
type queueRef struct {
	QueueURL string `json:"QueueUrl"`
}

func (r queueRef) url() string { return r.QueueURL }

// queueInput is the input of a call on one queue.
type queueInput interface{ url() string }

// onQueue is how every call on one queue starts: it decodes the call into
// an In, locks the service, finds the queue In's QueueUrl names in the
// call's Region, and runs fn on both with the lock held.
func onQueue[In queueInput](s *Service, call *awsproto.Call, fn func(*queue, In) (any, *awsproto.Error)) (any, *awsproto.Error) {
	var in In
	if err := call.DecodeJSON(&in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueByURLLocked(call, in.url())
	if err != nil {
		return nil, err
	}
	return fn(q, in)
}
