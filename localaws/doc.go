// Package localaws is a local AWS for running and testing the product
// without an AWS account. One HTTP endpoint speaks the real wire protocols
// (EC2 and STS query, SSM and EventBridge JSON 1.1), routed by the SigV4
// credential scope and X-Amz-Target exactly as AWS clients send them, so
// the production binaries and the AWS CLI talk to it unchanged through
// AWS_ENDPOINT_URL / --endpoint-url.
//
// It is the front door: SigV4 routing, credentials and accounts (an access
// key id that is a 12-digit account id acts as that account's root;
// AssumeRole issues session credentials), IAM authorization of role
// sessions' calls, topology seeding, fault injection, throttling buckets,
// call counters and logs, a controllable clock, and the admin API. Each service lives in its
// own package behind the awsproto contract: EC2 in localaws/ec2sim, SSM
// Parameter Store in localaws/ssmsim, STS with its roles and sessions in
// localaws/stssim, EventBridge with SNS-style topic delivery in
// localaws/eventsim.
package localaws
