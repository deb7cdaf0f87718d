package function

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function/core"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function/onboarding"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/pace"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/reconcile"
)

// HubEC2 is everything the functions call on the hub's EC2.
type HubEC2 = core.HubEC2

// Options are what differs between production and tests.
type Options = core.Options

// Retryer is the functions' retry policy (core.Retryer).
func Retryer() aws.Retryer { return core.Retryer() }

// Clients are every AWS client of the product: the onboard function's and
// Organizations.
type Clients struct {
	onboarding.Clients
	// Organizations lists the organization's accounts for the reconciler;
	// nil when no organization role is configured.
	Organizations reconcile.Organizations
}

// ClientsFrom builds the reconcile function's SDK clients from a base
// configuration: the onboard function's, and Organizations through the
// organization role when one is configured.
func ClientsFrom(base aws.Config, cfg config.Config) Clients {
	c := Clients{Clients: onboarding.ClientsFrom(base)}
	if roleARN := cfg.OrganizationRoleARN; roleARN != "" {
		orgCfg := base.Copy()
		orgCfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), roleARN))
		c.Organizations = organizations.NewFromConfig(orgCfg)
	}
	return c
}

var _ reconcile.Organizations = (*organizations.Client)(nil)

// Core is the whole graph: the onboard function's (which holds every
// function's) and the reconciler's.
type Core struct {
	*onboarding.Graph
	Organizations reconcile.Organizations
}

// NewCore builds the graph.
func NewCore(cfg config.Config, c Clients, o Options) *Core {
	return &Core{Graph: onboarding.New(cfg, c.Clients, o), Organizations: c.Organizations}
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
		Store: store, VPCs: &vpcs, Events: c.Events, Bus: c.Clients.Bus, Orgs: c.Organizations, Now: c.Options.Now,
		Parameters: reconcile.ParameterReads(c.Config.ParameterReads),
	}
}

// Reconcile is the reconcile function's handler.
func (c *Core) Reconcile() *reconcile.Handler {
	return &reconcile.Handler{Reconciler: c.Reconciler(), Log: c.Options.Log, MetricsOut: c.Options.MetricsOut}
}
