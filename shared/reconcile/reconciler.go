package reconcile

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/arn"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/connections"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/converge"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/endpointservice"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/status"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

// Organizations is the part of the Organizations API the sweep uses.
type Organizations interface {
	ListAccounts(ctx context.Context, in *organizations.ListAccountsInput, optFns ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error)
}

// Reconciler sweeps accounts.
type Reconciler struct {
	Config  config.Config
	Region  string
	Spokes  connections.Spokes
	Service *endpointservice.Service
	Guard   *connections.Guard
	Store   tunnel.Store
	VPCs    *converge.AgentVPCs
	Events  status.Publisher
	Bus     status.Bus    // for fan-out batches
	Orgs    Organizations // nil: the organization is not listed
	// Parameters is how a sweep reads Parameter Store (ReadPrefix when
	// empty).
	Parameters ParameterReads
	Now        func() time.Time
}

// Request is what one reconcile invocation is asked to do.
type Request struct {
	// Accounts to sweep; empty means discover them (the scheduled run).
	Accounts []string `json:"accounts,omitempty"`
	DryRun   bool     `json:"dryRun,omitempty"`
	// Deep says which accounts get their subnets and security group rules
	// checked: by default a rotating quarter of them each run.
	Deep  Depth  `json:"deep,omitempty"`
	RunID string `json:"runId,omitempty"`
}

// Depth selects the deep pass.
type Depth string

// The depths of a sweep.
const (
	DeepRotating Depth = ""     // each account once an hour at a 15-minute schedule
	DeepAll      Depth = "all"  // every account
	DeepNone     Depth = "none" // no account (the cheapest sweep)
)

// deep reports whether account gets the deep pass in a run at now.
func (d Depth) deep(account string, now time.Time) bool {
	switch d {
	case DeepAll:
		return true
	case DeepNone:
		return false
	}
	return deepSlot(account, now)
}

