package reconcile

import (
	"cmp"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/connections"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/converge"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/endpointservice"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

// The planner's steps as tables of their own; plan_test.go has the whole
// plan.

var stepNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

const (
	stepAccount = "222222222222"
	stepVPC     = "vpc-1"
)

func stepInput(t *testing.T, mode config.ApprovalMode) Input {
	t.Helper()
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"ENDPOINT_SERVICE_ID": "vpce-svc-0123456789abcdef0", "EVENT_BUS_NAME": "bus", "APPROVAL_MODE": string(mode)}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	vpcs := &converge.AgentVPCs{Config: cfg}
	return Input{Config: cfg, Region: "us-east-1",
		Service:   endpointservice.Info{Name: "svc", Region: "us-east-1", AZIDs: []string{"use1-az1"}},
		Principal: func(a string) string { return "arn:aws:iam::" + a + ":role/jenkins-agent-vpcs-spoke" },
		Desired:   vpcs.Desired, Document: vpcs.Document, Now: stepNow, Grace: 10 * time.Minute}
}

// deepAccount is an account whose one agent VPC is in sync on the deep
// pass: subnet, both groups with the endpoint group's rules, and an old
// available endpoint in that subnet and group.
func deepAccount(in Input) Account {
	ports := in.Config.Ports()
	return Account{ID: stepAccount, Allowed: true, Deep: true,
		VPCs:    map[string]VPC{stepVPC: {ID: stepVPC, Tagged: true, Tags: map[string]string{}}},
		Subnets: map[string][]agentvpc.Subnet{stepVPC: {{ID: "subnet-1", AZID: "use1-az1"}}},
		Groups: map[string][]agentvpc.SecurityGroup{stepVPC: {
			{ID: "sg-agent", Role: agentvpc.RoleAgent, Name: agentvpc.GroupName(agentvpc.RoleAgent)},
			{ID: "sg-ep", Role: agentvpc.RoleEndpoint, Name: agentvpc.GroupName(agentvpc.RoleEndpoint), Ingress: agentvpc.DesiredRules(ports, "sg-agent")},
		}},
		Endpoints: []agentvpc.Endpoint{endpoint("vpce-1", "available", time.Hour)},
	}
}

func endpoint(id, state string, age time.Duration) agentvpc.Endpoint {
	return agentvpc.Endpoint{ID: id, VPCID: stepVPC, State: state, SubnetIDs: []string{"subnet-1"}, GroupIDs: []string{"sg-ep"},
		Created: stepNow.Add(-age)}
}

// shallow is the account as the shallow pass sees it: no subnets, no groups.
func shallow(a Account) Account {
	a.Deep, a.Subnets, a.Groups = false, nil, nil
	return a
}

