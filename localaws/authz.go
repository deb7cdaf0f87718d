package localaws

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
	iampolicy "github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/iam"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/stssim"
)

// Denial is one request IAM refused.
type Denial struct {
	Time      time.Time
	Principal string
	Action    string // service:Action
	Resource  string
	// Reason names the statement that denied, or why none allowed.
	Reason string
}

// denials records what IAM refused, for tests and reports.
type denials struct {
	mu   sync.Mutex
	list []Denial
}

func (d *denials) add(x Denial) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.list = append(d.list, x)
}

// grants counts, per role ("account/name"), the identity-policy
// statements that allowed a request.
type grants struct {
	mu   sync.Mutex
	used map[string]map[string]int
}

func (g *grants) add(principal string, statements []string) {
	account, name, ok := stssim.ParseRoleARN(awsproto.RoleARNOf(principal))
	if !ok || len(statements) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.used == nil {
		g.used = map[string]map[string]int{}
	}
	key := account + "/" + name
	if g.used[key] == nil {
		g.used[key] = map[string]int{}
	}
	for _, st := range statements {
		g.used[key][st]++
	}
}

// UnusedStatements lists the statements of a role's identity policies
// that allowed no request since the server started: grants the calls
// made did not need. Statements are named as IAM decisions name them
// ("policy statement Sid").
func (s *Server) UnusedStatements(account, role string) []string {
	s.granted.mu.Lock()
	used := s.granted.used[account+"/"+role]
	var unused []string
	for _, p := range s.iam.IdentityPolicies("arn:aws:iam::" + account + ":role/" + role) {
		for _, st := range p.Statements {
			if name := iampolicy.StatementName(p, st); used[name] == 0 {
				unused = append(unused, name)
			}
		}
	}
	s.granted.mu.Unlock()
	return unused
}

// Denials lists every request IAM refused since the server started (or
// since ResetDenials), oldest first.
func (s *Server) Denials() []Denial {
	s.denied.mu.Lock()
	defer s.denied.mu.Unlock()
	return append([]Denial(nil), s.denied.list...)
}

// ResetDenials forgets the recorded denials.
func (s *Server) ResetDenials() {
	s.denied.mu.Lock()
	defer s.denied.mu.Unlock()
	s.denied.list = nil
}

// PutRolePolicy adds or replaces an inline identity policy of a role, as
// IAM's PutRolePolicy does. The role must exist.
func (s *Server) PutRolePolicy(account, roleName, policyName string, document []byte) error {
	return s.iam.PutRolePolicy(account, roleName, policyName, document)
}

// PutResourcePolicy sets the resource-based policy of a resource by ARN
// (an event bus's policy, an SNS topic's policy), replacing any before.
// Cross-account requests need it to allow them as well as the caller's
// identity policy.
func (s *Server) PutResourcePolicy(arn string, document []byte) error {
	return s.iam.PutResourcePolicy(arn, document)
}

// authorize evaluates a role session's call against its role's identity
// policies (and the resource policies of what it touches) before the
// service acts. Root credentials are not restricted in their own account.
func (s *Server) authorize(service string, call *awsproto.Call, id stssim.Identity) *awsproto.Error {
	if s.relaxIAM || !id.AssumedRole {
		return nil
	}
	var reqs []iampolicy.Request
	switch service {
	case "ec2":
		if s.ec2sim != nil {
			reqs = s.ec2sim.AuthorizationContext(call)
		}
	case "ssm":
		reqs = s.ssm.AuthorizationContext(call)
	case "events":
		reqs = s.events.AuthorizationContext(call)
	case "sqs":
		reqs = s.sqs.AuthorizationContext(call)
	case "sts":
		reqs = s.iam.AuthorizationContext(call)
	}
	if len(reqs) == 0 {
		return nil
	}
	policies := s.iam.IdentityPolicies(id.Principal)
	principalKeys := s.iam.PrincipalContext(id, call.Region)
	for _, req := range reqs {
		req.Principal, req.Account = id.Principal, id.Account
		if req.Context == nil {
			req.Context = map[string][]string{}
		}
		for k, v := range principalKeys {
			req.Context[k] = v
		}
		for i := range req.Resources {
			s.describeResource(&req.Resources[i])
		}
		d := iampolicy.Evaluate(policies, req)
		if d.Allowed {
			s.granted.add(id.Principal, d.Allowing)
			continue
		}
		s.denied.add(Denial{Time: s.clock.Now(), Principal: id.Principal, Action: d.Action, Resource: d.Resource, Reason: d.Reason})
		s.log.Info("request denied by IAM", "principal", id.Principal, "action", d.Action, "resource", d.Resource,
			"reason", d.Reason, "requestId", call.RequestID)
		return denialError(service, id.Principal, d, call.RequestID)
	}
	return nil
}

// describeResource adds the keys every resource carries (its account and
// organization) and its resource-based policy.
func (s *Server) describeResource(r *iampolicy.Resource) {
	if r.Keys == nil {
		r.Keys = map[string][]string{}
	}
	parts := strings.SplitN(r.ARN, ":", 6)
	if len(parts) == 6 && parts[4] != "" {
		r.Keys["aws:ResourceAccount"] = []string{parts[4]}
		if org := s.iam.OrgOf(parts[4]); org != "" {
			r.Keys["aws:ResourceOrgID"] = []string{org}
		}
	}
	if r.Policy == nil {
		r.Policy = s.iam.ResourcePolicy(r.ARN)
	}
}