// Report is what a run found and did.
type Report struct {
	RunID          string            `json:"runId"`
	DryRun         bool              `json:"dryRun"`
	Accounts       int               `json:"accounts"`
	DeepAccounts   int               `json:"deepAccounts"`
	VPCs           int               `json:"vpcs"`
	Drifts         int               `json:"drifts"`
	Repairs        int               `json:"repairs"`
	FailedAccounts map[string]string `json:"failedAccounts,omitempty"`
	FailedRepairs  map[string]string `json:"failedRepairs,omitempty"`
	FanoutBatches  int               `json:"fanoutBatches,omitempty"`
	DurationMS     int64             `json:"durationMs"`
	Items          []Item            `json:"items,omitempty"`
	Observed       []Account         `json:"-"`
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Run sweeps: observe, plan, and (unless dry) apply. Failures of single
// accounts or repairs are in the report, not the error; the error is for
// what stops the whole run (the hub cannot be read).
func (r *Reconciler) Run(ctx context.Context, req Request) (Report, error) {
	start := r.now()
	rep := Report{RunID: req.RunID, DryRun: req.DryRun || r.Config.DryRun,
		FailedAccounts: map[string]string{}, FailedRepairs: map[string]string{}}
	if rep.RunID == "" {
		rep.RunID = start.UTC().Format("20060102T150405Z")
	}
	log := telemetry.Logger(ctx).With("runId", rep.RunID)
	ctx = telemetry.WithLogger(ctx, log)

	info, err := r.Service.Info(ctx)
	if err != nil {
		return rep, err
	}
	hub, err := r.observeHub(ctx)
	if err != nil {
		return rep, err
	}
	accounts := req.Accounts
	var prefix <-chan prefixRead
	if len(accounts) == 0 {
		pages := r.pagesPrefix(req)
		if pages {
			prefix = r.readPrefix(ctx)
		}
		listParameters := !pages && (req.Deep == DeepAll || (req.Deep == DeepRotating && start.Minute() < 15))
		if accounts, err = r.discover(ctx, hub, listParameters); err != nil {
			return rep, err
		}
		if !pages && len(accounts) > r.Config.FanoutThreshold {
			rep.Accounts = len(accounts)
			rep.FanoutBatches, err = r.fanOut(ctx, accounts, req, rep.RunID)
			rep.DurationMS = r.now().Sub(start).Milliseconds()
			return rep, err
		}
	}
	observed, err := r.observeRun(ctx, accounts, req.Deep, start, prefix)
	if err != nil {
		return rep, err
	}
	rep.countObserved(log, observed)
	in := Input{Config: r.Config, Region: r.Region, Service: info, Principal: r.Service.Principal,
		Desired: r.VPCs.Desired, Document: r.VPCs.Document, Now: start, Grace: r.Config.GracePeriod}
	rep.Items = Plan(in, hub, observed)
	rep.Drifts = len(rep.Items)
	for _, it := range rep.Items {
		log.Info("drift", "account", it.Account, "vpc", it.VPCID, "drift", it.Drift, "repair", it.Repair, "detail", it.Detail, "dryRun", rep.DryRun)
	}
	if !rep.DryRun && len(rep.Items) > 0 {
		rep.Repairs = r.apply(ctx, rep.Items, observed).tally(log, rep.FailedRepairs)
	}
	rep.DurationMS = r.now().Sub(start).Milliseconds()
	return rep, nil
}

// countObserved records what the sweep observed in rep: the accounts, the
// deep ones, the tagged VPCs of allowed accounts, and (logged once here)
// the accounts that could not be observed.
func (rep *Report) countObserved(log *slog.Logger, observed []Account) {
	rep.Observed = observed
	rep.Accounts = len(observed)
	for _, a := range observed {
		if a.Err != nil {
			rep.FailedAccounts[a.ID] = a.Err.Error()
			log.Warn("account not swept", "account", a.ID, "error", a.Err.Error())
			continue
		}
		if a.Deep {
			rep.DeepAccounts++
		}
		for _, v := range a.VPCs {
			if v.Tagged && a.Allowed {
				rep.VPCs++
			}
		}
	}
}

// discover lists the accounts to sweep: the allow list, the organization
// (when configured), and every account the hub's state names (allowed
// principals, connections and, when listParameters, published
// parameters).
//
// Listing every parameter name costs a call per 50 parameters, and an
// account that only its parameters remember is a rare leftover (removal
// deletes parameters before it drops the principal), so that listing runs
// with the deep pass: once an hour at the default schedule, or on request.
func (r *Reconciler) discover(ctx context.Context, hub Hub, listParameters bool) ([]string, error) {
	set := map[string]bool{}
	for _, a := range r.Config.AllowedAccounts {
		set[a] = true
	}
	for _, p := range hub.Principals {
		if a := arn.AccountOf(p); a != "" {
			set[a] = true
		}
	}
	for _, c := range hub.Connections {
		if arn.IsAccountID(c.Owner) {
			set[c.Owner] = true
		}
	}
	if listParameters {
		published, err := r.Store.Accounts(ctx)
		if err != nil {
			return nil, err
		}
		for _, a := range published {
			if arn.IsAccountID(a) {
				set[a] = true
			}
		}
	}
	if r.Orgs != nil {
		p := organizations.NewListAccountsPaginator(r.Orgs, &organizations.ListAccountsInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("listing the organization's accounts, %w", err)
			}
			for _, a := range page.Accounts {
				if a.Status == orgtypes.AccountStatusActive || a.State == orgtypes.AccountStateActive {
					set[aws.ToString(a.Id)] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// fanOut puts the accounts on the bus in batches, each handled by its own
// reconcile invocation.
func (r *Reconciler) fanOut(ctx context.Context, accounts []string, req Request, runID string) (int, error) {
	size := r.Config.FanoutBatchSize
	var entries []ebtypes.PutEventsRequestEntry
	for start := 0; start < len(accounts); start += size {
		batch := Request{Accounts: accounts[start:min(start+size, len(accounts))], DryRun: req.DryRun, Deep: req.Deep,
			RunID: fmt.Sprintf("%s-%d", runID, start/size)}
		body, err := jsonString(batch)
		if err != nil {
			return 0, err
		}
		entries = append(entries, ebtypes.PutEventsRequestEntry{EventBusName: aws.String(r.Events.BusName),
			Source: aws.String(status.Source), DetailType: aws.String(status.ReconcileAccounts), Detail: aws.String(body)})
	}
	for start := 0; start < len(entries); start += 10 {
		out, err := r.Bus.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries[start:min(start+10, len(entries))]})
		if err != nil {
			return start, fmt.Errorf("putting fan-out batches, %w", err)
		}
		if out.FailedEntryCount > 0 {
			return start, fmt.Errorf("putting fan-out batches, %d entries failed", out.FailedEntryCount)
		}
	}
	telemetry.Logger(ctx).Info("fanned out", "accounts", len(accounts), "batches", len(entries))
	return len(entries), nil
}

// deepSlot spreads the deep pass: each account falls into one of four
// 15-minute slots of the hour.
func deepSlot(account string, now time.Time) bool {
	h := fnv.New32a()
	h.Write([]byte(account))
	return int(h.Sum32()%4) == now.Minute()/15
}

// observeAll observes accounts concurrently; readParams says whether each
// reads its own parameter path (see ParameterReads).
func (r *Reconciler) observeAll(ctx context.Context, accounts []string, depth Depth, now time.Time, readParams bool) []Account {
	out := make([]Account, len(accounts))
	r.each(ctx, len(accounts), func(i int) {
		out[i] = r.observeAccount(ctx, accounts[i], depth.deep(accounts[i], now), readParams)
	})
	return out
}

// each runs f(0..n-1) with bounded concurrency.
func (r *Reconciler) each(ctx context.Context, n int, f func(i int)) {
	limit := max(1, r.Config.Concurrency)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// apply carries out a plan: the hub's permission change in one call, the
// spoke repairs per account (concurrently, each account in order), the
// connections in one accept and one reject batch, then publishing. It
// returns what each repair came to.
func (r *Reconciler) apply(ctx context.Context, items []Item, observed []Account) batch {
	accounts := make(map[string]Account, len(observed))
	for _, a := range observed {
		accounts[a.ID] = a
	}
	principals := r.changePrincipals(ctx, items)
	converged, spokes := r.repairSpokes(ctx, items, accounts)
	settled, connections := r.settleConnections(ctx, items, converged)
	pubs, unpublishable := r.publications(ctx, items, accounts, converged, settled)
	r.refreshAccepted(ctx, pubs, settled)
	return slices.Concat(principals, spokes, connections, unpublishable, r.publishAll(ctx, pubs))
}

// result is what one repair came to: a nil err means repaired.
type result struct {
	item Item
	err  error
}

// batch is what applying a plan came to, one result per repair in the
// order the steps ran.
type batch []result

// tally counts the repairs done, and logs and records in failed (by
// account/VPC/drift) those that failed.
func (b batch) tally(log *slog.Logger, failed map[string]string) (repaired int) {
	for _, res := range b {
		it := res.item
		if res.err == nil {
			repaired++
			continue
		}
		failed[it.Account+"/"+it.VPCID+"/"+string(it.Drift)] = res.err.Error()
		log.Error("repair failed", "account", it.Account, "vpc", it.VPCID, "drift", it.Drift, "error", res.err.Error())
	}
	return repaired
}

// changePrincipals allows and revokes the plan's principals in one call.
func (r *Reconciler) changePrincipals(ctx context.Context, items []Item) batch {
	var add, remove []string
	var planned []Item
	for _, it := range items {
		switch it.Repair {
		case Allow:
			add = append(add, it.Detail)
		case Revoke:
			remove = append(remove, it.Detail)
		default:
			continue
		}
		planned = append(planned, it)
	}
	err := r.Service.Change(ctx, add, remove)
	done := make(batch, len(planned))
	for i, it := range planned {
		done[i] = result{it, err}
	}
	return done
}

// repairSpokes runs the converge, remove and delete-parameters repairs,
// each account's in plan order and the accounts concurrently, and returns
// the spokes it converged (in account order) for acceptance and
// publishing.
func (r *Reconciler) repairSpokes(ctx context.Context, items []Item, accounts map[string]Account) ([]*converge.Spoke, batch) {
	perAccount := map[string][]Item{}
	for _, it := range items {
		if it.Repair == Converge || it.Repair == Remove || it.Repair == DeleteParameters {
			perAccount[it.Account] = append(perAccount[it.Account], it)
		}
	}
	ids := slices.Sorted(maps.Keys(perAccount))
	spokes := make([][]*converge.Spoke, len(ids))
	done := make([]batch, len(ids))
	r.each(ctx, len(ids), func(i int) {
		spokes[i], done[i] = r.repairAccount(ctx, accounts[ids[i]], perAccount[ids[i]])
	})
	return slices.Concat(spokes...), slices.Concat(done...)
}

// settleConnections settles in one batch the plan's pending connections
// and those of the endpoints just created (converged), and reports on the
// plan's settle items and on new endpoints whose connections the service
// does not list yet.
func (r *Reconciler) settleConnections(ctx context.Context, items []Item, converged []*converge.Spoke) (connections.Report, batch) {
	var pending []string
	for _, it := range items {
		if it.Repair == Settle {
			pending = append(pending, it.EndpointID)
		}
	}
	fresh := map[string]*converge.Spoke{}
	for _, s := range converged {
		if agentvpc.StateIs(s.State, agentvpc.StatePendingAcceptance) {
			pending = append(pending, s.Endpoint.ID)
			fresh[s.Endpoint.ID] = s
		}
	}
	if len(pending) == 0 {
		return connections.Report{}, nil
	}
	var await []string
	for id := range fresh {
		await = append(await, id)
	}
	slices.Sort(await)
	out, err := r.Guard.Resolve(ctx, pending, await, connections.Retry{Interval: r.VPCs.RetryInterval, Rounds: r.VPCs.SettleAttempts})
	if _, ok := errors.AsType[*connections.UnsettledError](err); ok {
		err = nil // each unsettled connection fails its own item below
	}
	settled, unlisted := out.Report, out.Unlisted
	var done batch
	for _, id := range unlisted {
		s := fresh[id]
		done = append(done, result{Item{Account: s.Obs.Account, VPCID: s.Obs.VPCID, EndpointID: id, Drift: "settle"},
			fmt.Errorf("the connection of new endpoint %s is not listed by the endpoint service yet; the next sweep settles it", id)})
	}
	for _, it := range items {
		if it.Repair == Settle {
			done = append(done, result{it, settleError(settled, it.EndpointID, err)})
		}
	}
	return settled, done
}

// settleError is how settling the connection of endpoint id went, given
// the batch's report and error.
func settleError(settled connections.Report, id string, err error) error {
	if why, bad := settled.Failed[id]; bad {
		return errors.New(why)
	}
	if slices.Contains(settled.Left, id) {
		// Not repaired: nothing shows yet whose it is (see
		// connections.Leave); the next sweep tries again.
		return fmt.Errorf("connection of %s left pending: its endpoint, VPC or spoke role cannot be read yet", id)
	}
	return err
}

// publication is one VPC to publish, and the plan's Publish item it
// repairs (nil when it follows a converge or a settle).
type publication struct {
	spoke *converge.Spoke
	item  *Item
}

// publications lists, by account and VPC, what to publish: the converged
// VPCs, the settled ones, and those whose parameters or tags drifted. A
// VPC whose spoke side is in sync is published from the sweep's
// observation; the Publish items of those it cannot rebuild fail here.
func (r *Reconciler) publications(ctx context.Context, items []Item, accounts map[string]Account, converged []*converge.Spoke,
	settled connections.Report) ([]publication, batch) {
	byVPC := map[string]*publication{}
	for _, s := range converged {
		s.Accepted(settled)
		byVPC[s.Obs.Account+"/"+s.Obs.VPCID] = &publication{spoke: s}
	}
	var done batch
	for _, it := range items {
		if (it.Repair != Publish && it.Repair != Settle) || it.VPCID == "" {
			continue
		}
		key := it.Account + "/" + it.VPCID
		p, ok := byVPC[key]
		if !ok {
			s, err := r.spokeFromView(ctx, accounts[it.Account], it.VPCID, settled)
			if err != nil {
				if it.Repair == Publish {
					done = append(done, result{it, err})
				}
				continue
			}
			p = &publication{spoke: s}
			byVPC[key] = p
		}
		if it.Repair == Publish {
			p.item = &it
		}
	}
	pubs := make([]publication, 0, len(byVPC))
	for _, key := range slices.Sorted(maps.Keys(byVPC)) {
		pubs = append(pubs, *byVPC[key])
	}
	return pubs, done
}

// publishAll publishes concurrently. Each publication's result is its
// Publish item's; one that follows a converge or a settle reports only a
// failure.
func (r *Reconciler) publishAll(ctx context.Context, pubs []publication) batch {
	errs := make([]error, len(pubs))
	r.each(ctx, len(pubs), func(i int) { errs[i] = r.publish(ctx, pubs[i].spoke) })
	var done batch
	for i, p := range pubs {
		switch {
		case p.item != nil:
			done = append(done, result{*p.item, errs[i]})
		case errs[i] != nil:
			done = append(done, result{Item{Account: p.spoke.Obs.Account, VPCID: p.spoke.Obs.VPCID, Drift: "publish"}, errs[i]})
		}
	}
	return done
}

// refreshAccepted re-reads the state of endpoints whose connections were
// just accepted (one describe per account), so that what is published is
// what the endpoint says now rather than a guess.
func (r *Reconciler) refreshAccepted(ctx context.Context, pubs []publication, settled connections.Report) {
	type place struct{ account, region string }
	byAccount := map[place][]*converge.Spoke{}
	for _, p := range pubs {
		if s := p.spoke; slices.Contains(settled.Accepted, s.Endpoint.ID) {
			at := place{s.Obs.Account, s.Obs.Region}
			byAccount[at] = append(byAccount[at], s)
		}
	}
	for at, spokes := range byAccount {
		client, err := r.Spokes.For(ctx, at.account, at.region)
		if err != nil {
			continue
		}
		ids := make([]string, len(spokes))
		for i, s := range spokes {
			ids[i] = s.Endpoint.ID
		}
		out, err := client.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: ids})
		if err != nil {
			continue // publish the state acceptance implies; the next sweep corrects it
		}
		for _, e := range out.VpcEndpoints {
			for _, s := range spokes {
				if s.Endpoint.ID == aws.ToString(e.VpcEndpointId) && agentvpc.Live(string(e.State)) {
					s.State = string(e.State)
				}
			}
		}
	}
}

func (r *Reconciler) publish(ctx context.Context, s *converge.Spoke) error {
	client, err := r.Spokes.For(ctx, s.Obs.Account, s.Obs.Region)
	if err != nil {
		return err
	}
	return r.VPCs.Publish(telemetry.With(ctx, "account", s.Obs.Account, "vpc", s.Obs.VPCID), client, s, false)
}

// spokeFromView rebuilds what Publish needs from the sweep's observation,
// for a VPC whose spoke side is in sync.
func (r *Reconciler) spokeFromView(ctx context.Context, a Account, vpc string, settled connections.Report) (*converge.Spoke, error) {
	info, err := r.Service.Info(ctx)
	if err != nil {
		return nil, err
	}
	o := a.Observed(vpc, r.Region)
	keeper, ok := o.Keeper()
	if !ok {
		return nil, fmt.Errorf("no live endpoint in %s", vpc)
	}
	group := agentGroup(a, vpc, a.Params[vpc])
	s := &converge.Spoke{Obs: o, Desired: agentvpc.Desired{ServiceName: info.Name}, Endpoint: keeper, State: keeper.State, AgentGroup: group}
	s.Accepted(settled)
	return s, nil
}

// repairAccount runs an account's converge, remove and delete repairs in
// order, and returns the converged VPCs for acceptance and publishing.
func (r *Reconciler) repairAccount(ctx context.Context, a Account, items []Item) ([]*converge.Spoke, batch) {
	ctx = telemetry.With(ctx, "account", a.ID)
	var out []*converge.Spoke
	done := make(batch, 0, len(items))
	for _, it := range items {
		if it.Repair == DeleteParameters {
			_, err := r.Store.Delete(ctx, it.Names...)
			done = append(done, result{it, err})
			continue
		}
		s, err := r.repairVPC(telemetry.With(ctx, "vpc", it.VPCID), a, it)
		if err == nil && s != nil && !s.Failed {
			out = append(out, s)
		}
		done = append(done, result{it, err})
	}
	return out, done
}

// repairVPC converges or removes one VPC from a fresh observation of it
// (the sweep's may be minutes old by now).
func (r *Reconciler) repairVPC(ctx context.Context, a Account, it Item) (*converge.Spoke, error) {
	region := a.RegionOf(it.VPCID, r.Region)
	client, err := r.Spokes.For(ctx, a.ID, region)
	if err != nil {
		return nil, err
	}
	// An onboard invocation converging the VPC right now (its lease) has
	// the newer word: the repair is left to it, and the next sweep checks.
	release, err := r.VPCs.TryLease(ctx, a.ID, it.VPCID)
	if tunnel.IsHeld(err) {
		return nil, fmt.Errorf("left to the invocation converging it: %w", err)
	}
	if err != nil {
		return nil, err
	}
	defer release()
	obs, err := agentvpc.Observe(ctx, client, a.ID, region, it.VPCID)
	if err != nil {
		return nil, err
	}
	if it.Repair == Remove {
		return nil, r.VPCs.Remove(ctx, client, obs, r.Config.GracePeriod)
	}
	return r.VPCs.EnsureSpoke(ctx, client, obs, nil)
}

// Sorted returns the items in a stable order for printing.
func Sorted(items []Item) []Item {
	out := slices.Clone(items)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Account != out[j].Account {
			return out[i].Account < out[j].Account
		}
		return out[i].VPCID < out[j].VPCID
	})
	return out
}
