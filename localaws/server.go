package localaws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/ec2sim"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/eventsim"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/sqssim"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/ssmsim"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/stssim"
)

// Options configure a Server. The zero value is a server with no seeded
// topology, a real clock, throttling off and a fixed fault RNG seed.
type Options struct {
	Topology *Topology
	// Logger receives one line per failed call (default: discard).
	Logger *slog.Logger
	// Seed seeds the RNG that fault ratios draw from.
	Seed int64
	// Throttle enforces the EC2 and SSM rate limits of DESIGN.md section 5.
	Throttle bool
	// PutParameterRate is Parameter Store's PutParameter rate per account
	// and Region when throttling (default 3 per second, burst as many;
	// AWS raises it with the higher throughput setting or a quota
	// increase).
	PutParameterRate float64
	// TransitionDelay is how long endpoints stay in a transitional state
	// (pendingAcceptance accepted -> pending -> available, deleting ->
	// deleted) before the next; zero keeps ec2sim's default.
	TransitionDelay time.Duration
	// Consistency configures EC2's eventual consistency (on unless
	// Relax.Consistency).
	Consistency Consistency
	// Delivery shapes strict event delivery (duplicates, delays, lost
	// aws.tag events, late CloudTrail events); the zero value takes the
	// defaults of DeliveryOptions. Relax.Delivery turns it off.
	Delivery DeliveryOptions
	// SQS shapes the looseness of standard queues (at-least-once delivery,
	// short polls that miss messages); the zero value takes the defaults of
	// sqssim.Strictness. Relax.SQS turns it off.
	SQS QueueStrictness
	// Relax turns off behaviours that AWS has and that make the local AWS
	// strict. The zero value is as strict as AWS: tests and tools relax one
	// only when their subject is something else, and say why.
	Relax Relax
}

// Consistency configures EC2's eventual consistency: each write becomes
// visible to reads at a time drawn uniformly within Window after it, on the
// server clock (see localaws/ec2sim and the README).
type Consistency struct {
	// Window is the longest a write stays invisible; zero means
	// DefaultConsistencyWindow.
	Window time.Duration
	// Seed seeds the draws; zero means Options.Seed.
	Seed int64
}

// DefaultConsistencyWindow is the consistency window when none is given:
// long enough that a describe right after a write usually misses it, short
// enough for a client that backs off to converge in seconds.
const DefaultConsistencyWindow = 2 * time.Second

// Relax names the strict behaviours that can be turned off.
type Relax struct {
	// IAM: role sessions are not authorized against their role's policies.
	IAM bool
	// Consistency: reads see every write at once (no eventual consistency
	// in EC2; a queue SQS's CreateQueue made is usable at once).
	Consistency bool
	// Delivery: EventBridge delivers every event exactly once, at once and
	// in order, and loses none.
	Delivery bool
	// SQS: queues hand out each message once until it is deleted, short
	// polls see every available message, and messages come in send order.
	SQS bool
}

// Server is the local AWS. Use Handler in-process or Start to listen.
type Server struct {
	log      *slog.Logger
	clock    *Clock
	faults   *faults
	throttle throttle
	calls    counters
	callLog  callLog
	// relaxIAM skips authorization (Options.Relax.IAM); denied records
	// what authorization refused.
	relaxIAM bool
	denied   denials
	granted  grants

	iam    *stssim.Service
	ssm    *ssmsim.Service
	events *eventsim.Service
	sqs    *sqssim.Service
	ec2    ec2Service
	ec2sim *ec2sim.Service

	statsOnce sync.Once
	httpMu    sync.Mutex
	httpSrv   *http.Server
	listener  net.Listener
}

// ec2Service is the EC2 simulator behind the front door.
type ec2Service interface {
	Handle(*awsproto.Call) ([]byte, error)
}

// New builds a server and seeds opts.Topology. It panics only on a
// topology that cannot be seeded; use NewServer to get the error.
func New(opts Options) *Server {
	s, err := NewServer(opts)
	if err != nil {
		panic(err)
	}
	return s
}

