package converge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/arn"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/awserr"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/connections"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/endpointservice"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/pace"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/status"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

// AgentVPCs converges agent VPCs one at a time. The onboard function and
// the reconciler's repairs both use it.
type AgentVPCs struct {
	Config  config.Config
	Region  string // the hub's Region: the endpoint service is regional
	Spokes  connections.Spokes
	Service *endpointservice.Service
	Guard   *connections.Guard
	Store   tunnel.Store
	Events  status.Publisher
	Applier agentvpc.Applier // EC2 is set per account
	Now     func() time.Time
	// RetryInterval is the first pause before asking again for something
	// EC2 shows late (a new connection); SettleAttempts bounds the asks.
	RetryInterval  time.Duration
	SettleAttempts int
	// ReadDelay is how long after it began an invocation that a tag change
	// started waits before reading the tag it decides from (EC2's reads
	// lag its writes). With the lease, this makes the decision of the last
	// invocation of a VPC follow the last tag change; see Converge.
	ReadDelay time.Duration
	// LeaseWait bounds the wait for another invocation's lease when the
	// context has no deadline (outside Lambda).
	LeaseWait time.Duration
	// FollowUps, when set, is told of a VPC whose endpoint is not
	// available yet, so that it is looked at again soon (the onboard
	// function's delayed message on its queue) rather than at the next
	// sweep. The reconciler leaves it nil: its next sweep is the follow-up.
	FollowUps FollowUps
}

// FollowUps schedules another look at an agent VPC.
type FollowUps interface {
	// FollowUp asks for the VPC to be converged again after delay; count
	// is the number of follow-ups of the VPC before this one.
	FollowUp(ctx context.Context, vpc event.RedriveRequest, count int, delay time.Duration) error
}

func (v *AgentVPCs) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Converge makes one VPC what its tag says, whatever the hint claimed.
func (v *AgentVPCs) Converge(ctx context.Context, hint event.Hint) error {
	log := telemetry.Logger(ctx)
	if ok, why := v.Config.AccountAllowed(hint.Account); !ok {
		log.Warn("event refused", "reason", "account-not-allowed", "detail", why)
		telemetry.Refused(ctx, "account-not-allowed")
		return nil
	}
	if !v.Config.Serves(hint.Region, v.Region) {
		log.Warn("event refused", "reason", "other-region",
			"detail", fmt.Sprintf("Region %s is not served (served: %s; AgentRegions adds Regions)", hint.Region, strings.Join(v.Config.Regions(v.Region), ", ")))
		telemetry.Refused(ctx, "other-region")
		return nil
	}
	client, err := v.Spokes.For(ctx, hint.Account, hint.Region)
	if err != nil {
		return err
	}
	vpcID, exclude := hint.VPCID, []string(nil)
	if hint.Kind == event.SubnetDeleteBlocked {
		vpcID, err = vpcOfSubnet(ctx, client, hint.SubnetID)
		if err != nil || vpcID == "" {
			return err
		}
		exclude = []string{hint.SubnetID}
		ctx = telemetry.With(ctx, "vpc", vpcID, "subnet", hint.SubnetID)
	}
	keep := hint.Kind != event.DeleteBlocked
	if hint.Claim != nil {
		if err := pace.Sleep(ctx, v.ReadDelay); err != nil {
			return err
		}
	}
	release, err := v.lease(ctx, hint.Account, vpcID)
	if err != nil {
		return err
	}
	defer release()
	// Under the lease, decide late and check again: the decision (onboard
	// or remove) is taken from a fresh read, the tag is read again before
	// each step that destroys and after the last, and when it flipped
	// meanwhile (an untag quickly followed by a re-tag, or the reverse)
	// the invocation starts over from a new read. See "Untag and re-tag"
	// in the README.
	for round := 1; ; round++ {
		obs, err := v.observe(ctx, client, hint, vpcID)
		if err != nil {
			return err
		}
		if round == 1 {
			if obs, err = v.catchUp(ctx, client, hint, vpcID, obs); err != nil {
				return err
			}
		}
		if obs.Exists && keep && v.Config.Tagged(obs.Tags) {
			var st string
			if st, err = v.ensure(ctx, client, obs, exclude); err == nil {
				err = v.followUp(ctx, hint, obs, st)
			}
		} else {
			err = v.remove(ctx, client, obs, 0, keep)
		}
		if !errors.Is(err, ErrTagChanged) || round >= maxRounds {
			return err
		}
		telemetry.Logger(ctx).Warn("the opt-in tag changed while converging; converging again", "round", round)
		telemetry.Count(ctx, "ConvergeRestarts", 1)
	}
}

