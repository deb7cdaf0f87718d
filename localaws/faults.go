package localaws

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/sqssim"
)

// Fault makes matching calls fail or slow down. Empty Service, Action,
// Account or Target match anything. A fault with a Code fails the call with
// that error; Count limits it to the next N matching calls (0: no limit);
// Ratio in (0,1) fails that share of matching calls, drawn from the server's
// seeded RNG (0 means every call). Latency is added to every matching
// call, failing or not.
//
// By default a fault fails the call before it runs: nothing changes. With
// After, the call runs and takes effect (state, events, notifications),
// then its answer is lost: the client gets the fault's error (default
// InternalError, HTTP 500) and must find out, or retry idempotently, what
// happened. This is the crash point between a write and its reply that
// AWS's idempotency tokens exist for ("Ensuring idempotency in Amazon EC2
// API requests", https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html).
// With Drop, the connection is closed without an answer instead of
// answering with an error (before or, with After, after the call ran).
type Fault struct {
	ID      string `json:"id,omitempty"`
	Service string `json:"service,omitempty"` // ec2, sts, ssm, events
	Action  string `json:"action,omitempty"`  // e.g. CreateVpcEndpoint
	Account string `json:"account,omitempty"` // the calling account
	// Target is the account that owns what the call names: the role's
	// account for STS AssumeRole (so "account 222's spoke role cannot be
	// assumed" is expressible), the bus's account for an EventBridge bus
	// ARN, the parameter's account for an SSM parameter ARN; for every
	// other call, the caller's account.
	Target  string   `json:"target,omitempty"`
	Code    string   `json:"code,omitempty"` // e.g. RequestLimitExceeded, AccessDenied
	Message string   `json:"message,omitempty"`
	Status  int      `json:"status,omitempty"` // HTTP status; derived from Code when zero
	Count   int      `json:"count,omitempty"`
	Ratio   float64  `json:"ratio,omitempty"`
	Latency Duration `json:"latency,omitempty"`
	After   bool     `json:"after,omitempty"` // the call takes effect, then its answer is lost
	Drop    bool     `json:"drop,omitempty"`  // close the connection instead of answering
}

// failing reports whether the fault fails calls (rather than only slowing
// them down).
func (f *Fault) failing() bool { return f.Code != "" || f.Drop }

// Duration is a time.Duration that reads "250ms" or a number of
// milliseconds from JSON and YAML.
type Duration time.Duration

// UnmarshalJSON accepts "1.5s" or 1500 (milliseconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("parsing duration %q, %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("duration must be a string like \"250ms\" or milliseconds, %w", err)
	}
	*d = Duration(time.Duration(ms * float64(time.Millisecond)))
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (f *Fault) matches(service, action, account, target string) bool {
	return (f.Service == "" || strings.EqualFold(f.Service, service)) &&
		(f.Action == "" || f.Action == action) &&
		(f.Account == "" || f.Account == account) &&
		(f.Target == "" || f.Target == target)
}

// statusFor is the HTTP status AWS uses for well-known error codes.
func statusFor(code string) int {
	switch code {
	case "RequestLimitExceeded", "ServiceUnavailable", "ServiceUnavailableException", "Unavailable":
		return 503
	case "InternalError", "InternalFailure", "InternalServerError", "InternalServerErrorException", "InternalException":
		return 500
	case "AccessDenied", "UnauthorizedOperation", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "SignatureDoesNotMatch":
		return 403
	case "AuthFailure":
		return 401
	}
	return 400
}

// faults holds the injected faults and the RNG their ratios draw from.
type faults struct {
	mu     sync.Mutex
	list   []*Fault
	rng    *rand.Rand
	nextID int
}

func newFaults(seed int64) *faults {
	return &faults{rng: rand.New(rand.NewPCG(uint64(seed), 0x6c6f63616c617773))}
}