// NewServer builds a server and seeds opts.Topology.
func NewServer(opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		log:    log,
		clock:  &Clock{},
		faults: newFaults(opts.Seed),
		calls:  counters{m: map[callKey]int{}, throttled: map[callKey]int{}},

		relaxIAM: opts.Relax.IAM,
	}
	s.throttle.putParameterRate = opts.PutParameterRate
	s.throttle.set(opts.Throttle)
	s.iam = stssim.New(s.clock)
	s.ssm = ssmsim.New(s.clock)
	s.events = eventsim.New(s.clock, log, !opts.Relax.Delivery, opts.Delivery.Resolved(opts.Seed))
	s.sqs = sqssim.New(s.clock, !opts.Relax.SQS, opts.SQS, opts.Seed)
	if opts.Relax.Consistency {
		s.sqs.SetCreationDelay(0)
	}
	s.events.SetQueueTarget(s.deliverToQueue)
	s.events.SetDeadLetterSink(s.deadLetter)
	s.events.SetFIFOQueueCheck(s.sqs.IsFIFO)
	if !opts.Relax.IAM {
		s.events.SetTargetAuthorizer(s.authorizeForward)
		s.events.SetPublishAuthorizer(s.authorizePublish)
		s.events.SetInvokeAuthorizer(s.authorizeInvoke)
	}
	s.attachEC2(opts)
	if opts.Topology != nil {
		if err := s.Seed(opts.Topology); err != nil {
			s.events.Close()
			return nil, err
		}
	}
	return s, nil
}

// Seed adds a topology to the running server (accounts, roles, VPCs,
// endpoint services, buses, topic policies, parameters, organization).
func (s *Server) Seed(t *Topology) error {
	region := t.Region
	if region == "" {
		region = "us-east-1"
	}
	if err := s.seedIAM(t); err != nil {
		return err
	}
	for _, a := range t.Accounts {
		for _, b := range a.EventBuses {
			if _, err := s.events.CreateBus(a.ID, or(b.Region, region), b.Name); err != nil && !isCode(err, "ResourceAlreadyExistsException") {
				return fmt.Errorf("seeding bus %s in %s, %w", b.Name, a.ID, err)
			}
		}
		for _, tp := range a.Topics {
			if len(tp.Policy) == 0 {
				continue
			}
			arn := "arn:aws:sns:" + or(tp.Region, region) + ":" + a.ID + ":" + tp.Name
			if err := s.PutResourcePolicy(arn, tp.Policy); err != nil {
				return fmt.Errorf("seeding the policy of topic %s, %w", arn, err)
			}
		}
		if err := s.seedQueues(a.ID, region, a.Queues); err != nil {
			return err
		}
		for _, p := range a.Parameters {
			if err := s.ssm.Seed(a.ID, or(p.Region, region), p.Name, p.Type, p.Value); err != nil {
				return fmt.Errorf("seeding parameter %s in %s, %w", p.Name, a.ID, err)
			}
		}
	}
	return s.seedEC2(t, region)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func isCode(err error, code string) bool {
	var ae *awsproto.Error
	return errors.As(err, &ae) && ae.Code == code
}

// Clock is the server's clock (real until set or advanced).
func (s *Server) Clock() *Clock { return s.clock }

// InjectFault adds a fault and returns its id.
func (s *Server) InjectFault(f Fault) string { return s.faults.add(f) }

// RemoveFault removes one fault by id.
func (s *Server) RemoveFault(id string) bool { return s.faults.remove(id) }

// ClearFaults removes every fault.
func (s *Server) ClearFaults() { s.faults.clear() }

// Faults lists the active faults (with their remaining counts).
func (s *Server) Faults() []Fault { return s.faults.snapshot() }

// SetThrottle turns rate limiting on or off (and refills every bucket).
func (s *Server) SetThrottle(enabled bool) { s.throttle.set(enabled) }

// Calls lists the per service, action and account call counters.
func (s *Server) Calls() []CallCount { return s.calls.list() }

// CallCount is how many times account called service's action; an
// empty account sums over accounts. Failed and faulted calls count.
func (s *Server) CallCount(service, action, account string) int {
	return s.calls.get(service, action, account)
}

// ResetCalls zeroes the call counters.
func (s *Server) ResetCalls() { s.calls.reset() }

// Handler serves the AWS APIs and the admin endpoints under /_localaws/.
func (s *Server) Handler() http.Handler { return s }

// Start listens on addr (e.g. 127.0.0.1:0) and returns the base URL.
func (s *Server) Start(addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listening on %s, %w", addr, err)
	}
	s.httpMu.Lock()
	s.listener = l
	s.httpSrv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	srv := s.httpSrv
	s.httpMu.Unlock()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serving", "err", err)
		}
	}()
	return "http://" + l.Addr().String(), nil
}