// observe reads the VPC. A VPC the event says exists (its tags changed,
// or a re-drive names it) but that the describe does not show is read
// again for a while: EC2 is eventually consistent, and a VPC created a
// moment ago answers InvalidVpcID.NotFound. Taking that absence for a
// deletion would unpublish a live agent VPC, so if it lasts, the
// invocation fails (Lambda retries; the reconciler, which sees deletions
// for what they are, cleans up after a VPC that is really gone). Only a
// Deleted hint, CloudTrail's record of a DeleteVpc that succeeded, makes
// absence a deletion.
func (v *AgentVPCs) observe(ctx context.Context, client agentvpc.EC2, hint event.Hint, vpcID string) (agentvpc.Observed, error) {
	wait := v.retryInterval()
	for attempt := 1; ; attempt++ {
		obs, err := agentvpc.Observe(ctx, client, hint.Account, hint.Region, vpcID)
		if err != nil || obs.Exists || hint.Kind == event.Deleted {
			return obs, err
		}
		if attempt >= v.settleAttempts() {
			telemetry.Count(ctx, "VPCsNotVisible", 1)
			return obs, fmt.Errorf("%s is not visible through the spoke role after %d reads; nothing is removed on that alone", vpcID, attempt)
		}
		if err := pace.Sleep(ctx, wait); err != nil {
			return obs, err
		}
		wait *= 2
	}
}

// catchUp reads the VPC again, for a while, when the read disagrees with
// what the event says the opt-in tag became: EC2's reads lag its writes,
// so a describe right after a tag change may still show the tags from
// before it ("Eventual consistency in the Amazon EC2 API"). If the
// disagreement lasts, the read wins: the tag may really have changed again
// since the event (its own event follows), and acting on the newest read
// is never destructive by mistake, since removal re-reads the tag before
// every step.
func (v *AgentVPCs) catchUp(ctx context.Context, client agentvpc.EC2, hint event.Hint, vpcID string, obs agentvpc.Observed) (agentvpc.Observed, error) {
	if hint.Claim == nil {
		return obs, nil
	}
	claimed := hint.Claim.Present && v.Config.Tagged(map[string]string{v.Config.TagKey: hint.Claim.Value})
	wait := v.retryInterval()
	for attempt := 1; obs.Exists && v.Config.Tagged(obs.Tags) != claimed; attempt++ {
		if attempt >= v.settleAttempts() {
			telemetry.Logger(ctx).Warn("the VPC's tag still disagrees with the event; acting on what EC2 shows",
				"eventSaysTagged", claimed, "reads", attempt)
			telemetry.Count(ctx, "HintsDisagreeing", 1)
			return obs, nil
		}
		if err := pace.Sleep(ctx, wait); err != nil {
			return obs, err
		}
		wait *= 2
		next, err := v.observe(ctx, client, hint, vpcID)
		if err != nil {
			return obs, err
		}
		obs = next
	}
	return obs, nil
}

// ErrTagChanged stops converging a VPC whose opt-in tag changed after the
// decision to onboard or remove it was taken.
var ErrTagChanged = errors.New("the VPC's opt-in tag changed while converging")

// maxRounds bounds how often one invocation starts over after the tag
// flipped; past it the error goes back to Lambda, which retries.
const maxRounds = 4

// recheck reads the VPC's tag again and reports ErrTagChanged when it no
// longer says what the decision assumed.
func (v *AgentVPCs) recheck(ctx context.Context, client agentvpc.EC2, vpcID string, wantTagged, keep bool) error {
	exists, tags, err := agentvpc.VPCTags(ctx, client, vpcID)
	if err != nil {
		return err
	}
	if (exists && keep && v.Config.Tagged(tags)) != wantTagged {
		return fmt.Errorf("%s, %w", vpcID, ErrTagChanged)
	}
	return nil
}

