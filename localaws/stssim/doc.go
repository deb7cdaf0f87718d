// Package stssim is the local AWS's STS and the IAM state behind it: roles
// (trust policy, maximum session duration, inline identity policies),
// resource-based policies by ARN, the organization, and the sessions
// AssumeRole issues, speaking the STS query protocol's XML
// (GetCallerIdentity, AssumeRole).
//
// The front door (package localaws) calls Identify to turn a request's
// access key into an Identity, authorizes the call with the policies and
// keys this package answers (IdentityPolicies, PrincipalContext, OrgOf,
// ResourcePolicy, AuthorizationContext), and routes STS calls to Handle.
// Policy evaluation itself is package localaws/iam.
//
// Choices where the emulator simplifies:
//   - A 12-digit access key id is that account's root; no secret is checked.
//   - Trust policies are reduced to principals, an external id and an
//     organization id (Trust); a role that does not exist answers
//     AccessDenied, as AWS does, so callers cannot probe for roles.
package stssim
