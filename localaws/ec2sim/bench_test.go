package ec2sim

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// seed fills svc with accounts × 3 VPCs × 3 subnets (one per zone).
func seed(tb testing.TB, svc *Service, accounts int) []string {
	tb.Helper()
	ids := make([]string, 0, accounts)
	for a := range accounts {
		account := fmt.Sprintf("%012d", 200000000000+a)
		ids = append(ids, account)
		for v := range 3 {
			vpc, err := svc.AddVPC(account, "us-east-1", VPC{CIDR: fmt.Sprintf("10.%d.0.0/16", v), Tags: map[string]string{"jenkins-agents": "true"}})
			if err != nil {
				tb.Fatal(err)
			}
			for s, az := range []string{"us-east-1a", "us-east-1b", "us-east-1c"} {
				if _, err := svc.AddSubnet(account, "us-east-1", Subnet{VPCID: vpc.ID, CIDR: fmt.Sprintf("10.%d.%d.0/24", v, s), AZ: az}); err != nil {
					tb.Fatal(err)
				}
			}
		}
	}
	return ids
}

func BenchmarkSeed1000Accounts(b *testing.B) {
	for b.Loop() {
		seed(b, New(&awsproto.StoppedClock{}, nil), 1000)
	}
}

// BenchmarkDescribeVpcEndpoints describes one VPC's endpoints in a world
// of 1,000 seeded accounts, through Handle (no HTTP).
func BenchmarkDescribeVpcEndpoints(b *testing.B) {
	clock := awsproto.NewStoppedClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	svc := New(clock, nil)
	accounts := seed(b, svc, 1000)
	es, err := svc.AddEndpointService(hub, "us-east-1", EndpointService{AllowedPrincipals: []string{"*"}})
	if err != nil {
		b.Fatal(err)
	}
	account := accounts[500]
	var vpcID, subnetID string
	svc.mu.RLock()
	for _, v := range svc.regions[regionKey{account, "us-east-1"}].vpcs {
		vpcID = v.id
		for _, sn := range v.subnets {
			subnetID = sn.id
			break
		}
		break
	}
	svc.mu.RUnlock()
	create := url.Values{"VpcEndpointType": {"Interface"}, "VpcId": {vpcID}, "ServiceName": {es.Name}, "SubnetId.1": {subnetID}}
	if _, err := svc.Handle(&awsproto.Call{Account: account, Principal: "arn:aws:iam::" + account + ":root", Region: "us-east-1", Action: "CreateVpcEndpoint", Form: create}); err != nil {
		b.Fatal(err)
	}
	call := &awsproto.Call{Account: account, Principal: "arn:aws:iam::" + account + ":root", Region: "us-east-1", Action: "DescribeVpcEndpoints",
		Form: url.Values{"Filter.1.Name": {"vpc-id"}, "Filter.1.Value.1": {vpcID}, "Filter.2.Name": {"service-name"}, "Filter.2.Value.1": {es.Name}}}
	b.ReportAllocs()
	for b.Loop() {
		body, err := svc.Handle(call)
		if err != nil || len(body) < 500 {
			b.Fatalf("%v %s", err, body)
		}
	}
}