// lease lets one invocation at a time converge a VPC. Two events of
// one tag change (aws.tag and CloudTrail's CreateTags), duplicates, and an
// untag quickly followed by a re-tag all start invocations for the same
// VPC at once; interleaved, one could undo the other's steps after the
// other's last re-read, and no re-read can rule that out while EC2's reads
// lag. Under the lease each invocation decides from a read taken after the
// previous one finished, and the invocation of the last tag change (which
// began after it, and waited ReadDelay before reading) ends in the tag's
// state whichever order they run in. The lease is a parameter in the hub
// (see tunnel.TakeLease); the returned function gives it back.
func (v *AgentVPCs) lease(ctx context.Context, account, vpcID string) (func(), error) {
	return v.takeLease(ctx, account, vpcID, true)
}

// TryLease takes a VPC's lease without waiting for another holder (a
// *tunnel.HeldError then): the reconciler's repairs leave a VPC that an
// onboard invocation is converging to that invocation.
func (v *AgentVPCs) TryLease(ctx context.Context, account, vpcID string) (release func(), err error) {
	return v.takeLease(ctx, account, vpcID, false)
}

func (v *AgentVPCs) takeLease(ctx context.Context, account, vpcID string, wait bool) (func(), error) {
	holder := holderID(ctx)
	until := v.now().Add(15 * time.Minute)
	give := time.Now().Add(v.leaseWait())
	if dl, ok := ctx.Deadline(); ok {
		// A Lambda invocation cannot outlive its deadline: its lease
		// expires 10 s after it (clock skew), and the wait leaves it 30 s
		// to work.
		until = v.now().Add(time.Until(dl) + 10*time.Second)
		give = dl.Add(-30 * time.Second)
	}
	release := func() {
		// Given back even when the invocation's context ended.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := v.Store.ReleaseLease(rctx, account, vpcID, holder); err != nil {
			telemetry.Logger(ctx).Warn("giving the lease back failed; it expires by itself", "error", err.Error())
		}
	}
	pause := v.retryInterval()
	for {
		held, found, err := v.Store.LeaseOf(ctx, account, vpcID)
		if err != nil {
			return nil, err
		}
		if !found || v.now().After(held.Until) {
			err = v.Store.TakeLease(ctx, account, vpcID, tunnel.Lease{Holder: holder, Until: until}, v.now())
			if err == nil {
				return release, nil
			}
			if !tunnel.IsHeld(err) {
				// The put may have taken effect with its answer lost: a
				// lease of ours is given back (it is read first).
				release()
				return nil, err
			}
		} else {
			err = &tunnel.HeldError{VPCID: vpcID, Lease: held}
		}
		if !wait {
			return nil, err
		}
		if time.Now().Add(pause).After(give) {
			telemetry.Count(ctx, "LeaseWaitsGivenUp", 1)
			return nil, fmt.Errorf("%w; a retry converges it later", err)
		}
		telemetry.Logger(ctx).Info("waiting for another invocation converging this VPC", "reason", err.Error())
		telemetry.Count(ctx, "LeaseWaits", 1)
		if err := pace.Sleep(ctx, pause); err != nil {
			return nil, err
		}
		pause = min(2*pause, 4*v.retryInterval())
	}
}

func (v *AgentVPCs) leaseWait() time.Duration {
	if v.LeaseWait > 0 {
		return v.LeaseWait
	}
	return 5 * time.Minute
}

// holderID names this invocation in a lease: the Lambda request id when
// there is one, and a random part in any case.
func holderID(ctx context.Context) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID + "/" + id
	}
	return id
}

func vpcOfSubnet(ctx context.Context, client agentvpc.EC2, subnetID string) (string, error) {
	out, err := client.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{subnetID}})
	if awserr.IsNotFound(err) {
		return "", nil // deleted after all
	}
	if err != nil {
		return "", fmt.Errorf("describing %s, %w", subnetID, err)
	}
	if len(out.Subnets) == 0 {
		return "", nil
	}
	return aws.ToString(out.Subnets[0].VpcId), nil
}

// Desired computes what a tagged VPC should hold. In a Region other than
// the service's, the endpoint names the service's Region (a cross-Region
// endpoint) and may use the zones of its own Region (Info.Offers).
func (v *AgentVPCs) Desired(info endpointservice.Info, obs agentvpc.Observed, exclude []string) agentvpc.Desired {
	return agentvpc.Desired{
		Tagged:        true,
		Keep:          true,
		ServiceName:   info.Name,
		ServiceRegion: info.ServiceRegionFor(obs.Region),
		SubnetIDs: agentvpc.ChooseSubnets(obs.Subnets, func(az string) bool { return info.Offers(obs.Region, az) },
			v.Config.SubnetTagKey, exclude...),
		Ports: v.Config.Ports(),
	}
}

