package event

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Notification is one endpoint service connection notification. Like
// every event, it only says where to look: the accept function reads the
// connections of the service again before deciding anything.
type Notification struct {
	ServiceID  string
	EndpointID string
	Owner      string
	State      string
	Event      string
}

// DecodeNotifications decodes the SNS invocation of the accept function.
// The message body is decoded leniently (key case varies across AWS's
// notification formats); a record whose message is not JSON still counts
// as a nudge to look at the service, with empty fields.
func DecodeNotifications(payload []byte) ([]Notification, error) {
	var ev events.SNSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, &MalformedError{Reason: "SNS event: " + err.Error()}
	}
	if len(ev.Records) == 0 {
		return nil, &MalformedError{Reason: "SNS event has no Records"}
	}
	out := make([]Notification, 0, len(ev.Records))
	for i, r := range ev.Records {
		if r.EventSource != "" && r.EventSource != "aws:sns" {
			return nil, &MalformedError{Reason: fmt.Sprintf("record %d has EventSource %q, want aws:sns", i, r.EventSource)}
		}
		var fields map[string]any
		_ = json.Unmarshal([]byte(r.SNS.Message), &fields) // non-JSON: a bare nudge
		get := func(names ...string) string {
			for k, v := range fields {
				for _, n := range names {
					if s, ok := v.(string); ok && strings.EqualFold(k, n) {
						return s
					}
				}
			}
			return ""
		}
		out = append(out, Notification{
			ServiceID:  get("serviceId"),
			EndpointID: get("vpcEndpointId"),
			Owner:      get("vpcEndpointOwner"),
			State:      get("vpcEndpointState", "state"),
			Event:      get("event", "notificationType", "eventType"),
		})
	}
	return out, nil
}
