package reconcile_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/connections"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/converge"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/endpointservice"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/reconcile"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

// The plan as tables: observations in, items out, no AWS anywhere.

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

const (
	acct      = "222222222222"
	vpc       = "vpc-1"
	principal = "arn:aws:iam::222222222222:role/jenkins-agent-vpcs-spoke"
	dns       = "vpce-1-abcdefgh.vpce-svc-1.us-east-1.vpce.amazonaws.com"
)

func input(t *testing.T, mode config.ApprovalMode) reconcile.Input {
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"ENDPOINT_SERVICE_ID": "vpce-svc-0123456789abcdef0", "EVENT_BUS_NAME": "bus", "APPROVAL_MODE": string(mode)}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	vpcs := &converge.AgentVPCs{Config: cfg}
	return reconcile.Input{Config: cfg, Region: "us-east-1",
		Service:   endpointservice.Info{Name: "svc", Region: "us-east-1", AZIDs: []string{"use1-az1", "use1-az2"}},
		Principal: func(a string) string { return "arn:aws:iam::" + a + ":role/jenkins-agent-vpcs-spoke" },
		Desired:   vpcs.Desired, Document: vpcs.Document, Now: now, Grace: 10 * time.Minute}
}

// synced is one account with one agent VPC in sync, and its hub side.
func synced(in reconcile.Input) (reconcile.Hub, reconcile.Account) {
	ep := agentvpc.Endpoint{ID: "vpce-1", VPCID: vpc, State: "available", SubnetIDs: []string{"subnet-1"},
		DNSNames: []string{dns}, Created: now.Add(-time.Hour)}
	a := reconcile.Account{ID: acct, Allowed: true,
		VPCs:      map[string]reconcile.VPC{vpc: {ID: vpc, Tagged: true, Tags: map[string]string{"jenkins-agents": "true", agentvpc.TagStatus: "ready", agentvpc.TagEndpoint: "vpce-1"}}},
		Endpoints: []agentvpc.Endpoint{ep},
		Params:    map[string]*tunnel.Published{}}
	o := a.Observed(vpc, in.Region)
	doc := in.Document(o, ep, "available", "ready", "sg-agent", "svc")
	t, d, _ := tunnel.Values(doc)
	a.Params[vpc] = &tunnel.Published{Account: acct, VPCID: vpc, Tunnel: t, Document: d, Modified: now.Add(-time.Hour),
		Names: []string{"/jenkins-agent-vpcs/" + acct + "/" + vpc + "/tunnel", "/jenkins-agent-vpcs/" + acct + "/" + vpc + "/document"}}
	hub := reconcile.Hub{Principals: []string{principal}, Connections: map[string]connections.Connection{
		"vpce-1": {EndpointID: "vpce-1", Owner: acct, State: "available"}}}
	return hub, a
}

