package core

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/accept"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/connections"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/endpointservice"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/spoke"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/status"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

// HubEC2 is everything the functions call on the hub's EC2.
type HubEC2 interface {
	endpointservice.EC2
	connections.HubEC2
}

// Clients are the AWS clients every function calls: the hub's EC2,
// EventBridge, and STS for the spoke roles.
type Clients struct {
	Base   aws.Config // the function's own configuration, the base of spoke configurations
	HubEC2 HubEC2
	Bus    status.Bus
	STS    spoke.STS
	// NewSpokeEC2 builds a spoke client from a configuration holding the
	// spoke role's credentials.
	NewSpokeEC2 func(aws.Config) agentvpc.EC2
}

// ClientsFrom builds the SDK clients every function calls.
func ClientsFrom(base aws.Config) Clients {
	return Clients{
		Base:        base,
		HubEC2:      ec2.NewFromConfig(base),
		Bus:         eventbridge.NewFromConfig(base),
		STS:         sts.NewFromConfig(base),
		NewSpokeEC2: func(c aws.Config) agentvpc.EC2 { return ec2.NewFromConfig(c) },
	}
}

// Compile-time checks that the SDK clients fit the interfaces.
var (
	_ HubEC2       = (*ec2.Client)(nil)
	_ agentvpc.EC2 = (*ec2.Client)(nil)
	_ status.Bus   = (*eventbridge.Client)(nil)
	_ spoke.STS    = (*sts.Client)(nil)
)

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

// Graph is what every function builds: the spoke role, the acceptance
// guard and the status events over the hub's clients.
type Graph struct {
	Config  config.Config
	Spokes  *spoke.Role[agentvpc.EC2]
	Guard   *connections.Guard
	Events  status.Publisher
	Options Options
	Clients Clients
}

// New builds the graph, filling in the options' defaults.
func New(cfg config.Config, c Clients, o Options) *Graph {
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
	guard := &connections.Guard{Hub: c.HubEC2, ServiceID: cfg.EndpointServiceID, Region: o.Region, Spokes: spokes, Config: cfg, Events: events}
	return &Graph{Config: cfg, Spokes: spokes, Guard: guard, Events: events, Options: o, Clients: c}
}

// Accept is the accept function's handler.
func (g *Graph) Accept() *accept.Handler {
	return &accept.Handler{Guard: g.Guard, RetryInterval: g.Options.RetryInterval, Log: g.Options.Log, MetricsOut: g.Options.MetricsOut}
}

// Main is every function's main: configuration and the AWS configuration
// are read once per cold start, outside the handler, and start builds the
// function's clients and graph from them; a bad configuration ends the
// cold start with an error naming the variable.
func Main(start func(cfg config.Config, base aws.Config, o Options) lambda.Handler) {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	base, err := FromEnvironment()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lambda.Start(start(cfg, base, Options{Region: base.Region}))
}
