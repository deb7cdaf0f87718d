package localstack

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

func TestRegionsOfATopology(t *testing.T) {
	tests := []struct {
		name string
		topo localaws.Topology
		want []string
	}{
		{"no Region", localaws.Topology{}, []string{"us-east-1"}},
		{"one Region", localaws.Topology{Region: "eu-west-1", Accounts: []localaws.Account{{ID: "222222222222", VPCs: []localaws.VPC{{ID: "vpc-1"}}}}}, []string{"eu-west-1"}},
		{"the hub's first, the others sorted once", localaws.Topology{Region: "eu-west-1", Accounts: []localaws.Account{
			{ID: "222222222222", VPCs: []localaws.VPC{{ID: "vpc-1", Region: "us-west-2"}, {ID: "vpc-2", Region: "eu-west-1"}}},
			{ID: "333333333333", VPCs: []localaws.VPC{{ID: "vpc-3", Region: "ap-south-1"}, {ID: "vpc-4", Region: "us-west-2"}}},
		}}, []string{"eu-west-1", "ap-south-1", "us-west-2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Regions(&tc.topo); !slices.Equal(got, tc.want) {
				t.Errorf("Regions = %v, want %v", got, tc.want)
			}
		})
	}
}

// The documented topology serves two Regions as a StackSet would deploy
// them: the member template in us-west-2 creates no role (IAM is global;
// the hub Region's instance has them) but forwards its Region's VPC
// events to the hub bus in eu-west-1 through the one forwarding role, IAM
// enforced; and the hub's endpoint service accepts us-west-2.
func TestSecondRegionForwardsToTheHubBus(t *testing.T) {
	srv, url, topo := serveTopology(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := Deploy(ctx, srv, url, DeployOptions{RepoRoot: "..", Topology: topo})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Regions, []string{"eu-west-1", "us-west-2"}) {
		t.Fatalf("Regions = %v, want the hub's eu-west-1 and us-west-2", d.Regions)
	}

	const member, vpc = "333333333333", "vpc-0b000000000000002"
	rules, err := eventbridge.NewFromConfig(AdminConfig(url, "us-west-2", member)).ListRules(ctx, &eventbridge.ListRulesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rules.Rules) != 3 {
		t.Errorf("member %s has %d rules on its us-west-2 default bus, want the 3 forwarding rules", member, len(rules.Rules))
	}

	var mu sync.Mutex
	var got []awsproto.Event
	stop := srv.Watch(d.Hub, d.Region, d.Parameters["EventBusName"], func(ev awsproto.Event) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev)
	})
	defer stop()
	if _, err := ec2.NewFromConfig(AdminConfig(url, "us-west-2", member)).CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{vpc},
		Tags: []ec2types.Tag{{Key: aws.String(d.Parameters["TagKey"]), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		// The event keeps the Region it originated in (EventBridge User
		// Guide, "AWS service event metadata"): the hub learns the VPC's
		// Region from it as from the VPC's ARN.
		forwarded := slices.ContainsFunc(got, func(ev awsproto.Event) bool {
			return ev.Account == member && ev.Region == "us-west-2" && slices.ContainsFunc(ev.Resources, func(r string) bool { return strings.HasSuffix(r, ":vpc/"+vpc) })
		})
		n := len(got)
		mu.Unlock()
		if forwarded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event for %s from us-west-2 reached the hub bus in %s; %d other events did", vpc, d.Region, n)
		}
		time.Sleep(20 * time.Millisecond)
	}

	svc, err := ec2.NewFromConfig(AdminConfig(url, d.Region, d.Hub)).DescribeVpcEndpointServiceConfigurations(ctx,
		&ec2.DescribeVpcEndpointServiceConfigurationsInput{ServiceIds: []string{d.Parameters["EndpointServiceId"]}})
	if err != nil {
		t.Fatal(err)
	}
	var supported []string
	for _, c := range svc.ServiceConfigurations {
		for _, r := range c.SupportedRegions {
			supported = append(supported, aws.ToString(r.Region))
		}
	}
	if !slices.Contains(supported, "us-west-2") {
		t.Errorf("the hub's endpoint service supports %v, want us-west-2 among them", supported)
	}
}
