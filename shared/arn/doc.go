// Package arn owns the Amazon Resource Names and account ids the product
// builds and reads: the spoke role and account root principals it allows
// on the endpoint service and assumes, the VPC ARNs that tag events name,
// the event bus it publishes to, and the account in any ARN it is handed
// (a principal, an assumed-role user, the invoked function). The partition
// of every ARN it builds comes from the Region, so that one rule decides
// it; the generic split of an ARN into its six fields is the SDK's
// (aws/arn), and this package adds what each kind must look like.
package arn
