package localawstest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/ec2sim"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
)

// Options configure New. The zero value is an empty, strict local AWS on
// the wall clock with nothing deployed.
type Options struct {
	// Topology seeds the server; Region defaults to its Region, or us-east-1.
	Topology *localaws.Topology
	// Relax turns off strict behaviours of the local AWS (zero: strict).
	Relax localaws.Relax
	// Consistency configures EC2's eventual consistency (zero: the
	// default window), unless Relax.Consistency.
	Consistency localaws.Consistency
	// Seed seeds the fault RNG; Throttle enforces AWS's rate limits.
	Seed     int64
	Throttle bool
	// TransitionDelay is how long endpoints stay pending and deleting, on
	// the server clock (zero: ec2sim's default, no delay).
	TransitionDelay time.Duration
	// Now, when set, stops the server clock there.
	Now time.Time
	// Deploy, when set, deploys the templates (localstack.Deploy); its
	// Topology defaults to Options.Topology.
	Deploy *localstack.DeployOptions
	// Logger receives the server's log of failed calls (default: none).
	Logger *slog.Logger
}

// AWS is a local AWS serving one test.
type AWS struct {
	Server *localaws.Server
	URL    string
	Region string
	// Deployment is what Deploy deployed (nil when nothing was).
	Deployment *localstack.Deployment

	t     testing.TB
	delay time.Duration
	// services maps an endpoint service id and name to its owner account.
	mu       sync.Mutex
	services map[string]string
}

// New starts a local AWS for t, closed when t ends. Any failure fails t.
func New(t testing.TB, o Options) *AWS {
	t.Helper()
	srv, err := localaws.NewServer(localaws.Options{Topology: o.Topology, Relax: o.Relax, Consistency: o.Consistency, Seed: o.Seed, Throttle: o.Throttle,
		TransitionDelay: o.TransitionDelay, Logger: o.Logger})
	if err != nil {
		t.Fatalf("starting the local AWS: %v", err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		_ = srv.Close()
		t.Fatalf("starting the local AWS: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	if !o.Now.IsZero() {
		srv.Clock().Set(o.Now)
	}
	a := &AWS{Server: srv, URL: url, Region: "us-east-1", t: t, delay: o.TransitionDelay, services: map[string]string{}}
	if o.Topology != nil {
		if o.Topology.Region != "" {
			a.Region = o.Topology.Region
		}
		a.rememberServices(o.Topology)
	}
	if o.Deploy != nil {
		d := *o.Deploy
		if d.Topology == nil {
			d.Topology = o.Topology
		}
		if a.Deployment, err = localstack.Deploy(context.Background(), srv, url, d); err != nil {
			t.Fatalf("deploying the templates into the local AWS: %v", err)
		}
	}
	return a
}

func (a *AWS) rememberServices(topo *localaws.Topology) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, acct := range topo.Accounts {
		for _, es := range acct.EndpointServices {
			if es.ID != "" {
				a.services[es.ID] = acct.ID
				a.services["com.amazonaws.vpce."+or(es.Region, a.Region)+"."+es.ID] = acct.ID
			}
			if es.Name != "" {
				a.services[es.Name] = acct.ID
			}
		}
	}
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Seed adds more topology to the running server.
func (a *AWS) Seed(topo *localaws.Topology) {
	a.t.Helper()
	if err := a.Server.Seed(topo); err != nil {
		a.t.Fatalf("seeding the local AWS: %v", err)
	}
	a.rememberServices(topo)
}

// RootARN is the principal ARN of an account as a whole.
func RootARN(account string) string { return "arn:aws:iam::" + account + ":root" }

// RoleARN is the ARN of an IAM role.
func RoleARN(account, role string) string { return "arn:aws:iam::" + account + ":role/" + role }

// Root is an SDK configuration acting as account's root (the local AWS
// takes a 12-digit access key id as that account). It makes one attempt
// per call: a test reads what the local AWS answered, and an injected
// fault meant for the code under test is not spent on retries of the
// test's own calls.
func (a *AWS) Root(account string) aws.Config {
	return aws.Config{Region: a.Region, BaseEndpoint: aws.String(a.URL),
		Credentials: credentials.NewStaticCredentialsProvider(account, "local", ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} }}
}

// Session is an SDK configuration holding a role session's credentials
// as an AWS service gets them for the role (Lambda for a function's
// execution role): no trust check, one hour. The retryer is the SDK's
// default; set Retryer to the product's own to build clients as main does.
func (a *AWS) Session(account, role, session string) aws.Config {
	a.t.Helper()
	c, err := a.Server.RoleCredentials(account, role, session, time.Hour)
	if err != nil {
		a.t.Fatalf("credentials of role %s in %s: %v", role, account, err)
	}
	return aws.Config{Region: a.Region, BaseEndpoint: aws.String(a.URL),
		Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)}
}

// EC2 is an EC2 client as account's root.
func (a *AWS) EC2(account string) *ec2.Client { return ec2.NewFromConfig(a.Root(account)) }

