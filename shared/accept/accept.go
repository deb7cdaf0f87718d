package accept

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/acceptance"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/invocation"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

// Handler is the accept function.
type Handler struct {
	Guard *acceptance.Guard
	// RetryInterval is the first pause before listing the connections
	// again when a notified one is not listed yet (default 1 s, doubled,
	// five lists in all).
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
	conns, err := h.pending(ctx, notified)
	if err != nil {
		telemetry.Count(ctx, "Errors", 1)
		return err
	}
	if len(conns) == 0 {
		log.Info("no pending connections")
		return nil
	}
	rep, decideErr, err := h.settle(ctx, conns)
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

// settle decides and settles conns. A connection left pending because
// nothing shows yet whose it is (acceptance.Leave: a new endpoint or VPC
// not visible to the owner's describe yet, a spoke role not assumable yet)
// is decided again after a pause, a few times; one still left after that
// stays pending for the reconciler, logged and counted by the guard.
func (h *Handler) settle(ctx context.Context, conns []acceptance.Connection) (acceptance.Report, error, error) {
	wait := h.RetryInterval
	if wait <= 0 {
		wait = time.Second
	}
	var all acceptance.Report
	for attempt := 1; ; attempt++ {
		decisions, decideErr := h.Guard.Decide(ctx, conns)
		rep, err := h.Guard.Settle(ctx, decisions)
		all.Accepted = append(all.Accepted, rep.Accepted...)
		all.Rejected = append(all.Rejected, rep.Rejected...)
		all.Held = append(all.Held, rep.Held...)
		all.Failed = rep.Failed
		all.Left = rep.Left
		// Unsuccessful[] answers (a connection EC2 does not show yet, as
		// happens right after it appeared) are tried again too.
		again := slices.Concat(rep.Left, slices.Collect(maps.Keys(rep.Failed)))
		if err != nil || decideErr != nil || len(again) == 0 || attempt >= 5 {
			if len(rep.Left) > 0 {
				telemetry.Count(ctx, "ConnectionsLeftPending", float64(len(rep.Left)))
			}
			if err == nil && len(rep.Failed) > 0 {
				err = fmt.Errorf("settling connections, unsuccessful: %v", rep.Failed)
			}
			return all, decideErr, err
		}
		conns = slices.DeleteFunc(conns, func(c acceptance.Connection) bool { return !slices.Contains(again, c.EndpointID) })
		select {
		case <-ctx.Done():
			return all, nil, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// pending lists the pending connections. The notification may come
// before the service's list shows its connection (EC2 is eventually
// consistent: "Eventual consistency in the Amazon EC2 API"), so while a
// notified endpoint is not listed in any state, the list is asked for
// again; if it stays missing the invocation fails, and Lambda retries it,
// rather than succeed having decided nothing about it.
func (h *Handler) pending(ctx context.Context, notified []string) ([]acceptance.Connection, error) {
	wait := h.RetryInterval
	if wait <= 0 {
		wait = time.Second
	}
	for attempt := 1; ; attempt++ {
		all, err := h.Guard.Connections(ctx, nil)
		if err != nil {
			return nil, err
		}
		var pending []acceptance.Connection
		listed := map[string]bool{}
		for _, c := range all {
			listed[c.EndpointID] = true
			if agentvpc.StateIs(c.State, agentvpc.StatePendingAcceptance) {
				pending = append(pending, c)
			}
		}
		missing := slices.DeleteFunc(slices.Clone(notified), func(id string) bool { return listed[id] })
		if len(missing) == 0 {
			return pending, nil
		}
		if attempt >= 5 {
			telemetry.Count(ctx, "ConnectionsNotListed", float64(len(missing)))
			return nil, fmt.Errorf("the service does not list the connection of notified endpoint(s) %v yet", missing)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// Invoke makes the handler a lambda.Handler (see onboard.Handler.Invoke).
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return nil, h.Handle(ctx, payload)
}
