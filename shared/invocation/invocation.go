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
	ctx, metrics := telemetry.Begin(ctx, f.Log, f.Name)
	defer func() { _ = metrics.Flush(f.MetricsOut, time.Now()) }()
	log := telemetry.Logger(ctx)

	d, err := decode(payload)
	if r, ok := event.AsRefused(err); ok {
		log.Warn("event refused", "reason", r.Reason, "detail", r.Detail)
		telemetry.Refused(ctx, r.Reason)
		return nil
	}
	if err != nil {
		log.Error("event malformed", "error", err.Error())
		telemetry.Count(ctx, "EventsMalformed", 1)
		return err
	}
	if d.Ignored != "" {
		log.Info("event ignored", "reason", d.Ignored)
		telemetry.Count(ctx, "EventsIgnored", 1)
		return nil
	}
	telemetry.Count(ctx, "EventsHandled", 1)
	return handle(ctx, d.Value)
}
