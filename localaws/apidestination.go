package localaws

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/eventsim"
	iampolicy "github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/iam"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/stssim"
)

// APICall is one request EventBridge made to an API destination.
type APICall = eventsim.APICall

// DeadLetter is an event a rule target gave up on.
type DeadLetter = eventsim.DeadLetter

// SetAPIDestinationClient sets the HTTP client API destinations are
// called with (a test server's client, so its certificate is trusted).
func (s *Server) SetAPIDestinationClient(c *http.Client) { s.events.SetHTTPClient(c) }

// APICalls returns every request made to API destinations so far.
func (s *Server) APICalls() []APICall { return s.events.APICalls() }

// DeadLetters returns every event an API destination target gave up on,
// sent to its dead-letter queue or dropped.
func (s *Server) DeadLetters() []DeadLetter { return s.events.DeadLetters() }

// InvokeAPIDestination calls an API destination as an EventBridge pipe
// does with it as its target: the pipe's role (roleARN, assumed by
// pipes.amazonaws.com) must allow events:InvokeApiDestination on the
// destination ("To make API calls on the resources that you own,
// EventBridge Pipes needs appropriate permission", EventBridge User Guide,
// "Event source permissions for Amazon EventBridge Pipes", enrichment and
// target permissions), then one request goes out within the destination's
// rate limit, recorded in APICalls with source (the pipe's ARN) as RuleARN
// and id (the SQS message id) as EventID. No retries: a pipe with an SQS
// source leaves a failed message on the queue (see localstack.Pipe).
func (s *Server) InvokeAPIDestination(ctx context.Context, roleARN, destinationARN, source, id string, payload []byte) (APICall, error) {
	if why := s.authorizeInvoke(source, roleARN, destinationARN); why != "" && !s.relaxIAM {
		return APICall{}, fmt.Errorf("the pipe's role may not invoke %s: %s", destinationARN, why)
	}
	return s.events.CallAPIDestination(ctx, destinationARN, source, id, payload)
}

// authorizeInvoke decides a rule's delivery to an API destination as
// EventBridge does: the target's role (assumed by events.amazonaws.com)
// must allow events:InvokeApiDestination on the destination. A target
// without a role is refused. As for cross-account bus targets
// (authorizeForward), the role's trust of events.amazonaws.com is not
// checked.
func (s *Server) authorizeInvoke(ruleARN, roleARN, destinationARN string) string {
	if roleARN == "" {
		return "the target of " + ruleARN + " has no RoleArn"
	}
	account, name, ok := stssim.ParseRoleARN(roleARN)
	if !ok {
		return "the target's RoleArn " + roleARN + " is not a role ARN"
	}
	id := stssim.Identity{Account: account, Principal: "arn:aws:sts::" + account + ":assumed-role/" + name + "/events", AssumedRole: true}
	region := strings.SplitN(destinationARN, ":", 6)[3]
	req := iampolicy.Request{Action: "events:InvokeApiDestination", Principal: id.Principal, Account: id.Account,
		Context: s.iam.PrincipalContext(id, region), Resources: []iampolicy.Resource{{ARN: destinationARN, Type: "api-destination"}}}
	s.describeResource(&req.Resources[0])
	d := iampolicy.Evaluate(s.iam.IdentityPolicies(id.Principal), req)
	if d.Allowed {
		s.granted.add(id.Principal, d.Allowing)
		return ""
	}
	s.denied.add(Denial{Time: s.clock.Now(), Principal: id.Principal, Action: d.Action, Resource: d.Resource, Reason: d.Reason})
	return d.Reason
}
