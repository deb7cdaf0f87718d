// Package localaws is a local AWS for running and testing the product
// without an AWS account. One HTTP endpoint speaks the real wire protocols
// (EC2 and STS query, SSM and EventBridge JSON 1.1), routed by the SigV4
// credential scope and X-Amz-Target exactly as AWS clients send them, so
// the production binaries and the AWS CLI talk to it unchanged through
// AWS_ENDPOINT_URL / --endpoint-url.
//
// It owns the front door: credentials and accounts (an access key id that
// is a 12-digit account id acts as that account's root; AssumeRole issues
// session credentials), EventBridge (buses, rules, pattern matching,
// cross-account forwarding, delivery to Go subscribers), SNS-style topic delivery, topology seeding, fault
// injection, throttling buckets, call counters and a controllable clock.
// EC2 lives in localaws/ec2sim, SSM Parameter Store in localaws/ssmsim,
// and STS with its roles and sessions in localaws/stssim, behind the
// awsproto contract.
package localaws
