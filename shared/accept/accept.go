package accept

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/connections"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/invocation"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

// Handler is the accept function.
type Handler struct {
	Guard *connections.Guard
	// RetryInterval is the first pause before listing the connections
	// again when one is not settled or a notified one not listed yet
	// (default 1 s, doubled, five rounds in all; see connections.Resolve).
	RetryInterval time.Duration
	Log           *slog.Logger
	MetricsOut    io.Writer
}

// Handle is the Lambda entry point: the notification is a nudge, and the
// decisions come from what the service lists and the owners' accounts
// show.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) error {
	return invocation.Run(ctx, invocation.Function{Name: "accept", Log: h.Log, MetricsOut: h.MetricsOut}, payload, decode, h.accept)
}

func decode(payload []byte) (invocation.Decoded[[]event.Notification], error) {
	notes, err := event.DecodeNotifications(payload)
	return invocation.Decoded[[]event.Notification]{Value: notes}, err
}

func (h *Handler) accept(ctx context.Context, notes []event.Notification) error {
	log := telemetry.Logger(ctx)
	var notified []string
	for _, n := range notes {
		if n.ServiceID != "" && n.ServiceID != h.Guard.ServiceID {
			log.Warn("notification for another service", "service", n.ServiceID, "endpoint", n.EndpointID)
			telemetry.Refused(ctx, "other-service")
			continue
		}
		log.Info("connection notification", "endpoint", n.EndpointID, "owner", n.Owner, "state", n.State, "event", n.Event)
		if n.EndpointID != "" {
			notified = append(notified, n.EndpointID)
		}
	}
	// Every pending connection of the service is decided, not only the
	// notified ones: a lost notification is made up for by the next.
	out, err := h.Guard.Resolve(ctx, nil, notified, connections.Retry{Interval: h.RetryInterval})
	log.Info("connections settled", "accepted", len(out.Accepted), "rejected", len(out.Rejected), "held", len(out.Held),
		"left", len(out.Left), "failed", len(out.Failed), "unlisted", len(out.Unlisted))
	if err != nil {
		telemetry.Count(ctx, "Errors", 1)
		return err
	}
	return nil
}

// Invoke makes the handler a lambda.Handler (see onboard.Handler.Invoke).
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return nil, h.Handle(ctx, payload)
}
