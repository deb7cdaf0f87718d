package agentvpc_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func inSync() (agentvpc.Desired, agentvpc.Observed) {
	d := agentvpc.Desired{Tagged: true, Keep: true, ServiceName: "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
		SubnetIDs: []string{"subnet-a", "subnet-b"}, Ports: []int{50000, 8080}}
	o := agentvpc.Observed{Account: "222222222222", Region: "us-east-1", VPCID: "vpc-1", Exists: true,
		Tags: map[string]string{"jenkins-agents": "true"},
		Groups: []agentvpc.SecurityGroup{
			{ID: "sg-agent", Name: agentvpc.GroupName(agentvpc.RoleAgent), Role: agentvpc.RoleAgent},
			{ID: "sg-endpoint", Name: agentvpc.GroupName(agentvpc.RoleEndpoint), Role: agentvpc.RoleEndpoint,
				Ingress: agentvpc.DesiredRules([]int{50000, 8080}, "sg-agent")},
		},
		Endpoints: []agentvpc.Endpoint{{ID: "vpce-1", State: "available", SubnetIDs: []string{"subnet-b", "subnet-a"},
			GroupIDs: []string{"sg-endpoint"}, Created: now.Add(-time.Hour)}},
	}
	return d, o
}

func kinds(steps []agentvpc.Step) []agentvpc.StepKind {
	out := make([]agentvpc.StepKind, len(steps))
	for i, s := range steps {
		out[i] = s.Kind
	}
	return out
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name   string
		change func(d *agentvpc.Desired, o *agentvpc.Observed)
		grace  time.Duration
		want   []agentvpc.StepKind
		check  func(t *testing.T, steps []agentvpc.Step)
	}{
		{name: "in sync", change: func(*agentvpc.Desired, *agentvpc.Observed) {}, want: []agentvpc.StepKind{}},
		{name: "state casing from the SDK enum is still live", change: func(_ *agentvpc.Desired, o *agentvpc.Observed) {
			o.Endpoints[0].State = "PendingAcceptance"
		}, want: []agentvpc.StepKind{}},
		{name: "fresh VPC", change: func(_ *agentvpc.Desired, o *agentvpc.Observed) {
			o.Groups, o.Endpoints = nil, nil
		}, want: []agentvpc.StepKind{agentvpc.CreateGroup, agentvpc.CreateGroup, agentvpc.AuthorizeRules, agentvpc.CreateEndpoint},
			check: func(t *testing.T, steps []agentvpc.Step) {
				if steps[2].Rules[0].SourceGroup != "" {
					t.Errorf("rule source should resolve to the agent group being created, got %q", steps[2].Rules[0].SourceGroup)
				}
				if steps[3].ClientToken == "" || !slices.Equal(steps[3].SubnetIDs, []string{"subnet-a", "subnet-b"}) {
					t.Errorf("bad create step %+v", steps[3])
				}
			}},
		{name: "endpoint deleted by hand", change: func(_ *agentvpc.Desired, o *agentvpc.Observed) {
			o.Endpoints[0].State = "deleted"
		}, want: []agentvpc.StepKind{agentvpc.CreateEndpoint}},
		{name: "endpoint rejected", change: func(_ *agentvpc.Desired, o *agentvpc.Observed) {
			o.Endpoints[0].State = "rejected"
		}, want: []agentvpc.StepKind{agentvpc.DeleteEndpoints, agentvpc.CreateEndpoint}},
		{name: "young rejected endpoint is replaced but not yet deleted", grace: 2 * time.Hour, change: func(_ *agentvpc.Desired, o *agentvpc.Observed) {
			o.Endpoints[0].State = "failed"
		}, want: []agentvpc.StepKind{agentvpc.CreateEndpoint}},
		{name: "duplicate endpoint from a race", change: func(_ *agentvpc.Desired, o *agentvpc.Observed) {
			dup := o.Endpoints[0]
			dup.ID, dup.Created = "vpce-0", now.Add(-time.Minute)
			o.Endpoints = append(o.Endpoints, dup)
		}, want: []agentvpc.StepKind{agentvpc.DeleteEndpoints},
			check: func(t *testing.T, steps []agentvpc.Step) {
				if !slices.Equal(steps[0].EndpointIDs, []string{"vpce-0"}) {
					t.Errorf("should keep the oldest endpoint, deleting %v", steps[0].EndpointIDs)
				}
			}},
		{name: "wrong subnets", change: func(d *agentvpc.Desired, _ *agentvpc.Observed) {
			d.SubnetIDs = []string{"subnet-a", "subnet-c"}
		}, want: []agentvpc.StepKind{agentvpc.ModifyEndpoint},
			check: func(t *testing.T, steps []agentvpc.Step) {
				if !slices.Equal(steps[0].AddSubnets, []string{"subnet-c"}) || !slices.Equal(steps[0].RemoveSubnets, []string{"subnet-b"}) {
					t.Errorf("bad modify %+v", steps[0])
				}
			}},
		{name: "wrong security group on endpoint", change: func(_ *agentvpc.Desired, o *agentvpc.Observed) {
			o.Endpoints[0].GroupIDs = []string{"sg-default"}
		}, want: []agentvpc.StepKind{agentvpc.ModifyEndpoint}},
		{name: "rule removed by hand", change: func(_ *agentvpc.Desired, o *agentvpc.Observed) {
			o.Groups[1].Ingress = o.Groups[1].Ingress[:1]
		}, want: []agentvpc.StepKind{agentvpc.AuthorizeRules}},
		{name: "rule opened to the world by hand", change: func(_ *agentvpc.Desired, o *agentvpc.Observed) {
			o.Groups[1].Ingress = append(o.Groups[1].Ingress, agentvpc.Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDR: "0.0.0.0/0"})
		}, want: []agentvpc.StepKind{agentvpc.RevokeRules}},
		{name: "untagged", change: func(d *agentvpc.Desired, _ *agentvpc.Observed) {
			d.Tagged = false
		}, want: []agentvpc.StepKind{agentvpc.DeleteEndpoints, agentvpc.WaitEndpoints, agentvpc.DeleteGroup, agentvpc.DeleteGroup},
			check: func(t *testing.T, steps []agentvpc.Step) {
				if steps[2].Role != agentvpc.RoleEndpoint {
					t.Errorf("the endpoint group references the agent group and must go first, got %s", steps[2].Role)
				}
			}},
		{name: "deletion blocked keeps nothing even when tagged", change: func(d *agentvpc.Desired, _ *agentvpc.Observed) {
			d.Keep = false
		}, want: []agentvpc.StepKind{agentvpc.DeleteEndpoints, agentvpc.WaitEndpoints, agentvpc.DeleteGroup, agentvpc.DeleteGroup}},
		{name: "untagged within grace keeps young endpoint", grace: 2 * time.Hour, change: func(d *agentvpc.Desired, o *agentvpc.Observed) {
			d.Tagged = false
			o.Groups[0].Created, o.Groups[1].Created = now.Add(-time.Minute), now.Add(-time.Minute)
		}, want: []agentvpc.StepKind{}},
		{name: "VPC gone", change: func(_ *agentvpc.Desired, o *agentvpc.Observed) {
			o.Exists = false
		}, want: []agentvpc.StepKind{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, o := inSync()
			tc.change(&d, &o)
			steps := agentvpc.Plan(d, o, now, tc.grace)
			if got := kinds(steps); !slices.Equal(got, tc.want) {
				t.Fatalf("plan %v, want %v\n%v", got, tc.want, steps)
			}
			for _, s := range steps {
				if s.Drift == "" || s.Repair == "" {
					t.Errorf("step %s does not name its drift and repair", s.Kind)
				}
			}
			if tc.check != nil {
				tc.check(t, steps)
			}
		})
	}
}

