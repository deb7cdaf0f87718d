package eventsim

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// DeliveryOptions shape how the local AWS delivers events to rule targets
// and SNS messages to topic subscribers when delivery is strict (the
// default; localaws.Options.Relax.Delivery turns all of it off). A zero field takes
// its default; a negative one turns that behaviour off.
//
// What AWS promises, and so what the product must survive:
//   - EventBridge delivers to targets at least once, retrying with
//     exponential back-off and jitter for up to 24 hours ("How EventBridge
//     retries delivering events",
//     https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html),
//     and Lambda's asynchronous queue may hand a function "the same event
//     ... multiple times" even when nothing failed
//     (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html):
//     duplicates, in any order, late.
//   - "Tag Change on Resource" (aws.tag) has delivery type "Best effort": "in
//     some rare cases an event might not be delivered"
//     (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-tag.html,
//     https://docs.aws.amazon.com/eventbridge/latest/ref/event-delivery-level.html).
//   - "AWS API Call via CloudTrail" events come through CloudTrail, to which
//     "AWS services deliver events ... on a best effort basis"
//     (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-cloudtrail.html);
//     no latency is documented for EventBridge, and CloudTrail's own log
//     delivery is "an average of about 5 minutes ... not guaranteed"
//     (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/get-and-view-cloudtrail-log-files.html).
//     They arrive after the service's own events, sometimes much later.
//   - SNS standard topics deliver at least once with best-effort ordering
//     (https://docs.aws.amazon.com/sns/latest/dg/fifo-message-delivery.html
//     contrasts them with FIFO topics), and SNS invokes Lambda asynchronously.
//
// Delays run on the real (wall) clock, not the server clock: they model
// transport, the subscribers are real processes (Lambda emulators) that run
// on wall time, and a test that freezes the server clock would otherwise
// never see its events. Flush waits for delayed deliveries.
type DeliveryOptions struct {
	// DuplicateRatio is the share of target deliveries and SNS messages
	// delivered twice, each copy with its own delay (default 0.1).
	DuplicateRatio float64 `json:"duplicateRatio"`
	// DropTagRatio is the share of aws.tag events lost before they reach
	// the default bus (default 0.1).
	DropTagRatio float64 `json:"dropTagRatio"`
	// MaxDelay bounds the random delay of every target delivery and SNS
	// message, which also reorders them (default 200ms).
	MaxDelay time.Duration `json:"maxDelay"`
	// CloudTrailDelay bounds how late a CloudTrail event reaches its
	// default bus after the call (default 1s).
	CloudTrailDelay time.Duration `json:"cloudTrailDelay"`
	// Seed seeds the delivery RNG; 0 uses the seed given to Resolved
	// (localaws.Options.Seed). Decisions are drawn in emission order, so a
	// run is reproducible when its events are emitted in the same order
	// (one caller at a time); concurrent callers interleave the draws.
	Seed int64 `json:"seed"`
}

// Defaults of DeliveryOptions.
const (
	DefaultDuplicateRatio  = 0.1
	DefaultDropTagRatio    = 0.1
	DefaultMaxDelay        = 200 * time.Millisecond
	DefaultCloudTrailDelay = time.Second
)

// Resolved fills in the defaults and turns negative values off; a zero
// Seed takes seed.
func (o DeliveryOptions) Resolved(seed int64) DeliveryOptions {
	out := DeliveryOptions{
		DuplicateRatio:  awsproto.ResolveRatio(o.DuplicateRatio, DefaultDuplicateRatio),
		DropTagRatio:    awsproto.ResolveRatio(o.DropTagRatio, DefaultDropTagRatio),
		MaxDelay:        awsproto.ResolveDuration(o.MaxDelay, DefaultMaxDelay),
		CloudTrailDelay: awsproto.ResolveDuration(o.CloudTrailDelay, DefaultCloudTrailDelay),
		Seed:            o.Seed,
	}
	if out.Seed == 0 {
		out.Seed = seed
	}
	return out
}

// DeliveryStats count what strict delivery did, so a suite can report
// which of AWS's delivery behaviours it exercised.
type DeliveryStats struct {
	// Delivered counts target deliveries and SNS messages handed to
	// subscribers, copies included.
	Delivered int `json:"delivered"`
	// Duplicated counts the extra copies.
	Duplicated int `json:"duplicated"`
	// Delayed counts deliveries held back by a random delay.
	Delayed int `json:"delayed"`
	// Reordered counts deliveries that reached a target after a later
	// message to the same target had.
	Reordered int `json:"reordered"`
	// DroppedTagEvents counts aws.tag events lost before their bus.
	DroppedTagEvents int `json:"droppedTagEvents"`
	// LateCloudTrailEvents counts CloudTrail events put on their bus late.
	LateCloudTrailEvents int `json:"lateCloudTrailEvents"`
}

// delivery is one callback the dispatcher runs. A target delivery (a rule
// target or a topic subscriber) is subject to at-least-once delivery; an
// observation (a Watch on a bus) is not: it is the test's view of the bus.
type delivery struct {
	target  string // the rule target or topic ARN, for reorder counting
	observe bool
	fn      func()
}

