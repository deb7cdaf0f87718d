package function_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/localawstest"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/reconcile"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

const localTopology = `
region: us-east-1
organization: {id: o-jenkinsagents}
accounts:
  - id: "111111111111"
    roles:
      - {name: jenkins-agent-vpcs-onboard, trust: {principals: [lambda.amazonaws.com]}}
      - {name: jenkins-agent-vpcs-accept, trust: {principals: [lambda.amazonaws.com]}}
      - {name: jenkins-agent-vpcs-reconcile, trust: {principals: [lambda.amazonaws.com]}}
    eventBuses: [{name: jenkins-agent-vpcs}]
    endpointServices:
      - id: vpce-svc-0a1b2c3d4e5f60001
        acceptanceRequired: true
        azs: [use1-az1, use1-az2, use1-az4]
        ports: [50000, 8080]
  - id: "222222222222"
    roles: &spoke
      - name: jenkins-agent-vpcs-spoke
        trust:
          principals:
            - arn:aws:iam::111111111111:role/jenkins-agent-vpcs-onboard
            - arn:aws:iam::111111111111:role/jenkins-agent-vpcs-accept
            - arn:aws:iam::111111111111:role/jenkins-agent-vpcs-reconcile
          externalId: jenkins-agent-vpcs
    vpcs:
      - id: vpc-0aaaaaaaaaaaaaaa1
        cidr: 10.1.0.0/16
        subnets: [{az: us-east-1a}, {az: us-east-1b}, {az: us-east-1c}, {az: us-east-1d}]
      - id: vpc-0aaaaaaaaaaaaaaa2
        cidr: 10.2.0.0/16
        subnets: [{az: us-east-1a}, {az: us-east-1b}, {az: us-east-1c}]
  - id: "333333333333"
    roles: *spoke
    vpcs:
      - id: vpc-0bbbbbbbbbbbbbbb1
        cidr: 10.3.0.0/16
        subnets: [{az: us-east-1a}, {az: us-east-1b}, {az: us-east-1c}]
`

// local is the product wired with real SDK clients to an in-process local AWS.
type local struct {
	t   *testing.T
	srv *localaws.Server
	url string
	cfg config.Config
}

func newLocal(t *testing.T) *local {
	t.Helper()
	top, err := localaws.ParseTopology([]byte(localTopology))
	if err != nil {
		t.Fatal(err)
	}
	withTemplatePolicies(t, top)
	w := localawstest.New(t, localawstest.Options{Topology: top})
	t.Cleanup(func() {
		for _, d := range w.Server.Denials() {
			t.Logf("DENIAL %s %s %s", d.Action, d.Resource, d.Reason)
		}
	})
	m := map[string]string{"ENDPOINT_SERVICE_ID": "vpce-svc-0a1b2c3d4e5f60001", "EVENT_BUS_NAME": "jenkins-agent-vpcs",
		"SPOKE_EXTERNAL_ID": "jenkins-agent-vpcs", "HTTP_PORT": "8080", "GRACE_PERIOD": "0s", "ALLOWED_ACCOUNTS": "222222222222,333333333333"}
	cfg, err := config.Load(func(k string) string { return m[k] })
	if err != nil {
		t.Fatal(err)
	}
	return &local{t: t, srv: w.Server, url: w.URL, cfg: cfg}
}

