// Package event decodes everything the functions are invoked with into
// hints about agent VPCs: EventBridge "Tag Change on Resource" events,
// CloudTrail records (CreateTags, DeleteTags, CreateVpc, DeleteVpc,
// DeleteSubnet), direct re-drive invocations, the endpoint service's SNS
// connection notifications, and the reconciler's own invocations (its
// schedule, the fan-out batches the hub puts on the central bus, and direct
// requests) into a Sweep.
//
// A hint is never the truth: the functions re-read the VPC before they act.
// The decoder is chosen by (source, detail-type). Three outcomes are kept
// apart on purpose: an event of no interest is ignored (a logged no-op); an
// event that cannot be decoded is a *MalformedError (returned to Lambda, so
// retries end in the dead-letter queue and nothing is lost); an event that
// decodes but is invalid or forged is a *RefusedError (logged, counted, and
// not retried, because a retry cannot make it valid).
//
// Decoding is strict where encoding/json is lenient (strict.go): a key twice
// in one object, or a key that names a field only when case is folded
// ("Account" beside or instead of "account"), makes the payload malformed.
// This holds for the envelope, the re-drive payload, the reconciler's
// requests, and the detail too: the CloudTrail detail carries
// recipientAccountId and the resource ids a hint is made of, and the tag
// change detail says which tag changed, so an ambiguous detail is as unsafe
// as an ambiguous envelope. Map keys (detail.tags) are tag keys, which EC2
// compares case-sensitively: only their exact duplicates are refused. The
// SNS event is checked against the fields the accept function reads, since
// Lambda spells some others two ways.
//
// Every decoder has a fuzz target (fuzz_test.go, `make fuzz`).
package event
