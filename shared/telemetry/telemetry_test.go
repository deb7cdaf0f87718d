package telemetry_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

// checkEMF checks one log line against CloudWatch's embedded metric format
// specification (CloudWatch_Embedded_Metric_Format_Specification): a JSON
// object whose _aws member holds Timestamp (milliseconds since the epoch)
// and CloudWatchMetrics, an array of MetricDirective objects (Namespace,
// Dimensions: arrays of dimension names, Metrics: objects with Name and
// Unit); the objects of the specification have no other members; every
// dimension and metric named has a target member at the root, a string for
// a dimension and a number for a metric. The limits are CloudWatch's, as
// AWS's EMF client libraries enforce them (aws-embedded-metrics-node
// Constants: at most 30 dimensions a set, 100 metrics a document,
// dimension values of 1 to 1024 characters). It returns the root and the
// directive.
func checkEMF(t *testing.T, line []byte) (map[string]any, map[string]any) {
	t.Helper()
	var root map[string]any
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("line %s is not a JSON object: %v", line, err)
	}
	meta, ok := root["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("line %s has no _aws object", line)
	}
	onlyKeys(t, "_aws", meta, "Timestamp", "CloudWatchMetrics", "LogGroupName")
	if ts, ok := meta["Timestamp"].(json.Number); !ok || strings.ContainsAny(ts.String(), ".eE") {
		t.Errorf("_aws.Timestamp %v is not an integer of milliseconds", meta["Timestamp"])
	}
	directives, ok := meta["CloudWatchMetrics"].([]any)
	if !ok || len(directives) != 1 {
		t.Fatalf("_aws.CloudWatchMetrics %v, want one directive", meta["CloudWatchMetrics"])
	}
	d, ok := directives[0].(map[string]any)
	if !ok {
		t.Fatalf("directive %v is not an object", directives[0])
	}
	onlyKeys(t, "MetricDirective", d, "Namespace", "Dimensions", "Metrics")
	if ns, ok := d["Namespace"].(string); !ok || strings.TrimSpace(ns) == "" || len(ns) > 255 {
		t.Errorf("Namespace %v", d["Namespace"])
	}
	sets, ok := d["Dimensions"].([]any)
	if !ok {
		t.Fatalf("Dimensions %v is not an array of dimension sets", d["Dimensions"])
	}
	for _, s := range sets {
		names, ok := s.([]any)
		if !ok || len(names) > 30 {
			t.Fatalf("dimension set %v is not an array of at most 30 names", s)
		}
		for _, n := range names {
			name, _ := n.(string)
			v, ok := root[name].(string)
			if !ok || strings.TrimSpace(v) == "" || len(v) > 1024 {
				t.Errorf("dimension %v has target member %v, want a string of 1 to 1024 characters", n, root[name])
			}
		}
	}
	metrics, ok := d["Metrics"].([]any)
	if !ok || len(metrics) == 0 || len(metrics) > 100 {
		t.Fatalf("Metrics %v, want 1 to 100 metric definitions", d["Metrics"])
	}
	for _, m := range metrics {
		def, ok := m.(map[string]any)
		if !ok {
			t.Fatalf("metric definition %v is not an object", m)
		}
		onlyKeys(t, "MetricDefinition", def, "Name", "Unit", "StorageResolution")
		name, _ := def["Name"].(string)
		if _, ok := root[name].(json.Number); !ok || name == "" {
			t.Errorf("metric %q has target member %v, want a number", name, root[name])
		}
		if def["Unit"] != "Count" {
			t.Errorf("metric %q has unit %v, want Count", name, def["Unit"])
		}
	}
	return root, d
}

func onlyKeys(t *testing.T, what string, m map[string]any, allowed ...string) {
	t.Helper()
	for k := range m {
		if !slices.Contains(allowed, k) {
			t.Errorf("%s has member %q, which the specification does not define", what, k)
		}
	}
}

// emitted is one EMF line as the test expects it.
type emitted struct {
	dims    map[string]string // dimension -> value; the set is its keys
	metrics map[string]float64
}

