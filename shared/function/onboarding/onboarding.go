// Package onboarding builds the onboard function's object graph: the graph
// every function shares (shared/function/core) with the endpoint service,
// the tunnel parameters in Parameter Store and the agent VPC engine.
package onboarding

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/converge"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/endpointservice"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function/core"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/onboard"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

// Clients are every function's clients and Parameter Store.
type Clients struct {
	core.Clients
	SSM tunnel.SSM
}

// ClientsFrom builds the SDK clients the onboard function calls.
func ClientsFrom(base aws.Config) Clients {
	return Clients{Clients: core.ClientsFrom(base), SSM: ssm.NewFromConfig(base)}
}

var _ tunnel.SSM = (*ssm.Client)(nil)

// Graph is the onboard function's graph.
type Graph struct {
	*core.Graph
	Service *endpointservice.Service
	Store   tunnel.Store
	VPCs    *converge.AgentVPCs
}

// New builds the graph.
func New(cfg config.Config, c Clients, o core.Options) *Graph {
	g := core.New(cfg, c.Clients, o)
	o = g.Options // with its defaults
	svc := endpointservice.New(c.HubEC2, cfg, o.Region)
	store := tunnel.Store{SSM: c.SSM, Prefix: cfg.ParameterPrefix}
	vpcs := &converge.AgentVPCs{
		Config: cfg, Region: o.Region, Spokes: g.Spokes, Service: svc, Guard: g.Guard, Store: store, Events: g.Events,
		Applier:       agentvpc.Applier{Now: o.Now, WaitTimeout: o.WaitTimeout, WaitInterval: o.WaitInterval, RetryInterval: o.RetryInterval},
		Now:           o.Now,
		RetryInterval: o.RetryInterval,
		ReadDelay:     cfg.ReadDelay,
	}
	return &Graph{Graph: g, Service: svc, Store: store, VPCs: vpcs}
}

// Onboard is the onboard function's handler.
func (g *Graph) Onboard() *onboard.Handler {
	return &onboard.Handler{VPCs: g.VPCs, Decoder: event.Decoder{TagKey: g.Config.TagKey}, Log: g.Options.Log, MetricsOut: g.Options.MetricsOut}
}
