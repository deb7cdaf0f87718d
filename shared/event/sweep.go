package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/aws/aws-lambda-go/events"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/arn"
)

// Sweep is a decoded invocation of the reconcile function: which accounts
// to sweep and how. It is also the wire form of a direct request and of the
// detail of a fan-out batch, so its JSON names are the reconciler's
// (reconcile.Request has the same fields; a test there keeps them in step).
type Sweep struct {
	// Accounts to sweep; empty means discover them (the scheduled run).
	Accounts []string `json:"accounts,omitempty"`
	DryRun   bool     `json:"dryRun,omitempty"`
	// Deep is DeepRotating, DeepAll or DeepNone.
	Deep  string `json:"deep,omitempty"`
	RunID string `json:"runId,omitempty"`
}

// The deep passes a sweep may ask for (reconcile.Depth's values).
const (
	DeepRotating = ""
	DeepAll      = "all"
	DeepNone     = "none"
)

// Sources and detail types the reconcile function is routed. The product's
// own are status.Source and status.ReconcileAccounts, repeated here so that
// decoding depends on nothing but aws-lambda-go (a test in shared/reconcile
// keeps them equal).
const (
	SourceSchedule          = "aws.events"
	DetailScheduled         = "Scheduled Event"
	SourceProduct           = "jenkins-agent-vpcs"
	DetailReconcileAccounts = "Reconcile Accounts"
)

// DecodeSweep decodes one reconcile invocation: the schedule's event, a
// fan-out batch the hub put on the central bus (DetailReconcileAccounts),
// or a direct request such as {"dryRun":true,"deep":"all"}.
//
// hubAccount is the account the function runs in (empty when unknown, as in
// tests without a Lambda context). Member accounts may put events on the
// central bus, so a fan-out batch from any other account is refused: only
// the hub's own batches are obeyed. An EventBridge event of any other kind
// is refused too: the reconciler's rules route nothing else to it.
func DecodeSweep(payload []byte, hubAccount string) (Sweep, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(payload, &probe); err != nil {
		return Sweep{}, &MalformedError{Reason: "payload is not a JSON object: " + err.Error()}
	}
	var s Sweep
	if probe["detail-type"] != nil {
		var ev events.EventBridgeEvent
		if err := unmarshalStrict(payload, &ev, "EventBridge envelope", ""); err != nil {
			return Sweep{}, err
		}
		switch {
		case ev.Source == SourceSchedule && ev.DetailType == DetailScheduled:
			return Sweep{RunID: ev.Time.UTC().Format("20060102T150405Z")}, nil
		case ev.Source == SourceProduct && ev.DetailType == DetailReconcileAccounts:
			if hubAccount != "" && ev.AccountID != hubAccount {
				return Sweep{}, &RefusedError{Reason: "foreign-fanout", Detail: "fan-out batch put by account " + ev.AccountID}
			}
			if err := unmarshalStrict(ev.Detail, &s, "fan-out detail", "detail"); err != nil {
				return Sweep{}, err
			}
			if len(s.Accounts) == 0 {
				return Sweep{}, &MalformedError{Reason: "fan-out batch names no account"}
			}
		default:
			return Sweep{}, &RefusedError{Reason: "unknown-event", Detail: fmt.Sprintf("%s/%s", ev.Source, ev.DetailType)}
		}
	} else {
		const what = `direct request, want {"accounts","dryRun","deep"}`
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return Sweep{}, &MalformedError{Reason: what + ": " + err.Error()}
		}
		if err := checkKeys(payload, reflect.TypeFor[Sweep](), what, ""); err != nil {
			return Sweep{}, err
		}
	}
	switch s.Deep {
	case DeepRotating, DeepAll, DeepNone:
	default:
		return Sweep{}, &MalformedError{Reason: fmt.Sprintf(`deep is %q, want "all" or "none"`, s.Deep)}
	}
	if len(s.Accounts) == 0 {
		s.Accounts = nil // [] and no list both mean: discover the accounts
	}
	for _, a := range s.Accounts {
		if !arn.IsAccountID(a) {
			return Sweep{}, &MalformedError{Reason: fmt.Sprintf("account %q is not a 12-digit account id", a)}
		}
	}
	return s, nil
}
