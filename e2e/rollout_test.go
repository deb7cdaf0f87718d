package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
)

// BenchmarkRollout is an organization's first day: ROLLOUT_VPCS agent
// VPCs (default 100), ROLLOUT_VPCS_PER_ACCOUNT in each member account
// (default 5), tagged at once, against the local stack with AWS's default
// quotas enforced (EC2's buckets, Parameter Store's rates, PutParameter at
// ROLLOUT_PUT_RATE per second, default 3) and strict delivery (events
// duplicated, late, reordered; some aws.tag events lost). Every event goes
// through the onboard queue and its event source mapping, as deployed by
// template.yaml (OnboardConcurrency 5, batches of 10).
//
// It reports the time until every tunnel is published and until every
// agent VPC is ready, the floor (the hub's PutParameter calls divided by
// the PutParameter rate: no schedule can publish faster), the throttling
// errors the local AWS answered, the messages left in any dead-letter
// queue, the endpoints ever created per VPC and the onboard function's
// peak concurrency. It fails when a message reaches a dead-letter queue
// or a VPC gets other than one endpoint:
//
//	ROLLOUT_VPCS=100 go test ./e2e -run XXX -bench Rollout -benchtime 1x -timeout 60m -v
func BenchmarkRollout(b *testing.B) {
	n, per, rate := envInt(b, "ROLLOUT_VPCS", 100), envInt(b, "ROLLOUT_VPCS_PER_ACCOUNT", 5), float64(envInt(b, "ROLLOUT_PUT_RATE", 3))
	for b.Loop() {
		r := rollout(b, n, per, rate)
		b.ReportMetric(r.published.Seconds(), "s-to-published")
		b.ReportMetric(r.ready.Seconds(), "s-to-ready")
		b.ReportMetric(r.floor.Seconds(), "s-floor")
		b.ReportMetric(r.published.Seconds()/r.floor.Seconds(), "x-floor")
		b.ReportMetric(float64(r.puts), "puts")
		b.ReportMetric(float64(r.throttled), "throttled")
		b.ReportMetric(float64(r.deadLetters), "dead-letters")
		b.ReportMetric(float64(r.endpoints)/float64(n), "endpoints/vpc")
		b.ReportMetric(float64(r.creates), "create-calls")
		b.ReportMetric(float64(r.peak), "peak-concurrency")
		b.Logf("%d VPCs in %d accounts: published in %s, ready in %s; floor %s (%d PutParameter at %.0f/s); %d throttled calls; %d dead letters; %d endpoints ever created (%d CreateVpcEndpoint calls answered); peak concurrency %d",
			n, (n+per-1)/per, r.published.Round(time.Second), r.ready.Round(time.Second), r.floor.Round(time.Second), r.puts, rate,
			r.throttled, r.deadLetters, r.endpoints, r.creates, r.peak)
		if r.deadLetters > 0 || r.endpoints != n {
			b.Errorf("%d messages in dead-letter queues and %d endpoints created for %d VPCs; want none and one each", r.deadLetters, r.endpoints, n)
		}
	}
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s is %q, want a positive integer", name, v)
	}
	return n
}

type rolloutResult struct {
	published, ready, floor    time.Duration
	puts, throttled, endpoints int
	deadLetters, peak          int
	// creates counts CreateVpcEndpoint calls answered: a retry with the
	// same ClientToken answers the same endpoint, so it may exceed endpoints.
	creates int
}

// rolloutTopology is a hub with the Jenkins endpoint service and member
// accounts of per VPCs each, n VPCs in all, each with a subnet in the two
// Availability Zones the service offers.
func rolloutTopology(n, per int) (*localaws.Topology, []localstack.AgentVPC) {
	topo := &localaws.Topology{Region: "eu-west-1", Organization: &localaws.Organization{ID: "o-jenkinsagents0"},
		Accounts: []localaws.Account{{ID: localstack.HubAccount, EndpointServices: []localaws.EndpointService{{
			ID: "vpce-svc-0a1b2c3d4e5f60718", AcceptanceRequired: true, AZs: []string{"eu-west-1a", "eu-west-1b"}, Ports: []int{50000}}}}}}
	var vpcs []localstack.AgentVPC
	for i := 0; i < n; i += per {
		acct := localaws.Account{ID: fmt.Sprintf("4%011d", i/per+1)}
		for j := i; j < min(n, i+per); j++ {
			vpc := localaws.VPC{ID: fmt.Sprintf("vpc-%017x", j+1), CIDR: fmt.Sprintf("10.%d.0.0/16", j-i+1)}
			for k, az := range []string{"eu-west-1a", "eu-west-1b"} {
				vpc.Subnets = append(vpc.Subnets, localaws.Subnet{ID: fmt.Sprintf("subnet-%016x%d", j+1, k), AZ: az,
					CIDR: fmt.Sprintf("10.%d.%d.0/24", j-i+1, k)})
			}
			acct.VPCs = append(acct.VPCs, vpc)
			vpcs = append(vpcs, localstack.AgentVPC{Account: acct.ID, VPC: vpc.ID})
		}
		topo.Accounts = append(topo.Accounts, acct)
	}
	return topo, vpcs
}