// denialError answers a refused request as each service does. EC2:
// UnauthorizedOperation, HTTP 403, with an encoded authorization failure
// message (EC2 API reference, "Error codes"; the re:Post article "How do I
// decode ... UnauthorizedOperation" shows the wording). SSM and
// EventBridge: AccessDeniedException, HTTP 400. STS: AccessDenied, 403.
func denialError(service, principal string, d iampolicy.Decision, requestID string) *awsproto.Error {
	because := fmt.Sprintf("because no %s policy allows the %s action", d.Missing, d.Action)
	if d.ExplicitDeny {
		because = fmt.Sprintf("with an explicit deny in a%s %s policy", map[bool]string{true: "n", false: ""}[d.Missing == "identity-based"], d.Missing)
	}
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s %s", principal, d.Action, d.Resource, because)
	switch service {
	case "ec2":
		return &awsproto.Error{Code: "UnauthorizedOperation", Status: 403,
			Message: "You are not authorized to perform this operation. " + msg + ". Encoded authorization failure message: " + encodedFailure(d, requestID)}
	case "sts":
		return &awsproto.Error{Code: "AccessDenied", Status: 403, Message: msg}
	case "sqs":
		// SQS's common error AccessDenied, HTTP 403 (SQS API Reference,
		// "Common Errors").
		return &awsproto.Error{Code: "AccessDenied", Status: 403, Message: msg}
	}
	return &awsproto.Error{Code: "AccessDeniedException", Status: 400, Message: msg}
}

// encodedFailure stands in for AWS's encrypted failure message: opaque,
// stable for one decision, and not decodable (no DecodeAuthorizationMessage).
func encodedFailure(d iampolicy.Decision, requestID string) string {
	sum := sha256.Sum256([]byte(requestID + "\x00" + d.Action + "\x00" + d.Resource + "\x00" + d.Reason))
	return base64.RawURLEncoding.EncodeToString(append(sum[:], sum[:12]...))
}

// authorizeForward decides a rule's PutEvents to another account's or
// Region's bus as EventBridge does: with the target's RoleArn, the role's
// identity policy must allow events:PutEvents on the bus and, across
// accounts, the bus policy must allow the role (in its own account the
// identity policy suffices; a bus of another Region always has a role,
// PutTargets refuses one without); without one, the bus policy must allow
// the rule's account
// (EventBridge User Guide, "Sending and receiving events between AWS
// accounts").
func (s *Server) authorizeForward(ruleARN, roleARN, busARN string) string {
	ruleAccount := strings.SplitN(ruleARN, ":", 6)[4]
	id := stssim.Identity{Account: ruleAccount, Principal: "arn:aws:iam::" + ruleAccount + ":root", UserID: ruleAccount}
	var policies []*iampolicy.Policy
	if roleARN != "" {
		account, name, ok := stssim.ParseRoleARN(roleARN)
		if !ok {
			return "the target's RoleArn " + roleARN + " is not a role ARN"
		}
		id = stssim.Identity{Account: account, Principal: "arn:aws:sts::" + account + ":assumed-role/" + name + "/events", AssumedRole: true}
		policies = s.iam.IdentityPolicies(id.Principal)
	}
	region := strings.SplitN(busARN, ":", 6)[3]
	req := iampolicy.Request{Action: "events:PutEvents", Principal: id.Principal, Account: id.Account, Unrestricted: !id.AssumedRole,
		Context: s.iam.PrincipalContext(id, region), Resources: []iampolicy.Resource{{ARN: busARN, Type: "event-bus"}}}
	s.describeResource(&req.Resources[0])
	d := iampolicy.Evaluate(policies, req)
	if d.Allowed {
		s.granted.add(id.Principal, d.Allowing)
		return ""
	}
	s.denied.add(Denial{Time: s.clock.Now(), Principal: id.Principal, Action: d.Action, Resource: d.Resource, Reason: d.Reason})
	return d.Reason
}

// authorizePublish decides an AWS service's message to an SNS topic as SNS
// does: the topic's policy alone must allow the service principal
// sns:Publish on the topic, with aws:SourceAccount and aws:SourceArn naming
// the resource the service publishes for (see awsproto.Publisher). A topic
// whose policy was never set refuses: PrivateLink's notifications need "an
// access policy to the SNS topic that allows AWS PrivateLink to publish"
// (PrivateLink guide, "Receive alerts for endpoint service events"), and
// SNS's default topic policy allows principals of the owner account
// ("AWS": "*" under an AWS:SourceOwner condition), not service principals.
func (s *Server) authorizePublish(topicARN string, from awsproto.Publisher) string {
	return s.authorizeService("sns:Publish", iampolicy.Resource{ARN: topicARN, Type: "topic"}, from)
}

// authorizeService decides an AWS service principal's action on a resource
// it acts on for a customer's resource (a topic's publisher, a rule's
// queue target) by the resource's policy alone, recording a refusal in
// Denials.
func (s *Server) authorizeService(action string, res iampolicy.Resource, from awsproto.Publisher) string {
	req := iampolicy.Request{Action: action, Principal: from.Service,
		// IAM User Guide, "AWS global condition context keys": these are
		// present when a service principal calls on a resource's behalf.
		Context: map[string][]string{
			"aws:SourceAccount":         {from.SourceAccount},
			"aws:SourceArn":             {from.SourceARN},
			"aws:PrincipalIsAWSService": {"true"},
			"aws:PrincipalServiceName":  {from.Service},
		},
		Resources: []iampolicy.Resource{res}}
	s.describeResource(&req.Resources[0])
	d := iampolicy.Evaluate(nil, req)
	if d.Allowed {
		return ""
	}
	s.denied.add(Denial{Time: s.clock.Now(), Principal: from.Service, Action: d.Action, Resource: d.Resource, Reason: d.Reason})
	return d.Reason
}
