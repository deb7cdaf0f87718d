package accept

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/acceptance"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

// Handler is the accept function.
type Handler struct {
	Guard      *acceptance.Guard
	Log        *slog.Logger
	MetricsOut io.Writer
}

// Handle is the Lambda entry point.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) error {
	ctx, metrics := telemetry.Begin(ctx, h.Log, "accept")
	defer func() { _ = metrics.Flush(h.MetricsOut, time.Now()) }()
	log := telemetry.Logger(ctx)

	notes, err := event.DecodeNotifications(payload)
	if err != nil {
		log.Error("event malformed", "error", err.Error())
		telemetry.Count(ctx, "EventsMalformed", 1)
		return err
	}
	for _, n := range notes {
		if n.ServiceID != "" && n.ServiceID != h.Guard.ServiceID {
			log.Warn("notification for another service", "service", n.ServiceID, "endpoint", n.EndpointID)
			telemetry.Refused(ctx, "other-service")
			continue
		}
		log.Info("connection notification", "endpoint", n.EndpointID, "owner", n.Owner, "state", n.State, "event", n.Event)
	}
	telemetry.Count(ctx, "EventsHandled", 1)
	conns, err := h.Guard.Connections(ctx, nil, agentvpc.StatePendingAcceptance)
	if err != nil {
		telemetry.Count(ctx, "Errors", 1)
		return err
	}
	if len(conns) == 0 {
		log.Info("no pending connections")
		return nil
	}
	decisions, decideErr := h.Guard.Decide(ctx, conns)
	rep, err := h.Guard.Settle(ctx, decisions)
	if err != nil || decideErr != nil {
		telemetry.Count(ctx, "Errors", 1)
		// Undecided or unsettled connections stay pending: a retry (or the
		// reconciler) settles them.
		if decideErr != nil {
			log.Error("some connections left undecided", "error", decideErr.Error())
		}
		return errors.Join(decideErr, err)
	}
	log.Info("connections settled", "accepted", len(rep.Accepted), "rejected", len(rep.Rejected), "held", len(rep.Held), "failed", len(rep.Failed))
	return nil
}

// Invoke makes the handler a lambda.Handler (see onboard.Handler.Invoke).
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return nil, h.Handle(ctx, payload)
}
