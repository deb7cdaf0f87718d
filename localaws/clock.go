package localaws

import (
	"sync"
	"time"
)

// Clock is the local AWS's time. It follows the wall clock until a test
// sets it; from then on it only moves when advanced, so endpoint state
// transitions, session expiry and token buckets are deterministic.
type Clock struct {
	mu     sync.Mutex
	frozen bool
	now    time.Time
	// skipped is how far a running clock is ahead of the wall clock.
	skipped time.Duration
}

// Now returns the current local AWS time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen {
		return time.Now().UTC().Add(c.skipped)
	}
	return c.now
}

// Skip moves the clock forward by d and leaves it as it was: a running
// clock keeps running, d ahead of before; a stopped one stays stopped.
// Tests use it to let time pass (a consistency window, a schedule) without
// stopping what runs on the clock.
func (c *Clock) Skip(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		c.now = c.now.Add(d)
		return c.now
	}
	c.skipped += d
	return time.Now().UTC().Add(c.skipped)
}

// Set stops the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen, c.now = true, t.UTC()
}

// Advance moves the clock forward by d, stopping it first at the current
// wall time if it was running.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen {
		c.frozen, c.now = true, time.Now().UTC().Add(c.skipped)
	}
	c.now = c.now.Add(d)
	return c.now
}

// Real makes the clock follow the wall clock again.
func (c *Clock) Real() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen, c.skipped = false, 0
}

// Frozen reports whether the clock is stopped.
func (c *Clock) Frozen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frozen
}