func (fs *faults) add(f Fault) string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.nextID++
	if f.ID == "" {
		f.ID = fmt.Sprintf("fault-%d", fs.nextID)
	}
	if f.After && f.Code == "" && !f.Drop {
		f.Code = "InternalError"
	}
	if f.Code != "" && f.Status == 0 {
		f.Status = statusFor(f.Code)
	}
	fs.list = append(fs.list, &f)
	return f.ID
}

func (fs *faults) remove(id string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.list {
		if f.ID == id {
			fs.list = append(fs.list[:i], fs.list[i+1:]...)
			return true
		}
	}
	return false
}

func (fs *faults) clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.list = nil
}

func (fs *faults) snapshot() []Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]Fault, 0, len(fs.list))
	for _, f := range fs.list {
		out = append(out, *f)
	}
	return out
}

// verdict is what the matching faults do to one call.
type verdict struct {
	latency time.Duration
	fail    *awsproto.Error // answer with this error (nil with drop)
	drop    bool            // close the connection without an answer
	after   bool            // run the call first; lose its answer
}

func (v verdict) failing() bool { return v.fail != nil || v.drop }

// check returns what the faults matching a call do to it; the first
// failing fault that fires decides how the call fails.
func (fs *faults) check(service, action, account, target string) verdict {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var v verdict
	kept := fs.list[:0]
	for _, f := range fs.list {
		spent := false
		if f.matches(service, action, account, target) {
			v.latency = max(v.latency, time.Duration(f.Latency))
			if f.failing() && !v.failing() && (f.Ratio <= 0 || f.Ratio >= 1 || fs.rng.Float64() < f.Ratio) {
				v.drop, v.after = f.Drop, f.After
				if !f.Drop {
					msg := f.Message
					if msg == "" {
						msg = "Injected fault: " + f.Code
						if f.After {
							msg = "Injected fault after the call took effect: " + f.Code
						}
					}
					v.fail = &awsproto.Error{Code: f.Code, Message: msg, Status: f.Status}
				}
				if f.Count > 0 {
					f.Count--
					spent = f.Count == 0
				}
			}
		}
		if !spent {
			kept = append(kept, f)
		}
	}
	fs.list = kept
	return v
}

// bucket is an AWS-style token bucket: it starts full and refills at rate
// tokens per second up to burst.
type bucket struct {
	tokens float64
	last   time.Time
}

type bucketClass struct {
	name  string
	burst float64
	rate  float64
}

// throttle enforces the per account and Region request rates of DESIGN.md
// section 5 when enabled.
type throttle struct {
	mu      sync.Mutex
	enabled bool
	buckets map[string]*bucket
	// putParameterRate overrides PutParameter's 3 per second (and burst).
	putParameterRate float64
}

// ec2Class is the EC2 throttling bucket an action draws from.
func ec2Class(action string) bucketClass {
	switch action {
	case "CreateVpcEndpoint", "DeleteVpcEndpoints", "ModifyVpcEndpoint":
		return bucketClass{"vpc-endpoint", 4, 0.3}
	case "AcceptVpcEndpointConnections", "RejectVpcEndpointConnections":
		return bucketClass{"endpoint-connections", 10, 1}
	case "CreateTags":
		return bucketClass{"create-tags", 100, 10}
	}
	for _, p := range []string{"Describe", "Get", "List", "Search"} {
		if strings.HasPrefix(action, p) {
			return bucketClass{"non-mutating", 100, 20}
		}
	}
	return bucketClass{"mutating", 50, 5}
}

// ssmClass is the SSM bucket an action draws from; ok is false for
// actions that are not throttled here.
func ssmClass(action string) (bucketClass, bool) {
	switch action {
	case "GetParameter", "GetParameters", "GetParametersByPath":
		return bucketClass{"parameter-reads", 40, 40}, true
	case "PutParameter":
		return bucketClass{"put-parameter", 3, 3}, true
	}
	return bucketClass{}, false
}

