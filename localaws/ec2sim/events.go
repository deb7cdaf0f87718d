package ec2sim

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// event queues an event for the caller's default bus.
func (o *op) event(source, detailType string, resources []string, detail any) {
	raw, err := json.Marshal(detail)
	if err != nil {
		panic("ec2sim: event detail does not marshal: " + err.Error())
	}
	if resources == nil {
		resources = []string{}
	}
	ev := awsproto.Event{
		Version:    "0",
		DetailType: detailType,
		Source:     source,
		Account:    o.call.Account,
		Time:       o.now.UTC(),
		Region:     o.call.Region,
		Resources:  resources,
		Detail:     raw,
	}
	account, region := o.call.Account, o.call.Region
	o.emit(func(s awsproto.Sink) { s.DefaultBus(account, region, ev) })
}

// cloudTrail queues the "AWS API Call via CloudTrail" event of this call;
// a failed call carries errorCode (Client.<code>) and errorMessage and no
// responseElements.
func (o *op) cloudTrail(params, response map[string]any, callErr error) {
	detail := map[string]any{
		"eventVersion":       "1.09",
		"userIdentity":       o.userIdentity(),
		"eventTime":          o.now.UTC().Format("2006-01-02T15:04:05Z"),
		"eventSource":        "ec2.amazonaws.com",
		"eventName":          o.call.Action,
		"awsRegion":          o.call.Region,
		"sourceIPAddress":    "127.0.0.1",
		"userAgent":          "localaws",
		"requestParameters":  params,
		"requestID":          o.requestID(),
		"eventID":            o.requestID(),
		"readOnly":           false,
		"eventType":          "AwsApiCall",
		"managementEvent":    true,
		"recipientAccountId": o.call.Account,
		"eventCategory":      "Management",
	}
	if callErr != nil {
		var ae *awsproto.Error
		code, msg := "InternalError", callErr.Error()
		if errors.As(callErr, &ae) {
			code, msg = ae.Code, ae.Message
		}
		detail["errorCode"] = "Client." + code
		detail["errorMessage"] = msg
		detail["responseElements"] = nil
	} else {
		if response == nil {
			response = map[string]any{"_return": true}
		}
		response["requestId"] = o.requestID()
		detail["responseElements"] = response
	}
	o.event("aws.ec2", "AWS API Call via CloudTrail", nil, detail)
}

func (o *op) userIdentity() map[string]any {
	p, acct := o.call.Principal, o.call.Account
	id := map[string]any{"arn": p, "accountId": acct}
	switch {
	case strings.HasSuffix(p, ":root"):
		id["type"] = "Root"
		id["principalId"] = acct
	case strings.Contains(p, ":assumed-role/"):
		role := awsproto.RoleARNOf(p)
		rest := p[strings.Index(p, ":assumed-role/")+len(":assumed-role/"):]
		name, session, _ := strings.Cut(rest, "/")
		id["type"] = "AssumedRole"
		id["principalId"] = "AROALOCALAWS:" + session
		id["sessionContext"] = map[string]any{
			"sessionIssuer": map[string]any{"type": "Role", "principalId": "AROALOCALAWS", "arn": role, "accountId": acct, "userName": name},
		}
	default:
		id["type"] = "IAMUser"
		id["principalId"] = "AIDALOCALAWS"
	}
	return id
}

func cloudTrailTags(pairs []tagPair) []any {
	out := make([]any, 0, len(pairs))
	for _, p := range pairs {
		item := map[string]any{"key": p.Key}
		if p.hasValue {
			item["value"] = p.Value
		}
		out = append(out, item)
	}
	return out
}

// connectionEvent is the JSON of an SNS connection notification.
type connectionEvent struct {
	Event                    string `json:"Event"`
	ServiceID                string `json:"ServiceId"`
	VpcEndpointID            string `json:"VpcEndpointId"`
	VpcEndpointOwner         string `json:"VpcEndpointOwner"`
	VpcEndpointState         string `json:"VpcEndpointState"`
	VpcEndpointRegion        string `json:"VpcEndpointRegion"`
	ConnectionNotificationID string `json:"ConnectionNotificationId"`
	Time                     string `json:"Time"`
}

// notify queues the SNS messages of every notification subscribed to
// event on the endpoint's service (hub side) or on the endpoint itself
// (spoke side). PrivateLink publishes as vpce.amazonaws.com for the
// resource the notification belongs to, so the topic's policy decides
// whether the message goes out (see awsproto.Publisher).
func (o *op) notify(e *endpoint, event string) {
	state := e.state(o.now, o.s.delay)
	type target struct {
		n    *notification
		from awsproto.Publisher
	}
	var targets []target
	svc := e.service
	for _, n := range svc.region.notifications {
		if n.serviceID == svc.id && n.events[event] {
			targets = append(targets, target{n, awsproto.Publisher{Service: vpceService, SourceAccount: svc.region.account,
				SourceARN: "arn:aws:ec2:" + svc.region.name + ":" + svc.region.account + ":vpc-endpoint-service/" + svc.id}})
		}
	}
	for _, n := range e.r.notifications {
		if n.endpointID == e.id && n.events[event] {
			targets = append(targets, target{n, awsproto.Publisher{Service: vpceService, SourceAccount: e.r.account,
				SourceARN: "arn:aws:ec2:" + e.r.name + ":" + e.r.account + ":vpc-endpoint/" + e.id}})
		}
	}
	for _, t := range targets {
		msg, _ := json.Marshal(connectionEvent{
			Event: event, ServiceID: svc.id, VpcEndpointID: e.id, VpcEndpointOwner: e.owner,
			VpcEndpointState: state, VpcEndpointRegion: e.region, ConnectionNotificationID: t.n.id,
			Time: o.now.UTC().Format("2006-01-02T15:04:05.000Z"),
		})
		topic, subject, from := t.n.topicARN, "VPC Endpoint Connection Notification: "+event, t.from
		o.emit(func(s awsproto.Sink) { s.Publish(topic, subject, string(msg), from) })
	}
}

// vpceService is the service principal PrivateLink publishes notifications as.
const vpceService = "vpce.amazonaws.com"
