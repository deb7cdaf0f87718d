package agentvpc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/awserr"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/pace"
)

// Applier makes a plan's changes in one VPC.
type Applier struct {
	EC2 EC2
	Now func() time.Time
	// WaitTimeout bounds how long a removal waits for endpoints to be
	// deleted before it deletes their security groups; WaitInterval is
	// the polling period.
	WaitTimeout  time.Duration
	WaitInterval time.Duration
	// RetryInterval is the first pause before retrying a call that AWS
	// refuses for a moment after a related change (doubled each time).
	RetryInterval time.Duration
	// Recheck, when set, is called before every destructive step; an
	// error stops the plan there. Removal uses it to see that the VPC has
	// been tagged again meanwhile.
	Recheck func(ctx context.Context) error
}

// Outcome is what applying a plan left behind.
type Outcome struct {
	Endpoint    *Endpoint // the VPC's endpoint after the changes; nil when it has none
	GroupIDs    map[string]string
	Changes     []string        // one line per change made
	GroupsInUse []string        // agent groups left because something else still uses them
	created     map[string]bool // ids this Apply created, which EC2 may not show yet
}

// Apply runs steps against the VPC observed in o. It stops at the first
// error; since every step is idempotent, running the same plan (or a new
// one) again finishes the work.
func (a Applier) Apply(ctx context.Context, d Desired, o Observed, steps []Step) (Outcome, error) {
	out := Outcome{GroupIDs: map[string]string{}, created: map[string]bool{}}
	for _, g := range o.Groups {
		if g.Name == GroupName(g.Role) {
			out.GroupIDs[g.Role] = g.ID
		}
	}
	if k, ok := o.Keeper(); ok {
		k := k
		out.Endpoint = &k
	}
	for _, s := range steps {
		if a.Recheck != nil && (s.Kind == DeleteEndpoints || s.Kind == DeleteGroup || s.Kind == RevokeRules) {
			if err := a.Recheck(ctx); err != nil {
				return out, err
			}
		}
		changed, err := a.apply(ctx, d, o, s, &out)
		if err != nil {
			return out, fmt.Errorf("%s in %s (%s), %w", s.Kind, o.VPCID, s.Drift, err)
		}
		if changed != "" {
			out.Changes = append(out.Changes, changed)
		}
	}
	return out, nil
}

func (a Applier) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a Applier) tags(kind types.ResourceType, vpc, role string) []types.TagSpecification {
	tags := []types.Tag{
		{Key: aws.String(TagManaged), Value: aws.String("true")},
		{Key: aws.String(TagVPC), Value: aws.String(vpc)},
	}
	if role != "" {
		tags = append(tags, types.Tag{Key: aws.String(TagRole), Value: aws.String(role)},
			types.Tag{Key: aws.String(TagCreated), Value: aws.String(a.now().UTC().Format(time.RFC3339))})
	}
	return []types.TagSpecification{{ResourceType: kind, Tags: tags}}
}

// apply makes one step's change and says what it changed ("" for
// nothing), keeping out up to date for the steps after it.
func (a Applier) apply(ctx context.Context, d Desired, o Observed, s Step, out *Outcome) (string, error) {
	switch s.Kind {
	case CreateGroup:
		return a.applyCreateGroup(ctx, o, s, out)
	case AuthorizeRules:
		return a.applyAuthorizeRules(ctx, s, out)
	case RevokeRules:
		return a.applyRevokeRules(ctx, s, out)
	case CreateEndpoint:
		return a.applyCreateEndpoint(ctx, d, o, s, out)
	case ModifyEndpoint:
		return a.applyModifyEndpoint(ctx, s, out)
	case DeleteEndpoints:
		return a.applyDeleteEndpoints(ctx, s, out)
	case WaitEndpoints:
		return "", a.waitGone(ctx, s.EndpointIDs)
	case DeleteGroup:
		return a.applyDeleteGroup(ctx, s, out)
	}
	return "", fmt.Errorf("unknown step kind %q", s.Kind)
}

