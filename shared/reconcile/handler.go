package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/status"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

// Handler is the reconcile function. It is invoked by the schedule
// (discover and sweep, or fan out), by its own fan-out batches on the
// central bus, and directly with a Request (a dry run, say).
type Handler struct {
	Reconciler *Reconciler
	Log        *slog.Logger
	MetricsOut io.Writer
}

// Invoke is the Lambda entry point (a lambda.Handler, so it sees the raw payload).
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	ctx, metrics := telemetry.Begin(ctx, h.Log, "reconcile")
	defer func() { _ = metrics.Flush(h.MetricsOut, time.Now()) }()
	log := telemetry.Logger(ctx)
	req, err := h.decode(ctx, payload)
	if r, ok := event.AsRefused(err); ok {
		log.Warn("event refused", "reason", r.Reason, "detail", r.Detail)
		telemetry.Refused(ctx, r.Reason)
		return nil, nil
	}
	if err != nil {
		log.Error("event malformed", "error", err.Error())
		telemetry.Count(ctx, "EventsMalformed", 1)
		return nil, err
	}
	rep, err := h.Reconciler.Run(ctx, req)
	if err != nil {
		telemetry.Count(ctx, "Errors", 1)
		log.Error("reconcile failed", "error", err.Error())
		return nil, err
	}
	if err := h.Reconciler.Publish(ctx, rep); err != nil {
		return nil, err
	}
	return json.Marshal(rep)
}

func (h *Handler) decode(ctx context.Context, payload []byte) (Request, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(payload, &probe); err != nil {
		return Request{}, &event.MalformedError{Reason: "payload is not a JSON object: " + err.Error()}
	}
	var req Request
	if probe["detail-type"] != nil {
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			return Request{}, &event.MalformedError{Reason: "EventBridge envelope: " + err.Error()}
		}
		switch {
		case ev.Source == "aws.events" && ev.DetailType == "Scheduled Event":
			return Request{RunID: ev.Time.UTC().Format("20060102T150405Z")}, nil
		case ev.Source == status.Source && ev.DetailType == status.ReconcileAccounts:
			// Member accounts may put events on the central bus: only the
			// hub's own batches are obeyed.
			if hub := hubAccount(ctx); hub != "" && ev.AccountID != hub {
				return Request{}, &event.RefusedError{Reason: "foreign-fanout", Detail: "fan-out batch put by account " + ev.AccountID}
			}
			if err := json.Unmarshal(ev.Detail, &req); err != nil {
				return Request{}, &event.MalformedError{Reason: "fan-out detail: " + err.Error()}
			}
			if len(req.Accounts) == 0 {
				return Request{}, &event.MalformedError{Reason: "fan-out batch names no account"}
			}
		default:
			return Request{}, &event.RefusedError{Reason: "unknown-event", Detail: fmt.Sprintf("%s/%s", ev.Source, ev.DetailType)}
		}
	} else {
		dec := json.NewDecoder(strings.NewReader(string(payload)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return Request{}, &event.MalformedError{Reason: `direct request, want {"accounts","dryRun","deep"}: ` + err.Error()}
		}
	}
	switch req.Deep {
	case DeepRotating, DeepAll, DeepNone:
	default:
		return Request{}, &event.MalformedError{Reason: fmt.Sprintf(`deep is %q, want "all" or "none"`, req.Deep)}
	}
	for _, a := range req.Accounts {
		if !config.IsAccountID(a) {
			return Request{}, &event.MalformedError{Reason: fmt.Sprintf("account %q is not a 12-digit account id", a)}
		}
	}
	return req, nil
}

// hubAccount is the account of the invoked function, from its ARN.
func hubAccount(ctx context.Context) string {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok {
		return ""
	}
	parts := strings.Split(lc.InvokedFunctionArn, ":")
	if len(parts) < 5 {
		return ""
	}
	return parts[4]
}