// ensure onboards a tagged VPC and returns the status it published.
func (v *AgentVPCs) ensure(ctx context.Context, client agentvpc.EC2, obs agentvpc.Observed, exclude []string) (string, error) {
	// The principal first: CreateVpcEndpoint is refused without it.
	allowed, err := v.Service.Allow(ctx, obs.Account)
	if err != nil {
		return "", err
	}
	if allowed {
		telemetry.Logger(ctx).Info("allowed spoke principal", "principal", v.Service.Principal(obs.Account))
	}
	res, err := v.EnsureSpoke(ctx, client, obs, exclude)
	if err != nil || res.Failed {
		return status.Failed, err
	}
	if agentvpc.StateIs(res.State, agentvpc.StatePendingAcceptance) {
		if err := v.settle(ctx, client, res); err != nil {
			return "", err
		}
	}
	// Not published for a VPC untagged meanwhile.
	if err := v.recheck(ctx, client, obs.VPCID, true, true); err != nil {
		return "", err
	}
	if err := v.Publish(ctx, client, res, allowed); err != nil {
		return "", err
	}
	// After the last change: a removal racing this invocation may have
	// deleted the endpoint or revoked the principal after they were read.
	return statusOf(res.State), v.verify(ctx, client, obs, res.Endpoint.ID)
}

// followUp schedules another look at a VPC whose endpoint was accepted
// and is still becoming available (status connecting): PrivateLink takes
// a minute or two, and without a follow-up the status tag, the document
// and the status event would say ready only at the next sweep. The
// follow-ups of a VPC are bounded (Config.FollowUps); past them, and for
// any other status (pending acceptance waits for a person; failed and
// degraded for a change), the sweep is the follow-up.
func (v *AgentVPCs) followUp(ctx context.Context, hint event.Hint, obs agentvpc.Observed, st string) error {
	if v.FollowUps == nil || st != status.Connecting {
		return nil
	}
	if hint.FollowUp >= v.Config.FollowUps {
		telemetry.Logger(ctx).Warn("the endpoint is still not available after every follow-up; the next sweep looks again",
			"followUps", hint.FollowUp)
		telemetry.Count(ctx, "FollowUpsExhausted", 1)
		return nil
	}
	req := event.RedriveRequest{Account: obs.Account, Region: obs.Region, VPCID: obs.VPCID}
	if err := v.FollowUps.FollowUp(ctx, req, hint.FollowUp+1, v.Config.FollowUpDelay); err != nil {
		return fmt.Errorf("scheduling the follow-up of %s, %w", obs.VPCID, err)
	}
	telemetry.Logger(ctx).Info("follow-up scheduled", "after", v.Config.FollowUpDelay.String(), "followUp", hint.FollowUp+1)
	telemetry.Count(ctx, "FollowUps", 1)
	return nil
}

// verify checks, after onboarding, that the VPC is still tagged, its
// endpoint still holds and its principal is still allowed; otherwise it
// reports ErrTagChanged, and Converge starts over.
func (v *AgentVPCs) verify(ctx context.Context, client agentvpc.EC2, obs agentvpc.Observed, endpointID string) error {
	if err := v.recheck(ctx, client, obs.VPCID, true, true); err != nil {
		return err
	}
	state, err := endpointState(ctx, client, endpointID)
	if err != nil {
		return err
	}
	if state != "" && !agentvpc.Holds(state) {
		return fmt.Errorf("endpoint %s became %s meanwhile, %w", endpointID, state, ErrTagChanged)
	}
	principals, err := v.Service.Principals(ctx)
	if err != nil {
		return err
	}
	if p := v.Service.Principal(obs.Account); !slices.Contains(principals, p) && !slices.Contains(principals, "*") {
		return fmt.Errorf("principal %s was revoked meanwhile, %w", p, ErrTagChanged)
	}
	return nil
}

