// Package function builds the product's whole object graph: the graph of
// every function (shared/function/core), the onboard function's additions
// (shared/function/onboarding), and the reconciler with Organizations. The
// reconcile function and cmd/agentvpcs run it, the tests build it with the
// local AWS's clients, so both run the same graph.
//
// The onboard and accept functions import only their layers, so their
// bootstraps do not link the SDK services they never call (Organizations;
// and Parameter Store for accept).
package function
