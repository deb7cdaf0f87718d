package localaws

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
	iampolicy "github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/iam"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/sqssim"
)

// QueueStrictness shapes the looseness of SQS standard queues; see
// sqssim.Strictness.
type QueueStrictness = sqssim.Strictness

// QueueStats count what the queues' strictness did.
type QueueStats = sqssim.Stats

// QueueDepth is how many messages a queue holds: visible, in flight
// (received, not deleted, visibility timeout running) and delayed.
type QueueDepth = sqssim.Depth

// Defaults of QueueStrictness.
const (
	DefaultQueueDuplicateRatio = sqssim.DefaultDuplicateRatio
	DefaultShortPollMissRatio  = sqssim.DefaultShortPollMissRatio
)

// QueueDepth returns the depth of a queue named by ARN or URL, and false
// when there is no such queue.
func (s *Server) QueueDepth(arnOrURL string) (QueueDepth, bool) { return s.sqs.Depth(arnOrURL) }

// CreateQueue creates a queue as SQS's CreateQueue does (attributes
// validated; an existing queue with the same attributes is found, not
// recreated), for seeding and for deploying templates; it returns the
// queue's ARN. Its policy (the Policy attribute) is what authorizes other
// accounts and AWS services.
func (s *Server) CreateQueue(account, region, name string, attributes map[string]string) (string, error) {
	return s.sqs.Create(account, region, name, attributes, nil)
}

// QueueDepths returns the depth of every queue, by ARN.
func (s *Server) QueueDepths() map[string]QueueDepth { return s.sqs.Depths() }

// QueueStats returns what the queues' strictness did so far.
func (s *Server) QueueStats() QueueStats { return s.sqs.Stats() }

// QueueStrictness returns the queue options in force (defaults filled in)
// and whether queues are strict.
func (s *Server) QueueStrictness() (QueueStrictness, bool) { return s.sqs.Strictness() }

// SetQueueAttributes sets a queue's attributes as SQS's SetQueueAttributes
// does, by ARN: how a deploy applies an AWS::SQS::QueuePolicy (the Policy
// attribute).
func (s *Server) SetQueueAttributes(queueARN string, attributes map[string]string) error {
	return s.sqs.SetAttributes(queueARN, attributes)
}

// seedQueues creates an account's queues, those without a RedrivePolicy
// first, so that every RedrivePolicy finds its dead-letter queue.
func (s *Server) seedQueues(account, region string, queues []Queue) error {
	ordered := append([]Queue{}, queues...)
	sort.SliceStable(ordered, func(i, j int) bool {
		return ordered[i].Attributes["RedrivePolicy"] == "" && ordered[j].Attributes["RedrivePolicy"] != ""
	})
	for _, q := range ordered {
		if _, err := s.CreateQueue(account, or(q.Region, region), q.Name, q.Attributes); err != nil {
			return fmt.Errorf("seeding queue %s in %s, %w", q.Name, account, err)
		}
	}
	return nil
}

// eventsSenderID is the SenderId of the messages EventBridge sends to a
// queue target. AWS shows the ID of the principal EventBridge sends as; the
// local AWS names the service.
const eventsSenderID = "events.amazonaws.com"

// deliverToQueue sends a rule's event to its SQS queue target, as
// EventBridge does: the queue's policy must let events.amazonaws.com
// sqs:SendMessage with aws:SourceArn the rule (EventBridge User Guide,
// "Using resource-based policies for Amazon EventBridge": "Amazon SQS
// permissions"). An event that cannot be delivered because the queue is gone
// or refuses it goes to the target's dead-letter queue, if it has one, at
// once and without retries: "for errors that result from missing
// permissions to a target, or if a target resource that no longer exists,
// no retry attempts will happen ... EventBridge sends these events directly
// to the target DLQ" (EventBridge User Guide, "Using dead-letter queues to
// process undelivered events"), with the attributes RULE_ARN, TARGET_ARN,
// ERROR_CODE and ERROR_MESSAGE the guide lists. API destination targets
// that give up send their events the same way (deadLetter).
//
// A FIFO queue gets the target's SqsParameters.MessageGroupId and no
// MessageDeduplicationId (the target has no such parameter: SDK,
// eventbridge types.SqsParameters), so the queue must deduplicate by
// content ("If you specify a fair or FIFO queue as a target, the queue must
// have content-based deduplication enabled", Target.SqsParameters); a
// target without a group, or a queue without content-based deduplication,
// fails as SendMessage fails, and the event goes to the dead-letter queue.
func (s *Server) deliverToQueue(d Delivery) {
	code, why := s.queueSendRefusal(d.TargetARN, d.RuleARN)
	if code == "" {
		err := s.sqs.SendToGroup(d.TargetARN, d.MessageGroupID, string(d.Payload), eventsSenderID, nil)
		if err == nil {
			return
		}
		code, why = "SDK_CLIENT_ERROR", err.Error()
	}
	s.log.Warn("event not delivered to its queue target", "rule", d.RuleARN, "target", d.TargetARN, "code", code, "reason", why)
	s.deadLetter(d, code, why)
}

// deadLetter sends an event a rule target could not take to the target's
// dead-letter queue (d.DeadLetterARN), when it has one whose policy lets
// EventBridge send for the rule, with the attributes EventBridge adds.
func (s *Server) deadLetter(d Delivery, code, why string) {
	if d.DeadLetterARN == "" {
		return
	}
	if dcode, dwhy := s.queueSendRefusal(d.DeadLetterARN, d.RuleARN); dcode != "" {
		s.log.Warn("event not sent to the target's dead-letter queue", "rule", d.RuleARN, "queue", d.DeadLetterARN, "code", dcode, "reason", dwhy)
		return
	}
	event, err := json.Marshal(d.Event)
	if err != nil {
		s.log.Error("encoding an undelivered event", "rule", d.RuleARN, "err", err)
		return
	}
	attrs := map[string]string{"RULE_ARN": d.RuleARN, "TARGET_ARN": d.TargetARN, "ERROR_CODE": code, "ERROR_MESSAGE": why}
	if err := s.sqs.Send(d.DeadLetterARN, string(event), eventsSenderID, attrs); err != nil {
		s.log.Warn("event not sent to the target's dead-letter queue", "rule", d.RuleARN, "queue", d.DeadLetterARN, "err", err)
	}
}

// queueSendRefusal says why EventBridge may not send a rule's event to a
// queue ("" when it may): the queue does not exist, or its policy does not
// allow it (unless IAM is relaxed).
func (s *Server) queueSendRefusal(queueARN, ruleARN string) (code, why string) {
	if !s.sqs.Exists(queueARN) {
		return "RESOURCE_NOT_FOUND", "queue " + queueARN + " does not exist"
	}
	if s.relaxIAM {
		return "", ""
	}
	parts := strings.SplitN(ruleARN, ":", 6)
	if len(parts) < 6 {
		return "NO_PERMISSIONS", "rule ARN " + ruleARN + " is malformed"
	}
	from := awsproto.Publisher{Service: "events.amazonaws.com", SourceAccount: parts[4], SourceARN: ruleARN}
	res := iampolicy.Resource{ARN: queueARN, Type: "queue", Policy: s.sqs.Policy(queueARN)}
	if why := s.authorizeService("sqs:SendMessage", res, from); why != "" {
		return "NO_PERMISSIONS", why
	}
	return "", ""
}