// settle gets the new endpoint's connection accepted (or held, in manual
// mode) through the acceptance flow every function uses
// (connections.Guard.Resolve): the hub's connection list and the owner's
// describe both lag a new endpoint, so an unlisted connection, or one left
// pending for lack of evidence, is asked about again for a while and then
// returned as an error, so Lambda retries the invocation; it is never
// taken as done.
func (v *AgentVPCs) settle(ctx context.Context, client agentvpc.EC2, res *Spoke) error {
	id := res.Endpoint.ID
	out, err := v.Guard.Resolve(ctx, []string{id}, []string{id}, connections.Retry{Interval: v.retryInterval(), Rounds: v.settleAttempts()})
	res.Accepted(out.Report)
	if err != nil {
		return fmt.Errorf("connection of %s, %w", id, err)
	}
	if slices.Contains(out.Held, id) {
		return nil // manual approval: pending-acceptance is the outcome
	}
	// Another invocation (or the accept function) may have settled it
	// first, and an older observation must not be published over a newer
	// one: read the state the endpoint has now.
	state, err := endpointState(ctx, client, id)
	if err != nil {
		return err
	}
	switch {
	case state != "" && !agentvpc.StateIs(state, agentvpc.StatePendingAcceptance):
		if !agentvpc.Holds(state) {
			return fmt.Errorf("connection of %s is %s after settling", id, state)
		}
		res.State = state
	case slices.Contains(out.Accepted, id) || out.Holds(id):
		res.State = agentvpc.StatePending // the describe lags the accept
	default:
		return fmt.Errorf("connection of %s still pending acceptance after settling; a retry or the reconciler settles it", id)
	}
	return nil
}

func (v *AgentVPCs) retryInterval() time.Duration {
	if v.RetryInterval > 0 {
		return v.RetryInterval
	}
	return time.Second
}

func (v *AgentVPCs) settleAttempts() int {
	if v.SettleAttempts > 0 {
		return v.SettleAttempts
	}
	return 5 // with the default interval: about 15 s of waiting
}

// endpointState reads an endpoint's current state through the spoke role;
// "" when the describe does not show it (gone, or not visible yet).
func endpointState(ctx context.Context, client agentvpc.EC2, id string) (string, error) {
	out, err := client.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []types.Filter{
		{Name: aws.String("vpc-endpoint-id"), Values: []string{id}}}})
	if err != nil {
		return "", fmt.Errorf("reading the state of %s, %w", id, err)
	}
	for _, e := range out.VpcEndpoints {
		if aws.ToString(e.VpcEndpointId) == id {
			return string(e.State), nil
		}
	}
	return "", nil
}

// Spoke is the result of converging a tagged VPC's spoke side.
type Spoke struct {
	Obs        agentvpc.Observed
	Desired    agentvpc.Desired
	Outcome    agentvpc.Outcome
	Endpoint   agentvpc.Endpoint
	State      string // the endpoint's connection state, as far as known
	AgentGroup string
	Failed     bool // the VPC cannot be onboarded; already reported
}

// Accepted records the settling of connections.
func (s *Spoke) Accepted(rep connections.Report) {
	if slices.Contains(rep.Accepted, s.Endpoint.ID) {
		s.State = agentvpc.StatePending
	}
}

// cannotOnboard says why a VPC cannot be onboarded as it is, or "": a
// Region the service does not support (the operator adds it), or no
// subnet in a zone an endpoint there may use (the VPC's owner adds one).
func cannotOnboard(info endpointservice.Info, obs agentvpc.Observed, d agentvpc.Desired) string {
	switch {
	case !info.Supports(obs.Region):
		return fmt.Sprintf("the endpoint service %s does not support Region %s (its supported Regions: %s; add it to AgentRegions)",
			info.ID, obs.Region, strings.Join(supported(info), ", "))
	case len(d.SubnetIDs) == 0 && obs.Region == info.Region:
		return fmt.Sprintf("no subnet in an Availability Zone the service offers (AZ IDs %v)", info.AZIDs)
	case len(d.SubnetIDs) == 0:
		return "no subnet in an Availability Zone of " + obs.Region + " that supports cross-Region PrivateLink"
	}
	return ""
}

// supported lists the Regions the service supports, its own first.
func supported(info endpointservice.Info) []string {
	out := []string{info.Region}
	for _, r := range info.SupportedRegions {
		if r != info.Region {
			out = append(out, r)
		}
	}
	return out
}

