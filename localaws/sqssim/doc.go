// Package sqssim is Amazon SQS standard and FIFO queues for the local AWS: the AWS
// JSON 1.0 protocol the SDKs speak (X-Amz-Target: AmazonSQS.<Action>), and
// the query protocol of older clients translated to it (query.go), per
// account and Region, on the server clock. It owns queues, their
// attributes and policies, and their messages' lifecycle: delay,
// visibility timeout, receive count, redrive to a dead-letter queue,
// retention and purge; for FIFO queues (fifo.go) message groups, order,
// deduplication ids and the deduplication interval, sequence numbers.
//
// It is strict where AWS is loose (see Strictness and the README): standard
// queues deliver at least once (a deleted or in-flight message is
// sometimes received again), short polls sample a subset of the servers
// (a receive may miss messages that are there) and there is no order.
// FIFO queues have none of that looseness: AWS delivers them exactly once,
// in order within a group.
// Authorization is the front door's (package localaws): AuthorizationContext
// names the queue and carries its policy.
package sqssim
