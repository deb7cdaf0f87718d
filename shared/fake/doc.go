// Package fake holds hand-written, stateful, in-memory stand-ins for the AWS APIs
// the product's functions call: EC2 (VPCs, subnets, security groups, interface
// endpoints, and the hub's endpoint service), SSM Parameter Store, EventBridge
// PutEvents and STS.
//
// One World holds every account of an organization, because PrivateLink crosses
// accounts: an endpoint created in a spoke account shows up as a connection on
// the hub's endpoint service. Tests take per-account views of it (World.EC2,
// World.SSM, World.EventBridge, World.STS) whose methods carry the SDK v2
// signatures, so the same small interfaces that *ec2.Client satisfies accept
// them, and so do the SDK paginators.
//
// The fakes behave rather than replay: a CreateTags changes what a later
// Describe returns, filters and pagination work, endpoint states move with a
// controllable Clock, and failures come back with the error codes AWS uses, as
// *smithy.GenericAPIError, so classification through smithy.APIError works.
// Errors are never the SDK's typed errors (for example *ssmtypes.ParameterNotFound):
// code under test must classify by ErrorCode(), which works against both.
//
// Every call is recorded (World.Calls), failed ones included, so a test can
// derive the IAM actions each function needs; World.Fail injects errors.
// A World is safe for concurrent use.
package fake
