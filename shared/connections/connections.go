package connections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/awserr"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/pace"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/spoke"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/status"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

// HubEC2 is the part of the hub's EC2 API the guard uses.
type HubEC2 interface {
	DescribeVpcEndpointConnections(ctx context.Context, in *ec2.DescribeVpcEndpointConnectionsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointConnectionsOutput, error)
	AcceptVpcEndpointConnections(ctx context.Context, in *ec2.AcceptVpcEndpointConnectionsInput, optFns ...func(*ec2.Options)) (*ec2.AcceptVpcEndpointConnectionsOutput, error)
	RejectVpcEndpointConnections(ctx context.Context, in *ec2.RejectVpcEndpointConnectionsInput, optFns ...func(*ec2.Options)) (*ec2.RejectVpcEndpointConnectionsOutput, error)
}

// Spokes hands out spoke-role clients per account.
type Spokes interface {
	For(ctx context.Context, account, region string) (agentvpc.EC2, error)
}

// Connection is one connection to the service.
type Connection struct {
	EndpointID string
	Owner      string
	State      string
	// Region is the endpoint's Region (VpcEndpointRegion): another Region
	// than the service's for a cross-Region endpoint; empty means the
	// service's (Decide reads it so).
	Region string
}

// Verdict is what to do with a pending connection.
type Verdict string

// The verdicts.
const (
	Accept Verdict = "accept"
	Reject Verdict = "reject"
	Hold   Verdict = "hold" // manual approval mode
	// Leave keeps a connection pending because nothing shows yet whose it
	// is (the endpoint or its VPC not visible yet, the spoke role not
	// assumable yet). A pending connection carries no traffic, so waiting
	// is safe; rejecting is final for that endpoint.
	Leave Verdict = "leave"
)

// Decision is a verdict on one connection and the reason for it.
type Decision struct {
	Connection
	Verdict Verdict
	Reason  string
	VPCID   string
}

// Report is what settling did.
type Report struct {
	Accepted []string
	Rejected []string
	Held     []string
	Left     []string          // left pending for a retry or the reconciler
	Failed   map[string]string // endpoint id -> error, from Unsuccessful[]
}

// Guard decides and settles connections.
type Guard struct {
	Hub       HubEC2
	ServiceID string
	Region    string
	Spokes    Spokes
	Config    config.Config
	Events    status.Publisher
	// BatchSize bounds the ids per accept/reject call.
	BatchSize int
	// Pace, when set, is waited on before each accept/reject call: they
	// share a bucket of 10 calls, refilled at 1 per second, on the hub.
	Pace *pace.Bucket
}

// Connections lists the service's connections, optionally only those of
// some endpoints and in some states.
func (g *Guard) Connections(ctx context.Context, endpointIDs []string, states ...string) ([]Connection, error) {
	filters := []types.Filter{{Name: aws.String("service-id"), Values: []string{g.ServiceID}}}
	if len(endpointIDs) > 0 {
		filters = append(filters, types.Filter{Name: aws.String("vpc-endpoint-id"), Values: endpointIDs})
	}
	if len(states) > 0 {
		filters = append(filters, types.Filter{Name: aws.String("vpc-endpoint-state"), Values: states})
	}
	var out []Connection
	p := ec2.NewDescribeVpcEndpointConnectionsPaginator(g.Hub, &ec2.DescribeVpcEndpointConnectionsInput{Filters: filters})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing connections to %s, %w", g.ServiceID, err)
		}
		for _, c := range page.VpcEndpointConnections {
			conn := Connection{EndpointID: aws.ToString(c.VpcEndpointId), Owner: aws.ToString(c.VpcEndpointOwner), State: string(c.VpcEndpointState),
				Region: aws.ToString(c.VpcEndpointRegion)}
			// Filters are a request, not a promise: check the state here too.
			if len(states) == 0 || agentvpc.StateIs(conn.State, states...) {
				out = append(out, conn)
			}
		}
	}
	return out, nil
}

// Decide gives a verdict on each pending connection. It reads each owner
// account once, through the spoke role. A transient failure to read an
// account leaves its connections undecided (returned in the error), since
// neither accepting nor rejecting would be safe.
func (g *Guard) Decide(ctx context.Context, conns []Connection) ([]Decision, error) {
	byOwner := map[place][]Connection{}
	var out []Decision
	for _, c := range conns {
		if !agentvpc.StateIs(c.State, agentvpc.StatePendingAcceptance) {
			continue
		}
		if ok, why := g.Config.AccountAllowed(c.Owner); !ok {
			out = append(out, Decision{Connection: c, Verdict: Reject, Reason: why})
			continue
		}
		region := c.Region
		if region == "" {
			region = g.Region
		}
		if !g.Config.Serves(region, g.Region) {
			out = append(out, Decision{Connection: c, Verdict: Reject, Reason: "endpoint in Region " + region + ", which is not served"})
			continue
		}
		byOwner[place{c.Owner, region}] = append(byOwner[place{c.Owner, region}], c)
	}
	var errs []error
	for _, owner := range slices.SortedFunc(maps.Keys(byOwner), comparePlaces) {
		ds, err := g.decideOwner(ctx, owner, byOwner[owner])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, ds...)
	}
	return out, errors.Join(errs...)
}

