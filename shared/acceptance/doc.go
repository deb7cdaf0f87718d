// Package acceptance owns the decision on connection requests to the
// endpoint service: accept only what the product can tie to an endpoint it
// manages, in a VPC that carries the tag, in an allowed account; reject
// only what is shown to be a stranger's (or, in manual approval mode, hold
// it for a person); leave pending what cannot be read yet, since EC2 and
// IAM are eventually consistent and a pending connection carries nothing.
// The accept function, onboarding and the reconciler all settle
// connections through this one Guard.
package acceptance
