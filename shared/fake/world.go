package fake

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go"
)

// Options configure a World. Zero values pick the defaults documented on each field.
type Options struct {
	// Region the world lives in; it shows in ARNs, DNS names and AZ names. Default us-east-1.
	Region string
	// Clock drives timestamps and endpoint state transitions. Default: a clock
	// stopped at 2025-01-01T00:00:00Z.
	Clock *Clock
	// TransitionDelay is how long an endpoint stays pending (before available)
	// and deleting (before deleted). Zero means the default, one minute; use
	// World.SetTransitionDelay(0) for instant transitions.
	TransitionDelay time.Duration
	// ClientTokenTTL is how long CreateVpcEndpoint remembers a ClientToken.
	// Zero means for the life of the world, so reusing a deterministic token after
	// the endpoint was deleted returns the deleted endpoint, as AWS does within its
	// (undocumented) idempotency window.
	ClientTokenTTL time.Duration
	// Seed seeds the generator of IDs and of fault ratios. Default 1.
	Seed int64
}

// Call is one recorded API call, failed ones included.
type Call struct {
	Account   string // the account the call was made as
	Principal string // the caller's principal ARN
	Service   string // "ec2", "ssm", "events" or "sts" (the IAM service prefix)
	Action    string // the API action, e.g. "CreateVpcEndpoint"
	Code      string // the error code returned, "" on success
}

// Fault makes calls fail with an API error.
type Fault struct {
	Account string  // account the fault applies to; "" for any
	Service string  // IAM service prefix ("ec2", ...); "" for any
	Action  string  // action name; "" for any
	Code    string  // error code returned, e.g. "RequestLimitExceeded"
	Message string  // optional message; a generic one is used when empty
	Times   int     // how many calls fail; 0 means every matching call
	Ratio   float64 // probability (0,1] that a matching call fails; 0 means 1
}

type fault struct {
	Fault
	fired int
}

// World is a multi-account, single-Region AWS. The zero value is not usable: call NewWorld.
type World struct {
	mu       sync.Mutex
	region   string
	clock    *Clock
	delay    time.Duration
	tokenTTL time.Duration
	seed     int64

	rng      *rand.Rand
	seq      int64
	accounts map[string]*account
	services map[string]*service // by service id, across owners
	keys     map[string]keyOwner // access key id -> identity
	calls    []Call
	faults   []*fault
}

type keyOwner struct{ account, principal string }

// account holds everything one AWS account owns in the world's Region.
type account struct {
	id        string
	vpcs      map[string]*vpc
	subnets   map[string]*subnet
	groups    map[string]*securityGroup
	endpoints map[string]*endpoint
	tags      map[string]map[string]string // resource id -> tags
	tokens    map[string]clientToken
	params    map[string]*parameter
	events    []Event
	buses     map[string]bool
	roles     map[string]*role
}

// NewWorld returns an empty world.
func NewWorld(o Options) *World {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Clock == nil {
		o.Clock = NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	}
	if o.TransitionDelay == 0 {
		o.TransitionDelay = time.Minute
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	w := &World{region: o.Region, clock: o.Clock, delay: o.TransitionDelay, tokenTTL: o.ClientTokenTTL, seed: o.Seed}
	w.reset()
	return w
}

// Reset forgets every resource, call, fault, event, role and key; options and
// the transition delay stay, and the clock is left where it is.
func (w *World) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reset()
}

func (w *World) reset() {
	w.rng = rand.New(rand.NewSource(w.seed))
	w.seq = 0
	w.accounts = map[string]*account{}
	w.services = map[string]*service{}
	w.keys = map[string]keyOwner{}
	w.calls = nil
	w.faults = nil
}

// Region returns the world's Region.
func (w *World) Region() string { return w.region }

// Clock returns the world's clock.
func (w *World) Clock() *Clock { return w.clock }

// SetTransitionDelay changes how long endpoints stay pending and deleting;
// endpoints already in transition use the new delay from their last change.
func (w *World) SetTransitionDelay(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.delay = d
}

// Calls returns a copy of every call recorded so far, in order.
func (w *World) Calls() []Call {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Call(nil), w.calls...)
}

// CallCount counts recorded calls of service and action; "" matches any.
func (w *World) CallCount(service, action string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.calls {
		if (service == "" || c.Service == service) && (action == "" || c.Action == action) {
			n++
		}
	}
	return n
}

// Fail adds a fault. Faults are checked in the order added; the first one that
// fires decides the error, and the call changes nothing.
func (w *World) Fail(f Fault) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.faults = append(w.faults, &fault{Fault: f})
}

// ClearFaults removes every fault.
func (w *World) ClearFaults() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.faults = nil
}

