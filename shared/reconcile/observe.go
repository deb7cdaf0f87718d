package reconcile

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/connections"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

// Hub is one observation of the hub.
type Hub struct {
	Principals  []string
	Connections map[string]connections.Connection // by endpoint id

	// What Plan looks up once per account, indexed once per plan: at
	// 10,000 accounts, sorting every connection for each account took
	// longer than reading the whole organization.
	allowed map[string]bool
	owned   map[string][]string // connection endpoint ids by owner, sorted
}

// indexed returns the hub with its lookups built (once).
func (h Hub) indexed() Hub {
	if h.owned != nil {
		return h
	}
	h.allowed = make(map[string]bool, len(h.Principals))
	for _, p := range h.Principals {
		h.allowed[p] = true
	}
	h.owned = map[string][]string{}
	for _, id := range slices.Sorted(maps.Keys(h.Connections)) {
		owner := h.Connections[id].Owner
		h.owned[owner] = append(h.owned[owner], id)
	}
	return h
}

// VPC is one VPC of an account as the sweep sees it.
type VPC struct {
	ID     string
	Tags   map[string]string
	Tagged bool
}

// Account is one observation of a member account.
type Account struct {
	ID      string
	Allowed bool
	Err     error // the account could not be observed; nothing is planned for its spoke side
	VPCs    map[string]VPC
	// Endpoints are the managed endpoints of the account, in every VPC.
	Endpoints []agentvpc.Endpoint
	Params    map[string]*tunnel.Published // by VPC id
	// Deep is true when subnets and groups were read too.
	Deep    bool
	Subnets map[string][]agentvpc.Subnet
	Groups  map[string][]agentvpc.SecurityGroup
	// Regions holds the Region of every VPC the sweep saw something of
	// (tagged, or holding a managed endpoint or group), by VPC id: an
	// account is read in every served Region, and VPC ids are unique
	// across them.
	Regions map[string]string
}

// RegionOf is the Region a VPC of the account was seen in; home (the
// hub's) for one seen in none.
func (a Account) RegionOf(vpc, home string) string {
	if r, ok := a.Regions[vpc]; ok {
		return r
	}
	return home
}

// observeHub reads the principals and the connections of the service.
func (r *Reconciler) observeHub(ctx context.Context) (Hub, error) {
	principals, err := r.Service.Principals(ctx)
	if err != nil {
		return Hub{}, err
	}
	conns, err := r.Guard.Connections(ctx, nil)
	if err != nil {
		return Hub{}, err
	}
	h := Hub{Principals: principals, Connections: map[string]connections.Connection{}}
	for _, c := range conns {
		h.Connections[c.EndpointID] = c
	}
	return h, nil
}

// observeAccount reads one account: its parameters from the hub (unless
// the run paged the whole prefix), and through the spoke role its tagged
// VPCs and managed endpoints (and, when deep, their subnets and managed
// groups).
func (r *Reconciler) observeAccount(ctx context.Context, id string, deep, readParams bool) Account {
	a := Account{ID: id, VPCs: map[string]VPC{}, Params: map[string]*tunnel.Published{}, Regions: map[string]string{}}
	a.Allowed, _ = r.Config.AccountAllowed(id)
	if readParams {
		params, err := r.Store.List(ctx, id)
		if err != nil {
			a.Err = err
			return a
		}
		for key, p := range params {
			a.Params[key[len(id)+1:]] = p
		}
	}
	if !a.Allowed {
		return a // never assume a role in an account we may not act for
	}
	if deep {
		a.Deep = true
		a.Subnets, a.Groups = map[string][]agentvpc.Subnet{}, map[string][]agentvpc.SecurityGroup{}
	}
	// Every served Region, or nothing: an account half seen (one Region
	// unreadable) would look as if its VPCs there were gone, and its
	// principal could be revoked from under them.
	for _, region := range r.Config.Regions(r.Region) {
		if err := r.observeRegion(ctx, &a, region); err != nil {
			a.Err = fmt.Errorf("in %s, %w", region, err)
			return a
		}
	}
	return a
}