func (a Applier) applyCreateGroup(ctx context.Context, o Observed, s Step, out *Outcome) (string, error) {
	id, created, err := a.createGroup(ctx, o.VPCID, s.Role)
	if err != nil {
		return "", err
	}
	out.GroupIDs[s.Role] = id
	if !created {
		return "", nil
	}
	out.created[id] = true
	return "created " + s.Role + " security group " + id, nil
}

func (a Applier) applyAuthorizeRules(ctx context.Context, s Step, out *Outcome) (string, error) {
	groupID := out.GroupIDs[s.Role]
	perms := a.permissions(s.Rules, out.GroupIDs[RoleAgent])
	err := a.whileNotVisible(ctx, out.created[groupID] || out.created[out.GroupIDs[RoleAgent]], func() error {
		return a.authorize(ctx, groupID, perms)
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s on %s: %s", s.Kind, groupID, rulesText(s.Rules)), nil
}

func (a Applier) applyRevokeRules(ctx context.Context, s Step, out *Outcome) (string, error) {
	groupID := out.GroupIDs[s.Role]
	perms := a.permissions(s.Rules, out.GroupIDs[RoleAgent])
	_, err := a.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(groupID), IpPermissions: perms})
	if awserr.IsNotFound(err) || awserr.Code(err) == "InvalidPermission.NotFound" {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s on %s: %s", s.Kind, groupID, rulesText(s.Rules)), nil
}

func (a Applier) applyCreateEndpoint(ctx context.Context, d Desired, o Observed, s Step, out *Outcome) (string, error) {
	ep, err := a.createEndpoint(ctx, d, o, s, out.GroupIDs[RoleEndpoint], func(id string) bool { return out.created[id] })
	if err != nil {
		return "", err
	}
	out.Endpoint = &ep
	return "created endpoint " + ep.ID, nil
}

func (a Applier) applyModifyEndpoint(ctx context.Context, s Step, out *Outcome) (string, error) {
	in := &ec2.ModifyVpcEndpointInput{VpcEndpointId: aws.String(s.EndpointID), AddSubnetIds: s.AddSubnets, RemoveSubnetIds: s.RemoveSubnets}
	for _, g := range s.AddGroups {
		if g == "" {
			g = out.GroupIDs[RoleEndpoint]
		}
		in.AddSecurityGroupIds = append(in.AddSecurityGroupIds, g)
	}
	in.RemoveSecurityGroupIds = s.RemoveGroups
	fresh := slices.ContainsFunc(in.AddSecurityGroupIds, func(g string) bool { return out.created[g] })
	if err := a.whileNotVisible(ctx, fresh, func() error {
		_, err := a.EC2.ModifyVpcEndpoint(ctx, in)
		return err
	}); err != nil {
		return "", err
	}
	if out.Endpoint != nil && out.Endpoint.ID == s.EndpointID {
		out.Endpoint.SubnetIDs = append(setDiff(out.Endpoint.SubnetIDs, s.RemoveSubnets), s.AddSubnets...)
	}
	return fmt.Sprintf("modified %s: subnets +%v -%v, groups +%v -%v", s.EndpointID, s.AddSubnets, s.RemoveSubnets, in.AddSecurityGroupIds, s.RemoveGroups), nil
}

func (a Applier) applyDeleteEndpoints(ctx context.Context, s Step, out *Outcome) (string, error) {
	res, err := a.EC2.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: s.EndpointIDs})
	if err != nil && !awserr.IsNotFound(err) {
		return "", err
	}
	if res != nil {
		for _, u := range res.Unsuccessful {
			if u.Error != nil && !awserr.IsNotFoundCode(aws.ToString(u.Error.Code)) {
				return "", fmt.Errorf("deleting %s, %s: %s", aws.ToString(u.ResourceId), aws.ToString(u.Error.Code), aws.ToString(u.Error.Message))
			}
		}
	}
	if out.Endpoint != nil && slices.Contains(s.EndpointIDs, out.Endpoint.ID) {
		out.Endpoint = nil
	}
	return fmt.Sprintf("deleted endpoints %v", s.EndpointIDs), nil
}

