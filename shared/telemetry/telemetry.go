package telemetry

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

type loggerKey struct{}

// NewLogger is the functions' logger: JSON on w (stdout in Lambda).
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// WithLogger returns ctx carrying l.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// Logger returns the logger in ctx, or slog's default.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// With returns ctx whose logger has args added.
func With(ctx context.Context, args ...any) context.Context {
	return WithLogger(ctx, Logger(ctx).With(args...))
}

// Begin starts one invocation: the logger gets the Lambda request id, and
// metrics start counting. Both travel in the returned context.
func Begin(ctx context.Context, base *slog.Logger, function string) (context.Context, *Metrics) {
	log := base
	if log == nil {
		log = slog.Default()
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With("requestId", lc.AwsRequestID)
	}
	m := NewMetrics(function)
	return WithMetrics(WithLogger(ctx, log), m), m
}

// Namespace is the CloudWatch namespace of every metric.
const Namespace = "JenkinsAgentVPCs"

type metricsKey struct{}

// Metrics counts during one invocation. Names are fixed; the only
// dimensions are the function and, for refusals, the reason.
type Metrics struct {
	function string
	mu       sync.Mutex
	counts   map[string]float64
	refused  map[string]float64
}

// NewMetrics starts counting for one invocation of function.
func NewMetrics(function string) *Metrics {
	return &Metrics{function: function, counts: map[string]float64{}, refused: map[string]float64{}}
}

// WithMetrics returns ctx carrying m.
func WithMetrics(ctx context.Context, m *Metrics) context.Context {
	return context.WithValue(ctx, metricsKey{}, m)
}

// Count adds n to the metric name of the invocation in ctx.
func Count(ctx context.Context, name string, n float64) {
	if m, ok := ctx.Value(metricsKey{}).(*Metrics); ok {
		m.mu.Lock()
		m.counts[name] += n
		m.mu.Unlock()
	}
}

// Refused counts an event refused for reason.
func Refused(ctx context.Context, reason string) {
	if m, ok := ctx.Value(metricsKey{}).(*Metrics); ok {
		m.mu.Lock()
		m.refused[reason]++
		m.mu.Unlock()
	}
}

// Snapshot returns the counts so far (refusals under "EventsRefused/<reason>").
func (m *Metrics) Snapshot() map[string]float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := maps.Clone(m.counts)
	for r, n := range m.refused {
		out["EventsRefused/"+r] = n
	}
	return out
}

// Flush writes the counts as embedded-metric-format lines: one for the
// function's counters, one per refusal reason.
func (m *Metrics) Flush(w io.Writer, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	enc := json.NewEncoder(w)
	line := func(dims map[string]string, values map[string]float64) error {
		if len(values) == 0 {
			return nil
		}
		names := slices.Sorted(maps.Keys(values))
		defs := make([]map[string]string, len(names))
		doc := map[string]any{}
		for i, n := range names {
			defs[i] = map[string]string{"Name": n, "Unit": "Count"}
			doc[n] = values[n]
		}
		dimNames := slices.Sorted(maps.Keys(dims))
		for k, v := range dims {
			doc[k] = v
		}
		doc["_aws"] = map[string]any{
			"Timestamp": now.UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace": Namespace, "Dimensions": [][]string{dimNames}, "Metrics": defs,
			}},
		}
		return enc.Encode(doc)
	}
	if err := line(map[string]string{"Function": m.function}, m.counts); err != nil {
		return err
	}
	for _, reason := range slices.Sorted(maps.Keys(m.refused)) {
		if err := line(map[string]string{"Function": m.function, "Reason": reason},
			map[string]float64{"EventsRefused": m.refused[reason]}); err != nil {
			return err
		}
	}
	return nil
}
