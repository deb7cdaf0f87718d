package eventsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// How a rule delivers to an API destination target:
//
//   - The target's role must allow events:InvokeApiDestination on the
//     destination (Service Authorization Reference; re:Post "Why does my
//     EventBridge rule fail to invoke my API destination target?": "Make
//     sure that the IAM role associated with the API destination target has
//     the events:InvokeApiDestination permissions policy").
//   - The request goes to the InvocationEndpoint with the HttpMethod, the
//     event (or the target's input) as a JSON body, the target's
//     HttpParameters, and the connection's parameters and credentials,
//     which "take precedence" over the target's (SDK,
//     CreateConnectionAuthRequestParameters.InvocationHttpParameters).
//   - At most InvocationRateLimitPerSecond requests a second go out; the
//     others wait their turn ("some events may not be delivered within the
//     24-hour retry window" when the rate is lower than the events': SDK,
//     ApiDestination.InvocationRateLimitPerSecond).
//   - A request gets 5 seconds; a timed-out one is retried "up to the
//     maximums that are configured on your retry policy. By default the
//     maximums are 24 hours and 185 times. After the maximum number of
//     retries, events are sent to your dead-letter queue if you have
//     one. Otherwise, the event is dropped." (EventBridge User Guide, "API
//     destinations as targets").
//
// Choices where the emulator simplifies: besides timeouts and transport
// errors, only 429 and 5xx answers are retried (HTTP's "try again"
// answers; the User Guide pages in the team's corpus do not list which
// status codes EventBridge retries), any other non-2xx answer goes to the
// dead-letter queue at once; retries back off from 100ms doubling to 2s on
// the wall clock instead of AWS's minutes to hours, so a test sees them; a
// dead-lettered event is recorded (DeadLetters) and sent to the target's
// dead-letter queue.

// APICall is one request EventBridge made to an API destination.
type APICall struct {
	Time        time.Time
	Destination string // the API destination ARN
	RuleARN     string
	EventID     string
	Attempt     int    // 0 for the first
	Status      int    // the HTTP status; 0 when there was no answer
	Err         string // the transport error, when there was no answer
}

// DeadLetter is an event a rule target gave up on, with why, the rule and
// the target, as a dead-letter message carries them (re:Post "Why does my
// EventBridge rule fail to invoke my API destination target?": "The DLQ
// message includes the ERROR_CODE and ERROR_MESSAGE attributes"). The
// ErrorCode values are this emulator's.
type DeadLetter struct {
	Time         time.Time
	QueueARN     string // the target's DeadLetterConfig; "" when it has none and the event was dropped
	RuleARN      string
	TargetARN    string
	Event        awsproto.Event
	ErrorCode    string
	ErrorMessage string
	Attempts     int
}

type httpParameters struct {
	HeaderParameters      map[string]string `json:",omitempty"`
	QueryStringParameters map[string]string `json:",omitempty"`
	PathParameterValues   []string          `json:",omitempty"`
}

type retryPolicy struct {
	MaximumRetryAttempts     *int `json:",omitempty"`
	MaximumEventAgeInSeconds *int `json:",omitempty"`
}

type deadLetterConfig struct {
	Arn string
}

// Defaults of a target's RetryPolicy (EventBridge User Guide, "How
// EventBridge retries delivering events": "By default, EventBridge retries
// sending the event for 24 hours and up to 185 times").
const (
	defaultRetryAttempts = 185
	defaultEventAge      = 24 * time.Hour
)

// apiDestinationDelivery is the delivery of one event to an API
// destination target.
func (e *Service) apiDestinationDelivery(t target, d Delivery) delivery {
	return delivery{target: t.Arn, fn: func() { e.invoke(d, t, 0) }}
}

// invoke makes one attempt, after the destination's rate limit lets it
// go, and retries or dead-letters a failure. Waiting and the request run
// on their own goroutine, counted by Flush.
func (e *Service) invoke(d Delivery, t target, attempt int) {
	dst := e.dest
	dst.mu.Lock()
	authorize, client := dst.authorize, dst.client
	a := dst.apis[t.Arn]
	var c *connection
	if a != nil {
		c = dst.connections[a.connectionARN]
	}
	dst.mu.Unlock()
	if authorize != nil {
		if why := authorize(d.RuleARN, t.RoleArn, t.Arn); why != "" {
			e.giveUp(d, t, attempt, "NO_PERMISSIONS", "the target's role may not invoke the API destination: "+why)
			return
		}
	}
	if a == nil || c == nil {
		e.giveUp(d, t, attempt, "RESOURCE_NOT_FOUND", "API destination "+t.Arn+" or its connection does not exist")
		return
	}
	e.d.later(dst.slot(a), func() {
		call := dst.send(client, a, c, d, t, attempt)
		switch {
		case call.Status >= 200 && call.Status < 300:
			return
		case call.Status == http.StatusTooManyRequests || call.Status >= 500 || call.Status == 0:
			if e.mayRetry(d, t, attempt) {
				e.d.later(backoff(attempt), func() { e.invoke(d, t, attempt+1) })
				return
			}
			e.giveUp(d, t, attempt, "RETRIES_EXHAUSTED", describe(call))
		default:
			e.giveUp(d, t, attempt, "HTTP_STATUS_"+strconv.Itoa(call.Status), describe(call))
		}
	})
}

func describe(c APICall) string {
	if c.Status == 0 {
		return "no answer: " + c.Err
	}
	return "the endpoint answered " + strconv.Itoa(c.Status) + " " + http.StatusText(c.Status)
}

