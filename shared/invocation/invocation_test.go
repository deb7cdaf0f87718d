package invocation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/invocation"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

// Every function sorts a bad event the same way, and its metrics say so.
func TestRun(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name       string
		decoded    invocation.Decoded[string]
		decodeErr  error
		handleErr  error
		wantErr    error
		wantHandle bool
		wantMetric string
		wantLog    string
	}{
		{"handled", invocation.Decoded[string]{Value: "v"}, nil, nil, nil, true, "EventsHandled", ""},
		{"handle fails", invocation.Decoded[string]{Value: "v"}, nil, boom, boom, true, "EventsHandled", ""},
		{"refused", invocation.Decoded[string]{}, &event.RefusedError{Reason: "forged-account", Detail: "d"}, nil, nil, false, "EventsRefused", "event refused"},
		{"malformed", invocation.Decoded[string]{}, &event.MalformedError{Reason: "not JSON"}, nil, &event.MalformedError{}, false, "EventsMalformed", "event malformed"},
		{"ignored", invocation.Decoded[string]{Ignored: "other tag"}, nil, nil, nil, false, "EventsIgnored", "event ignored"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs, metrics bytes.Buffer
			handled := false
			err := invocation.Run(context.Background(), invocation.Function{Name: "onboard", Log: telemetry.NewLogger(&logs, "info"), MetricsOut: &metrics},
				[]byte(`{}`),
				func([]byte) (invocation.Decoded[string], error) { return c.decoded, c.decodeErr },
				func(_ context.Context, v string) error {
					handled = true
					if v != c.decoded.Value {
						t.Errorf("handle got %q, want %q", v, c.decoded.Value)
					}
					return c.handleErr
				})
			switch {
			case c.wantErr == nil && err != nil:
				t.Fatalf("error %v, want none", err)
			case c.wantErr != nil && (err == nil || !errors.As(err, new(*event.MalformedError)) && !errors.Is(err, c.wantErr)):
				t.Fatalf("error %v, want %v", err, c.wantErr)
			}
			if handled != c.wantHandle {
				t.Errorf("handled %v, want %v", handled, c.wantHandle)
			}
			if !strings.Contains(logs.String(), c.wantLog) {
				t.Errorf("log %q lacks %q", logs.String(), c.wantLog)
			}
			if !strings.Contains(metrics.String(), `"`+c.wantMetric+`"`) {
				t.Errorf("metrics %s lack %s", metrics.String(), c.wantMetric)
			}
			var doc map[string]any
			if err := json.NewDecoder(io.MultiReader(&metrics)).Decode(&doc); err != nil {
				t.Errorf("metrics are not one JSON document: %v", err)
			}
		})
	}
}