// EnsureSpoke makes the groups and the endpoint of a tagged VPC what they
// should be. The principal must already be allowed; acceptance and
// publishing are left to the caller, so the reconciler can batch them.
func (v *AgentVPCs) EnsureSpoke(ctx context.Context, client agentvpc.EC2, obs agentvpc.Observed, exclude []string) (*Spoke, error) {
	log := telemetry.Logger(ctx)
	info, err := v.Service.Info(ctx)
	if err != nil {
		return nil, err
	}
	d := v.Desired(info, obs, exclude)
	if reason := cannotOnboard(info, obs, d); reason != "" {
		log.Error("agent VPC cannot be onboarded", "reason", reason)
		if _, err := agentvpc.SetStatus(ctx, client, obs, status.Failed, ""); err != nil {
			return nil, err
		}
		return &Spoke{Failed: true}, v.Events.Put(ctx, status.AgentVPCStatus, []string{vpcARN(obs)},
			status.VPC{Account: obs.Account, Region: obs.Region, VPCID: obs.VPCID, Status: status.Failed, Reason: reason})
	}
	steps := agentvpc.Plan(d, obs, v.now(), 0)
	a := v.Applier
	a.EC2 = client
	out, err := a.Apply(ctx, d, obs, steps)
	for _, c := range out.Changes {
		log.Info("changed", "change", c)
	}
	if err != nil {
		return nil, err
	}
	if out.Endpoint == nil {
		return nil, fmt.Errorf("no endpoint in %s after applying %d steps", obs.VPCID, len(steps))
	}
	if slices.ContainsFunc(steps, func(s agentvpc.Step) bool { return s.Kind == agentvpc.CreateEndpoint }) {
		telemetry.Count(ctx, "VPCsOnboarded", 1)
	}
	return &Spoke{Obs: obs, Desired: d, Outcome: out, Endpoint: *out.Endpoint, State: out.Endpoint.State,
		AgentGroup: out.GroupIDs[agentvpc.RoleAgent]}, nil
}

// Publish writes the tunnel and document, the status tags and a status
// event with the outcome. alsoChanged reports changes the caller made
// before (a principal, say), for the log.
func (v *AgentVPCs) Publish(ctx context.Context, client agentvpc.EC2, s *Spoke, alsoChanged bool) error {
	log := telemetry.Logger(ctx)
	st := statusOf(s.State)
	doc := v.Document(s.Obs, s.Endpoint, s.State, st, s.AgentGroup, s.Desired.ServiceName)
	wrote, err := v.Store.Publish(ctx, doc)
	if err != nil {
		return err
	}
	for _, name := range wrote {
		log.Info("published parameter", "name", name)
	}
	change, err := agentvpc.ReadStatus(ctx, client, s.Obs.VPCID, st, s.Endpoint.ID)
	if err != nil {
		return err
	}
	if len(s.Outcome.Changes) == 0 && len(wrote) == 0 && !change.Changed() && !alsoChanged {
		log.Info("agent VPC in sync", "endpoint", s.Endpoint.ID, "status", st)
	} else {
		log.Info("agent VPC converged", "endpoint", s.Endpoint.ID, "status", st, "tunnel", doc.Tunnel)
	}
	// The event reports the outcome, changed or not: a retry after a lost
	// PutEvents finds nothing to change and must still send it. Its
	// eventId lets consumers drop the repeats. It goes before the status
	// tags are written: Changed says the status tag is changing (what the
	// Jenkins reload rule matches), and a retry after a lost event still
	// finds the tag to change, so the change is reported again rather than
	// lost.
	if err := v.Events.Put(ctx, status.AgentVPCStatus, []string{vpcARN(s.Obs)}, status.VPC{
		Account: s.Obs.Account, Region: s.Obs.Region, VPCID: s.Obs.VPCID, Status: st, EndpointID: s.Endpoint.ID, Tunnel: doc.Tunnel,
		Changed: change.Changed()}); err != nil {
		return err
	}
	return change.Apply(ctx, client)
}

