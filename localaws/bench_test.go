package localaws

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// BenchmarkDescribeVpcsRoundTrip is one DescribeVpcs through the SDK v2
// client over loopback HTTP; it reports the median as median-ns/op.
func BenchmarkDescribeVpcsRoundTrip(b *testing.B) {
	_, url := startServer(b, Options{Topology: testTopology()})
	cfg := awsConfig(url, member, "x", "")
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	c := ec2.NewFromConfig(cfg)
	cx := context.Background()
	if _, err := c.DescribeVpcs(cx, &ec2.DescribeVpcsInput{}); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		out, err := c.DescribeVpcs(cx, &ec2.DescribeVpcsInput{})
		lat = append(lat, time.Since(start))
		if err != nil || len(out.Vpcs) != 1 {
			b.Fatalf("describe = %v, %v", out, err)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "median-ns/op")
}

// BenchmarkSeed1000Accounts seeds 1,000 accounts with 3 VPCs (2 subnets
// each) and a spoke role.
func BenchmarkSeed1000Accounts(b *testing.B) {
	topo := &Topology{Region: region}
	for i := range 1000 {
		a := Account{ID: fmt.Sprintf("%012d", 200000000000+i), Roles: []Role{{Name: "jenkins-agent-vpcs-spoke", Trust: Trust{Principals: []string{hub}}}}}
		for v := range 3 {
			a.VPCs = append(a.VPCs, VPC{CIDR: fmt.Sprintf("10.%d.0.0/16", v), Tags: map[string]string{"jenkins-agents": "true"},
				Subnets: []Subnet{{AZ: region + "a"}, {AZ: region + "b"}}})
		}
		topo.Accounts = append(topo.Accounts, a)
	}
	b.ResetTimer()
	for range b.N {
		srv, err := NewServer(Options{Topology: topo})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := srv.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