func TestPlanSpoke(t *testing.T) {
	tests := []struct {
		name      string
		change    func(a *Account)
		deep      Drift // "" means no item
		shallow   Drift
		detailHas string // in the deep item's detail
	}{
		{name: "in sync", change: func(*Account) {}},
		{name: "no endpoint", change: func(a *Account) { a.Endpoints = nil },
			deep: MissingEndpoint, shallow: MissingEndpoint, detailHas: "endpoint missing"},
		{name: "endpoint rejected", change: func(a *Account) { a.Endpoints[0].State = "rejected" },
			deep: DeadEndpoint, shallow: DeadEndpoint, detailHas: "vpce-1 not usable"},
		{name: "endpoint rejected within the grace period is still replaced", change: func(a *Account) {
			a.Endpoints[0] = endpoint("vpce-1", "rejected", time.Minute)
		}, deep: DeadEndpoint, shallow: DeadEndpoint},
		{name: "endpoint being deleted", change: func(a *Account) { a.Endpoints[0].State = "deleting" },
			deep: DeadEndpoint, shallow: DeadEndpoint},
		{name: "old duplicate", change: func(a *Account) { a.Endpoints = append(a.Endpoints, endpoint("vpce-2", "available", time.Minute*30)) },
			deep: SpokeDrift, shallow: DeadEndpoint, detailHas: "vpce-2 duplicates vpce-1"},
		{name: "young duplicate: an onboarding in flight", change: func(a *Account) {
			a.Endpoints = append(a.Endpoints, endpoint("vpce-2", "pending", time.Minute))
		}},
		{name: "old dead endpoint beside the keeper", change: func(a *Account) {
			a.Endpoints = append(a.Endpoints, endpoint("vpce-0", "failed", time.Hour))
		}, deep: SpokeDrift, shallow: DeadEndpoint, detailHas: "vpce-0 is failed"},
		{name: "gone endpoint beside the keeper", change: func(a *Account) {
			a.Endpoints = append(a.Endpoints, endpoint("vpce-0", "deleted", time.Hour))
		}},
		{name: "endpoint group lost a rule: only the deep pass sees it", change: func(a *Account) {
			a.Groups[stepVPC][1].Ingress = nil
		}, deep: SpokeDrift, detailHas: "lacks"},
		{name: "endpoint in the wrong subnet: only the deep pass sees it", change: func(a *Account) {
			a.Endpoints[0].SubnetIDs = []string{"subnet-9"}
		}, deep: SpokeDrift, detailHas: "subnets"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := stepInput(t, config.ApprovalAuto)
			a := deepAccount(in)
			tc.change(&a)
			for _, pass := range []struct {
				account Account
				want    Drift
			}{{a, tc.deep}, {shallow(a), tc.shallow}} {
				it, ok := planSpoke(in, pass.account, pass.account.Observed(stepVPC, in.Region))
				switch {
				case ok != (pass.want != ""):
					t.Errorf("deep=%v: item %v (%v), want drift %q", pass.account.Deep, it, ok, pass.want)
				case ok && (it.Drift != pass.want || it.Repair != Converge || it.VPCID != stepVPC):
					t.Errorf("deep=%v: item %v, want %s converging %s", pass.account.Deep, it, pass.want, stepVPC)
				case ok && pass.account.Deep && !strings.Contains(it.Detail, tc.detailHas):
					t.Errorf("detail %q lacks %q", it.Detail, tc.detailHas)
				}
			}
		})
	}
}