// withTemplatePolicies gives the topology's roles the policies the
// templates give them, resolved as the local stack deploys them, so that
// the local AWS authorizes each call as AWS would.
func withTemplatePolicies(t *testing.T, top *localaws.Topology) {
	t.Helper()
	hubPolicies, err := localstack.RolePolicies("../../template.yaml", "jenkins-agent-vpcs", hub, region, map[string]string{
		"OrganizationId": "o-jenkinsagents", "EndpointServiceId": "vpce-svc-0a1b2c3d4e5f60001", "SpokeExternalId": "jenkins-agent-vpcs"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range top.Accounts {
		a := &top.Accounts[i]
		policies := hubPolicies
		if a.ID != hub {
			policies, err = localstack.RolePolicies("../../member-template.yaml", "jenkins-agent-vpcs-member", a.ID, region, map[string]string{
				"HubAccountId": hub, "HubEventBusArn": "arn:aws:events:" + region + ":" + hub + ":event-bus/jenkins-agent-vpcs",
				"HubFunctionRoleArns": "arn:aws:iam::" + hub + ":role/jenkins-agent-vpcs-onboard", "ExternalId": "jenkins-agent-vpcs",
				"EndpointServiceName": "com.amazonaws.vpce." + region + ".vpce-svc-0a1b2c3d4e5f60001"})
			if err != nil {
				t.Fatal(err)
			}
		}
		a.Roles = slices.Clone(a.Roles) // YAML aliases may share the list
		for j := range a.Roles {
			if a.Roles[j].Policies = policies[a.Roles[j].Name]; len(a.Roles[j].Policies) == 0 {
				t.Fatalf("the templates give role %s in %s no policy", a.Roles[j].Name, a.ID)
			}
		}
	}
}

// core builds a function's graph as main does, with the credentials Lambda
// would give its execution role.
func (l *local) core(fn string) *function.Core {
	l.t.Helper()
	creds, err := l.srv.RoleCredentials(hub, "jenkins-agent-vpcs-"+fn, fn, time.Hour)
	if err != nil {
		l.t.Fatal(err)
	}
	base := aws.Config{Region: region, BaseEndpoint: aws.String(l.url), Retryer: function.Retryer,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)}
	return function.NewCore(l.cfg, function.ClientsFrom(base, l.cfg), function.Options{Region: region,
		Log: telemetry.NewLogger(&strings.Builder{}, "error"), MetricsOut: &strings.Builder{}, WaitTimeout: 5 * time.Second, WaitInterval: 50 * time.Millisecond,
		// A quarter of production's pause, still longer in all than the local
		// AWS's consistency window: the functions must ride it out.
		RetryInterval: 250 * time.Millisecond, SessionName: fn})
}

// admin is an account administrator's EC2 client.
func (l *local) admin(acct string) *ec2.Client {
	return ec2.New(ec2.Options{Region: region, BaseEndpoint: aws.String(l.url),
		Credentials: credentials.NewStaticCredentialsProvider(acct, "secret", "")})
}

// later lets time pass on the local AWS's clock beyond its consistency
// window, as it does between a change and a scheduled sweep, so that what
// was written is visible to the next read.
func (l *local) later() {
	l.srv.Clock().Skip(localaws.DefaultConsistencyWindow + time.Second)
}

func (l *local) parameter(name string) string {
	v, _, _ := l.srv.Parameter(hub, region, name)
	return v
}

func TestLocalAWSTagEventsToTunnelAndBack(t *testing.T) {
	l := newLocal(t)
	var mu sync.Mutex
	var seen []awsproto.Event
	cancel := l.srv.Watch(member, region, "default", func(ev awsproto.Event) {
		mu.Lock()
		seen = append(seen, ev)
		mu.Unlock()
	})
	defer cancel()
	ctx := context.Background()
	tagKey := []types.Tag{{Key: aws.String("jenkins-agents"), Value: aws.String("true")}}
	vpc := "vpc-0aaaaaaaaaaaaaaa1"
	if _, err := l.admin(member).CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{vpc}, Tags: tagKey}); err != nil {
		t.Fatal(err)
	}
	l.srv.Flush(2 * time.Second)
	// Deliver what AWS emitted, as the member rule and the hub rule would.
	deliver := func() {
		mu.Lock()
		evs := seen
		seen = nil
		mu.Unlock()
		if len(evs) == 0 {
			t.Fatal("the local AWS emitted no events for the tag change")
		}
		for _, ev := range evs {
			body, _ := json.Marshal(ev)
			if _, err := l.core("onboard").Onboard().Invoke(ctx, body); err != nil {
				t.Fatalf("%s/%s: %v", ev.Source, ev.DetailType, err)
			}
		}
	}
	deliver()
	prefix := "/jenkins-agent-vpcs/" + member + "/" + vpc
	tunnel := l.parameter(prefix + "/tunnel")
	if !tunnelRE.MatchString(tunnel) {
		t.Fatalf("tunnel %q", tunnel)
	}
	if got := l.parameter(prefix + "/jenkins-url"); got != "http://"+strings.TrimSuffix(tunnel, ":50000")+":8080/" {
		t.Errorf("jenkins-url %q", got)
	}
	if _, err := l.admin(member).DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{vpc}, Tags: []types.Tag{{Key: aws.String("jenkins-agents")}}}); err != nil {
		t.Fatal(err)
	}
	l.srv.Flush(2 * time.Second)
	deliver()
	if got := l.parameter(prefix + "/tunnel"); got != "" {
		t.Errorf("tunnel left after untag: %q", got)
	}
}

