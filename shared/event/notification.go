package event

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
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

// snsFields are the fields of Lambda's SNS event that DecodeNotifications
// reads. Keys are checked against them only (see checkKeys): Lambda itself
// spells others two ways ("SigningCertUrl" and "SigningCertURL" both occur).
type snsFields struct {
	Records []struct {
		EventSource string `json:"EventSource"`
		SNS         struct {
			Message string `json:"Message"`
		} `json:"Sns"`
	} `json:"Records"`
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
	if err := checkKeys(payload, reflect.TypeFor[snsFields](), "SNS event", ""); err != nil {
		return nil, err
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
		out = append(out, Notification{
			ServiceID:  messageField(fields, "serviceId"),
			EndpointID: messageField(fields, "vpcEndpointId"),
			Owner:      messageField(fields, "vpcEndpointOwner"),
			State:      messageField(fields, "vpcEndpointState", "state"),
			Event:      messageField(fields, "event", "notificationType", "eventType"),
		})
	}
	return out, nil
}

// messageField is the first of names found among fields' string values:
// for each name in turn, the key spelled exactly, else the first key (in
// sorted order) equal to it when case is folded. The order is fixed so that
// a body naming a field twice gives the same notification every time.
func messageField(fields map[string]any, names ...string) string {
	keys := slices.Sorted(maps.Keys(fields))
	for _, n := range names {
		if s, ok := fields[n].(string); ok {
			return s
		}
		for _, k := range keys {
			if s, ok := fields[k].(string); ok && strings.EqualFold(k, n) {
				return s
			}
		}
	}
	return ""
}
