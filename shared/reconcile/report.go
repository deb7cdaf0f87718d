package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/status"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

const maxEventItems = 50

// Publish reports a run: one log line, metrics, and a status event.
func (r *Reconciler) Publish(ctx context.Context, rep Report) error {
	telemetry.Logger(ctx).Info("reconcile report", "runId", rep.RunID, "dryRun", rep.DryRun, "accounts", rep.Accounts,
		"deepAccounts", rep.DeepAccounts, "vpcs", rep.VPCs, "drifts", rep.Drifts, "repairs", rep.Repairs,
		"failedAccounts", rep.FailedAccounts, "failedRepairs", len(rep.FailedRepairs), "fanoutBatches", rep.FanoutBatches,
		"durationMs", rep.DurationMS)
	telemetry.Count(ctx, "AccountsSwept", float64(rep.Accounts))
	telemetry.Count(ctx, "AccountsFailed", float64(len(rep.FailedAccounts)))
	telemetry.Count(ctx, "AgentVPCs", float64(rep.VPCs))
	telemetry.Count(ctx, "Drifts", float64(rep.Drifts))
	telemetry.Count(ctx, "Repairs", float64(rep.Repairs))
	telemetry.Count(ctx, "RepairsFailed", float64(len(rep.FailedRepairs)))
	// An event holds at most 256 KB: the first items tell the story.
	if len(rep.Items) > maxEventItems {
		rep.Items = rep.Items[:maxEventItems]
	}
	return r.Events.Put(ctx, status.ReconcileReport, nil, rep)
}

// WriteTable prints the agent VPCs of a run and its plan for people.
func WriteTable(w io.Writer, rep Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tVPC\tTAGGED\tENDPOINT\tSTATE\tSTATUS TAG\tTUNNEL")
	for _, a := range rep.Observed {
		if a.Err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\tnot readable: %s\n", a.ID, short(a.Err.Error(), 60))
			continue
		}
		vpcs := map[string]bool{}
		for id, v := range a.VPCs {
			if v.Tagged {
				vpcs[id] = true
			}
		}
		for _, e := range a.Endpoints {
			vpcs[e.VPCID] = true
		}
		for id := range a.Params {
			vpcs[id] = true
		}
		for _, vpc := range slices.Sorted(maps.Keys(vpcs)) {
			o := a.Observed(vpc, "")
			ep, state := "-", "-"
			if k, ok := o.Keeper(); ok {
				ep, state = k.ID, k.State
			} else if len(o.Endpoints) > 0 {
				ep, state = o.Endpoints[0].ID, o.Endpoints[0].State
			}
			tunnel := "-"
			if p := a.Params[vpc]; p != nil && p.Tunnel != "" {
				tunnel = p.Tunnel
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\t%s\n", a.ID, vpc, a.VPCs[vpc].Tagged, ep, state,
				dash(a.VPCs[vpc].Tags[agentvpc.TagStatus]), tunnel)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(rep.Items) == 0 {
		fmt.Fprintln(w, "Plan: nothing to do; everything is in sync.")
	} else {
		fmt.Fprintf(w, "Plan: %d change(s)%s\n", len(rep.Items), map[bool]string{true: " (dry run: nothing applied)"}[rep.DryRun])
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCOUNT\tVPC\tDRIFT\tREPAIR\tDETAIL")
		for _, it := range Sorted(rep.Items) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Account, dash(it.VPCID), it.Drift, it.Repair, short(it.Detail, 90))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, acct := range slices.Sorted(maps.Keys(rep.FailedAccounts)) {
		fmt.Fprintf(w, "account %s not swept: %s\n", acct, rep.FailedAccounts[acct])
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func short(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