func TestLocalAWSReconcileUnderThrottlingConverges(t *testing.T) {
	l := newLocal(t)
	ctx := context.Background()
	for _, x := range []struct{ acct, vpc string }{{member, "vpc-0aaaaaaaaaaaaaaa1"}, {member, "vpc-0aaaaaaaaaaaaaaa2"}, {member2, "vpc-0bbbbbbbbbbbbbbb1"}} {
		if _, err := l.admin(x.acct).CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{x.vpc},
			Tags: []types.Tag{{Key: aws.String("jenkins-agents"), Value: aws.String("true")}}}); err != nil {
			t.Fatal(err)
		}
	}
	l.later()
	// Every tag event was lost; the AWS buckets are enforced, and a tenth
	// of EC2 calls are throttled on top.
	l.srv.SetThrottle(true)
	l.srv.InjectFault(localaws.Fault{Service: "ec2", Code: "RequestLimitExceeded", Ratio: 0.1})
	rec := l.core("reconcile").Reconciler()
	rep, err := rec.Run(ctx, reconcile.Request{Deep: reconcile.DeepAll})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.FailedRepairs) > 0 || len(rep.FailedAccounts) > 0 || rep.Repairs == 0 {
		t.Fatalf("throttled run did not converge: %+v", rep)
	}
	for _, name := range []string{"/jenkins-agent-vpcs/" + member + "/vpc-0aaaaaaaaaaaaaaa1/tunnel", "/jenkins-agent-vpcs/" + member2 + "/vpc-0bbbbbbbbbbbbbbb1/tunnel"} {
		if !tunnelRE.MatchString(l.parameter(name)) {
			t.Errorf("%s = %q", name, l.parameter(name))
		}
	}
	l.srv.ClearFaults()
	l.later()
	again, err := rec.Run(ctx, reconcile.Request{Deep: reconcile.DeepAll})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range again.Items {
		if it.Drift != reconcile.WrongParameters && it.Drift != reconcile.StaleStatusTags {
			t.Errorf("second run found %v", it) // only the endpoints' new states may be published
		}
	}
}

// An account administrator attached a security group of their own to the
// product's endpoint; the reconciler removes it. That ModifyVpcEndpoint is
// authorized on the foreign (untagged) group too, so the spoke policy must
// allow it: without the member template's RepairEndpointSecurityGroups
// statement, strict IAM refuses the repair as AWS would.
func TestLocalAWSReconcileRemovesAForeignEndpointSecurityGroup(t *testing.T) {
	tests := []struct {
		name        string
		dropSid     string // statement removed from the spoke policy
		wantRepair  bool
		wantDenials int
	}{
		{name: "member template", wantRepair: true},
		{name: "without RepairEndpointSecurityGroups", dropSid: "RepairEndpointSecurityGroups", wantDenials: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLocal(t)
			ctx := context.Background()
			vpc := "vpc-0aaaaaaaaaaaaaaa1"
			if _, err := l.admin(member).CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{vpc},
				Tags: []types.Tag{{Key: aws.String("jenkins-agents"), Value: aws.String("true")}}}); err != nil {
				t.Fatal(err)
			}
			l.later()
			rec := l.core("reconcile").Reconciler()
			if rep, err := rec.Run(ctx, reconcile.Request{Deep: reconcile.DeepAll}); err != nil || len(rep.FailedRepairs) > 0 {
				t.Fatalf("onboarding: %+v, %v", rep, err)
			}
			l.later()
			eps, err := l.admin(member).DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
			if err != nil || len(eps.VpcEndpoints) != 1 {
				t.Fatalf("endpoints: %+v, %v", eps, err)
			}
			ep := *eps.VpcEndpoints[0].VpcEndpointId
			foreign, err := l.admin(member).CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("theirs"), Description: aws.String("d"), VpcId: aws.String(vpc)})
			if err != nil {
				t.Fatal(err)
			}
			l.later()
			if _, err := l.admin(member).ModifyVpcEndpoint(ctx, &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(ep), AddSecurityGroupIds: []string{*foreign.GroupId}}); err != nil {
				t.Fatal(err)
			}
			l.later()
			if tc.dropSid != "" {
				l.dropStatement(member, "jenkins-agent-vpcs-spoke", tc.dropSid)
			}
			l.srv.ResetDenials()
			rep, err := rec.Run(ctx, reconcile.Request{Deep: reconcile.DeepAll})
			if err != nil {
				t.Fatal(err)
			}
			l.later()
			eps, err = l.admin(member).DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{ep}})
			if err != nil {
				t.Fatal(err)
			}
			attached := false
			for _, g := range eps.VpcEndpoints[0].Groups {
				attached = attached || *g.GroupId == *foreign.GroupId
			}
			if attached == tc.wantRepair {
				t.Fatalf("foreign group attached after the run = %v, want %v (report %+v)", attached, !tc.wantRepair, rep)
			}
			denials := l.srv.Denials()
			if len(denials) != tc.wantDenials {
				t.Fatalf("denials = %+v, want %d", denials, tc.wantDenials)
			}
			if tc.wantDenials > 0 {
				d := denials[0]
				if d.Action != "ec2:ModifyVpcEndpoint" || !strings.HasSuffix(d.Resource, "security-group/"+*foreign.GroupId) {
					t.Errorf("denial = %+v, want ec2:ModifyVpcEndpoint on the foreign group", d)
				}
				failed := strings.Join(slices.Collect(maps.Values(rep.FailedRepairs)), "; ")
				if !strings.Contains(failed, "UnauthorizedOperation") {
					t.Errorf("failed repairs %q do not report UnauthorizedOperation", failed)
				}
			}
		})
	}
}