// place is an owner account and the Region of its endpoints: the spoke
// role reads them there.
type place struct{ account, region string }

func comparePlaces(a, b place) int {
	return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.region, b.region))
}

func (g *Guard) decideOwner(ctx context.Context, at place, conns []Connection) ([]Decision, error) {
	owner := at.account
	leaveAll := func(reason string) []Decision {
		out := make([]Decision, len(conns))
		for i, c := range conns {
			out[i] = Decision{Connection: c, Verdict: Leave, Reason: reason}
		}
		return out
	}
	client, err := g.Spokes.For(ctx, owner, at.region)
	var accessErr *spoke.AccessError
	if errors.As(err, &accessErr) && awserr.IsAccessDenied(err) {
		// Not evidence of a stranger: IAM changes take time to propagate
		// (a new spoke role, or a hub role recreated under the same name
		// that the trust policy no longer matches until it is updated).
		// The connections stay pending, where they carry no traffic; the
		// reconciler and the dashboards see them.
		return leaveAll("spoke role of the owner account cannot be assumed yet (" + awserr.Code(err) + ")"), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading owner account %s, %w", owner, err)
	}
	ids := make([]string, len(conns))
	for i, c := range conns {
		ids[i] = c.EndpointID
	}
	endpoints, err := describeEndpoints(ctx, client, ids)
	if err != nil {
		return nil, fmt.Errorf("describing endpoints %v in %s, %w", ids, owner, err)
	}
	vpcSet := map[string]bool{}
	for _, e := range endpoints {
		vpcSet[aws.ToString(e.VpcId)] = true
	}
	vpcTags := map[string]map[string]string{}
	if len(vpcSet) > 0 {
		// A filter, unlike VpcIds, never fails the whole call for one VPC
		// that the describe does not see yet.
		p := ec2.NewDescribeVpcsPaginator(client, &ec2.DescribeVpcsInput{Filters: []types.Filter{
			{Name: aws.String("vpc-id"), Values: slices.Sorted(maps.Keys(vpcSet))}}})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("describing VPCs of endpoints in %s, %w", owner, err)
			}
			for _, v := range page.Vpcs {
				vpcTags[aws.ToString(v.VpcId)] = agentvpc.TagMap(v.Tags)
			}
		}
	}
	out := make([]Decision, 0, len(conns))
	for _, c := range conns {
		e, found := endpoints[c.EndpointID]
		vpc := aws.ToString(e.VpcId)
		tags, vpcFound := vpcTags[vpc]
		d := Decision{Connection: c, VPCID: vpc, Verdict: Reject}
		switch {
		case !found:
			// EC2 is eventually consistent: an endpoint just created may
			// not be visible to its owner's describe yet.
			d.Verdict, d.Reason = Leave, "endpoint not visible in its owner account yet"
		case agentvpc.TagMap(e.Tags)[agentvpc.TagManaged] != "true":
			d.Reason = "endpoint not created by jenkins-agent-vpcs"
		case !vpcFound:
			d.Verdict, d.Reason = Leave, fmt.Sprintf("VPC %s not visible in its owner account yet", vpc)
		case !g.Config.Tagged(tags):
			d.Reason = fmt.Sprintf("VPC %s does not carry %s=%s", vpc, g.Config.TagKey, g.Config.TagValue)
		case g.Config.ApprovalMode == config.ApprovalManual:
			d.Verdict, d.Reason = Hold, "manual approval mode"
		default:
			d.Verdict, d.Reason = Accept, "managed endpoint in tagged VPC "+vpc
		}
		out = append(out, d)
	}
	return out, nil
}

// describeEndpoints reads endpoints by id. One call names them all; when
// it fails because one id is unknown (EC2 fails the whole call with
// InvalidVpcEndpointId.NotFound, see "Eventual consistency" in the EC2 API
// reference), each id is read on its own so that one missing endpoint
// leaves only its own connection undecided.
func describeEndpoints(ctx context.Context, client agentvpc.EC2, ids []string) (map[string]types.VpcEndpoint, error) {
	out := map[string]types.VpcEndpoint{}
	res, err := client.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: ids})
	if err == nil {
		for _, e := range res.VpcEndpoints {
			out[aws.ToString(e.VpcEndpointId)] = e
		}
		return out, nil
	}
	if !awserr.IsNotFound(err) {
		return nil, err
	}
	for _, id := range ids {
		res, err := client.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{id}})
		if awserr.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range res.VpcEndpoints {
			out[aws.ToString(e.VpcEndpointId)] = e
		}
	}
	return out, nil
}

