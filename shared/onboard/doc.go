// Package onboard owns the onboard function's behaviour: from an event
// about a VPC to a converged agent VPC. Tagged, it ensures the service
// principal, the groups and endpoint, acceptance, the published tunnel,
// status tags and a status event; untagged, deleted or blocking its own
// deletion, it removes all of that again. It decides late and checks
// again: the tag is read before each step that destroys and after the
// last, and a flip meanwhile starts the convergence over.
package onboard