// Close stops listening (if started) and the event delivery worker.
func (s *Server) Close() error {
	s.httpMu.Lock()
	srv := s.httpSrv
	s.httpMu.Unlock()
	var err error
	if srv != nil {
		err = srv.Close()
	}
	s.events.Close()
	s.sqs.Close()
	s.statsOnce.Do(s.appendStats)
	return err
}

// credential is what the SigV4 Authorization header (or presigned query)
// says about the caller.
type credential struct {
	accessKey, region, service, token string
}

func parseCredential(r *http.Request) (credential, bool) {
	var c credential
	var scope string
	if h := r.Header.Get("Authorization"); h != "" {
		i := strings.Index(h, "Credential=")
		if i < 0 {
			return c, false
		}
		scope = h[i+len("Credential="):]
		if j := strings.IndexAny(scope, ", "); j >= 0 {
			scope = scope[:j]
		}
		c.token = r.Header.Get("X-Amz-Security-Token")
	} else if q := r.URL.Query(); q.Get("X-Amz-Credential") != "" {
		scope = q.Get("X-Amz-Credential")
		c.token = q.Get("X-Amz-Security-Token")
	} else {
		return c, false
	}
	parts := strings.Split(scope, "/")
	if len(parts) != 5 || parts[0] == "" {
		return c, false
	}
	c.accessKey, c.region, c.service = parts[0], parts[2], parts[3]
	return c, true
}

// parseCall reads the call a request makes: JSON (an X-Amz-Target header
// names the action) or query (the form, URL and body, names it). service
// is the one the credential scope names unless the target says otherwise.
func parseCall(r *http.Request, body []byte, cred credential, requestID string) (call *awsproto.Call, service, proto string, _ *awsproto.Error) {
	call = &awsproto.Call{Region: cred.region, RequestID: requestID}
	service = cred.service
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, op, _ := strings.Cut(target, ".")
		call.Action, call.Body = op, body
		switch prefix {
		case "AmazonSSM":
			service = "ssm"
		case "AWSEvents":
			service = "events"
		case "AmazonSQS":
			service = "sqs"
		}
		return call, service, protoJSON, nil
	}
	form := r.URL.Query()
	if len(body) > 0 {
		bf, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, service, protoQuery, awsproto.Errorf("MalformedQueryString", "The query string is malformed.")
		}
		for k, v := range bf {
			form[k] = append(form[k], v...)
		}
	}
	call.Form, call.Action = form, form.Get("Action")
	if service == "sqs" {
		// SQS's query protocol, translated to its JSON input so that
		// authorization and the service read one shape. Older clients send
		// a queue's calls to its URL instead of a QueueUrl parameter.
		if _, _, ok := sqssim.ParseQueueURL(r.Host + r.URL.Path); ok && form.Get("QueueUrl") == "" {
			form.Set("QueueUrl", endpointOf(r)+r.URL.Path)
		}
		b, qerr := sqssim.QueryBody(form)
		if qerr != nil {
			return nil, service, protoQuery, qerr
		}
		call.Body = b
	}
	if service == "ec2" {
		return call, service, protoEC2, nil
	}
	return call, service, protoQuery, nil
}