func (a Applier) applyDeleteGroup(ctx context.Context, s Step, out *Outcome) (string, error) {
	_, err := a.EC2.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: aws.String(s.GroupID)})
	switch {
	case awserr.IsNotFound(err):
		return "", nil
	case awserr.IsDependencyViolation(err) && s.Role == RoleAgent:
		// Agents (the owner's tasks or instances) still use it: it is
		// theirs to stop using; the reconciler removes it once free.
		out.GroupsInUse = append(out.GroupsInUse, s.GroupID)
		return "", nil
	case err != nil:
		return "", err
	}
	delete(out.GroupIDs, s.Role)
	return "deleted " + s.Role + " security group " + s.GroupID, nil
}

func (a Applier) createGroup(ctx context.Context, vpc, role string) (id string, created bool, err error) {
	res, err := a.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName:         aws.String(GroupName(role)),
		Description:       aws.String("jenkins-agent-vpcs " + role + " group (managed; do not edit)"),
		VpcId:             aws.String(vpc),
		TagSpecifications: a.tags(types.ResourceTypeSecurityGroup, vpc, role),
	})
	if err == nil {
		return aws.ToString(res.GroupId), true, nil
	}
	if !awserr.IsDuplicate(err) {
		return "", false, err
	}
	// A racing invocation created it first: use theirs. It may have done so
	// a moment ago, and a filtered describe may not list it yet (eventual
	// consistency): ask again for a while before giving up.
	var got *ec2.DescribeSecurityGroupsOutput
	errNotListed := errors.New("not listed yet")
	derr := a.retry(ctx, func(err error) bool { return errors.Is(err, errNotListed) }, func() (err error) {
		got, err = a.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []types.Filter{
			filter("vpc-id", vpc), filter("group-name", GroupName(role))}})
		if err == nil && len(got.SecurityGroups) == 0 {
			return errNotListed
		}
		return err
	})
	if derr != nil {
		return "", false, fmt.Errorf("finding the existing %s, %w", GroupName(role), derr)
	}
	if len(got.SecurityGroups) != 1 {
		return "", false, fmt.Errorf("finding the existing %s, found %d groups", GroupName(role), len(got.SecurityGroups))
	}
	g := got.SecurityGroups[0]
	if TagMap(g.Tags)[TagManaged] != "true" {
		return "", false, fmt.Errorf("a security group named %s exists in %s but was not created by jenkins-agent-vpcs; rename or delete it", GroupName(role), vpc)
	}
	return aws.ToString(g.GroupId), false, nil
}

// authorize adds ingress rules. In the API model the call either succeeds
// ("Returns true if the request succeeds; otherwise, returns an error",
// with the rules added in SecurityGroupRules) or fails: there is no
// per-rule result, so a call that fails with InvalidPermission.Duplicate
// (EC2 API reference, "Error codes": the rule already exists) cannot be
// taken to have added the call's other rules. On a duplicate each rule is
// added on its own, and only a rule's own duplicate is success.
func (a Applier) authorize(ctx context.Context, groupID string, perms []types.IpPermission) error {
	_, err := a.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(groupID), IpPermissions: perms})
	if !awserr.IsDuplicate(err) || len(perms) == 1 {
		if awserr.IsDuplicate(err) {
			return nil
		}
		return err
	}
	for _, p := range perms {
		_, err := a.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(groupID), IpPermissions: []types.IpPermission{p}})
		if err != nil && !awserr.IsDuplicate(err) {
			return err
		}
	}
	return nil
}

func (a Applier) permissions(rules []Rule, agentGroupID string) []types.IpPermission {
	perms := make([]types.IpPermission, 0, len(rules))
	for _, r := range rules {
		p := types.IpPermission{IpProtocol: aws.String(r.Protocol), FromPort: aws.Int32(r.FromPort), ToPort: aws.Int32(r.ToPort)}
		switch {
		case r.CIDR != "":
			p.IpRanges = []types.IpRange{{CidrIp: aws.String(r.CIDR)}}
		default:
			src := r.SourceGroup
			if src == "" {
				src = agentGroupID
			}
			p.UserIdGroupPairs = []types.UserIdGroupPair{{GroupId: aws.String(src), Description: aws.String("Jenkins agents")}}
		}
		perms = append(perms, p)
	}
	return perms
}

