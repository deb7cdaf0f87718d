// Package iam is the IAM policy language of the local AWS and its
// evaluation, with no HTTP in it: policy documents (identity-based and
// resource-based), condition operators with AWS's semantics for missing
// keys and set qualifiers, and the facts of the AWS Service Authorization
// Reference (which resource types an action authorizes and which condition
// keys each carries), embedded from the team's iam-authorization.json.
//
// The front door (package localaws) builds a Request from a call and the
// services' state and asks Evaluate; the Decision says why, for the log.
package iam
