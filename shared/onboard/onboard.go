package onboard

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/converge"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

// Handler is the onboard function.
type Handler struct {
	VPCs       *converge.AgentVPCs
	Decoder    event.Decoder
	Log        *slog.Logger
	MetricsOut io.Writer
}

// Handle is the Lambda entry point. A payload that cannot be decoded is an
// error (Lambda retries, then the dead-letter queue keeps it); a refused
// event is logged and counted and is not an error, since retrying cannot
// make it valid. AWS failures are errors, so Lambda retries them; every
// step is idempotent.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) error {
	ctx, metrics := telemetry.Begin(ctx, h.Log, "onboard")
	defer func() { _ = metrics.Flush(h.MetricsOut, time.Now()) }()
	log := telemetry.Logger(ctx)

	res, err := h.Decoder.Decode(payload)
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
	if res.Ignored != "" {
		log.Info("event ignored", "reason", res.Ignored)
		telemetry.Count(ctx, "EventsIgnored", 1)
		return nil
	}
	telemetry.Count(ctx, "EventsHandled", 1)
	var errs []error
	for _, hint := range res.Hints {
		hctx := telemetry.With(ctx, "account", hint.Account, "region", hint.Region, "vpc", hint.VPCID, "kind", string(hint.Kind))
		if err := h.VPCs.Converge(hctx, hint); err != nil {
			telemetry.Logger(hctx).Error("converging agent VPC failed", "error", err.Error())
			telemetry.Count(ctx, "Errors", 1)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Invoke makes the handler a lambda.Handler, so it receives the payload
// as sent: a payload that is not JSON at all is then refused by the
// decoder, logged and counted, rather than failing inside the runtime
// library before any of our code sees it.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return nil, h.Handle(ctx, payload)
}
