// Package reconcile owns drift repair across the organization: observe
// every account's agent VPCs and the hub's principals, connections and
// parameters with as few calls as possible, compute a plan (a pure
// function whose items each name a drift and its repair), and apply only
// that plan, batching what lands on the hub.
//
// Cost per in-sync account is three calls through the spoke role (the
// role, its tagged VPCs and its managed endpoints, both by filter, not per
// VPC), plus its parameters: a scheduled run pages the whole prefix once,
// one call per 10 parameters of the organization (ParameterReads says why
// it beats one call per account). Subnets and security group rules cost two more calls per account, so
// they are checked in a "deep" pass that reaches each account once an hour
// at the default 15-minute schedule (and whenever an account shows other
// drift); a request can ask for a deep pass everywhere.
package reconcile