// Document is the published document of a tagged VPC with endpoint ep.
func (v *AgentVPCs) Document(obs agentvpc.Observed, ep agentvpc.Endpoint, state, st, agentGroup, serviceName string) tunnel.Document {
	host := agentvpc.RegionalDNSName(ep.DNSNames, obs.Region)
	return tunnel.Document{
		Account: obs.Account, Region: obs.Region, VPCID: obs.VPCID,
		EndpointID: ep.ID, EndpointState: state, Status: st,
		Tunnel:             tunnel.Tunnel(host, v.Config.TunnelPort),
		JenkinsURL:         tunnel.JenkinsURL(host, v.Config.HTTPPort),
		AgentSubnets:       slices.Sorted(slices.Values(ep.SubnetIDs)),
		AgentSecurityGroup: agentGroup,
		ServiceName:        serviceName,
	}
}

// statusOf maps an endpoint state to the agent VPC's status.
func statusOf(state string) string {
	switch {
	case agentvpc.StateIs(state, agentvpc.StateAvailable):
		return status.Ready
	case agentvpc.StateIs(state, agentvpc.StatePending):
		return status.Connecting
	case agentvpc.StateIs(state, agentvpc.StatePendingAcceptance):
		return status.PendingAcceptance
	case agentvpc.Classify(state) == agentvpc.Degraded:
		return status.Degraded
	}
	return status.Failed
}

// StatusOf is statusOf for the reconciler.
func StatusOf(state string) string { return statusOf(state) }

// Remove takes everything the product made out of a VPC that is no longer
// an agent VPC, and drops the account's principal when it was the last
// one. Resources younger than grace are left alone (the reconciler's
// safety margin; onboarding passes zero). It stops with ErrTagChanged when
// the VPC is tagged again meanwhile.
func (v *AgentVPCs) Remove(ctx context.Context, client agentvpc.EC2, obs agentvpc.Observed, grace time.Duration) error {
	return v.remove(ctx, client, obs, grace, true)
}

// remove takes a VPC's footprint away in the order that keeps what Jenkins
// reads honest: first the published tunnel (so no published tunnel points
// at an endpoint being deleted), then the connection (traffic stops now
// rather than when deletion ends), the endpoint and its groups, then the
// status event and the status tags (the status tag is the record that a
// removal still has to be reported: a retry after a lost event sends it
// again), and last the account's principal. Before each step that
// destroys, and after the last, the tag is read again (keep false: the VPC
// is being deleted, so its tag does not matter).
func (v *AgentVPCs) remove(ctx context.Context, client agentvpc.EC2, obs agentvpc.Observed, grace time.Duration, keep bool) error {
	log := telemetry.Logger(ctx)
	recheck := func(ctx context.Context) error { return v.recheck(ctx, client, obs.VPCID, false, keep) }
	steps := agentvpc.Plan(agentvpc.Desired{}, obs, v.now(), grace)

	deleted, err := v.Store.Remove(ctx, obs.Account, obs.VPCID)
	if err != nil {
		return err
	}
	for _, name := range deleted {
		log.Info("deleted parameter", "name", name)
	}
	rejected, err := v.rejectLive(ctx, steps, recheck)
	if err != nil {
		return err
	}
	a := v.Applier
	a.EC2 = client
	a.Recheck = recheck
	out, err := a.Apply(ctx, agentvpc.Desired{}, obs, steps)
	for _, c := range out.Changes {
		log.Info("changed", "change", c)
	}
	if err != nil {
		return err
	}
	changed := len(out.Changes) > 0 || len(deleted) > 0 || len(rejected) > 0
	if err := v.reportRemoved(ctx, client, obs, changed, out.GroupsInUse); err != nil {
		return err
	}
	if _, err := v.revokeIfLast(ctx, client, obs, keep); err != nil {
		return err
	}
	return recheck(ctx)
}

// rejectLive rejects the connections of the endpoints the removal deletes,
// after reading the tag once more: traffic stops now rather than when the
// deletion ends.
func (v *AgentVPCs) rejectLive(ctx context.Context, steps []agentvpc.Step, recheck func(context.Context) error) ([]string, error) {
	var live []string
	for _, s := range steps {
		if s.Kind == agentvpc.DeleteEndpoints {
			live = append(live, s.EndpointIDs...)
		}
	}
	if len(live) == 0 {
		return nil, nil
	}
	if err := recheck(ctx); err != nil {
		return nil, err
	}
	rejected, err := v.Guard.RejectEndpoints(ctx, live)
	if len(rejected) > 0 {
		telemetry.Logger(ctx).Info("rejected connections", "endpoints", rejected)
	}
	return rejected, err
}