// SSM is an SSM client as account's root.
func (a *AWS) SSM(account string) *ssm.Client { return ssm.NewFromConfig(a.Root(account)) }

// EventBridge is an EventBridge client as account's root.
func (a *AWS) EventBridge(account string) *eventbridge.Client {
	return eventbridge.NewFromConfig(a.Root(account))
}

// SQS is an SQS client as account's root.
func (a *AWS) SQS(account string) *sqs.Client { return sqs.NewFromConfig(a.Root(account)) }

// QueueURL is the URL of an account's queue on this server.
func (a *AWS) QueueURL(account, name string) string { return a.URL + "/" + account + "/" + name }

// QueueDepth is how many messages a queue (by ARN or URL) holds: visible,
// in flight and delayed. A queue that does not exist fails the test.
func (a *AWS) QueueDepth(queue string) localaws.QueueDepth {
	a.t.Helper()
	d, ok := a.Server.QueueDepth(queue)
	if !ok {
		a.t.Fatalf("queue %s does not exist", queue)
	}
	return d
}

// STS is an STS client as account's root.
func (a *AWS) STS(account string) *sts.Client { return sts.NewFromConfig(a.Root(account)) }

// Clock is the server's clock.
func (a *AWS) Clock() *localaws.Clock { return a.Server.Clock() }

// Later lets time pass on the server clock beyond EC2's consistency
// window, as between a change and a person's next look, so that the next
// read sees what was written. A running clock keeps running, a stopped one
// stays stopped.
func (a *AWS) Later() { a.Clock().Skip(a.Server.ConsistencyWindow() + time.Millisecond) }

// Calls is the server's call log, oldest first.
func (a *AWS) Calls() []localaws.Call { return a.Server.CallLog() }

// Mark is a position in the call log for CallsSince.
func (a *AWS) Mark() int64 {
	calls := a.Server.CallLog()
	if len(calls) == 0 {
		return 0
	}
	return calls[len(calls)-1].Seq
}

// CallsSince returns the calls recorded after mark.
func (a *AWS) CallsSince(mark int64) []localaws.Call {
	calls := a.Server.CallLog()
	i := sort.Search(len(calls), func(i int) bool { return calls[i].Seq > mark })
	return calls[i:]
}

// CallCount counts the logged calls of a service's action by any
// principal, failed ones included.
func (a *AWS) CallCount(service, action string) int {
	n := 0
	for _, c := range a.Server.CallLog() {
		if c.Service == service && c.Action == action {
			n++
		}
	}
	return n
}

// Fail injects a fault and returns its id.
func (a *AWS) Fail(f localaws.Fault) string { return a.Server.InjectFault(f) }

// ClearFaults removes every fault.
func (a *AWS) ClearFaults() { a.Server.ClearFaults() }

// AZID is the zone id of an account's zone name (the mapping differs per
// account, as on AWS).
func (a *AWS) AZID(account, az string) string { return a.Server.EC2().AZID(account, a.Region, az) }

// AddVPC adds a VPC to account, emitting nothing, and returns its id.
func (a *AWS) AddVPC(account, cidr string, tags map[string]string) string {
	a.t.Helper()
	v, err := a.Server.EC2().AddVPC(account, a.Region, ec2sim.VPC{CIDR: cidr, Tags: tags})
	if err != nil {
		a.t.Fatalf("adding a VPC to %s: %v", account, err)
	}
	return v.ID
}

// AddSubnet adds a subnet in a zone (by name) to a VPC, on the VPC's next
// free /24, and returns its id.
func (a *AWS) AddSubnet(account, vpc, az string, tags map[string]string) string {
	a.t.Helper()
	ctx := context.Background()
	vpcs, err := a.EC2(account).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpc}})
	if err != nil || len(vpcs.Vpcs) != 1 {
		a.t.Fatalf("adding a subnet to %s in %s: reading the VPC: %v", vpc, account, err)
	}
	subnets, err := a.EC2(account).DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil {
		a.t.Fatalf("adding a subnet to %s in %s: %v", vpc, account, err)
	}
	cidr, err := nthSubnet(aws.ToString(vpcs.Vpcs[0].CidrBlock), len(subnets.Subnets))
	if err != nil {
		a.t.Fatalf("adding a subnet to %s in %s: %v", vpc, account, err)
	}
	s, err := a.Server.EC2().AddSubnet(account, a.Region, ec2sim.Subnet{VPCID: vpc, CIDR: cidr, AZ: az, Tags: tags})
	if err != nil {
		a.t.Fatalf("adding a subnet to %s in %s: %v", vpc, account, err)
	}
	return s.ID
}

// EndpointState is an endpoint's state as its owner's DescribeVpcEndpoints
// answers it, "" when the endpoint is not (or no longer) visible.
func (a *AWS) EndpointState(account, id string) string {
	a.t.Helper()
	out, err := a.EC2(account).DescribeVpcEndpoints(context.Background(), &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{id}})
	if isCode(err, "InvalidVpcEndpointId.NotFound") {
		return ""
	}
	if err != nil {
		a.t.Fatalf("reading endpoint %s of %s: %v", id, account, err)
	}
	if len(out.VpcEndpoints) != 1 {
		return ""
	}
	return string(out.VpcEndpoints[0].State)
}