// Settle carries out decisions in batches and reads per-endpoint failures
// from Unsuccessful[]. Held connections get an approval-needed event.
func (g *Guard) Settle(ctx context.Context, decisions []Decision) (Report, error) {
	rep := Report{Failed: map[string]string{}}
	var accept, reject []string
	log := telemetry.Logger(ctx)
	for _, d := range decisions {
		log.Info("connection decision", "endpoint", d.EndpointID, "owner", d.Owner, "vpc", d.VPCID, "verdict", d.Verdict, "reason", d.Reason)
		switch d.Verdict {
		case Accept:
			accept = append(accept, d.EndpointID)
		case Reject:
			reject = append(reject, d.EndpointID)
		case Hold:
			rep.Held = append(rep.Held, d.EndpointID)
			err := g.Events.Put(ctx, status.ApprovalNeeded, nil, map[string]string{
				"serviceId": g.ServiceID, "endpointId": d.EndpointID, "account": d.Owner, "vpcId": d.VPCID,
				"approve": fmt.Sprintf("aws ec2 accept-vpc-endpoint-connections --service-id %s --vpc-endpoint-ids %s", g.ServiceID, d.EndpointID),
			})
			if err != nil {
				return rep, err
			}
		case Leave:
			rep.Left = append(rep.Left, d.EndpointID)
		}
	}
	var errs []error
	done, err := g.batch(ctx, accept, true, rep.Failed)
	rep.Accepted = done
	errs = append(errs, err)
	done, err = g.batch(ctx, reject, false, rep.Failed)
	rep.Rejected = done
	errs = append(errs, err)
	telemetry.Count(ctx, "ConnectionsAccepted", float64(len(rep.Accepted)))
	telemetry.Count(ctx, "ConnectionsRejected", float64(len(rep.Rejected)))
	if len(rep.Held) > 0 {
		telemetry.Count(ctx, "ConnectionsHeld", float64(len(rep.Held)))
	}
	// Left connections are counted by the caller, which may decide them
	// again before it leaves them (ConnectionsLeftPending).
	for id, why := range rep.Failed {
		log.Warn("connection not settled", "endpoint", id, "error", why)
	}
	return rep, errors.Join(errs...)
}

// RejectEndpoints rejects the connections of endpoints being removed, so
// that traffic stops at once rather than when the deletion completes.
func (g *Guard) RejectEndpoints(ctx context.Context, endpointIDs []string) ([]string, error) {
	if len(endpointIDs) == 0 {
		return nil, nil
	}
	conns, err := g.Connections(ctx, endpointIDs, agentvpc.StatePendingAcceptance, agentvpc.StatePending, agentvpc.StateAvailable)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(conns))
	for i, c := range conns {
		ids[i] = c.EndpointID
	}
	return g.batch(ctx, ids, false, map[string]string{})
}

func (g *Guard) batch(ctx context.Context, ids []string, accept bool, failed map[string]string) ([]string, error) {
	size := g.BatchSize
	if size <= 0 {
		size = 25
	}
	var done []string
	for start := 0; start < len(ids); start += size {
		batch := ids[start:min(start+size, len(ids))]
		var unsuccessful []types.UnsuccessfulItem
		if err := g.Pace.Wait(ctx); err != nil {
			return done, err
		}
		if accept {
			out, err := g.Hub.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(g.ServiceID), VpcEndpointIds: batch})
			if err != nil {
				return done, fmt.Errorf("accepting connections %v, %w", batch, err)
			}
			unsuccessful = out.Unsuccessful
		} else {
			out, err := g.Hub.RejectVpcEndpointConnections(ctx, &ec2.RejectVpcEndpointConnectionsInput{ServiceId: aws.String(g.ServiceID), VpcEndpointIds: batch})
			if err != nil {
				return done, fmt.Errorf("rejecting connections %v, %w", batch, err)
			}
			unsuccessful = out.Unsuccessful
		}
		bad := map[string]bool{}
		for _, u := range unsuccessful {
			id := aws.ToString(u.ResourceId)
			bad[id] = true
			if u.Error != nil {
				failed[id] = aws.ToString(u.Error.Code) + ": " + aws.ToString(u.Error.Message)
			}
		}
		for _, id := range batch {
			if !bad[id] {
				done = append(done, id)
			}
		}
	}
	return done, nil
}
