// Package invocation is what every function does around its own work:
// telemetry for the invocation, the event decoded, a bad event sorted into
// refused, malformed or ignored, and the metrics flushed at the end.
package invocation

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

// Function names a function and where its logs and metrics go.
type Function struct {
	Name       string // "onboard", "accept", "reconcile": the metrics' dimension
	Log        *slog.Logger
	MetricsOut io.Writer
}

// Decoded is an event read by a function's decoder: the value, or why the
// event is of no interest (Ignored).
type Decoded[T any] struct {
	Value   T
	Ignored string
}

// Run handles one invocation. decode reads the payload (the decoders live
// in package event). A refused event (invalid or forged) is logged and
// counted and is not an error: retrying cannot make it valid. A payload
// that cannot be decoded at all is an error, so Lambda retries it and the
// dead-letter queue keeps it. An ignored event is logged and counted.
// Otherwise handle runs with the invocation's logger and metrics in its
// context, and returns the invocation's error (counting what failed is
// handle's: one invocation may converge several VPCs).
func Run[T any](ctx context.Context, f Function, payload []byte, decode func([]byte) (Decoded[T], error),
	handle func(context.Context, T) error) error {
	ctx, end := Begin(ctx, f)
	defer end()
	d, err := decode(payload)
	if ok, err := Sort(ctx, d.Ignored, err); !ok {
		return err
	}
	return handle(ctx, d.Value)
}

// Begin starts an invocation's telemetry: the returned context carries its
// logger and metrics, and end flushes the metrics.
func Begin(ctx context.Context, f Function) (_ context.Context, end func()) {
	ctx, metrics := telemetry.Begin(ctx, f.Log, f.Name)
	return ctx, func() { _ = metrics.Flush(f.MetricsOut, time.Now()) }
}

// Sort sorts out one decoded event (an invocation's, or one record of a
// batch) that is not to be handled: refused (logged and counted, not an
// error), malformed (logged, counted, and returned) or ignored (logged and
// counted). It reports whether the event is to be handled.
func Sort(ctx context.Context, ignored string, err error) (handle bool, _ error) {
	log := telemetry.Logger(ctx)
	if r, ok := event.AsRefused(err); ok {
		log.Warn("event refused", "reason", r.Reason, "detail", r.Detail)
		telemetry.Refused(ctx, r.Reason)
		return false, nil
	}
	if err != nil {
		log.Error("event malformed", "error", err.Error())
		telemetry.Count(ctx, "EventsMalformed", 1)
		return false, err
	}
	if ignored != "" {
		log.Info("event ignored", "reason", ignored)
		telemetry.Count(ctx, "EventsIgnored", 1)
		return false, nil
	}
	telemetry.Count(ctx, "EventsHandled", 1)
	return true, nil
}
