package jcasc

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

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
// Region.
func (f Fleet) withTags(ctx context.Context, vpcs []AgentVPC, skipped []Skipped) ([]AgentVPC, []Skipped, error) {
	type where struct{ account, region string }
	groups := map[where][]int{}
	for i, v := range vpcs {
		w := where{v.Document.Account, v.Document.Region}
		groups[w] = append(groups[w], i)
	}
	keys := make([]where, 0, len(groups))
	for w := range groups {
		keys = append(keys, w)
	}
	slices.SortFunc(keys, func(a, b where) int {
		if a.account != b.account {
			return cmp.Compare(a.account, b.account)
		}
		return cmp.Compare(a.region, b.region)
	})
	found := make([]bool, len(vpcs))
	for _, w := range keys {
		idx := groups[w]
		ids := make([]string, len(idx))
		for j, i := range idx {
			ids[j] = vpcs[i].Document.VPCID
		}
		tags, err := f.tags(ctx, w.account, w.region, ids)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, err
			}
			for _, i := range idx {
				skipped = append(skipped, Skipped{Account: w.account, VPC: vpcs[i].Document.VPCID, Reason: "reading its tags: " + err.Error()})
			}
			continue
		}
		for _, i := range idx {
			t, ok := tags[vpcs[i].Document.VPCID]
			if !ok {
				skipped = append(skipped, Skipped{Account: w.account, VPC: vpcs[i].Document.VPCID, Reason: "the VPC no longer exists"})
				continue
			}
			vpcs[i].Tags, found[i] = t, true
		}
	}
	out := vpcs[:0:0]
	for i, v := range vpcs {
		if found[i] {
			out = append(out, v)
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
