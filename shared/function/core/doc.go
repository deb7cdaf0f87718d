// Package core builds what every function's object graph shares: the AWS
// configuration Lambda gives a function in its environment, the hub's
// EC2, EventBridge and STS clients, the spoke role, the acceptance guard and
// the status events; and the accept function's handler, which needs nothing
// more.
//
// The graph is layered by the clients each layer calls, so that a
// function's bootstrap links only the SDK services it uses (each service
// package linked costs its schemas, a megabyte for SSM, whether called or
// not): core for accept (EC2, EventBridge, STS), shared/function/onboarding
// adds Parameter Store for onboard, and shared/function adds
// Organizations for reconcile and is the whole graph the tests and
// cmd/agentvpcs build.
package core