func (a Applier) createEndpoint(ctx context.Context, d Desired, o Observed, s Step, groupID string, out func(string) bool) (Endpoint, error) {
	if len(s.SubnetIDs) == 0 {
		return Endpoint{}, errors.New("no subnet of the VPC is in an Availability Zone the endpoint service offers")
	}
	create := func(token string) (Endpoint, error) {
		res, err := a.createVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{
			VpcId:             aws.String(o.VPCID),
			ServiceName:       aws.String(d.ServiceName),
			ServiceRegion:     serviceRegion(d),
			VpcEndpointType:   types.VpcEndpointTypeInterface,
			SubnetIds:         s.SubnetIDs,
			SecurityGroupIds:  []string{groupID},
			PrivateDnsEnabled: aws.Bool(false),
			ClientToken:       aws.String(token),
			TagSpecifications: a.tags(types.ResourceTypeVpcEndpoint, o.VPCID, ""),
		})
		if err != nil {
			return Endpoint{}, err
		}
		if res.VpcEndpoint == nil {
			return Endpoint{}, errors.New("CreateVpcEndpoint returned no endpoint")
		}
		return EndpointOf(*res.VpcEndpoint), nil
	}
	var ep Endpoint
	err := a.whileNotVisible(ctx, out(groupID), func() (err error) {
		ep, err = create(s.ClientToken)
		return err
	})
	if err == nil && !Holds(ep.State) {
		// The token is old enough to name an endpoint that has since been
		// deleted: derive a new one from it, the same for every racer.
		ep, err = create(ClientToken(o.Account, o.VPCID, d.ServiceName, s.SubnetIDs, []string{ep.ID}))
	}
	if err != nil {
		return Endpoint{}, err
	}
	if !Holds(ep.State) {
		return Endpoint{}, fmt.Errorf("new endpoint %s is %s", ep.ID, ep.State)
	}
	return ep, nil
}

// serviceRegion is CreateVpcEndpoint's ServiceRegion: nil, the default
// ("the current Region"), unless the service is in another Region.
func serviceRegion(d Desired) *string {
	if d.ServiceRegion == "" {
		return nil
	}
	return aws.String(d.ServiceRegion)
}

// createVpcEndpoint retries InvalidServiceName for a while. The principal
// is allowed on the hub just before, and that permission reaches the spoke
// account's view of the service late (EC2 API reference, "Eventual
// consistency"), so the name is refused for a moment with the code EC2
// uses for a service the caller cannot see (EC2 API reference, "Error
// codes for the Amazon EC2 API"). The service itself
// is checked to exist by the caller (endpointservice.Info), so a refusal
// that persists is an error, returned for Lambda to retry.
func (a Applier) createVpcEndpoint(ctx context.Context, in *ec2.CreateVpcEndpointInput) (res *ec2.CreateVpcEndpointOutput, err error) {
	err = a.retry(ctx, func(err error) bool { return awserr.Code(err) == "InvalidServiceName" }, func() error {
		res, err = a.EC2.CreateVpcEndpoint(ctx, in)
		return err
	})
	return res, err
}

// whileNotVisible retries call while it fails with a NotFound, when fresh
// says the call names something this Apply just created: EC2 may not show
// a new resource to the next call for a moment ("Eventual consistency in
// the Amazon EC2 API": "If you attempt to modify or describe a resource
// immediately after creating it, you might receive an InvalidGroup.NotFound
// error"). For a resource that existed before, NotFound is an answer.
func (a Applier) whileNotVisible(ctx context.Context, fresh bool, call func() error) error {
	if !fresh {
		return call()
	}
	return a.retry(ctx, awserr.IsNotFound, call)
}

// retry calls call up to five times while retryable says its error may
// pass, doubling the pause from RetryInterval (default 1 s: about 15 s in
// all, the order of EC2's usual propagation delay). The last error is
// returned: Lambda retries the invocation, and the reconciler the sweep.
func (a Applier) retry(ctx context.Context, retryable func(error) bool, call func() error) error {
	wait := a.RetryInterval
	if wait <= 0 {
		wait = time.Second
	}
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil || !retryable(err) || attempt >= 5 {
			return err
		}
		if pace.Sleep(ctx, wait) != nil {
			return err // the call's own error says more than the context's
		}
		wait *= 2
	}
}