// take spends a token of the action's bucket, or returns the throttling
// error the service answers with.
func (t *throttle) take(now time.Time, service, action, account, region string) *awsproto.Error {
	var class bucketClass
	var fail *awsproto.Error
	switch service {
	case "ec2":
		class = ec2Class(action)
		fail = &awsproto.Error{Code: "RequestLimitExceeded", Message: "Request limit exceeded.", Status: 503}
	case "ssm":
		c, ok := ssmClass(action)
		if !ok {
			return nil
		}
		if c.name == "put-parameter" && t.putParameterRate > 0 {
			c.rate, c.burst = t.putParameterRate, math.Max(1, t.putParameterRate)
		}
		class = c
		fail = &awsproto.Error{Code: "ThrottlingException", Message: "Rate exceeded", Status: 400}
	default:
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.enabled {
		return nil
	}
	key := service + "/" + account + "/" + region + "/" + class.name
	b := t.buckets[key]
	if b == nil {
		b = &bucket{tokens: class.burst, last: now}
		t.buckets[key] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(class.burst, b.tokens+elapsed*class.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return fail
	}
	b.tokens--
	return nil
}

func (t *throttle) set(enabled bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.enabled = enabled
	t.buckets = map[string]*bucket{}
}

// CallCount is how many calls one account made to one action.
type CallCount struct {
	Service string `json:"service"`
	Action  string `json:"action"`
	Account string `json:"account"`
	Count   int    `json:"count"`
	// Throttled is how many of those calls were answered with the
	// throttling error of their bucket (SetThrottle).
	Throttled int `json:"throttled,omitempty"`
}

type callKey struct{ service, action, account string }

type counters struct {
	mu        sync.Mutex
	m         map[callKey]int
	throttled map[callKey]int
}

func (c *counters) add(service, action, account string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[callKey{service, action, account}]++
}

// throttle counts a call answered with a throttling error.
func (c *counters) throttle(service, action, account string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.throttled[callKey{service, action, account}]++
}

func (c *counters) get(service, action, account string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if account != "" {
		return c.m[callKey{service, action, account}]
	}
	n := 0
	for k, v := range c.m {
		if k.service == service && k.action == action {
			n += v
		}
	}
	return n
}

func (c *counters) list() []CallCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]CallCount, 0, len(c.m))
	for k, v := range c.m {
		out = append(out, CallCount{Service: k.service, Action: k.action, Account: k.account, Count: v, Throttled: c.throttled[k]})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Action != b.Action {
			return a.Action < b.Action
		}
		return a.Account < b.Account
	})
	return out
}

func (c *counters) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m, c.throttled = map[callKey]int{}, map[callKey]int{}
}

// targetAccount is the account that owns what a call names, for
// Fault.Target: the role of AssumeRole, a bus or parameter named by ARN, a
// queue's owner;
// otherwise the caller's account.
func targetAccount(service string, call *awsproto.Call) string {
	switch service {
	case "sts":
		if call.Action == "AssumeRole" {
			if acct := arnAccount(call.Form.Get("RoleArn")); acct != "" {
				return acct
			}
		}
	case "sqs":
		var in struct {
			QueueURL string `json:"QueueUrl"`
		}
		if json.Unmarshal(call.Body, &in) == nil {
			if account, _, ok := sqssim.ParseQueueURL(in.QueueURL); ok {
				return account
			}
		}
	case "events", "ssm":
		var in struct {
			EventBusName, Name string
			Entries            []struct{ EventBusName string }
		}
		if json.Unmarshal(call.Body, &in) == nil {
			names := []string{in.EventBusName, in.Name}
			for _, e := range in.Entries {
				names = append(names, e.EventBusName)
			}
			for _, n := range names {
				if acct := arnAccount(n); acct != "" {
					return acct
				}
			}
		}
	}
	return call.Account
}

// arnAccount is the account field of an ARN, or "".
func arnAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ""
	}
	return parts[4]
}