// dispatch hands an authorized call to the service that answers it.
func (s *Server) dispatch(service string, call *awsproto.Call, id stssim.Identity, endpoint string, gone <-chan struct{}) ([]byte, error) {
	switch service {
	case "sqs":
		return s.sqs.Handle(call, sqssim.Caller{Endpoint: endpoint, SenderID: id.UserID, Gone: gone})
	case "sts":
		return s.iam.Handle(call, id)
	case "ssm":
		return s.ssm.Handle(call)
	case "events":
		return s.events.Handle(call)
	case "ec2":
		if s.ec2 == nil {
			return nil, &awsproto.Error{Code: "InvalidAction", Message: "EC2 is not available in this build.", Status: 400}
		}
		return s.ec2.Handle(call)
	}
	return nil, &awsproto.Error{Code: "UnknownService", Message: fmt.Sprintf("Service %q is not served by localaws.", service), Status: 400}
}

// protocol of a request, which decides how errors are written.
const (
	protoEC2   = "ec2"
	protoQuery = "query"
	protoJSON  = "json"
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_localaws/") {
		s.serveAdmin(w, r)
		return
	}
	requestID := newRequestID()
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, "reading request", http.StatusBadRequest)
		return
	}
	cred, signed := parseCredential(r)
	call, service, proto, perr := parseCall(r, body, cred, requestID)
	if perr != nil {
		s.writeError(w, protoQuery, service, requestID, perr)
		return
	}
	if !signed {
		code := "MissingAuthenticationToken"
		if proto == protoJSON {
			code = "MissingAuthenticationTokenException"
		}
		s.writeError(w, proto, service, requestID, &awsproto.Error{Code: code, Message: "Request is missing Authentication Token", Status: 403})
		return
	}
	id, aerr := s.iam.Identify(cred.accessKey, cred.token)
	if aerr != nil {
		s.writeError(w, proto, service, requestID, authError(service, aerr))
		return
	}
	call.Account, call.Principal = id.Account, id.Principal
	s.calls.add(service, call.Action, call.Account)
	s.callLog.record(service, call.Action, call.Account, call.Principal, call.Region, requestID, s.clock.Now())
	fault := s.faults.check(service, call.Action, call.Account, targetAccount(service, call))
	if fault.latency > 0 {
		time.Sleep(fault.latency)
	}
	if fault.failing() && !fault.after {
		s.writeFault(w, proto, service, requestID, fault)
		return
	}
	if fault.after {
		// The call runs and takes effect; whatever it answers is lost.
		defer s.writeFault(w, proto, service, requestID, fault)
		w = discard{real: w}
	}
	if terr := s.throttle.take(s.clock.Now(), service, call.Action, call.Account, call.Region); terr != nil {
		s.calls.throttle(service, call.Action, call.Account)
		s.writeError(w, proto, service, requestID, terr)
		return
	}
	// Authorization comes after authentication and before the service
	// acts, as in AWS: a denied call changes nothing.
	if aerr := s.authorize(service, call, id); aerr != nil {
		s.writeError(w, proto, service, requestID, aerr)
		return
	}
	out, err := s.dispatch(service, call, id, endpointOf(r), r.Context().Done())
	if err != nil {
		var ae *awsproto.Error
		if !errors.As(err, &ae) {
			ae = &awsproto.Error{Code: "InternalError", Message: err.Error(), Status: 500}
		}
		s.log.Info("call failed", "service", service, "action", call.Action, "account", call.Account, "code", ae.Code, "message", ae.Message)
		s.writeError(w, proto, service, requestID, ae)
		return
	}
	if service == "sqs" && proto == protoQuery {
		if out, err = sqssim.QueryAnswer(call.Action, requestID, out); err != nil {
			s.writeError(w, proto, service, requestID, &awsproto.Error{Code: "InternalError", Message: err.Error(), Status: 500})
			return
		}
	}
	s.writeAnswer(w, proto, service, requestID, out)
}

