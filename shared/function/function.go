package function

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/accept"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/acceptance"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/converge"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/endpointservice"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/onboard"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/pace"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/reconcile"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/spoke"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/status"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

// HubEC2 is everything the functions call on the hub's EC2.
type HubEC2 interface {
	endpointservice.EC2
	acceptance.HubEC2
}

// Clients are the AWS clients a function needs.
type Clients struct {
	Base   aws.Config // the function's own configuration, the base of spoke configurations
	HubEC2 HubEC2
	SSM    tunnel.SSM
	Bus    status.Bus
	STS    spoke.STS
	// NewSpokeEC2 builds a spoke client from a configuration holding the
	// spoke role's credentials.
	NewSpokeEC2 func(aws.Config) agentvpc.EC2
	// Organizations lists the organization's accounts for the reconciler;
	// nil when no organization role is configured.
	Organizations reconcile.Organizations
}

// Options are what differs between production and tests.
type Options struct {
	Region     string
	Log        *slog.Logger
	MetricsOut io.Writer
	Now        func() time.Time
	// WaitTimeout bounds a removal's wait for endpoint deletion.
	WaitTimeout  time.Duration
	WaitInterval time.Duration
	// RetryInterval is the first pause before asking again for what EC2
	// shows late (a new connection, a principal just allowed); it
	// defaults to WaitInterval when that is set, else to a second.
	RetryInterval time.Duration
	SessionName   string
}

// RealClients builds the real SDK clients from the environment: the
// adaptive retryer handles throttling and 5xx before an error reaches the
// handler, and AWS_ENDPOINT_URL (read by the SDK) points every client at a
// local AWS.
func RealClients(ctx context.Context, cfg config.Config) (Clients, error) {
	base, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRetryer(Retryer))
	if err != nil {
		return Clients{}, fmt.Errorf("loading AWS configuration, %w", err)
	}
	if base.Region == "" {
		return Clients{}, fmt.Errorf("loading AWS configuration, AWS_REGION is not set")
	}
	return ClientsFrom(base, cfg), nil
}

// Retryer is the functions' retry policy: adaptive (client-side rate
// limiting on throttling), six attempts.
func Retryer() aws.Retryer {
	return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) { so.MaxAttempts = 6 })
	})
}

// ClientsFrom builds the SDK clients from a base configuration.
func ClientsFrom(base aws.Config, cfg config.Config) Clients {
	var orgs reconcile.Organizations
	if roleARN := cfg.OrganizationRoleARN; roleARN != "" {
		orgCfg := base.Copy()
		orgCfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), roleARN))
		orgs = organizations.NewFromConfig(orgCfg)
	}
	return Clients{
		Organizations: orgs,
		Base:          base,
		HubEC2:        ec2.NewFromConfig(base),
		SSM:           ssm.NewFromConfig(base),
		Bus:           eventbridge.NewFromConfig(base),
		STS:           sts.NewFromConfig(base),
		NewSpokeEC2:   func(c aws.Config) agentvpc.EC2 { return ec2.NewFromConfig(c) },
	}
}

// Compile-time checks that the SDK clients fit the interfaces.
var (
	_ HubEC2       = (*ec2.Client)(nil)
	_ agentvpc.EC2 = (*ec2.Client)(nil)
	_ tunnel.SSM   = (*ssm.Client)(nil)
	_ status.Bus   = (*eventbridge.Client)(nil)
	_ spoke.STS    = (*sts.Client)(nil)
)

// Core is the shared graph of the functions.
type Core struct {
	Config  config.Config
	Spokes  *spoke.Role[agentvpc.EC2]
	Service *endpointservice.Service
	Guard   *acceptance.Guard
	VPCs    *converge.AgentVPCs
	Events  status.Publisher
	Store   tunnel.Store
	Options Options
	Clients Clients
}

