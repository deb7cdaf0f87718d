package ec2sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

const (
	hub     = "111111111111"
	spoke   = "222222222222"
	other   = "333333333333"
	usEast1 = "us-east-1"
)

type busEvent struct {
	account, region string
	ev              awsproto.Event
}

type snsMessage struct {
	topic, subject, message string
	from                    awsproto.Publisher
}

// recordingSink records what the service emits.
type recordingSink struct {
	mu       sync.Mutex
	events   []busEvent
	messages []snsMessage
}

func (s *recordingSink) DefaultBus(account, region string, ev awsproto.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, busEvent{account, region, ev})
}

func (s *recordingSink) Publish(topic, subject, message string, from awsproto.Publisher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, snsMessage{topic, subject, message, from})
}

func (s *recordingSink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events, s.messages = nil, nil
}

// busEvents returns the recorded events of one source.
func (s *recordingSink) busEvents(source string) []busEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []busEvent
	for _, e := range s.events {
		if e.ev.Source == source {
			out = append(out, e)
		}
	}
	return out
}

func (s *recordingSink) sns() []snsMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]snsMessage(nil), s.messages...)
}

// world is the service behind a minimal front door: an HTTP server that
// takes the account (and an optional role) from the SigV4 access key id.
type world struct {
	t     testing.TB
	svc   *Service
	clock *awsproto.StoppedClock
	sink  *recordingSink
	url   string
}

var credentialPattern = regexp.MustCompile(`Credential=([^/]+)/[0-9]+/([^/]+)/`)

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t, clock: awsproto.NewStoppedClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)), sink: &recordingSink{}}
	w.svc = New(w.clock, w.sink)
	srv := httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(srv.Close)
	w.url = srv.URL
	return w
}

func (w *world) serve(rw http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	m := credentialPattern.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		http.Error(rw, "no SigV4 credential", http.StatusForbidden)
		return
	}
	// An access key id "<account>" is the account root; "<account>-<role>"
	// is a session of that role.
	account, role, _ := strings.Cut(m[1], "-")
	principal := "arn:aws:iam::" + account + ":root"
	if role != "" {
		principal = "arn:aws:sts::" + account + ":assumed-role/" + role + "/session"
	}
	call := &awsproto.Call{
		Account: account, Principal: principal, Region: m[2], Action: r.Form.Get("Action"),
		Form: r.Form, RequestID: "req-1",
	}
	body, err := w.svc.Handle(call)
	if err != nil {
		var ae *awsproto.Error
		if !errors.As(err, &ae) {
			ae = &awsproto.Error{Code: "InternalError", Message: err.Error(), Status: 500}
		}
		status := ae.Status
		if status == 0 {
			status = 400
		}
		rw.Header().Set("Content-Type", "text/xml")
		rw.WriteHeader(status)
		fmt.Fprintf(rw, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>`,
			html.EscapeString(ae.Code), html.EscapeString(ae.Message), call.RequestID)
		return
	}
	rw.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	if _, err := rw.Write(body); err != nil {
		w.t.Errorf("answering %s: %v", call.Action, err)
	}
}

// client is an SDK EC2 client of accessKey (see serve) in us-east-1,
// without retries.
func (w *world) client(accessKey string) *ec2.Client { return w.clientIn(accessKey, usEast1) }

// clientIn is client in another Region.
func (w *world) clientIn(accessKey, region string) *ec2.Client {
	return ec2.New(ec2.Options{
		Region:       region,
		BaseEndpoint: aws.String(w.url),
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, "secret", ""),
		Retryer:      aws.NopRetryer{},
	})
}

var ctx = context.Background()

// wantCode fails unless err is an API error with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func decode(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return m
}

// path walks decoded JSON: keys for objects, ints for arrays.
func path(v any, steps ...any) any {
	for _, s := range steps {
		switch k := s.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}
