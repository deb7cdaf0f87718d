package event_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
)

const hub = "111111111111"

func TestDecodeSweep(t *testing.T) {
	fanout := string(load(t, "reconcile-fanout.json"))
	tests := []struct {
		name      string
		payload   string
		hub       string
		want      event.Sweep
		refused   string // RefusedError reason
		malformed bool
	}{
		{name: "schedule", payload: string(load(t, "reconcile-scheduled.json")), hub: hub, want: event.Sweep{RunID: "20261127T101500Z"}},
		{name: "fan-out batch", payload: fanout, hub: hub,
			want: event.Sweep{Accounts: []string{"222222222222", "333333333333"}, Deep: event.DeepAll, RunID: "20261127T101500Z-0"}},
		{name: "fan-out batch, hub unknown", payload: string(load(t, "reconcile-fanout-foreign.json")), want: event.Sweep{Accounts: []string{"222222222222"}}},
		{name: "direct", payload: string(load(t, "reconcile-direct.json")), hub: hub,
			want: event.Sweep{Accounts: []string{"222222222222"}, DryRun: true, Deep: event.DeepAll}},
		{name: "direct, everything", payload: `{}`, hub: hub, want: event.Sweep{}},
		{name: "direct, empty account list", payload: `{"accounts":[]}`, hub: hub, want: event.Sweep{}},
		{name: "fan-out batch from a member account", payload: string(load(t, "reconcile-fanout-foreign.json")), hub: hub, refused: "foreign-fanout"},
		{name: "another event", payload: string(load(t, "tag-change-tagged.json")), hub: hub, refused: "unknown-event"},
		{name: "not JSON", payload: `nope`, malformed: true},
		{name: "not an object", payload: `["222222222222"]`, malformed: true},
		{name: "short account", payload: `{"accounts":["12"]}`, malformed: true},
		{name: "misspelt field", payload: `{"acounts":["222222222222"]}`, malformed: true},
		{name: "field in another case", payload: `{"Accounts":["222222222222"]}`, malformed: true},
		{name: "field twice", payload: `{"accounts":["222222222222"],"accounts":["333333333333"]}`, malformed: true},
		{name: "unknown depth", payload: `{"deep":"some"}`, malformed: true},
		{name: "fan-out batch naming no account", payload: replaceOnce(t, fanout, `"accounts": ["222222222222", "333333333333"], `, ``), hub: hub, malformed: true},
		{name: "fan-out batch naming a bad account", payload: replaceOnce(t, fanout, `"333333333333"`, `"3333"`), hub: hub, malformed: true},
		{name: "fan-out batch with an unknown depth", payload: replaceOnce(t, fanout, `"deep": "all"`, `"deep": "ALL"`), hub: hub, malformed: true},
		{name: "fan-out detail field in another case", payload: replaceOnce(t, fanout, `"deep": "all"`, `"deep": "all", "Deep": "none"`), hub: hub, malformed: true},
		{name: "fan-out envelope account twice", payload: replaceOnce(t, fanout, `"account": "111111111111",`, `"account": "111111111111", "account": "222222222222",`), hub: hub, malformed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := event.DecodeSweep([]byte(tc.payload), tc.hub)
			var malformed *event.MalformedError
			refused, isRefused := event.AsRefused(err)
			switch {
			case tc.malformed:
				if !errors.As(err, &malformed) {
					t.Fatalf("want MalformedError, got %+v, %v", got, err)
				}
			case tc.refused != "":
				if !isRefused || refused.Reason != tc.refused {
					t.Fatalf("want refusal %q, got %+v, %v", tc.refused, got, err)
				}
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			case !reflect.DeepEqual(got, tc.want):
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if err != nil && !reflect.DeepEqual(got, event.Sweep{}) {
				t.Errorf("error %v came with a sweep %+v", err, got)
			}
		})
	}
}
