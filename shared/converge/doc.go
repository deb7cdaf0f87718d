// Package converge makes one agent VPC what its opt-in tag says, for the
// onboard function and the reconciler alike. Tagged, it ensures the
// service principal, the groups and endpoint, acceptance, the published
// tunnel, status tags and a status event; untagged, deleted or blocking
// its own deletion, it removes all of that again. One invocation at a
// time converges a VPC (a lease in Parameter Store); it decides late and
// checks again: the tag is read before each step that destroys and after
// the last, and a flip meanwhile starts the convergence over.
package converge