// observeRegion adds what the account holds in region to a.
func (r *Reconciler) observeRegion(ctx context.Context, a *Account, region string) error {
	client, err := r.Spokes.For(ctx, a.ID, region)
	if err != nil {
		return err
	}
	vpcs := ec2.NewDescribeVpcsPaginator(client, &ec2.DescribeVpcsInput{Filters: []types.Filter{
		{Name: aws.String("tag-key"), Values: []string{r.Config.TagKey}}}})
	var here []string // the tagged VPCs of this Region
	for vpcs.HasMorePages() {
		page, err := vpcs.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("describing tagged VPCs, %w", err)
		}
		for _, v := range page.Vpcs {
			id, tags := aws.ToString(v.VpcId), agentvpc.TagMap(v.Tags)
			a.VPCs[id] = VPC{ID: id, Tags: tags, Tagged: r.Config.Tagged(tags)}
			a.Regions[id] = region
			if a.VPCs[id].Tagged {
				here = append(here, id)
			}
		}
	}
	endpoints, err := agentvpc.DescribeEndpoints(ctx, client, agentvpc.ManagedFilter())
	if err != nil {
		return fmt.Errorf("describing managed endpoints, %w", err)
	}
	for _, e := range endpoints {
		a.Regions[e.VPCID] = region
	}
	a.Endpoints = append(a.Endpoints, endpoints...)
	if a.Deep {
		return r.observeDeep(ctx, client, a, region, here)
	}
	return nil
}

func (r *Reconciler) observeDeep(ctx context.Context, client agentvpc.EC2, a *Account, region string, tagged []string) error {
	if len(tagged) > 0 {
		slices.Sort(tagged)
		p := ec2.NewDescribeSubnetsPaginator(client, &ec2.DescribeSubnetsInput{Filters: []types.Filter{
			{Name: aws.String("vpc-id"), Values: tagged}}})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("describing subnets, %w", err)
			}
			for _, s := range page.Subnets {
				vpc := aws.ToString(s.VpcId)
				a.Subnets[vpc] = append(a.Subnets[vpc], agentvpc.SubnetOf(s))
			}
		}
	}
	p := ec2.NewDescribeSecurityGroupsPaginator(client, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{agentvpc.ManagedFilter()}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("describing managed security groups, %w", err)
		}
		for _, g := range page.SecurityGroups {
			vpc := aws.ToString(g.VpcId)
			a.Groups[vpc] = append(a.Groups[vpc], agentvpc.GroupOf(g))
			a.Regions[vpc] = region
		}
	}
	return nil
}

// Observed builds the per-VPC observation the agentvpc plan takes, from
// a deep account observation; home is the hub's Region, where a VPC seen
// in no Region is taken to be.
func (a Account) Observed(vpc, home string) agentvpc.Observed {
	v, ok := a.VPCs[vpc]
	o := agentvpc.Observed{Account: a.ID, Region: a.RegionOf(vpc, home), VPCID: vpc, Exists: ok, Tags: v.Tags,
		Subnets: a.Subnets[vpc], Groups: a.Groups[vpc]}
	for _, e := range a.Endpoints {
		if e.VPCID == vpc {
			o.Endpoints = append(o.Endpoints, e)
		}
	}
	return o
}

// isAgentVPC reports whether vpc is an agent VPC: tagged, in an account
// the product may act for.
func (a Account) isAgentVPC(vpc string) bool {
	v, ok := a.VPCs[vpc]
	return ok && v.Tagged && a.Allowed
}

// hasAgentVPC reports whether the account has an agent VPC.
func (a Account) hasAgentVPC() bool {
	for vpc := range a.VPCs {
		if a.isAgentVPC(vpc) {
			return true
		}
	}
	return false
}

// endpointOfAgentVPC reports whether endpoint id is a managed endpoint
// of one of the account's agent VPCs.
func (a Account) endpointOfAgentVPC(id string) bool {
	return slices.ContainsFunc(a.Endpoints, func(e agentvpc.Endpoint) bool { return e.ID == id && a.isAgentVPC(e.VPCID) })
}

// endpointVPCs lists the VPCs that hold managed endpoints.
func (a Account) endpointVPCs() []string {
	set := map[string]bool{}
	for _, e := range a.Endpoints {
		set[e.VPCID] = true
	}
	return slices.Sorted(maps.Keys(set))
}