// dispatcher runs deliveries outside every lock of the local AWS, so a
// subscriber may call back into it. Observations, and every delivery when
// delivery is relaxed, run in order on one worker goroutine; strict target
// deliveries run on timers, each on its own goroutine.
type dispatcher struct {
	log    *slog.Logger
	strict bool
	opts   DeliveryOptions

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []func()
	busy    bool
	timers  map[*time.Timer]bool // scheduled, not fired
	running int                  // timer callbacks running
	closed  bool
	stopped chan struct{}

	rng   *rand.Rand
	seq   map[string]uint64 // last sequence number given per target
	seen  map[string]uint64 // highest sequence number delivered per target
	stats DeliveryStats
}

func newDispatcher(log *slog.Logger, strict bool, opts DeliveryOptions) *dispatcher {
	d := &dispatcher{log: log, strict: strict, opts: opts, timers: map[*time.Timer]bool{}, stopped: make(chan struct{}),
		rng: rand.New(rand.NewPCG(uint64(opts.Seed), 0x64656c6976657279)), seq: map[string]uint64{}, seen: map[string]uint64{}}
	d.cond = sync.NewCond(&d.mu)
	go d.work()
	return d
}

func (d *dispatcher) work() {
	defer close(d.stopped)
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		for len(d.queue) == 0 && !d.closed {
			d.busy = false
			d.cond.Broadcast()
			d.cond.Wait()
		}
		if len(d.queue) == 0 {
			d.busy = false
			d.cond.Broadcast()
			return
		}
		fn := d.queue[0]
		d.queue = d.queue[1:]
		d.busy = true
		d.mu.Unlock()
		d.run(fn)
		d.mu.Lock()
	}
}

func (d *dispatcher) run(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("event subscriber panicked", "panic", fmt.Sprint(r))
		}
	}()
	fn()
}

// dispatch runs ds: observations in order at once; target deliveries in
// order at once when relaxed, else each after a random delay and some
// twice.
func (d *dispatcher) dispatch(ds []delivery) {
	if len(ds) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	for _, x := range ds {
		if x.observe || !d.strict {
			d.queue = append(d.queue, x.fn)
			d.busy = true
			continue
		}
		// Three draws per delivery whatever they decide, so one event's
		// fate does not shift the next one's.
		dup, first, second := d.rng.Float64(), d.rng.Float64(), d.rng.Float64()
		d.seq[x.target]++
		n := d.seq[x.target]
		d.scheduleLocked(d.jitter(first), d.deliverFn(x, n))
		if dup < d.opts.DuplicateRatio {
			d.stats.Duplicated++
			d.scheduleLocked(d.jitter(second), d.deliverFn(x, n))
		}
	}
	d.cond.Broadcast()
}

func (d *dispatcher) jitter(u float64) time.Duration {
	delay := time.Duration(u * float64(d.opts.MaxDelay))
	if delay > 0 {
		d.stats.Delayed++
	}
	return delay
}

// deliverFn wraps a target delivery with its counting.
func (d *dispatcher) deliverFn(x delivery, n uint64) func() {
	return func() {
		d.mu.Lock()
		d.stats.Delivered++
		if n < d.seen[x.target] {
			d.stats.Reordered++
		} else {
			d.seen[x.target] = n
		}
		d.mu.Unlock()
		x.fn()
	}
}

// scheduleLocked runs fn on its own goroutine after delay. Call with d.mu
// held: the timer's callback cannot run before it is registered.
func (d *dispatcher) scheduleLocked(delay time.Duration, fn func()) {
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		d.mu.Lock()
		if !d.timers[t] { // cancelled by close
			d.mu.Unlock()
			return
		}
		delete(d.timers, t)
		d.running++
		d.mu.Unlock()
		d.run(fn)
		d.mu.Lock()
		d.running--
		d.cond.Broadcast()
		d.mu.Unlock()
	})
	d.timers[t] = true
}

// serviceEvent decides the fate of an AWS service event on its way to the
// default bus: lost (aws.tag, best effort), late (CloudTrail) or at once.
func (d *dispatcher) serviceEvent(source, detailType string) (drop bool, late time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.strict {
		return false, 0
	}
	switch {
	case source == "aws.tag":
		if d.rng.Float64() < d.opts.DropTagRatio {
			d.stats.DroppedTagEvents++
			return true, 0
		}
	case detailType == "AWS API Call via CloudTrail":
		late = time.Duration(d.rng.Float64() * float64(d.opts.CloudTrailDelay))
		if late > 0 {
			d.stats.LateCloudTrailEvents++
		}
	}
	return false, late
}

// later runs fn after delay (counted by flush).
func (d *dispatcher) later(delay time.Duration, fn func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.scheduleLocked(delay, fn)
	}
}

func (d *dispatcher) idleLocked() bool {
	return len(d.queue) == 0 && !d.busy && len(d.timers) == 0 && d.running == 0
}

// flush waits until every queued, delayed and running delivery is done, or
// the timeout passes; it reports whether everything was delivered.
func (d *dispatcher) flush(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		d.mu.Lock()
		for !d.idleLocked() && !d.closed {
			d.cond.Wait()
		}
		d.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		// Wake the waiter so it can see it is no longer wanted at the next
		// change; it exits when the dispatcher goes idle or closes.
		return false
	}
}

// close runs what is queued in order, cancels what is delayed and waits
// for running deliveries.
func (d *dispatcher) close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	for t := range d.timers {
		t.Stop()
	}
	d.timers = map[*time.Timer]bool{}
	d.cond.Broadcast()
	for d.running > 0 {
		d.cond.Wait()
	}
	d.mu.Unlock()
	<-d.stopped
}

func (d *dispatcher) statsSnapshot() DeliveryStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

func (d *dispatcher) resetStats() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats = DeliveryStats{}
}
