package reconcile

import (
	"context"
	"slices"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/arn"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

// ParameterReads is how a sweep reads the published parameters it
// compares with what each agent VPC should publish. Parameter Store's
// reads (GetParameter, GetParameters, GetParametersByPath) share one
// quota of the hub account and Region, 40 per second by default, whoever
// calls: every concurrent reconcile invocation draws from it.
type ParameterReads string

// The ways a sweep reads Parameter Store.
const (
	// ReadEachAccount reads each account's path (<prefix>/<account>) as
	// the account is observed: one GetParametersByPath call per account
	// (a page holds 10 parameters), and a scheduled run over
	// FanoutThreshold accounts fans out in batches, each batch reading its
	// own accounts' paths.
	ReadEachAccount ParameterReads = "account"
	// ReadPrefix pages the whole prefix once per scheduled run, while the
	// accounts' spoke sides are observed: one call per 10 parameters of
	// the organization, 2 or 3 per agent VPC. Paging is one pass for the
	// whole organization, so such a run sweeps every account itself
	// instead of fanning out (each batch would page the prefix again). It
	// also finds the accounts that only their parameters remember, which
	// ReadEachAccount lists separately once an hour (DescribeParameters).
	// A run given its accounts (a fan-out batch, a direct request) still
	// reads each account's path.
	ReadPrefix ParameterReads = "prefix"
)

// pagesPrefix reports whether a run of req pages the whole prefix.
func (r *Reconciler) pagesPrefix(req Request) bool {
	return len(req.Accounts) == 0 && r.Parameters != ReadEachAccount
}

// prefixRead is the whole prefix, by account and VPC.
type prefixRead struct {
	byAccount map[string]map[string]*tunnel.Published
	err       error
}

// readPrefix starts paging the whole prefix; the result arrives on the
// channel (buffered: a run that stops early leaves no goroutine behind).
func (r *Reconciler) readPrefix(ctx context.Context) <-chan prefixRead {
	out := make(chan prefixRead, 1)
	go func() {
		all, err := r.Store.List(ctx, "")
		read := prefixRead{byAccount: map[string]map[string]*tunnel.Published{}, err: err}
		for _, p := range all {
			if read.byAccount[p.Account] == nil {
				read.byAccount[p.Account] = map[string]*tunnel.Published{}
			}
			read.byAccount[p.Account][p.VPCID] = p
		}
		out <- read
	}()
	return out
}

// observeRun observes the run's accounts. With a prefix being paged, the
// accounts' spoke sides are read meanwhile, the accounts that only the
// parameters name are observed once it is read, and every account gets
// its parameters from it; without, each account reads its own path.
func (r *Reconciler) observeRun(ctx context.Context, accounts []string, depth Depth, now time.Time, prefix <-chan prefixRead) ([]Account, error) {
	if prefix == nil {
		return r.observeAll(ctx, accounts, depth, now, true), nil
	}
	observed := r.observeAll(ctx, accounts, depth, now, false)
	read := <-prefix
	if read.err != nil {
		return nil, read.err
	}
	swept := make(map[string]bool, len(accounts))
	for _, a := range accounts {
		swept[a] = true
	}
	var leftovers []string
	for a := range read.byAccount {
		if arn.IsAccountID(a) && !swept[a] {
			leftovers = append(leftovers, a)
		}
	}
	slices.Sort(leftovers)
	observed = append(observed, r.observeAll(ctx, leftovers, depth, now, false)...)
	for i := range observed {
		if params := read.byAccount[observed[i].ID]; params != nil {
			observed[i].Params = params
		}
	}
	return observed, nil
}
