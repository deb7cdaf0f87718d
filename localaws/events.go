package localaws

import (
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/eventsim"
)

// Delivery is what a rule target receives.
type Delivery = eventsim.Delivery

// DeliveryOptions shape how events and SNS messages are delivered when
// delivery is strict; see eventsim.DeliveryOptions.
type DeliveryOptions = eventsim.DeliveryOptions

// DeliveryStats count what strict delivery did.
type DeliveryStats = eventsim.DeliveryStats

// Defaults of DeliveryOptions.
const (
	DefaultDuplicateRatio  = eventsim.DefaultDuplicateRatio
	DefaultDropTagRatio    = eventsim.DefaultDropTagRatio
	DefaultMaxDelay        = eventsim.DefaultMaxDelay
	DefaultCloudTrailDelay = eventsim.DefaultCloudTrailDelay
)

// DefaultBus implements awsproto.Sink: an AWS service event on the default
// bus of account/region.
func (s *Server) DefaultBus(account, region string, ev awsproto.Event) {
	s.events.DefaultBus(account, region, ev)
}

// Publish implements awsproto.Sink: an SNS message that an AWS service
// publishes to a topic, delivered to the topic's Go subscribers at least
// once (strict delivery: late, out of order, sometimes twice) when the
// topic's policy allows the publisher (unless IAM is relaxed); a refused
// message is dropped, logged and listed in Denials.
func (s *Server) Publish(topicARN, subject, message string, from awsproto.Publisher) {
	s.events.Publish(topicARN, subject, message, from)
}

var _ awsproto.Sink = (*Server)(nil)

// Subscribe registers fn for every delivery to a rule target ARN (a
// Lambda function ARN, an SQS queue, ...). Call the returned func to stop.
func (s *Server) Subscribe(targetARN string, fn func(Delivery)) (cancel func()) {
	return s.events.Subscribe(targetARN, fn)
}

// Watch registers fn for every event put on a bus (before rule matching).
// An empty bus name watches every bus of every account.
func (s *Server) Watch(account, region, busName string, fn func(awsproto.Event)) (cancel func()) {
	return s.events.Watch(account, region, busName, fn)
}

// SubscribeTopic registers fn for messages published to an SNS topic.
func (s *Server) SubscribeTopic(topicARN string, fn func(subject, message string)) (cancel func()) {
	return s.events.SubscribeTopic(topicARN, fn)
}

// Flush waits (up to timeout) until every queued, delayed or running event
// delivery and notification is done (late CloudTrail events included); it
// reports whether everything was delivered.
func (s *Server) Flush(timeout time.Duration) bool { return s.events.Flush(timeout) }

// DeliveryStats returns what strict delivery did so far.
func (s *Server) DeliveryStats() DeliveryStats { return s.events.DeliveryStats() }

// ResetDeliveryStats zeroes the delivery counters.
func (s *Server) ResetDeliveryStats() { s.events.ResetDeliveryStats() }

// Delivery returns the delivery options in force (defaults filled in) and
// whether delivery is strict.
func (s *Server) Delivery() (opts DeliveryOptions, strict bool) { return s.events.Delivery() }

// RecentEvents returns the last events put on any bus (at most 1000).
func (s *Server) RecentEvents() []awsproto.Event { return s.events.RecentEvents() }

// TriggerRule fires a rule as its schedule would: a "Scheduled Event" from
// aws.events delivered to the rule's targets.
func (s *Server) TriggerRule(account, region, busName, ruleName string) error {
	return s.events.TriggerRule(account, region, busName, ruleName)
}
