// Package onboarding builds the onboard function's object graph: the graph
// every function shares (shared/function/core) with the endpoint service,
// the tunnel parameters in Parameter Store and the agent VPC engine.
package onboarding

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/converge"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/endpointservice"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function/core"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/onboard"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/pace"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

// Clients are every function's clients, Parameter Store, and SQS for the
// onboard queue's follow-ups.
type Clients struct {
	core.Clients
	SSM tunnel.SSM
	SQS onboard.SQS
}

// ClientsFrom builds the SDK clients the onboard function calls.
func ClientsFrom(base aws.Config) Clients {
	return Clients{Clients: core.ClientsFrom(base), SSM: ssm.NewFromConfig(base), SQS: sqs.NewFromConfig(base)}
}

var _ tunnel.SSM = (*ssm.Client)(nil)

// Graph is the onboard function's graph.
type Graph struct {
	*core.Graph
	Service *endpointservice.Service
	Store   tunnel.Store
	VPCs    *converge.AgentVPCs
	// Queue is the onboard queue (follow-ups, failed messages handed back
	// sooner); nil when ONBOARD_QUEUE_URL is not set.
	Queue *onboard.Queue
}

// writesPerConvergence is the most PutParameter calls converging one VPC
// makes: its lease, tunnel, document and Jenkins URL.
const writesPerConvergence = 4

// New builds the graph.
func New(cfg config.Config, c Clients, o core.Options) *Graph {
	g := core.New(cfg, c.Clients, o)
	o = g.Options // with its defaults
	svc := endpointservice.New(c.HubEC2, cfg, o.Region)
	// The hub's write quotas are shared by every onboard invocation the
	// queue runs at once (at most OnboardConcurrency): each paces itself to
	// its share, so that together they stay under the quotas, and the
	// retry policy waits out the throttling that remains (core.Retryer).
	// The burst is one convergence's writes (the lease, the tunnel, the
	// document and the Jenkins URL; one accept), so a single VPC's
	// onboarding is not slowed; a batch's, or a rollout's, is.
	share := float64(cfg.OnboardConcurrency)
	store := tunnel.Store{SSM: c.SSM, Prefix: cfg.ParameterPrefix, Tier: cfg.ParameterTier,
		Pace: pace.New(cfg.SSMWriteRate/share, writesPerConvergence)}
	guard := *g.Guard
	guard.Pace = pace.New(cfg.ConnectionRate/share, 1)
	vpcs := &converge.AgentVPCs{
		Config: cfg, Region: o.Region, Spokes: g.Spokes, Service: svc, Guard: &guard, Store: store, Events: g.Events,
		Applier:       agentvpc.Applier{Now: o.Now, WaitTimeout: o.WaitTimeout, WaitInterval: o.WaitInterval, RetryInterval: o.RetryInterval},
		Now:           o.Now,
		RetryInterval: o.RetryInterval,
		ReadDelay:     cfg.ReadDelay,
	}
	graph := &Graph{Graph: g, Service: svc, Store: store, VPCs: vpcs}
	if cfg.OnboardQueueURL != "" && c.SQS != nil {
		graph.Queue = &onboard.Queue{SQS: c.SQS, URL: cfg.OnboardQueueURL}
		vpcs.FollowUps = *graph.Queue
	}
	return graph
}

// Onboard is the onboard function's handler.
func (g *Graph) Onboard() *onboard.Handler {
	h := &onboard.Handler{VPCs: g.VPCs, Decoder: event.Decoder{TagKey: g.Config.TagKey}, Log: g.Options.Log, MetricsOut: g.Options.MetricsOut}
	if g.Queue != nil {
		h.Retries = *g.Queue
	}
	return h
}
