// Package eventsim is the local AWS's EventBridge and the delivery side of
// SNS: event buses, rules (event patterns and schedules), targets (input,
// input path, cross-account buses), PutEvents, the default buses AWS
// services emit to, and SNS topics' Go subscribers, speaking the JSON 1.1
// bodies of the AWSEvents operations the product and the AWS CLI use.
//
// Service implements awsproto.Sink, so other services' events (EC2's tag
// changes and CloudTrail records, endpoint connection notifications) reach
// buses and topics through it. The front door (package localaws)
// authorizes calls with AuthorizationContext, routes them to Handle,
// decides cross-account deliveries with SetTargetAuthorizer and services'
// messages to topics (the topic policy) with SetPublishAuthorizer.
//
// Every delivery runs outside the service's lock on a dispatcher, so a
// subscriber may call back into the local AWS. Strict delivery (the
// default of the local AWS) is at least once, late, unordered and, for
// aws.tag events, lossy, as AWS documents (see DeliveryOptions); Flush
// waits for it.
//
// Choices where the emulator simplifies:
//   - Schedules are recorded, not run: TriggerRule fires a rule as its
//     schedule would.
//   - A target delivers to Go subscribers of its ARN (Subscribe), or, for
//     an event bus ARN, puts the event on that bus, or calls an API
//     destination; no other service is invoked.
//   - An API destination target is called over HTTP with its connection's
//     credentials, rate limit, retries and dead-lettering
//     (apidelivery.go); a dead-lettered event is recorded, not sent to
//     SQS.
//   - A rule's delivery to an SNS topic target reaches the topic's Go
//     subscribers without the topic policy being asked: only the
//     messages AWS services publish (Publish) are authorized.
package eventsim
