// Package event decodes everything the functions are invoked with into
// hints about agent VPCs: EventBridge "Tag Change on Resource" events,
// CloudTrail records (CreateTags, DeleteTags, CreateVpc, DeleteVpc,
// DeleteSubnet), direct re-drive invocations and the endpoint service's SNS
// connection notifications.
//
// A hint is never the truth: the functions re-read the VPC before they act.
// The decoder is chosen by (source, detail-type). Three outcomes are kept
// apart on purpose: an event of no interest is ignored (a logged no-op); an
// event that cannot be decoded is a *MalformedError (returned to Lambda, so
// retries end in the dead-letter queue and nothing is lost); an event that
// decodes but is invalid or forged is a *RefusedError (logged, counted, and
// not retried, because a retry cannot make it valid).
package event