func (a Applier) waitGone(ctx context.Context, ids []string) error {
	deadline := a.now().Add(a.WaitTimeout)
	// Leave the invocation time to delete the groups and report: a Lambda
	// context carries the function's deadline.
	if d, ok := ctx.Deadline(); ok && d.Add(-20*time.Second).Before(deadline) {
		deadline = d.Add(-20 * time.Second)
	}
	interval := a.WaitInterval
	if interval <= 0 {
		interval = time.Second
	}
	for {
		// A filter, so that one endpoint already forgotten does not fail
		// the call (and hide the others that are still being deleted).
		res, err := a.EC2.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []types.Filter{filter("vpc-endpoint-id", ids...)}})
		if err != nil {
			return err
		}
		var waiting []string
		for _, e := range res.VpcEndpoints {
			if !StateIs(string(e.State), StateDeleted) {
				waiting = append(waiting, aws.ToString(e.VpcEndpointId))
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if !a.now().Before(deadline) {
			return fmt.Errorf("endpoints %v still being deleted; a retry finishes the cleanup", waiting)
		}
		if err := pace.Sleep(ctx, interval); err != nil {
			return err
		}
	}
}

// SetStatus writes the VPC's status tags, only when they differ from the
// tags the VPC has now: they are read again here, since a racing
// invocation may have changed them after the caller's observation.
func SetStatus(ctx context.Context, client EC2, o Observed, status, endpointID string) (bool, error) {
	c, err := ReadStatus(ctx, client, o.VPCID, status, endpointID)
	if err != nil {
		return false, err
	}
	return c.Changed(), c.Apply(ctx, client)
}

// StatusChange is what writing a VPC's status tags would change, from a
// read of the tags it has now.
type StatusChange struct {
	vpcID    string
	set, del []types.Tag
}

// Changed reports whether the status tags differ from what they should be.
func (c StatusChange) Changed() bool { return len(c.set)+len(c.del) > 0 }

// ReadStatus reads a VPC's status tags and says what writing status and
// endpointID would change (nothing for a VPC that is gone). Reading apart
// from writing lets a caller report the change before making it, so that
// a report lost with its invocation is made again by the retry, which
// still sees the change to make.
func ReadStatus(ctx context.Context, client EC2, vpcID, status, endpointID string) (StatusChange, error) {
	exists, now, err := VPCTags(ctx, client, vpcID)
	if err != nil || !exists {
		return StatusChange{}, err
	}
	c := StatusChange{vpcID: vpcID}
	for _, k := range []string{TagStatus, TagEndpoint} {
		v := map[string]string{TagStatus: status, TagEndpoint: endpointID}[k]
		switch {
		case v == "" && now[k] != "":
			c.del = append(c.del, types.Tag{Key: aws.String(k)})
		case v != "" && now[k] != v:
			c.set = append(c.set, types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
	}
	return c, nil
}

// Apply writes the change.
func (c StatusChange) Apply(ctx context.Context, client EC2) error {
	if len(c.set) > 0 {
		if _, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{c.vpcID}, Tags: c.set}); err != nil {
			return fmt.Errorf("tagging %s with its status, %w", c.vpcID, err)
		}
	}
	if len(c.del) > 0 {
		if _, err := client.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{c.vpcID}, Tags: c.del}); err != nil {
			return fmt.Errorf("removing status tags from %s, %w", c.vpcID, err)
		}
	}
	return nil
}

// VPCTags reads a VPC's tags now. A filter rather than VpcIds, so a VPC
// that is gone (or not visible yet) is an empty answer, not an error.
func VPCTags(ctx context.Context, client EC2, vpcID string) (exists bool, tags map[string]string, err error) {
	out, err := client.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{filter("vpc-id", vpcID)}})
	if err != nil {
		return false, nil, fmt.Errorf("reading the tags of %s, %w", vpcID, err)
	}
	for _, v := range out.Vpcs {
		if aws.ToString(v.VpcId) == vpcID {
			return true, TagMap(v.Tags), nil
		}
	}
	return false, nil, nil
}