// SetEndpointState moves an endpoint into state the way AWS gets there:
// "rejected" (the service owner rejects the connection), "deleted" (the
// owner deletes it and the clock passes the transition delay), "available"
// (the service owner accepts it). Other states have no API path to them in
// the local AWS; asking for one fails the test. It acts as a person does,
// a while after the last change and looking again a while later: the
// clock passes the consistency window before and after (see Later).
func (a *AWS) SetEndpointState(account, id, state string) {
	a.t.Helper()
	ctx := context.Background()
	a.Later()
	switch state {
	case "rejected", "available":
		out, err := a.EC2(account).DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{id}})
		if err != nil || len(out.VpcEndpoints) != 1 {
			a.t.Fatalf("reading endpoint %s of %s: %v", id, account, err)
		}
		name := aws.ToString(out.VpcEndpoints[0].ServiceName)
		owner, serviceID := a.serviceOwner(name)
		hub := a.EC2(owner)
		if state == "rejected" {
			_, err = hub.RejectVpcEndpointConnections(ctx, &ec2.RejectVpcEndpointConnectionsInput{ServiceId: aws.String(serviceID), VpcEndpointIds: []string{id}})
		} else {
			_, err = hub.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(serviceID), VpcEndpointIds: []string{id}})
			a.Clock().Skip(a.delay)
		}
		if err != nil {
			a.t.Fatalf("moving endpoint %s to %s: %v", id, state, err)
		}
	case "deleted":
		if _, err := a.EC2(account).DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{id}}); err != nil {
			a.t.Fatalf("deleting endpoint %s of %s: %v", id, account, err)
		}
		a.Clock().Skip(a.delay)
	default:
		a.t.Fatalf("SetEndpointState: the local AWS has no API path to state %q", state)
	}
	a.Later()
	got := a.EndpointState(account, id)
	// A deleted endpoint stays visible for a while, then is gone.
	if got != state && !(state == "deleted" && got == "") {
		a.t.Fatalf("endpoint %s is %q after moving it to %s", id, got, state)
	}
}

// serviceOwner finds the owner and id of an endpoint service by name,
// from the topologies seeded through New and Seed.
func (a *AWS) serviceOwner(name string) (owner, id string) {
	a.t.Helper()
	a.mu.Lock()
	owner = a.services[name]
	a.mu.Unlock()
	if owner == "" {
		a.t.Fatalf("endpoint service %s is not in the topology", name)
	}
	return owner, name[strings.LastIndex(name, ".")+1:]
}

// AllowedPrincipals are the principals an endpoint service allows, sorted,
// as its owner's DescribeVpcEndpointServicePermissions answers.
func (a *AWS) AllowedPrincipals(serviceID string) []string {
	a.t.Helper()
	owner, _ := a.serviceOwner(serviceID)
	var out []string
	p := ec2.NewDescribeVpcEndpointServicePermissionsPaginator(a.EC2(owner), &ec2.DescribeVpcEndpointServicePermissionsInput{ServiceId: aws.String(serviceID)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			a.t.Fatalf("reading the permissions of %s: %v", serviceID, err)
		}
		for _, ap := range page.AllowedPrincipals {
			out = append(out, aws.ToString(ap.Principal))
		}
	}
	slices.Sort(out)
	return out
}

// Parameter reads a parameter of account in the test's Region.
func (a *AWS) Parameter(account, name string) (string, bool) {
	v, _, ok := a.Server.Parameter(account, a.Region, name)
	return v, ok
}

// ParameterNames lists every parameter of account, sorted.
func (a *AWS) ParameterNames(account string) []string {
	a.t.Helper()
	var out []string
	p := ssm.NewDescribeParametersPaginator(a.SSM(account), &ssm.DescribeParametersInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			a.t.Fatalf("listing the parameters of %s: %v", account, err)
		}
		for _, m := range page.Parameters {
			out = append(out, aws.ToString(m.Name))
		}
	}
	slices.Sort(out)
	return out
}

// Events are the recent events account put on any of its buses (at most
// the server's last 1000 events), oldest first.
func (a *AWS) Events(account string) []awsproto.Event {
	var out []awsproto.Event
	for _, ev := range a.Server.RecentEvents() {
		if ev.Account == account {
			out = append(out, ev)
		}
	}
	return out
}

func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

func nthSubnet(vpcCIDR string, n int) (string, error) {
	var a, b, c, d, bits int
	if _, err := fmt.Sscanf(vpcCIDR, "%d.%d.%d.%d/%d", &a, &b, &c, &d, &bits); err != nil || bits > 24 {
		return "", fmt.Errorf("VPC CIDR %q has no room for /24 subnets", vpcCIDR)
	}
	v := (a<<24 | b<<16 | c<<8) + n<<8
	return fmt.Sprintf("%d.%d.%d.0/24", v>>24&0xff, v>>16&0xff, v>>8&0xff), nil
}