// NewCore builds the graph.
func NewCore(cfg config.Config, c Clients, o Options) *Core {
	if o.Log == nil {
		o.Log = telemetry.NewLogger(os.Stdout, cfg.LogLevel)
	}
	if o.MetricsOut == nil {
		o.MetricsOut = os.Stdout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.WaitTimeout == 0 {
		// Endpoint deletion takes a minute or two; the wait also stops 20 s
		// before the invocation's deadline (the onboard function has 300 s).
		o.WaitTimeout = 4 * time.Minute
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = o.WaitInterval
	}
	if o.SessionName == "" {
		o.SessionName = "jenkins-agent-vpcs"
	}
	spokes := spoke.New(c.Base, c.STS, cfg.SpokeRoleName, cfg.SpokeExternalID, o.SessionName, c.NewSpokeEC2)
	events := status.Publisher{Bus: c.Bus, BusName: cfg.EventBusName}
	svc := endpointservice.New(c.HubEC2, cfg, o.Region)
	guard := &acceptance.Guard{Hub: c.HubEC2, ServiceID: cfg.EndpointServiceID, Region: o.Region, Spokes: spokes, Config: cfg, Events: events}
	store := tunnel.Store{SSM: c.SSM, Prefix: cfg.ParameterPrefix}
	vpcs := &converge.AgentVPCs{
		Config: cfg, Region: o.Region, Spokes: spokes, Service: svc, Guard: guard, Store: store, Events: events,
		Applier:       agentvpc.Applier{Now: o.Now, WaitTimeout: o.WaitTimeout, WaitInterval: o.WaitInterval, RetryInterval: o.RetryInterval},
		Now:           o.Now,
		RetryInterval: o.RetryInterval,
		ReadDelay:     cfg.ReadDelay,
	}
	return &Core{Config: cfg, Spokes: spokes, Service: svc, Guard: guard, VPCs: vpcs, Events: events, Store: store, Options: o, Clients: c}
}

// Onboard is the onboard function's handler.
func (c *Core) Onboard() *onboard.Handler {
	return &onboard.Handler{VPCs: c.VPCs, Decoder: event.Decoder{TagKey: c.Config.TagKey}, Log: c.Options.Log, MetricsOut: c.Options.MetricsOut}
}

// Accept is the accept function's handler.
func (c *Core) Accept() *accept.Handler {
	return &accept.Handler{Guard: c.Guard, RetryInterval: c.Options.RetryInterval, Log: c.Options.Log, MetricsOut: c.Options.MetricsOut}
}

// Reconciler is the sweep, with its Parameter Store reads and writes paced
// under the account's rates, so a large sweep does not spend its time in
// throttling retries.
func (c *Core) Reconciler() *reconcile.Reconciler {
	store := c.Store
	store.Pace = pace.New(c.Config.SSMWriteRate, max(1, int(c.Config.SSMWriteRate)))
	store.ReadPace = pace.New(c.Config.SSMReadRate, max(1, int(c.Config.SSMReadRate)))
	// One sweep may settle many batches of connections: keep them under
	// the hub's bucket (10 calls, refilled at 1 per second). A single
	// invocation of the other functions makes one call and is not paced.
	guard := *c.Guard
	guard.Pace = pace.New(1, 10)
	vpcs := *c.VPCs
	vpcs.Store = store
	vpcs.Guard = &guard
	return &reconcile.Reconciler{
		Config: c.Config, Region: c.Options.Region, Spokes: c.Spokes, Service: c.Service, Guard: &guard,
		Store: store, VPCs: &vpcs, Events: c.Events, Bus: c.Clients.Bus, Orgs: c.Clients.Organizations, Now: c.Options.Now,
	}
}

// Reconcile is the reconcile function's handler.
func (c *Core) Reconcile() *reconcile.Handler {
	return &reconcile.Handler{Reconciler: c.Reconciler(), Log: c.Options.Log, MetricsOut: c.Options.MetricsOut}
}

// Main is every function's main: configuration and clients are built once
// per cold start, outside the handler, and a bad configuration ends the
// cold start with an error naming the variable.
func Main(handler func(*Core) lambda.Handler) {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	clients, err := RealClients(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lambda.Start(handler(NewCore(cfg, clients, Options{Region: clients.Base.Region})))
}
