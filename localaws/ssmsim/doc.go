// Package ssmsim is the local AWS's SSM Parameter Store: parameters per
// account and Region (names and paths, tiers, SecureString, tags, paging),
// speaking the JSON 1.1 bodies of the AmazonSSM operations the product and
// the AWS CLI use.
//
// The front door (package localaws) authenticates a request, authorizes it
// with AuthorizationContext, routes it here as an awsproto.Call and writes
// what Handle returns; errors are *awsproto.Error.
//
// Choices where the emulator simplifies:
//   - Only the current version is kept: name:version selects it alone,
//     and there is no parameter history or labels.
//   - SecureString values read without decryption are base64 of a
//     "localaws-kms:" prefix and the value; there is no KMS.
//   - DescribeParameters models the Path and Name filters; others are
//     refused (InvalidFilterKey), not ignored.
package ssmsim