// dropStatement removes one statement (by Sid) from every policy of a role.
func (l *local) dropStatement(account, role, sid string) {
	l.t.Helper()
	policies, err := localstack.RolePolicies("../../member-template.yaml", "jenkins-agent-vpcs-member", account, region, map[string]string{
		"HubAccountId": hub, "HubEventBusArn": "arn:aws:events:" + region + ":" + hub + ":event-bus/jenkins-agent-vpcs",
		"HubFunctionRoleArns": "arn:aws:iam::" + hub + ":role/jenkins-agent-vpcs-onboard", "ExternalId": "jenkins-agent-vpcs",
		"EndpointServiceName": "com.amazonaws.vpce." + region + ".vpce-svc-0a1b2c3d4e5f60001"})
	if err != nil {
		l.t.Fatal(err)
	}
	found := false
	for _, p := range policies[role] {
		var doc struct {
			Version   string
			Statement []map[string]any
		}
		if err := json.Unmarshal(p.Document, &doc); err != nil {
			l.t.Fatal(err)
		}
		doc.Statement = slices.DeleteFunc(doc.Statement, func(s map[string]any) bool {
			found = found || s["Sid"] == sid
			return s["Sid"] == sid
		})
		b, _ := json.Marshal(doc)
		if err := l.srv.PutRolePolicy(account, role, p.Name, b); err != nil {
			l.t.Fatal(err)
		}
	}
	if !found {
		l.t.Fatalf("role %s has no statement %s", role, sid)
	}
}

// On the strict local AWS (EC2 reads lag writes), onboarding describes the
// endpoint it has just created before EC2 shows it. Taking that NotFound
// for "no such endpoint" rejected the product's own connection, and the
// retry created a second endpoint (issue 9, defect 1). Now: one endpoint
// ever created, its connection accepted, nothing rejected.
func TestLocalAWSOnboardingAcceptsTheEndpointItJustCreated(t *testing.T) {
	l := newLocal(t)
	ctx := context.Background()
	vpc := "vpc-0aaaaaaaaaaaaaaa2"
	if _, err := l.admin(member).CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{vpc},
		Tags: []types.Tag{{Key: aws.String("jenkins-agents"), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	l.later()
	faults := l.srv.ConsistencyFaults()
	redrive := []byte(`{"account":"` + member + `","region":"` + region + `","vpcId":"` + vpc + `"}`)
	if _, err := l.core("onboard").Onboard().Invoke(ctx, redrive); err != nil {
		t.Fatal(err)
	}
	created, rejects := 0, 0
	for _, c := range l.srv.CallLog() {
		switch {
		case c.Action == "CreateVpcEndpoint" && c.Code == "":
			created++
		case c.Action == "RejectVpcEndpointConnections":
			rejects++
		}
	}
	if created != 1 || rejects != 0 {
		t.Errorf("endpoints created %d (want 1), reject calls %d (want 0)", created, rejects)
	}
	if l.srv.ConsistencyFaults() == faults {
		t.Error("EC2 answered every read from after its writes: the test proves nothing about lag")
	}
	l.later()
	eps, err := l.admin(member).DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil || len(eps.VpcEndpoints) != 1 {
		t.Fatalf("endpoints in %s: %+v, %v", vpc, eps, err)
	}
	if st := string(eps.VpcEndpoints[0].State); strings.EqualFold(st, "rejected") || strings.EqualFold(st, "pendingAcceptance") {
		t.Errorf("the product's own endpoint is %s", st)
	}
}
