package pace_test

import (
	"context"
	"testing"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/pace"
)

func TestBucketAllowsBurstThenPaces(t *testing.T) {
	ctx := context.Background()
	b := pace.New(50, 3)
	start := time.Now()
	for range 3 {
		if err := b.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	burst := time.Since(start)
	for range 5 {
		if err := b.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Five calls beyond the burst at 50 per second take at least 100 ms
	// (only a lower bound: a loaded machine may be slower, never faster).
	if paced := time.Since(start) - burst; paced < 90*time.Millisecond {
		t.Errorf("5 calls after the burst took %s at 50/s, want at least 100ms", paced)
	}
}

func TestBucketRefuses(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"context already over", func() (context.Context, context.CancelFunc) {
			c, cancel := context.WithCancel(ctx)
			cancel()
			return c, cancel
		}},
		{"deadline before the next token", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Second)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			slow := pace.New(0.001, 1) // one call, then the next in 1000 s
			if err := slow.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			c, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			if err := slow.Wait(c); err == nil {
				t.Fatal("an empty bucket let a call through")
			}
			if took := time.Since(start); took > 500*time.Millisecond {
				t.Errorf("refusing took %s, want at once", took)
			}
		})
	}
}

func TestNilBucketNeverWaits(t *testing.T) {
	var b *pace.Bucket
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(done); err != nil {
		t.Fatalf("a nil bucket refused: %v", err)
	}
}

func TestSleep(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name    string
		ctx     context.Context
		d       time.Duration
		wantErr bool
		atLeast time.Duration
	}{
		{"pauses", context.Background(), 20 * time.Millisecond, false, 20 * time.Millisecond},
		{"zero does not pause", context.Background(), 0, false, 0},
		{"an ended context ends it at once", cancelled, time.Hour, true, 0},
		{"an ended context, zero pause", cancelled, 0, true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			err := pace.Sleep(c.ctx, c.d)
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want error: %v", err, c.wantErr)
			}
			if took := time.Since(start); took < c.atLeast || (c.wantErr && took > time.Minute) {
				t.Fatalf("took %s, want at least %s", took, c.atLeast)
			}
		})
	}
}
