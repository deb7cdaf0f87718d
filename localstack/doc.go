// Package localstack runs the whole product on one machine: the local AWS
// (package localaws) seeded with a documented topology, the hub and member
// templates "deployed" into it (the event rules, targets, roles and the
// connection notification that CloudFormation would create, read from
// template.yaml and member-template.yaml rather than written again here), and
// each function's real bootstrap, built by the Makefile's build-<LogicalId>
// target, running under the AWS Lambda Runtime Interface Emulator with the
// environment template.yaml gives it and AWS_ENDPOINT_URL pointing at the
// local AWS.
//
// The stack serves every Region a VPC of the topology is in (Regions): each
// member account gets the member template in each of them, as a StackSet
// would, so a VPC's events reach the hub bus from its own Region.
//
// Events then flow as they do in AWS: a tag change in a member account lands
// on its default bus in the VPC's Region, the member template's rule there
// forwards it to the hub bus,
// the hub template's rule puts it on the onboarding queue, and the queue's
// event source mapping (EventSourceMapping: Lambda's poller, with the
// function's execution role) invokes the onboard function with batches;
// connection notifications reach the accept function through the SNS topic
// (asynchronously, with Lambda's retries); the schedule invokes the
// reconcile function. With JenkinsUrl set, status changes go to the
// Jenkins reload queue (SQS FIFO) and the template's pipe (Pipe, run as its
// role) calls the Jenkins stand-in's reload endpoint (Jenkins) through the
// API destination.
// Delivery is as strict as AWS's unless Options.Relax.Delivery says
// otherwise: events and notifications arrive at least once, late and out of
// order, and some aws.tag events never arrive (localaws.DeliveryOptions).
//
// cmd/localstack wraps it as `make local` (stay up) and `make demo` (a
// narrated scenario); e2e/ drives it in tests.
package localstack
