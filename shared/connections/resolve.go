package connections

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/pace"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

// Retry paces asking again: the first pause, doubled each time, and the
// number of rounds in all (defaults: 1 s and 5, about 15 s of waiting,
// the order of EC2's usual propagation delay).
type Retry struct {
	Interval time.Duration
	Rounds   int
}

func (r Retry) interval() time.Duration {
	if r.Interval > 0 {
		return r.Interval
	}
	return time.Second
}

func (r Retry) rounds() int {
	if r.Rounds > 0 {
		return r.Rounds
	}
	return 5
}

// Outcome is what resolving connections came to.
type Outcome struct {
	Report
	// States are the connection states last listed, by endpoint id.
	States map[string]string
	// Unlisted are awaited endpoints the service never listed.
	Unlisted []string
}

// Holds reports whether the endpoint's connection is settled: accepted
// (now or before), held for approval, or listed in a state past pending
// acceptance.
func (o Outcome) Holds(id string) bool {
	if slices.Contains(o.Accepted, id) || slices.Contains(o.Held, id) {
		return true
	}
	st, ok := o.States[id]
	return ok && !agentvpc.StateIs(st, agentvpc.StatePendingAcceptance) && !slices.Contains(o.Left, id) && o.Failed[id] == ""
}

// UnsettledError names the connections a Resolve could not settle: left
// pending for lack of evidence, refused by EC2 (Unsuccessful[]), or not
// listed by the service yet. None was rejected for it; a retry (or the
// reconciler's next sweep) decides them again.
type UnsettledError struct {
	Left     []string
	Failed   map[string]string
	Unlisted []string
}

func (e *UnsettledError) Error() string {
	var parts []string
	if len(e.Left) > 0 {
		parts = append(parts, fmt.Sprintf("left pending, nothing shows yet whose they are: %v", e.Left))
	}
	for _, id := range slices.Sorted(maps.Keys(e.Failed)) {
		parts = append(parts, fmt.Sprintf("%s not settled: %s", id, e.Failed[id]))
	}
	if len(e.Unlisted) > 0 {
		parts = append(parts, fmt.Sprintf("not listed by the endpoint service yet: %v", e.Unlisted))
	}
	return "connections unsettled after retries (" + strings.Join(parts, "; ") + "); a retry or the reconciler settles them"
}

// Resolve is the acceptance flow of all three functions. It lists the
// service's connections (those of ids, or all when ids is nil), decides
// and settles the ones pending acceptance, and asks again, pausing as r
// says, while a connection was left pending or refused, or an awaited
// endpoint is not listed yet: the service's list and the owner's describes
// lag a new endpoint ("Eventual consistency in the Amazon EC2 API"), and
// absence of evidence never rejects. An AWS error ends it at once. What is
// still unsettled after the last round is counted (ConnectionsLeftPending,
// ConnectionsNotListed) and returned as an *UnsettledError beside the
// outcome, so an invocation fails and is retried rather than taken as
// done.
func (g *Guard) Resolve(ctx context.Context, ids, await []string, r Retry) (Outcome, error) {
	out := Outcome{Report: Report{Failed: map[string]string{}}, States: map[string]string{}}
	wait := r.interval()
	for round := 1; ; round++ {
		conns, err := g.Connections(ctx, ids)
		if err != nil {
			return out, err
		}
		var pending []Connection
		for _, c := range conns {
			out.States[c.EndpointID] = c.State
			// One settled in an earlier round may still be listed pending
			// (the list lags the accept): it is not decided twice.
			settled := slices.Contains(out.Accepted, c.EndpointID) || slices.Contains(out.Rejected, c.EndpointID) || slices.Contains(out.Held, c.EndpointID)
			if agentvpc.StateIs(c.State, agentvpc.StatePendingAcceptance) && !settled {
				pending = append(pending, c)
			}
		}
		decisions, derr := g.Decide(ctx, pending)
		rep, serr := g.Settle(ctx, decisions)
		out.Accepted = append(out.Accepted, rep.Accepted...)
		out.Rejected = append(out.Rejected, rep.Rejected...)
		out.Held = append(out.Held, rep.Held...)
		out.Left, out.Failed = rep.Left, rep.Failed
		if err := errors.Join(derr, serr); err != nil {
			return out, err
		}
		out.Unlisted = slices.DeleteFunc(slices.Clone(await), func(id string) bool { _, ok := out.States[id]; return ok })
		if len(out.Left)+len(out.Failed)+len(out.Unlisted) == 0 {
			return out, nil
		}
		if round >= r.rounds() {
			telemetry.Count(ctx, "ConnectionsLeftPending", float64(len(out.Left)))
			telemetry.Count(ctx, "ConnectionsNotListed", float64(len(out.Unlisted)))
			return out, &UnsettledError{Left: out.Left, Failed: out.Failed, Unlisted: out.Unlisted}
		}
		telemetry.Logger(ctx).Info("connections not settled yet; asking again", "left", out.Left, "failed", len(out.Failed), "unlisted", out.Unlisted, "round", round)
		if err := pace.Sleep(ctx, wait); err != nil {
			return out, err
		}
		wait *= 2
	}
}