func TestClientTokenIsStableAndChangesWithReplacements(t *testing.T) {
	a := agentvpc.ClientToken("222222222222", "vpc-1", "svc", []string{"subnet-b", "subnet-a"}, nil)
	b := agentvpc.ClientToken("222222222222", "vpc-1", "svc", []string{"subnet-a", "subnet-b"}, nil)
	c := agentvpc.ClientToken("222222222222", "vpc-1", "svc", []string{"subnet-a", "subnet-b"}, []string{"vpce-dead"})
	if a != b || a == c || len(a) > 64 {
		t.Fatalf("tokens %q %q %q", a, b, c)
	}
}

func TestChooseSubnets(t *testing.T) {
	subnets := []agentvpc.Subnet{
		{ID: "subnet-3", AZ: "us-east-1a", AZID: "use1-az4"},
		{ID: "subnet-1", AZ: "us-east-1a", AZID: "use1-az4"},
		{ID: "subnet-2", AZ: "us-east-1b", AZID: "use1-az6"},
		{ID: "subnet-4", AZ: "us-east-1c", AZID: "use1-az1"}, // not offered
	}
	offered := func(az string) bool { return slices.Contains([]string{"use1-az4", "use1-az6", "use1-az2"}, az) }
	if got := agentvpc.ChooseSubnets(subnets, offered, "jenkins-agents-subnet"); !slices.Equal(got, []string{"subnet-1", "subnet-2"}) {
		t.Errorf("got %v", got)
	}
	subnets[0].Tags = map[string]string{"jenkins-agents-subnet": "true"}
	if got := agentvpc.ChooseSubnets(subnets, offered, "jenkins-agents-subnet"); !slices.Equal(got, []string{"subnet-3"}) {
		t.Errorf("opt-in tag not honoured: %v", got)
	}
	if got := agentvpc.ChooseSubnets(subnets, offered, "jenkins-agents-subnet", "subnet-3"); !slices.Equal(got, []string{"subnet-1", "subnet-2"}) {
		t.Errorf("excluded subnet used: %v", got)
	}
}

func TestRegionalDNSName(t *testing.T) {
	names := []string{
		"vpce-0abc12345def67890-x1y2z3ab-us-east-1a.vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com",
		"vpce-0abc12345def67890-x1y2z3ab.vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com",
		"vpce-0abc12345def67890-x1y2z3ab-us-east-1b.vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com",
	}
	if got := agentvpc.RegionalDNSName(names, "us-east-1"); got != names[1] {
		t.Errorf("got %q", got)
	}
	if got := agentvpc.RegionalDNSName(names[:1], "us-east-1"); got != "" {
		t.Errorf("zonal only: got %q", got)
	}
}
