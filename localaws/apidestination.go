package localaws

import (
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
