package onboard

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/converge"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/invocation"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

// Handler is the onboard function.
type Handler struct {
	VPCs       *converge.AgentVPCs
	Decoder    event.Decoder
	Log        *slog.Logger
	MetricsOut io.Writer
	// Retries, when set, hands the failed messages of a batch back to the
	// queue sooner than its visibility timeout (Queue.Retry).
	Retries interface {
		Retry(ctx context.Context, failed []event.Message) error
	}
}

// Handle is the Lambda entry point: each VPC the event names is made
// what its tag says. AWS failures are errors, so Lambda retries them;
// every step is idempotent.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) error {
	return invocation.Run(ctx, invocation.Function{Name: "onboard", Log: h.Log, MetricsOut: h.MetricsOut}, payload, h.decode, h.converge)
}

func (h *Handler) decode(payload []byte) (invocation.Decoded[[]event.Hint], error) {
	res, err := h.Decoder.Decode(payload)
	return invocation.Decoded[[]event.Hint]{Value: res.Hints, Ignored: res.Ignored}, err
}

func (h *Handler) converge(ctx context.Context, hints []event.Hint) error {
	var errs []error
	for _, hint := range hints {
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
// library before any of our code sees it. A batch of the onboard queue
// (the event source mapping) is answered with a partial batch response;
// any other payload is one event (a direct invocation: a re-drive, or an
// event replayed by hand).
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if event.IsBatch(payload) {
		resp, err := h.HandleBatch(ctx, payload)
		if err != nil {
			return nil, err
		}
		return json.Marshal(resp)
	}
	return nil, h.Handle(ctx, payload)
}
