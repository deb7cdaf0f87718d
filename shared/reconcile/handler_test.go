package reconcile

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/status"
)

// event.Sweep is the wire form of Request: fan-out puts Requests on the bus
// and event.DecodeSweep reads them back. These tests keep the two in step.

func TestRequestAndSweepAgreeOnTheWireForm(t *testing.T) {
	names := func(v any) []string {
		var out []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			out = append(out, rt.Field(i).Tag.Get("json"))
		}
		slices.Sort(out)
		return out
	}
	if r, s := names(Request{}), names(event.Sweep{}); !slices.Equal(r, s) {
		t.Fatalf("reconcile.Request fields %v, event.Sweep fields %v", r, s)
	}
	if event.SourceProduct != status.Source || event.DetailReconcileAccounts != status.ReconcileAccounts {
		t.Errorf("event decodes fan-out batches as %q/%q, status puts them as %q/%q",
			event.SourceProduct, event.DetailReconcileAccounts, status.Source, status.ReconcileAccounts)
	}
	for _, d := range []struct {
		depth Depth
		wire  string
	}{{DeepRotating, event.DeepRotating}, {DeepAll, event.DeepAll}, {DeepNone, event.DeepNone}} {
		if string(d.depth) != d.wire {
			t.Errorf("depth %q is %q on the wire", d.depth, d.wire)
		}
	}
}

func TestDecodeReadsBackWhatFanOutPuts(t *testing.T) {
	for _, req := range []Request{
		{Accounts: []string{"222222222222", "333333333333"}, RunID: "20261127T100000Z-0"},
		{Accounts: []string{"222222222222"}, DryRun: true, Deep: DeepAll, RunID: "r-1"},
		{Accounts: []string{"222222222222"}, Deep: DeepNone},
	} {
		detail, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		envelope := `{"version":"0","id":"x","detail-type":"Reconcile Accounts","source":"jenkins-agent-vpcs","account":"111111111111",` +
			`"time":"2026-11-27T10:00:00Z","region":"us-east-1","resources":[],"detail":` + string(detail) + `}`
		for name, payload := range map[string][]byte{"fan-out": []byte(envelope), "direct": detail} {
			got, err := decodeRequest(context.Background(), payload)
			if err != nil {
				t.Fatalf("%s %s: %v", name, payload, err)
			}
			if !reflect.DeepEqual(got, req) {
				t.Errorf("%s: decoded %+v, fan-out put %+v", name, got, req)
			}
		}
	}
}
