// Package connections owns the connection requests to the hub's endpoint
// service: the decision on each (accept only what the product can tie to
// an endpoint it manages, in a VPC that carries the tag, in an allowed
// account; reject only what is shown to be a stranger's, or hold it for a
// person in manual approval mode; leave pending what cannot be read yet,
// since EC2 and IAM are eventually consistent and a pending connection
// carries nothing), settling the decisions, and the one flow (Resolve)
// through which the accept function, onboarding and the reconciler all
// settle connections. Package accept is the accept function's handler.
package connections