// mayRetry says whether the target's retry policy allows another attempt.
func (e *Service) mayRetry(d Delivery, t target, attempt int) bool {
	attempts, age := defaultRetryAttempts, defaultEventAge
	if p := t.RetryPolicy; p != nil {
		if p.MaximumRetryAttempts != nil {
			attempts = *p.MaximumRetryAttempts
		}
		if p.MaximumEventAgeInSeconds != nil {
			age = time.Duration(*p.MaximumEventAgeInSeconds) * time.Second
		}
	}
	return attempt < attempts && e.clock.Now().Sub(d.Event.Time) < age
}

func backoff(attempt int) time.Duration {
	return min(100*time.Millisecond<<min(attempt, 5), 2*time.Second)
}

// slot reserves the next request the destination's rate limit allows and
// returns how long to wait for it.
func (dst *destinations) slot(a *apiDestination) time.Duration {
	dst.mu.Lock()
	defer dst.mu.Unlock()
	now := time.Now()
	at := a.next
	if at.Before(now) {
		at = now
	}
	a.next = at.Add(time.Second / time.Duration(a.rate))
	return at.Sub(now)
}

// send makes the request and records it.
func (dst *destinations) send(client *http.Client, a *apiDestination, c *connection, d Delivery, t target, attempt int) APICall {
	call := APICall{Time: time.Now(), Destination: a.arn, RuleARN: d.RuleARN, EventID: d.Event.ID, Attempt: attempt}
	req, err := request(a, c, d, t)
	if err == nil {
		var resp *http.Response
		if resp, err = client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			call.Status = resp.StatusCode
		}
	}
	if err != nil {
		call.Err = err.Error()
	}
	dst.mu.Lock()
	dst.calls = append(dst.calls, call)
	dst.mu.Unlock()
	return call
}

// request builds the HTTP request for one delivery: the target's
// parameters first, the connection's over them.
func request(a *apiDestination, c *connection, d Delivery, t target) (*http.Request, error) {
	u, err := url.Parse(a.endpoint)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	header := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	if p := t.HTTPParameters; p != nil {
		for k, v := range p.QueryStringParameters {
			q.Set(k, v)
		}
		for k, v := range p.HeaderParameters {
			header.Set(k, v)
		}
	}
	for _, p := range c.http.QueryStringParameters {
		q.Set(p.Key, p.Value)
	}
	for _, p := range c.http.HeaderParameters {
		header.Set(p.Key, p.Value)
	}
	if c.apiKeyName != "" {
		header.Set(c.apiKeyName, c.apiKeyValue)
	}
	u.RawQuery = q.Encode()
	var body io.Reader
	if a.method != http.MethodGet && a.method != http.MethodHead {
		body = bytes.NewReader(d.Payload)
	}
	req, err := http.NewRequest(a.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.Header = header
	if c.username != "" {
		req.SetBasicAuth(c.username, c.password)
	}
	return req, nil
}

// giveUp sends the event to the target's dead-letter queue (recorded), or
// drops it when the target has none.
func (e *Service) giveUp(d Delivery, t target, attempt int, code, msg string) {
	dl := DeadLetter{Time: e.clock.Now(), RuleARN: d.RuleARN, TargetARN: t.Arn, Event: d.Event, ErrorCode: code, ErrorMessage: msg, Attempts: attempt + 1}
	if t.DeadLetterConfig != nil {
		dl.QueueARN = t.DeadLetterConfig.Arn
	}
	e.log.Warn("API destination target gave up on an event", "rule", d.RuleARN, "target", t.Arn, "event", d.Event.ID,
		"errorCode", code, "errorMessage", msg, "attempts", attempt+1, "deadLetterQueue", dl.QueueARN)
	e.dest.mu.Lock()
	e.dest.deadLettered = append(e.dest.deadLettered, dl)
	e.dest.mu.Unlock()
	e.mu.Lock()
	sink := e.deadLetterSink
	e.mu.Unlock()
	if dl.QueueARN != "" && sink != nil {
		d.DeadLetterARN = dl.QueueARN
		sink(d, code, msg)
	}
}

// CallAPIDestination makes one request to API destination arn with payload
// as its body, after the destination's rate limit lets it go, for a caller
// that is not a rule (an EventBridge pipe, named by source; id names what
// it delivers), and records it. It does not retry: the caller decides. The
// error is for a destination or connection that does not exist, or ctx
// ending before the rate limit let the request go.
func (e *Service) CallAPIDestination(ctx context.Context, arn, source, id string, payload []byte) (APICall, error) {
	dst := e.dest
	dst.mu.Lock()
	client := dst.client
	a := dst.apis[arn]
	var c *connection
	if a != nil {
		c = dst.connections[a.connectionARN]
	}
	dst.mu.Unlock()
	if a == nil || c == nil {
		return APICall{}, fmt.Errorf("API destination %s or its connection does not exist", arn)
	}
	wait := time.NewTimer(dst.slot(a))
	defer wait.Stop()
	select {
	case <-ctx.Done():
		return APICall{}, ctx.Err()
	case <-wait.C:
	}
	d := Delivery{Event: awsproto.Event{ID: id}, Payload: payload, RuleARN: source}
	return dst.send(client, a, c, d, target{Arn: arn}, 0), nil
}

// APICalls returns every request made to API destinations so far.
func (e *Service) APICalls() []APICall {
	e.dest.mu.Lock()
	defer e.dest.mu.Unlock()
	return append([]APICall(nil), e.dest.calls...)
}

// DeadLetters returns every event a rule target gave up on so far (API
// destination targets only, for now), whether it went to a dead-letter
// queue or was dropped.
func (e *Service) DeadLetters() []DeadLetter {
	e.dest.mu.Lock()
	defer e.dest.mu.Unlock()
	return append([]DeadLetter(nil), e.dest.deadLettered...)
}