// endpointOf is the scheme and host a request was sent to.
func endpointOf(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// jsonContentType is the content type of a JSON protocol service's
// answers: SQS speaks AWS JSON 1.0, SSM and EventBridge 1.1.
func jsonContentType(service string) string {
	if service == "sqs" {
		return "application/x-amz-json-1.0"
	}
	return "application/x-amz-json-1.1"
}

// writeAnswer answers a call that succeeded.
func (s *Server) writeAnswer(w http.ResponseWriter, proto, service, requestID string, out []byte) {
	contentType := "text/xml;charset=UTF-8"
	if proto == protoJSON {
		contentType = jsonContentType(service)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(out); err != nil {
		s.log.Debug("writing the answer", "request", requestID, "err", err)
	}
}

// writeFault answers with an injected fault's error, or closes the
// connection without an answer.
func (s *Server) writeFault(w http.ResponseWriter, proto, service, requestID string, v verdict) {
	if d, ok := w.(discard); ok {
		w = d.real
	}
	if v.drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if err := conn.Close(); err != nil {
					s.log.Debug("dropping the connection", "service", service, "err", err)
				}
				return
			}
		}
		// No connection to drop (an in-process handler): abort the
		// response, which net/http turns into a broken connection.
		panic(http.ErrAbortHandler)
	}
	s.writeError(w, proto, service, requestID, v.fail)
}

// discard is a ResponseWriter that loses what the call answers, for a
// fault whose answer is lost after the call took effect.
type discard struct{ real http.ResponseWriter }

func (d discard) Header() http.Header         { return http.Header{} }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

// authError is how each service refuses credentials it does not know.
func authError(service string, e *awsproto.Error) *awsproto.Error {
	if e.Code != "InvalidClientTokenId" {
		return e
	}
	switch service {
	case "ec2":
		return &awsproto.Error{Code: "AuthFailure", Message: "AWS was not able to validate the provided access credentials", Status: 401}
	case "ssm", "events":
		return &awsproto.Error{Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid.", Status: 400}
	}
	return e
}

func (s *Server) writeError(w http.ResponseWriter, proto, service, requestID string, e *awsproto.Error) {
	s.callLog.fail(requestID, e.Code)
	status := e.Status
	if status == 0 {
		status = 400
	}
	var body []byte
	switch proto {
	case protoJSON:
		w.Header().Set("Content-Type", jsonContentType(service))
		typ := e.Code
		if service == "sqs" {
			// SQS names the error shape in __type and its query-protocol
			// code in x-amzn-query-error, which is what the SDKs report.
			typ = sqssim.WireType(e.Code)
			fault := "Sender"
			if status >= 500 {
				fault = "Receiver"
			}
			w.Header().Set("X-Amzn-Query-Error", e.Code+";"+fault)
		}
		w.Header().Set("X-Amzn-Errortype", typ)
		body, _ = json.Marshal(map[string]string{"__type": typ, "message": e.Message})
	case protoEC2:
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		var b bytes.Buffer
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<Response><Errors><Error><Code>")
		awsproto.WriteXMLText(&b, e.Code)
		b.WriteString("</Code><Message>")
		awsproto.WriteXMLText(&b, e.Message)
		b.WriteString("</Message></Error></Errors><RequestID>" + requestID + "</RequestID></Response>")
		body = b.Bytes()
	default:
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		typ := "Sender"
		if status >= 500 {
			typ = "Receiver"
		}
		ns := "http://localaws/doc/"
		switch service {
		case "sts":
			ns = "https://sts.amazonaws.com/doc/2011-06-15/"
		case "sqs":
			ns = "http://queue.amazonaws.com/doc/2012-11-05/"
		}
		var b bytes.Buffer
		b.WriteString(`<ErrorResponse xmlns="` + ns + `"><Error><Type>` + typ + "</Type><Code>")
		awsproto.WriteXMLText(&b, e.Code)
		b.WriteString("</Code><Message>")
		awsproto.WriteXMLText(&b, e.Message)
		b.WriteString("</Message></Error><RequestId>" + requestID + "</RequestId></ErrorResponse>")
		body = b.Bytes()
	}
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(status)
	if _, err := w.Write(body); err != nil {
		s.log.Debug("writing the error", "service", service, "code", e.Code, "err", err)
	}
}

func newRequestID() string {
	a, b := rand.Uint64(), rand.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", uint32(a>>32), uint16(a>>16), uint16(a)&0xfff, uint16(b>>48)&0x3fff|0x8000, b&0xffffffffffff)
}