func TestParameterDrift(t *testing.T) {
	doc := tunnel.Document{Account: stepAccount, VPCID: stepVPC, EndpointID: "vpce-1", Tunnel: "vpce-1.example:50000",
		JenkinsURL: "https://jenkins.example"}
	tunnelValue, docValue, err := tunnel.Values(doc)
	if err != nil {
		t.Fatal(err)
	}
	synced := tunnel.Published{Tunnel: tunnelValue, Document: docValue, JenkinsURL: doc.JenkinsURL}
	tests := []struct {
		name   string
		change func(p *tunnel.Published) *tunnel.Published
		want   string // in the drift; "" means in sync
	}{
		{"in sync", func(p *tunnel.Published) *tunnel.Published { return p }, ""},
		{"nothing published", func(*tunnel.Published) *tunnel.Published { return nil }, "parameters missing"},
		{"tunnel deleted", func(p *tunnel.Published) *tunnel.Published { p.Tunnel = ""; return p }, "parameters missing"},
		{"document deleted", func(p *tunnel.Published) *tunnel.Published { p.Document = ""; return p }, "parameters missing"},
		{"tunnel overwritten", func(p *tunnel.Published) *tunnel.Published { p.Tunnel = "evil:1"; return p }, `tunnel is "evil:1"`},
		{"document stale", func(p *tunnel.Published) *tunnel.Published { p.Document += " "; return p }, "document differs"},
		{"jenkins url stale", func(p *tunnel.Published) *tunnel.Published { p.JenkinsURL = "http://old"; return p }, `jenkins-url is "http://old"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := synced
			got := parameterDrift(tc.change(&p), doc)
			if (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
				t.Errorf("drift %q, want one with %q", got, tc.want)
			}
		})
	}
}

func TestPlanLeftovers(t *testing.T) {
	param := func(age time.Duration) *tunnel.Published {
		return &tunnel.Published{Names: []string{"/b", "/a"}, Modified: stepNow.Add(-age)}
	}
	tests := []struct {
		name      string
		change    func(a *Account)
		want      []Drift
		young     bool
		detailHas string // in the first item's detail
	}{
		{name: "an agent VPC is no leftover", change: func(a *Account) { a.Params = map[string]*tunnel.Published{stepVPC: param(time.Hour)} }},
		{name: "untagged: its endpoint goes, and its groups and parameters with it", change: func(a *Account) {
			a.VPCs = map[string]VPC{}
			a.Params = map[string]*tunnel.Published{stepVPC: param(time.Hour)}
		}, want: []Drift{UntaggedEndpoint}, detailHas: "endpoints vpce-1"},
		{name: "untagged but the tag key kept: its endpoint goes", change: func(a *Account) {
			a.VPCs[stepVPC] = VPC{ID: stepVPC, Tags: map[string]string{"jenkins-agents": "false"}}
		}, want: []Drift{UntaggedEndpoint}},
		{name: "untagged with a young endpoint: kept, and it keeps the principal", change: func(a *Account) {
			a.VPCs = map[string]VPC{}
			a.Endpoints = []agentvpc.Endpoint{endpoint("vpce-1", "pending", time.Minute)}
		}, want: []Drift{UntaggedGroups}, young: true, detailHas: "sg-ep, sg-agent"},
		{name: "untagged with a young endpoint being deleted: it keeps nothing", change: func(a *Account) {
			a.VPCs, a.Groups = map[string]VPC{}, nil
			a.Endpoints = []agentvpc.Endpoint{endpoint("vpce-1", "deleting", time.Minute)}
		}},
		{name: "untagged, no endpoint: the groups go, and the parameters with them", change: func(a *Account) {
			a.VPCs, a.Endpoints = map[string]VPC{}, nil
			a.Params = map[string]*tunnel.Published{stepVPC: param(time.Hour)}
		}, want: []Drift{UntaggedGroups}},
		{name: "untagged, its endpoint gone: the groups go", change: func(a *Account) {
			a.VPCs = map[string]VPC{}
			a.Endpoints[0].State = "deleted"
		}, want: []Drift{UntaggedGroups}},
		{name: "untagged, its groups young", change: func(a *Account) {
			a.VPCs, a.Endpoints = map[string]VPC{}, nil
			for i := range a.Groups[stepVPC] {
				a.Groups[stepVPC][i].Created = stepNow.Add(-time.Minute)
			}
		}},
		{name: "the shallow pass does not see groups", change: func(a *Account) {
			*a = shallow(*a)
			a.VPCs, a.Endpoints = map[string]VPC{}, nil
		}},
		{name: "parameters of a VPC that is gone", change: func(a *Account) {
			a.VPCs, a.Endpoints, a.Groups = map[string]VPC{}, nil, nil
			a.Params = map[string]*tunnel.Published{stepVPC: param(time.Hour), "vpc-young": param(time.Minute)}
		}, want: []Drift{StaleParameters}, detailHas: "2 parameter(s)"},
		{name: "an account no longer allowed: its agent VPC is a leftover", change: func(a *Account) {
			a.Allowed = false
		}, want: []Drift{UntaggedEndpoint}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := stepInput(t, config.ApprovalAuto)
			a := deepAccount(in)
			tc.change(&a)
			items, young := planLeftovers(in, a)
			var got []Drift
			for _, it := range items {
				got = append(got, it.Drift)
				if it.Drift == StaleParameters && !slices.Equal(it.Names, []string{"/a", "/b"}) {
					t.Errorf("names %v, want them sorted", it.Names)
				}
			}
			if !slices.Equal(got, tc.want) || young != tc.young {
				t.Errorf("leftovers %v young %v, want %v young %v\n%v", got, young, tc.want, tc.young, items)
			}
			if len(items) > 0 && !strings.Contains(items[0].Detail, tc.detailHas) {
				t.Errorf("detail %q lacks %q", items[0].Detail, tc.detailHas)
			}
		})
	}
}

func TestPlanPrincipal(t *testing.T) {
	const principal = "arn:aws:iam::222222222222:role/jenkins-agent-vpcs-spoke"
	tests := []struct {
		name    string
		tagged  bool
		allowed []string
		young   bool
		every   bool // the service allows "*"
		want    Repair
	}{
		{name: "agent VPC, allowed", tagged: true, allowed: []string{principal}},
		{name: "agent VPC, not allowed", tagged: true, want: Allow},
		{name: "no agent VPC, allowed", allowed: []string{principal}, want: Revoke},
		{name: "no agent VPC, a young endpoint", allowed: []string{principal}, young: true},
		{name: "no agent VPC, not allowed"},
		{name: "every account allowed is never revoked", allowed: []string{"*"}, every: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := stepInput(t, config.ApprovalAuto)
			if tc.every {
				in.Principal = func(string) string { return "*" }
			}
			a := Account{ID: stepAccount, Allowed: true, VPCs: map[string]VPC{stepVPC: {ID: stepVPC, Tagged: tc.tagged}}}
			it, ok := planPrincipal(in, Hub{Principals: tc.allowed}, a, tc.young)
			if ok != (tc.want != "") || it.Repair != tc.want {
				t.Fatalf("item %v (%v), want repair %q", it, ok, tc.want)
			}
			if ok && it.Detail != in.Principal(stepAccount) {
				t.Errorf("detail %q, want the principal", it.Detail)
			}
		})
	}
}

func TestPlanStrayConnections(t *testing.T) {
	pending := func(id, owner string) connections.Connection {
		return connections.Connection{EndpointID: id, Owner: owner, State: "pendingAcceptance"}
	}
	tests := []struct {
		name    string
		mode    config.ApprovalMode
		conns   []connections.Connection
		planned []Item
		want    []string
	}{
		{name: "a stranger's connection is settled (the guard rejects it)", conns: []connections.Connection{pending("vpce-x", stepAccount)},
			want: []string{"vpce-x"}},
		{name: "in manual mode too", mode: config.ApprovalManual, conns: []connections.Connection{pending("vpce-x", stepAccount)},
			want: []string{"vpce-x"}},
		{name: "an agent VPC's connection in manual mode is a person's call", mode: config.ApprovalManual,
			conns: []connections.Connection{pending("vpce-1", stepAccount)}},
		{name: "an agent VPC's connection in auto mode is settled", conns: []connections.Connection{pending("vpce-1", stepAccount)},
			want: []string{"vpce-1"}},
		{name: "one the plan settles already", conns: []connections.Connection{pending("vpce-1", stepAccount)},
			planned: []Item{{EndpointID: "vpce-1", Repair: Settle}}},
		{name: "another account's", conns: []connections.Connection{pending("vpce-y", "333333333333")}},
		{name: "settled ones", conns: []connections.Connection{{EndpointID: "vpce-x", Owner: stepAccount, State: "available"}}},
		{name: "in endpoint order", conns: []connections.Connection{pending("vpce-z", stepAccount), pending("vpce-a", stepAccount)},
			want: []string{"vpce-a", "vpce-z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := stepInput(t, cmp.Or(tc.mode, config.ApprovalAuto))
			a := deepAccount(in)
			hub := Hub{Connections: map[string]connections.Connection{}}
			for _, c := range tc.conns {
				hub.Connections[c.EndpointID] = c
			}
			var got []string
			for _, it := range planStrayConnections(in, hub, a, tc.planned) {
				if it.Repair != Settle || it.Drift != PendingConnection {
					t.Errorf("item %v, want a settle", it)
				}
				got = append(got, it.EndpointID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("settles %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSettleError(t *testing.T) {
	batchErr := errors.New("throttled")
	report := connections.Report{Accepted: []string{"vpce-ok"}, Left: []string{"vpce-left"}, Failed: map[string]string{"vpce-bad": "InvalidState"}}
	tests := []struct {
		id   string
		err  error
		want string // in the error; "" means settled
	}{
		{"vpce-ok", nil, ""},
		{"vpce-bad", nil, "InvalidState"},
		{"vpce-left", nil, "left pending"},
		{"vpce-ok", batchErr, "throttled"},
		{"vpce-bad", batchErr, "InvalidState"},
	}
	for _, tc := range tests {
		got := settleError(report, tc.id, tc.err)
		if (got == nil) != (tc.want == "") || (got != nil && !strings.Contains(got.Error(), tc.want)) {
			t.Errorf("settleError(%s, %v) = %v, want %q", tc.id, tc.err, got, tc.want)
		}
	}
}

func TestBatchTally(t *testing.T) {
	vpc1 := Item{Account: stepAccount, VPCID: stepVPC, Drift: MissingEndpoint}
	principal := Item{Account: stepAccount, Drift: MissingPrincipal}
	tests := []struct {
		name     string
		batch    batch
		repaired int
		failed   map[string]string
	}{
		{name: "nothing", failed: map[string]string{}},
		{name: "all repaired", batch: batch{{vpc1, nil}, {principal, nil}}, repaired: 2, failed: map[string]string{}},
		{name: "failures by account, VPC and drift", batch: batch{{vpc1, errors.New("boom")}, {principal, nil}}, repaired: 1,
			failed: map[string]string{stepAccount + "/" + stepVPC + "/missing-endpoint": "boom"}},
		{name: "a later failure of the same repair wins", batch: batch{{vpc1, errors.New("first")}, {vpc1, errors.New("second")}},
			failed: map[string]string{stepAccount + "/" + stepVPC + "/missing-endpoint": "second"}},
		{name: "an account-wide repair", batch: batch{{principal, errors.New("denied")}},
			failed: map[string]string{stepAccount + "//missing-principal": "denied"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logged strings.Builder
			failed := map[string]string{}
			repaired := tc.batch.tally(slog.New(slog.NewTextHandler(&logged, nil)), failed)
			if repaired != tc.repaired || !maps.Equal(failed, tc.failed) {
				t.Errorf("repaired %d failed %v, want %d %v", repaired, failed, tc.repaired, tc.failed)
			}
			if n := strings.Count(logged.String(), "repair failed"); n != len(tc.batch)-tc.repaired {
				t.Errorf("%d failures logged, want %d", n, len(tc.batch)-tc.repaired)
			}
		})
	}
}

func TestPublications(t *testing.T) {
	spoke := func(vpc string) *converge.Spoke {
		return &converge.Spoke{Obs: agentvpc.Observed{Account: stepAccount, VPCID: vpc}, Endpoint: agentvpc.Endpoint{ID: "vpce-" + vpc},
			State: "pendingAcceptance"}
	}
	converged := []*converge.Spoke{spoke("vpc-2"), spoke("vpc-1")}
	items := []Item{
		{Account: stepAccount, VPCID: "vpc-1", Drift: WrongParameters, Repair: Publish},
		{Account: stepAccount, VPCID: "vpc-2", Drift: PendingConnection, Repair: Settle},
		{Account: stepAccount, Drift: PendingConnection, Repair: Settle, EndpointID: "vpce-x"}, // no VPC: nothing to publish
		{Account: stepAccount, VPCID: "vpc-3", Drift: MissingEndpoint, Repair: Converge},       // failed: not converged
	}
	var r Reconciler // every item's VPC converged: nothing is rebuilt from the sweep's view
	pubs, done := r.publications(t.Context(), items, nil, converged, connections.Report{Accepted: []string{"vpce-vpc-1"}})
	if len(done) != 0 || len(pubs) != 2 {
		t.Fatalf("publications %v, failures %v; want vpc-1 and vpc-2", pubs, done)
	}
	if pubs[0].spoke.Obs.VPCID != "vpc-1" || pubs[0].item == nil || pubs[0].item.Drift != WrongParameters {
		t.Errorf("first publication %+v, want vpc-1 repairing its Publish item", pubs[0])
	}
	if pubs[1].spoke.Obs.VPCID != "vpc-2" || pubs[1].item != nil {
		t.Errorf("second publication %+v, want vpc-2 with no item of its own (its settle is counted there)", pubs[1])
	}
	if pubs[0].spoke.State != agentvpc.StatePending {
		t.Errorf("accepted endpoint publishes state %q, want %q", pubs[0].spoke.State, agentvpc.StatePending)
	}
}