// reportRemoved sends the removed status event when the removal changed
// something or its report is still owed (the VPC's status tag is the
// record of that: a retry after a lost event sends it again), then clears
// the status tags.
func (v *AgentVPCs) reportRemoved(ctx context.Context, client agentvpc.EC2, obs agentvpc.Observed, changed bool, groupsInUse []string) error {
	log := telemetry.Logger(ctx)
	var unreported bool
	if obs.Exists {
		_, tags, err := agentvpc.VPCTags(ctx, client, obs.VPCID)
		if err != nil {
			return err
		}
		unreported = tags[agentvpc.TagStatus] != ""
	}
	if !changed && !unreported {
		log.Info("not an agent VPC; nothing to remove")
		return nil
	}
	telemetry.Count(ctx, "VPCsOffboarded", 1)
	reason := ""
	if len(groupsInUse) > 0 {
		reason = fmt.Sprintf("agent security group %v still in use; left in place", groupsInUse)
		log.Warn("agent security group still in use", "groups", groupsInUse)
	}
	log.Info("agent VPC removed")
	if err := v.Events.Put(ctx, status.AgentVPCStatus, []string{vpcARN(obs)},
		status.VPC{Account: obs.Account, Region: obs.Region, VPCID: obs.VPCID, Status: status.Removed, Reason: reason, Changed: true}); err != nil {
		return err
	}
	if unreported {
		_, err := agentvpc.SetStatus(ctx, client, obs, "", "")
		return err
	}
	return nil
}

// revokeIfLast drops the account's principal when no agent VPC remains
// there, in any served Region: no tagged VPC (this one included, read
// now: it may have been tagged again) and no managed endpoint that holds a
// VPC.
func (v *AgentVPCs) revokeIfLast(ctx context.Context, client agentvpc.EC2, obs agentvpc.Observed, keep bool) (bool, error) {
	// EC2 may not show yet a VPC tagged or an endpoint created a moment
	// ago; Parameter Store shows another VPC of the account that is being
	// onboarded (its lease) or was (its parameters).
	others, err := v.Store.VPCs(ctx, obs.Account)
	if err != nil {
		return false, err
	}
	if slices.ContainsFunc(others, func(id string) bool { return id != obs.VPCID }) {
		return false, nil
	}
	for _, region := range v.Config.Regions(v.Region) {
		c := client
		if region != obs.Region {
			if c, err = v.Spokes.For(ctx, obs.Account, region); err != nil {
				return false, err
			}
		}
		if used, err := v.usesService(ctx, c, obs, region, keep); used || err != nil {
			return false, err
		}
	}
	revoked, err := v.Service.Revoke(ctx, obs.Account)
	if revoked {
		telemetry.Logger(ctx).Info("revoked spoke principal", "principal", v.Service.Principal(obs.Account))
	}
	return revoked, err
}

// usesService reports whether the account still has, in region, a tagged
// VPC other than obs's (obs's own counts while keep: it was tagged again,
// which is ErrTagChanged) or a managed endpoint that holds a VPC.
func (v *AgentVPCs) usesService(ctx context.Context, client agentvpc.EC2, obs agentvpc.Observed, region string, keep bool) (bool, error) {
	vpcs, err := client.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{
		{Name: aws.String("tag-key"), Values: []string{v.Config.TagKey}}}})
	if err != nil {
		return false, fmt.Errorf("looking for other agent VPCs in %s %s, %w", obs.Account, region, err)
	}
	for _, other := range vpcs.Vpcs {
		id := aws.ToString(other.VpcId)
		if id == obs.VPCID && !keep {
			continue // being deleted: its tag no longer counts
		}
		if v.Config.Tagged(agentvpc.TagMap(other.Tags)) {
			if id == obs.VPCID {
				return true, fmt.Errorf("%s, %w", id, ErrTagChanged)
			}
			return true, nil
		}
	}
	endpoints, err := agentvpc.DescribeEndpoints(ctx, client, agentvpc.ManagedFilter())
	if err != nil {
		return false, fmt.Errorf("looking for other managed endpoints in %s %s, %w", obs.Account, region, err)
	}
	return slices.ContainsFunc(endpoints, func(e agentvpc.Endpoint) bool { return agentvpc.Holds(e.State) }), nil
}

func vpcARN(o agentvpc.Observed) string {
	return arn.VPC(o.Region, o.Account, o.VPCID)
}
