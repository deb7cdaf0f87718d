// Package ec2sim is the local AWS's EC2: VPCs, subnets, security groups,
// tags, and PrivateLink (endpoint services, their permissions and
// notifications, interface endpoints and their connections), per account
// and Region, speaking the EC2 query protocol's XML as the AWS SDK for Go v2
// and the AWS CLI read it.
//
// The front door (package localaws) authenticates a request, routes it here
// as an awsproto.Call and writes what Handle returns. What AWS itself would
// emit while EC2 works (tag change events, CloudTrail records, SNS
// connection notifications) goes to the awsproto.Sink, after the service's
// lock is released, so a sink may call back into the service.
//
// Time-dependent states (an endpoint's pending -> available, deleting ->
// deleted, pendingAcceptance -> expired) are derived on read from
// timestamps and the Clock, so a test moves time and never waits.
//
// With SetConsistency, reads are eventually consistent as AWS documents
// (see consistency.go): a write becomes visible at a seeded time within the
// window, and until then reads see the state before it. Off by default
// here; the local AWS (package localaws) turns it on.
//
// Choices where AWS is not documented, or where the emulator simplifies:
//   - The SNS message of a connection notification is JSON with the keys
//     Event (Connect, Accept, Reject, Delete), ServiceId, VpcEndpointId,
//     VpcEndpointOwner, VpcEndpointState (lower camel case), VpcEndpointRegion,
//     ConnectionNotificationId and Time. No authoritative sample of AWS's
//     body was found; consumers should decode it leniently.
//   - A caller the endpoint service does not allow cannot see it, so
//     CreateVpcEndpoint fails with InvalidServiceName, as on AWS.
//   - ClientTokens of CreateVpcEndpoint are kept for the life of the
//     service (AWS keeps them at least a day); tags are not part of the
//     idempotency comparison.
//   - Deleted endpoints stay visible (state deleted) for DeletedRetention
//     after deletion completes.
//   - State filter values (vpc-endpoint-state) match case-insensitively.
//   - An unknown filter name fails with InvalidParameterValue ("The filter
//     'x' is invalid"), as EC2 does.
//   - DeleteVpcEndpoints reports an unknown or deleted id in Unsuccessful
//     with code InvalidVpcEndpoint.NotFound (AWS's code there), while
//     describes and ModifyVpcEndpoint fail with InvalidVpcEndpointId.NotFound.
//   - There is no default VPC, so GroupName parameters (DescribeSecurityGroups,
//     DeleteSecurityGroup, ingress calls) fail with InvalidGroup.NotFound as
//     they do outside a default VPC; use GroupId or the group-name filter.
//   - Endpoint services have no private DNS name: PrivateDnsEnabled=true is
//     refused (InvalidParameter); omitted means false. EndpointService.Ports
//     is recorded but not enforced (there is no data plane).
//   - Cross-Region PrivateLink (ServiceRegion, SupportedRegions) follows
//     the PrivateLink guide; what it leaves open is chosen in
//     crossregion.go (InvalidServiceName for an unsupported Region, the
//     service Region's regional DNS name only).
//   - Tag change events (aws.tag) are emitted by CreateTags/DeleteTags for
//     every taggable resource type, not by tags given at creation (CreateVpc
//     is seen through its CloudTrail record).
package ec2sim