// TestFlush is the metrics flush: one EMF line for the function's
// counters, one per refusal reason, nothing when nothing was counted.
func TestFlush(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 123_000_000, time.UTC)
	tests := []struct {
		name  string
		count func(ctx context.Context)
		want  []emitted
	}{
		{name: "nothing counted", count: func(context.Context) {}},
		{name: "counters", count: func(ctx context.Context) {
			telemetry.Count(ctx, "EndpointsCreated", 1)
			telemetry.Count(ctx, "ConnectionsAccepted", 2)
			telemetry.Count(ctx, "ConnectionsAccepted", 3)
			telemetry.Count(ctx, "ConnectionsRejected", 0)
		}, want: []emitted{{dims: map[string]string{"Function": "onboard"},
			metrics: map[string]float64{"EndpointsCreated": 1, "ConnectionsAccepted": 5, "ConnectionsRejected": 0}}}},
		{name: "refusals only", count: func(ctx context.Context) {
			telemetry.Refused(ctx, "bad-account")
			telemetry.Refused(ctx, "account-mismatch")
			telemetry.Refused(ctx, "bad-account")
		}, want: []emitted{
			{dims: map[string]string{"Function": "onboard", "Reason": "account-mismatch"}, metrics: map[string]float64{"EventsRefused": 1}},
			{dims: map[string]string{"Function": "onboard", "Reason": "bad-account"}, metrics: map[string]float64{"EventsRefused": 2}},
		}},
		{name: "counters and a refusal", count: func(ctx context.Context) {
			telemetry.Count(ctx, "EventsMalformed", 1)
			telemetry.Refused(ctx, "region-mismatch")
		}, want: []emitted{
			{dims: map[string]string{"Function": "onboard"}, metrics: map[string]float64{"EventsMalformed": 1}},
			{dims: map[string]string{"Function": "onboard", "Reason": "region-mismatch"}, metrics: map[string]float64{"EventsRefused": 1}},
		}},
		{name: "a fractional value", count: func(ctx context.Context) {
			telemetry.Count(ctx, "SecondsWaited", 1.5)
		}, want: []emitted{{dims: map[string]string{"Function": "onboard"}, metrics: map[string]float64{"SecondsWaited": 1.5}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, m := telemetry.Begin(context.Background(), slog.New(slog.DiscardHandler), "onboard")
			tt.count(ctx)
			var out bytes.Buffer
			if err := m.Flush(&out, now); err != nil {
				t.Fatal(err)
			}
			var lines [][]byte
			sc := bufio.NewScanner(&out)
			for sc.Scan() {
				lines = append(lines, slices.Clone(sc.Bytes()))
			}
			if len(lines) != len(tt.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tt.want), bytes.Join(lines, []byte("\n")))
			}
			for i, w := range tt.want {
				root, d := checkEMF(t, lines[i])
				meta := root["_aws"].(map[string]any)
				if ts := meta["Timestamp"].(json.Number).String(); ts != fmt.Sprint(now.UnixMilli()) {
					t.Errorf("line %d: Timestamp %s, want %d", i, ts, now.UnixMilli())
				}
				if d["Namespace"] != telemetry.Namespace {
					t.Errorf("line %d: Namespace %v, want %s", i, d["Namespace"], telemetry.Namespace)
				}
				sets := d["Dimensions"].([]any)
				if got, want := fmt.Sprint(sets), fmt.Sprint([][]string{slices.Sorted(maps.Keys(w.dims))}); got != want {
					t.Errorf("line %d: dimension sets %s, want %s", i, got, want)
				}
				for k, v := range w.dims {
					if root[k] != v {
						t.Errorf("line %d: dimension %s = %v, want %s", i, k, root[k], v)
					}
				}
				var names []string
				for _, def := range d["Metrics"].([]any) {
					names = append(names, def.(map[string]any)["Name"].(string))
				}
				if want := slices.Sorted(maps.Keys(w.metrics)); !slices.Equal(names, want) {
					t.Errorf("line %d: metrics %v, want %v", i, names, want)
				}
				for k, v := range w.metrics {
					if got, _ := root[k].(json.Number).Float64(); got != v {
						t.Errorf("line %d: %s = %v, want %v", i, k, root[k], v)
					}
				}
			}
		})
	}
}

// Snapshot is what Flush would write, refusals under EventsRefused/<reason>;
// counting outside an invocation is a no-op, not a panic.
func TestSnapshotAndCountingOutsideAnInvocation(t *testing.T) {
	telemetry.Count(context.Background(), "EndpointsCreated", 1)
	telemetry.Refused(context.Background(), "bad-account")

	ctx, m := telemetry.Begin(context.Background(), nil, "accept")
	telemetry.Count(ctx, "ConnectionsAccepted", 2)
	telemetry.Refused(ctx, "bad-account")
	want := map[string]float64{"ConnectionsAccepted": 2, "EventsRefused/bad-account": 1}
	if got := m.Snapshot(); !maps.Equal(got, want) {
		t.Errorf("snapshot %v, want %v", got, want)
	}
}

// Begin carries the Lambda request id on every line the invocation logs.
func TestBeginLogsTheRequestID(t *testing.T) {
	var out bytes.Buffer
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	ctx, _ = telemetry.Begin(ctx, telemetry.NewLogger(&out, "info"), "reconcile")
	telemetry.Logger(telemetry.With(ctx, "account", "222222222222")).Info("hello")
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", out.String(), err)
	}
	if line["requestId"] != "req-1" || line["account"] != "222222222222" || line["msg"] != "hello" {
		t.Errorf("log line %v, want requestId req-1 and account 222222222222", line)
	}
}
