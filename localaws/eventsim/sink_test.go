package eventsim

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

const (
	hub    = "111111111111"
	member = "222222222222"
	region = "eu-west-1"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// recorder collects deliveries from subscriber goroutines.
type recorder[T any] struct {
	mu   sync.Mutex
	list []T
}

func (r *recorder[T]) add(v T) { r.mu.Lock(); r.list = append(r.list, v); r.mu.Unlock() }
func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.list...)
}

func newService(t *testing.T, strict bool, opts DeliveryOptions) *Service {
	t.Helper()
	e := New(fixedClock{time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}, slog.New(slog.DiscardHandler), strict, opts.Resolved(1))
	t.Cleanup(e.Close)
	return e
}

func TestSinkDefaultBusAndTopics(t *testing.T) {
	// Relaxed delivery: strict delivery may lose the aws.tag event and
	// duplicate the message (TestTopicMessagesDuplicated).
	e := newService(t, false, DeliveryOptions{})
	var evs recorder[awsproto.Event]
	defer e.Watch(member, region, "default", evs.add)()
	var msgs recorder[string]
	topic := "arn:aws:sns:" + region + ":" + hub + ":connections"
	defer e.SubscribeTopic(topic, func(subject, message string) { msgs.add(subject + "|" + message) })()

	var sink awsproto.Sink = e
	sink.DefaultBus(member, region, awsproto.Event{Source: "aws.tag", DetailType: "Tag Change on Resource", Detail: json.RawMessage(`{}`)})
	sink.Publish(topic, "VPC Endpoint Connection Notification", `{"connectionEvent":"Connect"}`, awsproto.Publisher{Service: "vpce.amazonaws.com"})
	e.Flush(5 * time.Second)
	got := evs.all()
	if len(got) != 1 || got[0].ID == "" || got[0].Time.IsZero() || got[0].Account != member || got[0].Region != region {
		t.Fatalf("default bus events = %+v", got)
	}
	if m := msgs.all(); len(m) != 1 || m[0] != `VPC Endpoint Connection Notification|{"connectionEvent":"Connect"}` {
		t.Fatalf("topic messages = %v", m)
	}
}

// SNS messages (connection notifications) are at least once too.
func TestTopicMessagesDuplicated(t *testing.T) {
	e := newService(t, true, DeliveryOptions{DuplicateRatio: 1, MaxDelay: -1})
	topic := "arn:aws:sns:" + region + ":" + hub + ":connections"
	var msgs recorder[string]
	defer e.SubscribeTopic(topic, func(_, m string) { msgs.add(m) })()
	for i := range 5 {
		e.Publish(topic, "s", fmt.Sprint(i), awsproto.Publisher{Service: "vpce.amazonaws.com"})
	}
	e.Flush(5 * time.Second)
	got := msgs.all()
	slices.Sort(got)
	if want := []string{"0", "0", "1", "1", "2", "2", "3", "3", "4", "4"}; !slices.Equal(got, want) {
		t.Errorf("messages %v, want each twice", got)
	}
	if st := e.DeliveryStats(); st.Duplicated != 5 || st.Delayed != 0 {
		t.Errorf("stats %+v, want 5 duplicated, none delayed", st)
	}
}

// A message the publish authorizer refuses (the topic policy, on AWS)
// reaches no subscriber; the authorizer sees who publishes for what.
func TestPublishAuthorizerRefuses(t *testing.T) {
	e := newService(t, false, DeliveryOptions{})
	topic := "arn:aws:sns:" + region + ":" + hub + ":connections"
	allowed := awsproto.Publisher{Service: "vpce.amazonaws.com", SourceAccount: hub, SourceARN: "arn:aws:ec2:" + region + ":" + hub + ":vpc-endpoint-service/vpce-svc-1"}
	var asked recorder[awsproto.Publisher]
	e.SetPublishAuthorizer(func(topicARN string, from awsproto.Publisher) string {
		asked.add(from)
		if topicARN == topic && from == allowed {
			return ""
		}
		return "not allowed"
	})
	var msgs recorder[string]
	defer e.SubscribeTopic(topic, func(_, m string) { msgs.add(m) })()
	e.Publish(topic, "s", "allowed", allowed)
	refused := allowed
	refused.SourceAccount = member
	e.Publish(topic, "s", "refused", refused)
	e.Flush(5 * time.Second)
	if got := msgs.all(); !slices.Equal(got, []string{"allowed"}) {
		t.Errorf("messages %v, want only the allowed one", got)
	}
	if got := asked.all(); !slices.Equal(got, []awsproto.Publisher{allowed, refused}) {
		t.Errorf("authorizer asked for %+v", got)
	}
}
