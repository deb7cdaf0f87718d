package pace

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// Bucket allows rate calls per second with bursts of burst: a token bucket
// (golang.org/x/time/rate) that a nil *Bucket turns off, so callers and
// tests without pacing need no branch.
type Bucket struct {
	limiter *rate.Limiter
}

// New returns a full bucket.
func New(perSecond float64, burst int) *Bucket {
	return &Bucket{limiter: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

// Wait blocks until a call may go, or ctx ends. It fails at once, without
// waiting, when the call could not go before ctx's deadline. A nil bucket
// never waits.
func (b *Bucket) Wait(ctx context.Context) error {
	if b == nil {
		return nil
	}
	return b.limiter.Wait(ctx)
}

// Sleep pauses for d, or until ctx ends (then it returns ctx's error): the
// pause before asking AWS again for what it shows late.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
