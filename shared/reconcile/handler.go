package reconcile

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/arn"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
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

// decode reads the invocation through event.DecodeSweep, which owns the
// reconciler's event forms; Request has the same JSON fields as event.Sweep.
func (h *Handler) decode(ctx context.Context, payload []byte) (Request, error) {
	s, err := event.DecodeSweep(payload, hubAccount(ctx))
	if err != nil {
		return Request{}, err
	}
	return Request{Accounts: s.Accounts, DryRun: s.DryRun, Deep: Depth(s.Deep), RunID: s.RunID}, nil
}

// hubAccount is the account of the invoked function, from its ARN.
func hubAccount(ctx context.Context) string {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok {
		return ""
	}
	return arn.AccountOf(lc.InvokedFunctionArn)
}