func TestPlanTable(t *testing.T) {
	type want struct {
		drift  reconcile.Drift
		repair reconcile.Repair
	}
	tests := []struct {
		name   string
		mode   config.ApprovalMode
		change func(h *reconcile.Hub, a *reconcile.Account)
		want   []want
	}{
		{name: "in sync", change: func(*reconcile.Hub, *reconcile.Account) {}},
		{name: "endpoint gone", change: func(_ *reconcile.Hub, a *reconcile.Account) { a.Endpoints = nil },
			want: []want{{reconcile.MissingEndpoint, reconcile.Converge}}},
		{name: "endpoint rejected", change: func(_ *reconcile.Hub, a *reconcile.Account) { a.Endpoints[0].State = "rejected" },
			want: []want{{reconcile.DeadEndpoint, reconcile.Converge}}},
		{name: "endpoint expired", change: func(_ *reconcile.Hub, a *reconcile.Account) { a.Endpoints[0].State = "expired" },
			want: []want{{reconcile.DeadEndpoint, reconcile.Converge}}},
		{name: "principal removed by hand", change: func(h *reconcile.Hub, _ *reconcile.Account) { h.Principals = nil },
			want: []want{{reconcile.MissingPrincipal, reconcile.Allow}}},
		{name: "connection pending", change: func(h *reconcile.Hub, _ *reconcile.Account) {
			h.Connections["vpce-1"] = connections.Connection{EndpointID: "vpce-1", Owner: acct, State: "pendingAcceptance"}
		}, want: []want{{reconcile.PendingConnection, reconcile.Settle}}},
		{name: "connection pending in manual mode is a person's call", mode: config.ApprovalManual, change: func(h *reconcile.Hub, a *reconcile.Account) {
			h.Connections["vpce-1"] = connections.Connection{EndpointID: "vpce-1", Owner: acct, State: "pendingAcceptance"}
			a.VPCs[vpc].Tags[agentvpc.TagStatus] = "pending-acceptance"
			a.Params = nil
		}, want: []want{{reconcile.WrongParameters, reconcile.Converge}}},
		{name: "tunnel overwritten", change: func(_ *reconcile.Hub, a *reconcile.Account) { a.Params[vpc].Tunnel = "evil:1" },
			want: []want{{reconcile.WrongParameters, reconcile.Publish}}},
		{name: "status tag edited", change: func(_ *reconcile.Hub, a *reconcile.Account) { a.VPCs[vpc].Tags[agentvpc.TagStatus] = "broken" },
			want: []want{{reconcile.StaleStatusTags, reconcile.Publish}}},
		{name: "endpoint became available since publishing", change: func(_ *reconcile.Hub, a *reconcile.Account) {
			var d tunnel.Document
			_ = d
			a.Params[vpc].Document = a.Params[vpc].Document[:len(a.Params[vpc].Document)-1] + " }"
		}, want: []want{{reconcile.WrongParameters, reconcile.Publish}}},
		{name: "untagged, endpoint left behind", change: func(_ *reconcile.Hub, a *reconcile.Account) {
			a.VPCs = map[string]reconcile.VPC{}
		}, want: []want{{reconcile.UntaggedEndpoint, reconcile.Remove}, {reconcile.StalePrincipal, reconcile.Revoke}}},
		{name: "untagged within the grace period", change: func(_ *reconcile.Hub, a *reconcile.Account) {
			a.VPCs = map[string]reconcile.VPC{}
			a.Endpoints[0].Created = now.Add(-time.Minute)
			a.Params[vpc].Modified = now.Add(-time.Minute)
		}},
		{name: "parameters of a VPC that is gone", change: func(h *reconcile.Hub, a *reconcile.Account) {
			a.VPCs, a.Endpoints = map[string]reconcile.VPC{}, nil
			h.Connections = map[string]connections.Connection{}
		}, want: []want{{reconcile.StaleParameters, reconcile.DeleteParameters}, {reconcile.StalePrincipal, reconcile.Revoke}}},
		{name: "account no longer allowed", change: func(_ *reconcile.Hub, a *reconcile.Account) {
			a.Allowed = false
			a.VPCs, a.Endpoints = map[string]reconcile.VPC{}, nil // never read: no role is assumed there
		}, want: []want{{reconcile.StaleParameters, reconcile.DeleteParameters}, {reconcile.StalePrincipal, reconcile.Revoke}}},
		{name: "a stranger's pending connection", change: func(h *reconcile.Hub, _ *reconcile.Account) {
			h.Connections["vpce-x"] = connections.Connection{EndpointID: "vpce-x", Owner: acct, State: "pendingAcceptance"}
		}, want: []want{{reconcile.PendingConnection, reconcile.Settle}}},
		{name: "account unreadable: nothing planned", change: func(h *reconcile.Hub, a *reconcile.Account) {
			a.Err = errAccess
			h.Principals = nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mode := tc.mode
			if mode == "" {
				mode = config.ApprovalAuto
			}
			in := input(t, mode)
			hub, a := synced(in)
			tc.change(&hub, &a)
			items := reconcile.Plan(in, hub, []reconcile.Account{a})
			var got []want
			for _, it := range items {
				got = append(got, want{it.Drift, it.Repair})
				if it.Detail == "" || it.Account != acct {
					t.Errorf("item %v lacks its detail or account", it)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("plan %v, want %v\n%v", got, tc.want, items)
			}
		})
	}
}

var errAccess = &accessError{}

type accessError struct{}

func (*accessError) Error() string { return "AccessDenied" }

// An agent VPC in another served Region is judged in its own Region: its
// document names that Region, its endpoint names the service's Region, its
// subnets may be in any zone of its Region but those without cross-Region
// PrivateLink, and it keeps its account's principal.
func TestPlanAgentVPCInAnotherRegion(t *testing.T) {
	in := input(t, config.ApprovalAuto)
	hub, a := synced(in)
	a.Regions = map[string]string{vpc: "us-west-1"}
	a.Subnets = map[string][]agentvpc.Subnet{vpc: {{ID: "subnet-1", AZID: "usw1-az1"}, {ID: "subnet-2", AZID: "usw1-az2"}, {ID: "subnet-3", AZID: "usw1-az3"}}}
	o := a.Observed(vpc, in.Region)
	if o.Region != "us-west-1" {
		t.Fatalf("Observed(%s).Region = %s, want us-west-1", vpc, o.Region)
	}
	// usw1-az2 is one of the zones without cross-Region access.
	if d := in.Desired(in.Service, o, nil); d.ServiceRegion != "us-east-1" || !slices.Equal(d.SubnetIDs, []string{"subnet-1", "subnet-3"}) {
		t.Fatalf("Desired in us-west-1 = ServiceRegion %q, subnets %v; want us-east-1, [subnet-1 subnet-3]", d.ServiceRegion, d.SubnetIDs)
	}
	if d := in.Desired(in.Service, a.Observed("vpc-elsewhere", in.Region), nil); d.ServiceRegion != "" {
		t.Errorf("Desired in the service's Region names ServiceRegion %q, want none", d.ServiceRegion)
	}
	// Published as if in the hub's Region: the document names the wrong one.
	if items := reconcile.Plan(in, hub, []reconcile.Account{a}); len(items) != 1 || items[0].Drift != reconcile.WrongParameters {
		t.Fatalf("Plan with a document naming the wrong Region = %v, want one %s item", items, reconcile.WrongParameters)
	}
	doc := in.Document(o, a.Endpoints[0], "available", "ready", "sg-agent", "svc")
	tun, d, _ := tunnel.Values(doc)
	a.Params[vpc].Tunnel, a.Params[vpc].Document = tun, d
	if items := reconcile.Plan(in, hub, []reconcile.Account{a}); len(items) != 0 {
		t.Errorf("Plan of an agent VPC in sync in us-west-1 = %v, want none (no stale principal, no stale parameters)", items)
	}
}
