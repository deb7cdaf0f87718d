package reconcile

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/arn"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/invocation"
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

// Invoke is the Lambda entry point (a lambda.Handler, so it sees the raw
// payload); it answers with the sweep's report.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var out []byte
	decode := func(payload []byte) (invocation.Decoded[Request], error) {
		req, err := decodeRequest(ctx, payload)
		return invocation.Decoded[Request]{Value: req}, err
	}
	err := invocation.Run(ctx, invocation.Function{Name: "reconcile", Log: h.Log, MetricsOut: h.MetricsOut}, payload, decode,
		func(ctx context.Context, req Request) error {
			rep, err := h.Reconciler.Run(ctx, req)
			if err != nil {
				telemetry.Count(ctx, "Errors", 1)
				telemetry.Logger(ctx).Error("reconcile failed", "error", err.Error())
				return err
			}
			if err := h.Reconciler.Publish(ctx, rep); err != nil {
				return err
			}
			out, err = json.Marshal(rep)
			return err
		})
	return out, err
}

// decodeRequest reads the invocation through event.DecodeSweep, which owns
// the reconciler's event forms; Request has the same JSON fields as
// event.Sweep.
func decodeRequest(ctx context.Context, payload []byte) (Request, error) {
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
