package jcasc

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/status"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

// EC2 is what the tags are read with, in a member account through its
// spoke role (whose read statement allows ec2:DescribeVpcs).
type EC2 interface {
	DescribeVpcs(ctx context.Context, in *ec2.DescribeVpcsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
}

var _ EC2 = (*ec2.Client)(nil)

// Spokes hands out a member account's EC2 client (*spoke.Role[EC2]).
type Spokes interface {
	For(ctx context.Context, account, region string) (EC2, error)
}

// Fleet reads the ready agent VPCs: the documents the hub published, and
// each VPC's tags.
//
// The tags are read from the VPCs themselves, through the spoke roles,
// rather than copied into the published document: a team's edit of its
// cluster or label takes effect at the next generation without an onboard
// run (only the opt-in tag triggers one), the functions and the document
// (which Parameter Store's standard tier caps at 4 KB) stay as they are,
// and Jenkins' own role needs nothing beyond the parameters.
type Fleet struct {
	Store tunnel.Store
	// Spokes, when nil, reads no tags: every VPC takes the defaults.
	Spokes Spokes
	// Concurrency is how many accounts' tags are read at once (at least 1).
	Concurrency int
}

// Ready is every agent VPC whose document says ready, with its tags, and
// those left out with the reason (a member account whose spoke role
// cannot be read, a VPC that is gone).
func (f Fleet) Ready(ctx context.Context) ([]AgentVPC, []Skipped, error) {
	published, err := f.Store.List(ctx, "")
	if err != nil {
		return nil, nil, err
	}
	var vpcs []AgentVPC
	var skipped []Skipped
	for _, p := range published {
		if p.Document == "" || p.Tunnel == "" {
			continue // being written or removed: not ready
		}
		var d tunnel.Document
		if err := json.Unmarshal([]byte(p.Document), &d); err != nil {
			skipped = append(skipped, Skipped{Account: p.Account, VPC: p.VPCID, Reason: fmt.Sprintf("its document is not JSON: %v", err)})
			continue
		}
		if d.Status != string(status.Ready) {
			continue
		}
		if d.Account != p.Account || d.VPCID != p.VPCID {
			skipped = append(skipped, Skipped{Account: p.Account, VPC: p.VPCID, Reason: fmt.Sprintf("its document names %s/%s", d.Account, d.VPCID)})
			continue
		}
		vpcs = append(vpcs, AgentVPC{Document: d, JenkinsURLPublished: p.JenkinsURL != ""})
	}
	if f.Spokes == nil {
		return vpcs, skipped, nil
	}
	return f.withTags(ctx, vpcs, skipped)
}

// withTags reads the tags of the VPCs, one DescribeVpcs per account and
// Region, Concurrency accounts at a time (each is an AssumeRole and a
// call in another account: sequential, 10,000 accounts would take
// minutes).
func (f Fleet) withTags(ctx context.Context, vpcs []AgentVPC, skipped []Skipped) ([]AgentVPC, []Skipped, error) {
	type group struct {
		account, region string
		idx             []int
		tags            map[string]map[string]string
		err             error
	}
	byWhere := map[[2]string]*group{}
	var groups []*group
	for i, v := range vpcs {
		k := [2]string{v.Document.Account, v.Document.Region}
		if byWhere[k] == nil {
			byWhere[k] = &group{account: k[0], region: k[1]}
			groups = append(groups, byWhere[k])
		}
		byWhere[k].idx = append(byWhere[k].idx, i)
	}
	slices.SortFunc(groups, func(a, b *group) int {
		return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.region, b.region))
	})
	sem := make(chan struct{}, max(1, f.Concurrency))
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ids := make([]string, len(g.idx))
			for j, i := range g.idx {
				ids[j] = vpcs[i].Document.VPCID
			}
			g.tags, g.err = f.tags(ctx, g.account, g.region, ids)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var out []AgentVPC
	for _, g := range groups {
		for _, i := range g.idx {
			v := vpcs[i]
			t, ok := g.tags[v.Document.VPCID]
			switch {
			case g.err != nil:
				skipped = append(skipped, Skipped{Account: g.account, VPC: v.Document.VPCID, Reason: "reading its tags: " + g.err.Error()})
			case !ok:
				skipped = append(skipped, Skipped{Account: g.account, VPC: v.Document.VPCID, Reason: "the VPC no longer exists"})
			default:
				v.Tags = t
				out = append(out, v)
			}
		}
	}
	return out, skipped, nil
}

// tags are the tags of the VPCs that exist, by VPC id. The ids go in a
// vpc-id filter, not VpcIds: with VpcIds one id that no longer exists
// fails the whole call (InvalidVpcID.NotFound), a filter answers with
// those that do.
func (f Fleet) tags(ctx context.Context, account, region string, ids []string) (map[string]map[string]string, error) {
	client, err := f.Spokes.For(ctx, account, region)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	p := ec2.NewDescribeVpcsPaginator(client, &ec2.DescribeVpcsInput{
		Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: ids}}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing VPCs %v in %s %s, %w", ids, account, region, err)
		}
		for _, v := range page.Vpcs {
			t := map[string]string{}
			for _, tag := range v.Tags {
				t[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			out[aws.ToString(v.VpcId)] = t
		}
	}
	return out, nil
}
