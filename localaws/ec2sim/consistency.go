package ec2sim

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Eventual consistency, as "Eventual consistency in the Amazon EC2 API"
// (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html)
// describes it: "the result of an API command you run that affects your
// Amazon EC2 resources might not be immediately visible to all subsequent
// commands you run ... if you run a command to modify or describe the
// resource that you just created, its ID might not have propagated
// throughout the system, and you will get an error responding that the
// resource does not exist." The document names InvalidGroup.NotFound after
// CreateSecurityGroup as an example.
//
// Each write draws, from a seeded RNG, the time at which it becomes
// visible: uniformly within the window after the write, on the Clock.
// Until then every read (the writer's included: AWS has no read-your-writes
// guarantee across calls) sees the state before the write:
//   - a just-created endpoint, security group or security group rule is
//     unknown by id (describes and mutations fail with its NotFound code)
//     and missing from filtered describes;
//   - tag changes, endpoint and connection state changes (accept, reject,
//     delete) and endpoint service permission changes show their previous
//     value; CreateVpcEndpoint by a principal just allowed fails with
//     InvalidServiceName.
//
// Versions of one value become visible in write order, so a reader never
// sees a value go back after it saw a newer one.

// Consistency configures eventual consistency. A zero Window turns it off
// (every read sees every write at once).
type Consistency struct {
	// Window is the longest time a write stays invisible.
	Window time.Duration
	// Seed seeds the RNG of visibility times, so a failure reproduces.
	Seed int64
}

type consistency struct {
	window time.Duration
	rng    *rand.Rand
	faults atomic.Int64
}

// SetConsistency turns eventual consistency on (Window > 0) or off. Writes
// made before the call stay as visible as they were.
func (s *Service) SetConsistency(c Consistency) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cons.window = max(c.Window, 0)
	s.cons.rng = rand.New(rand.NewPCG(uint64(c.Seed), 0x636f6e73))
}

// ConsistencyWindow is the longest a write stays invisible (zero: reads
// see every write at once): how far a test moves the clock to read what
// it wrote.
func (s *Service) ConsistencyWindow() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cons.window
}

// ConsistencyFaults is how many calls were answered with state older than
// the truth (a resource unknown or omitted, a stale tag set, state or
// permission), since the service was made or ResetConsistencyFaults.
func (s *Service) ConsistencyFaults() int64 { return s.cons.faults.Load() }

// ResetConsistencyFaults zeroes the counter of ConsistencyFaults.
func (s *Service) ResetConsistencyFaults() { s.cons.faults.Store(0) }

// visibleFrom is when a write made now becomes visible to reads. It draws
// from the RNG, so it must be called with the write lock held.
func (o *op) visibleFrom() time.Time {
	c := &o.s.cons
	if c.window <= 0 || c.rng == nil {
		return o.now
	}
	return o.now.Add(time.Duration(c.rng.Int64N(int64(c.window)) + 1))
}

// sees reports whether a write visible from t is visible to this call,
// recording a consistency fault when it is not.
func (o *op) sees(t time.Time) bool {
	if o.now.Before(t) {
		o.stale = true
		return false
	}
	return true
}

// history is the recent versions of a value that changes by API, each with
// the time from which reads see it. Empty means reads see the current
// value (nothing was written while consistency was on).
type history[T any] []version[T]

type version[T any] struct {
	from time.Time
	v    T
}

// record adds after, the value written now, visible from the later of from
// and the previous version's time (before is the value it replaces, kept as
// the first version when the history is empty), and forgets versions no
// read can see any more.
func (h *history[T]) record(now, from time.Time, before, after T) {
	if len(*h) == 0 {
		*h = append(*h, version[T]{time.Time{}, before})
	}
	if n := len(*h); from.Before((*h)[n-1].from) {
		from = (*h)[n-1].from
	}
	*h = append(*h, version[T]{from, after})
	keep := 0
	for i, ver := range *h {
		if !now.Before(ver.from) {
			keep = i
		}
	}
	*h = (*h)[keep:]
}

// at is the value reads see at now: the newest version visible by then,
// current when none was recorded.
// stale reports that the value seen is not the newest.
func (h history[T]) at(now time.Time, current T) (v T, stale bool) {
	if len(h) == 0 {
		return current, false
	}
	for i := len(h) - 1; i > 0; i-- {
		if !now.Before(h[i].from) {
			return h[i].v, i != len(h)-1
		}
	}
	return h[0].v, len(h) > 1
}

// seen returns what this call sees of a value with history h, recording a
// consistency fault when it is stale.
func seen[T any](o *op, h history[T], current T) T {
	v, stale := h.at(o.now, current)
	if stale {
		o.stale = true
	}
	return v
}

// tagLog is the history of a resource's tag set.
type tagLog = history[map[string]string]

// filterSeen applies filters to a resource as this call sees it: its tags
// from log (current: its tags now). It returns the tags to show and whether
// the resource matches, and records a consistency fault when the stale tags
// are shown or hide the resource.
func (o *op) filterSeen(fs []filter, log tagLog, current map[string]string, field fieldFunc) (map[string]string, bool) {
	tags, stale := log.at(o.now, current)
	ok := matches(fs, tags, field)
	if stale && (ok || matches(fs, current, field)) {
		o.stale = true
	}
	return tags, ok
}
