// Package awsproto is the contract between the local AWS's front door
// (package localaws: HTTP, SigV4 routing, accounts, faults, events) and the
// services behind it (localaws/ec2sim, localaws/ssmsim, localaws/stssim,
// localaws/eventsim). It owns nothing but these types, so each service can
// be built and tested on its own.
package awsproto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Error is an AWS API error as the wire reports it: the code clients
// classify on, a message for people, and the HTTP status.
type Error struct {
	Code    string
	Message string
	Status  int // 400 when zero
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf builds a client error (HTTP 400) with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: 400}
}

// Call is one authenticated request, already routed to a service.
type Call struct {
	Account   string     // the calling account (12 digits)
	Principal string     // the caller's ARN: arn:aws:iam::<acct>:root or arn:aws:sts::<acct>:assumed-role/<role>/<session>
	Region    string     // from the SigV4 credential scope
	Action    string     // query "Action" or the X-Amz-Target operation name
	Form      url.Values // query protocol parameters (EC2, STS)
	Body      []byte     // JSON protocol body (SSM, EventBridge)
	RequestID string
}

// RoleARN returns the IAM role ARN behind an assumed-role principal
// (arn:aws:iam::<acct>:role/<name>), or the principal itself otherwise.
// Endpoint service permissions name roles, not sessions.
func (c *Call) RoleARN() string { return RoleARNOf(c.Principal) }

// Clock is the local AWS's notion of now, controllable from tests.
type Clock interface{ Now() time.Time }

// Event is an event as EventBridge delivers it (the envelope of
// events.EventBridgeEvent in aws-lambda-go).
type Event struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// Sink receives what AWS itself would emit while a service works: events
// on an account's default bus (tagging, CloudTrail records) and messages
// published to an SNS topic (endpoint connection notifications). The
// front door implements it; services never deliver anything themselves.
type Sink interface {
	// DefaultBus puts an AWS service event on the default event bus of
	// account/region. The sink fills in ID and Time when empty.
	DefaultBus(account, region string, ev Event)
	// Publish delivers an SNS message to a topic ARN's subscribers, if
	// the topic's policy lets the publisher publish.
	Publish(topicARN, subject, message string, from Publisher)
}

// Publisher is the AWS service that publishes to a customer's SNS topic and
// the resource it publishes for. SNS authorizes such a publish by the
// topic's policy alone, with the service as principal and the resource's
// account and ARN as aws:SourceAccount and aws:SourceArn (IAM User Guide,
// "AWS global condition context keys": aws:SourceAccount is present only
// when a service principal calls on a resource's behalf; PrivateLink guide,
// "Receive alerts for endpoint service events", "Add an access policy").
type Publisher struct {
	// Service is the service principal, e.g. vpce.amazonaws.com.
	Service string
	// SourceAccount owns the resource: the endpoint service's account for
	// its notifications, the endpoint's owner for an endpoint's own.
	SourceAccount string
	// SourceARN is the resource: arn:aws:ec2:<region>:<account>:vpc-endpoint-service/<id>
	// or arn:aws:ec2:<region>:<account>:vpc-endpoint/<id>.
	SourceARN string
}

// JSONError is how the JSON 1.1 services refuse a body that is not JSON.
func JSONError(err error) *Error {
	return Errorf("SerializationException", "Could not parse request body into json: %v", err)
}

// PageToken encodes the name a page starts after (an opaque NextToken).
func PageToken(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("after:" + after))
}

// ParsePageToken decodes a PageToken; false when it is not one.
func ParsePageToken(tok string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), "after:") {
		return "", false
	}
	return string(b[len("after:"):]), true
}

// DecodeJSON decodes a JSON protocol call's body into v; an empty body is
// an empty object, as the SDKs send for operations without input.
func (c *Call) DecodeJSON(v any) *Error {
	body := c.Body
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return JSONError(err)
	}
	return nil
}

// WriteXMLText writes s into b as XML character data, for the query
// protocol services that assemble their answers by hand.
func WriteXMLText(b *bytes.Buffer, s string) {
	// xml.EscapeText fails only when its writer does; a bytes.Buffer
	// never does (it panics when out of memory instead).
	_ = xml.EscapeText(b, []byte(s))
}

// StoppedClock is a Clock that moves only when told (Advance): for the
// services' own tests, which decide when time passes.
type StoppedClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewStoppedClock is a StoppedClock showing t.
func NewStoppedClock(t time.Time) *StoppedClock { return &StoppedClock{t: t} }

// Now is the time the clock shows.
func (c *StoppedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *StoppedClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