func rollout(b *testing.B, n, per int, rate float64) rolloutResult {
	ctx := context.Background()
	topo, vpcs := rolloutTopology(n, per)
	s, err := localstack.Start(ctx, localstack.Options{RepoRoot: repoRoot, Emulator: emulator, Bootstraps: bootstraps,
		Functions: []string{"OnboardFunction", "AcceptFunction"}, WorkDir: b.TempDir(), Topology: topo,
		Throttle: true, PutParameterRate: rate, Seed: deliverySeed,
		// PrivateLink takes a minute or two to make an accepted endpoint
		// available; the follow-up comes a minute after a connecting
		// outcome (template.yaml's defaults).
		TransitionDelay: 60 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			b.Errorf("stopping the local stack, %v", err)
		}
	}()
	s.AWS.ResetCalls()
	start := time.Now()
	var wg sync.WaitGroup
	for _, v := range vpcs {
		wg.Go(func() {
			if _, err := s.EC2(v.Account).CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{v.VPC},
				Tags: []ec2types.Tag{{Key: aws.String("jenkins-agents"), Value: aws.String("true")}}}); err != nil {
				b.Errorf("tagging %s: %v", v.VPC, err)
			}
		})
	}
	wg.Wait()
	var r rolloutResult
	r.published = waitAll(b, s, vpcs, start, "/tunnel", "")
	r.ready = waitAll(b, s, vpcs, start, "/document", `"status":"ready"`)
	settle(b, s)
	for _, c := range s.AWS.Calls() {
		switch {
		case c.Service == "ssm" && c.Action == "PutParameter" && c.Account == s.Hub:
			r.puts += c.Count - c.Throttled
		case c.Service == "ec2" && c.Action == "CreateVpcEndpoint":
			r.creates += c.Count - c.Throttled
		}
		r.throttled += c.Throttled
	}
	r.floor = time.Duration(float64(r.puts) / rate * float64(time.Second))
	r.endpoints = endpointsEver(b, s, vpcs)
	depths, err := s.DeadLetterDepths(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range depths {
		r.deadLetters += d
	}
	if r.deadLetters > 0 {
		deadLetters(b, s, depths)
	}
	r.peak = s.PeakConcurrency()["OnboardFunction"]
	return r
}

// deadLetters logs what reached a dead-letter queue, and, when
// ROLLOUT_LOG names a file, writes the functions' logs there: a failed
// rollout is diagnosed from one run, which takes a quarter of an hour at
// N=400.
func deadLetters(b *testing.B, s *localstack.Stack, depths map[string]int) {
	ctx := context.Background()
	client := sqs.NewFromConfig(localstack.AdminConfig(s.URL, s.Region, s.Hub))
	for id, d := range depths {
		if d == 0 {
			continue
		}
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.Queues[id]), MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"}})
		if err != nil {
			b.Errorf("reading %s: %v", id, err)
			continue
		}
		for _, m := range out.Messages {
			b.Logf("dead letter in %s (%d there): attributes %v %v, body %s", id, d, m.Attributes, m.MessageAttributes, aws.ToString(m.Body))
		}
	}
	if path := os.Getenv("ROLLOUT_LOG"); path != "" {
		var all strings.Builder
		for _, fn := range []string{"OnboardFunction", "AcceptFunction"} {
			fmt.Fprintf(&all, "==== %s\n%s\n", fn, s.Log(fn))
		}
		if err := os.WriteFile(path, []byte(all.String()), 0o600); err != nil {
			b.Errorf("writing ROLLOUT_LOG: %v", err)
		}
	}
}

// waitAll waits until every VPC's parameter leaf exists (and holds want),
// reading the local AWS directly, not through its API, and returns the time
// since start.
func waitAll(b *testing.B, s *localstack.Stack, vpcs []localstack.AgentVPC, start time.Time, leaf, want string) time.Duration {
	deadline := time.Now().Add(time.Hour)
	for i := 0; i < len(vpcs); {
		v, _, ok := s.AWS.Parameter(s.Hub, s.Region, s.ParameterPath(vpcs[i])+leaf)
		if ok && (want == "" || strings.Contains(v, want)) {
			i++
			continue
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s%s not there (or not %s) an hour after tagging", s.ParameterPath(vpcs[i]), leaf, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return time.Since(start)
}

// endpointsEver counts the endpoints the VPCs ever had, in any state
// (deleted ones included), as their accounts' administrators describe
// them once the rollout has settled, and fails for a VPC with other than
// one.
func endpointsEver(b *testing.B, s *localstack.Stack, vpcs []localstack.AgentVPC) int {
	ctx := context.Background()
	s.Later()
	per := map[string]int{}
	accounts := map[string]bool{}
	for _, v := range vpcs {
		accounts[v.Account] = true
	}
	for acct := range accounts {
		p := ec2.NewDescribeVpcEndpointsPaginator(s.EC2(acct), &ec2.DescribeVpcEndpointsInput{})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				b.Fatalf("describing the endpoints of %s: %v", acct, err)
			}
			for _, e := range out.VpcEndpoints {
				per[aws.ToString(e.VpcId)]++
			}
		}
	}
	total := 0
	for _, v := range vpcs {
		if per[v.VPC] != 1 {
			b.Errorf("%s has had %d endpoints, want 1", v, per[v.VPC])
		}
		total += per[v.VPC]
	}
	return total
}
