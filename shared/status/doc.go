// Package status owns the product's status events: what it tells the
// central event bus when an agent VPC changes state, when a connection
// needs a person's approval, and what a reconcile run did. A rule can turn
// these into a JCasC reload; the archive in template.yaml keeps them.
package status