// view is an account's (and principal's) window on the world.
type view struct {
	w         *World
	account   string
	principal string
}

func (w *World) view(acct, principal string) view {
	if principal == "" {
		principal = RootARN(acct)
	}
	return view{w: w, account: acct, principal: principal}
}

// RootARN returns the principal ARN of an account's root, the form endpoint
// service permissions and role trust use for "the whole account".
func RootARN(acct string) string { return "arn:aws:iam::" + acct + ":root" }

// RoleARN returns the ARN of an IAM role.
func RoleARN(acct, name string) string { return "arn:aws:iam::" + acct + ":role/" + name }

// call runs one API action: it records it, applies faults, and holds the world
// lock while f reads or changes state.
func call[O any](v view, ctx context.Context, service, action string, f func(a *account) (*O, error)) (*O, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := v.w
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.injected(v.account, service, action)
	var out *O
	if err == nil {
		out, err = f(w.account(v.account))
	}
	c := Call{Account: v.account, Principal: v.principal, Service: service, Action: action}
	if err != nil {
		c.Code = codeOf(err)
		out = nil
	}
	w.calls = append(w.calls, c)
	return out, err
}

func (w *World) injected(acct, service, action string) error {
	for i, f := range w.faults {
		if (f.Account != "" && f.Account != acct) || (f.Service != "" && f.Service != service) || (f.Action != "" && f.Action != action) {
			continue
		}
		if f.Ratio > 0 && f.Ratio < 1 && w.rng.Float64() >= f.Ratio {
			continue
		}
		f.fired++
		if f.Times > 0 && f.fired >= f.Times {
			w.faults = append(w.faults[:i:i], w.faults[i+1:]...)
		}
		msg := f.Message
		if msg == "" {
			msg = fmt.Sprintf("injected fault on %s:%s", service, action)
		}
		return apiError(f.Code, "%s", msg)
	}
	return nil
}

func codeOf(err error) string {
	if e, ok := err.(smithy.APIError); ok {
		return e.ErrorCode()
	}
	return err.Error()
}

// apiError builds the error the fakes return: what the SDK gives for an
// error code it has no type for.
func apiError(code, format string, args ...any) error {
	fault := smithy.FaultClient
	switch code {
	case "InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable", "InternalServerError":
		fault = smithy.FaultServer
	}
	return &smithy.GenericAPIError{Code: code, Message: fmt.Sprintf(format, args...), Fault: fault}
}

func (w *World) account(id string) *account {
	a, ok := w.accounts[id]
	if !ok {
		a = &account{
			id:        id,
			vpcs:      map[string]*vpc{},
			subnets:   map[string]*subnet{},
			groups:    map[string]*securityGroup{},
			endpoints: map[string]*endpoint{},
			tags:      map[string]map[string]string{},
			tokens:    map[string]clientToken{},
			params:    map[string]*parameter{},
			buses:     map[string]bool{"default": true},
			roles:     map[string]*role{},
		}
		w.accounts[id] = a
	}
	return a
}

func (w *World) nextSeq() int64 {
	w.seq++
	return w.seq
}

// hexID returns prefix followed by 17 hex digits, the shape of modern EC2 IDs.
func (w *World) hexID(prefix string) string {
	return fmt.Sprintf("%s0%016x", prefix, w.rng.Uint64())
}

func (w *World) alnum(n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[w.rng.Intn(len(alphabet))]
	}
	return string(b)
}

const (
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

// accountOf returns the account field of an ARN, "" when s is not an ARN.
func accountOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[4]
}

// roleOf returns the account and role name behind a role ARN or an
// assumed-role session ARN; ok is false for other principals.
func roleOf(arn string) (acct, name string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return "", "", false
	}
	res := parts[5]
	switch {
	case parts[2] == "iam" && strings.HasPrefix(res, "role/"):
		p := strings.Split(res, "/")
		return parts[4], p[len(p)-1], true // the path does not matter for matching
	case parts[2] == "sts" && strings.HasPrefix(res, "assumed-role/"):
		p := strings.Split(res, "/")
		if len(p) >= 2 {
			return parts[4], p[1], true
		}
	}
	return "", "", false
}

// allows reports whether a policy principal (endpoint service permission or
// role trust) admits the caller. An account root admits every principal of
// that account; a role ARN admits the role's sessions.
func allows(allowed, caller string) bool {
	switch {
	case allowed == "*":
		return true
	case allowed == caller:
		return true
	case strings.HasSuffix(allowed, ":root"):
		return accountOf(allowed) != "" && accountOf(allowed) == accountOf(caller)
	}
	aa, an, ok1 := roleOf(allowed)
	ca, cn, ok2 := roleOf(caller)
	return ok1 && ok2 && aa == ca && an == cn
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func copyTags(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
