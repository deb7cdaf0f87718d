package localaws

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// endpoint is an HTTPS endpoint that answers status and records requests.
type endpoint struct {
	*httptest.Server
	mu       sync.Mutex
	status   int
	requests []*http.Request
	bodies   []string
	times    []time.Time
}

func newEndpoint(t *testing.T, status int) *endpoint {
	e := &endpoint{status: status}
	e.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.requests, e.bodies, e.times = append(e.requests, r), append(e.bodies, string(b)), append(e.times, time.Now())
		e.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.requests)
}

const reloadRole = "reload-events"

// apiDestinationSetup deploys, as the hub's administrator, a connection
// whose secret is a query parameter, an API destination to ep with the
// rate limit, a role events may use (allowed to invoke it unless
// denyInvoke) and a rule on the hub bus matching source "jav.test" with
// the destination as target (retry policy and a dead-letter queue).
func apiDestinationSetup(t *testing.T, srv *Server, url string, ep *endpoint, rate int32, retries int32, denyInvoke bool) (eb *eventbridge.Client, destARN string) {
	t.Helper()
	srv.SetAPIDestinationClient(ep.Client())
	eb = eventbridge.NewFromConfig(awsConfig(url, hub, "x", ""))
	conn, err := eb.CreateConnection(ctx(t), &eventbridge.CreateConnectionInput{Name: aws.String("jenkins"), AuthorizationType: types.ConnectionAuthorizationTypeApiKey,
		AuthParameters: &types.CreateConnectionAuthRequestParameters{
			ApiKeyAuthParameters: &types.CreateConnectionApiKeyAuthRequestParameters{ApiKeyName: aws.String("X-Reload-Source"), ApiKeyValue: aws.String("events")},
			InvocationHttpParameters: &types.ConnectionHttpParameters{QueryStringParameters: []types.ConnectionQueryStringParameter{
				{Key: aws.String("casc-reload-token"), Value: aws.String("s3cret"), IsValueSecret: true}}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	dest, err := eb.CreateApiDestination(ctx(t), &eventbridge.CreateApiDestinationInput{Name: aws.String("reload"), ConnectionArn: conn.ConnectionArn,
		InvocationEndpoint: aws.String(ep.URL + "/reload-configuration-as-code/"), HttpMethod: types.ApiDestinationHttpMethodPost,
		InvocationRateLimitPerSecond: aws.Int32(rate)})
	if err != nil {
		t.Fatal(err)
	}
	action := "events:InvokeApiDestination"
	if denyInvoke {
		action = "events:PutEvents"
	}
	if err := srv.Seed(&Topology{Region: region, Accounts: []Account{{ID: hub, Roles: []Role{{Name: reloadRole, Trust: Trust{Principals: []string{"events.amazonaws.com"}},
		Policies: []RolePolicy{{Name: "invoke", Document: PolicyDocument(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"` + action +
			`","Resource":"arn:aws:events:` + region + `:` + hub + `:api-destination/reload/*"}]}`)}}}}}}}); err != nil {
		t.Fatal(err)
	}
	bus := aws.String("jenkins-agent-vpcs")
	if _, err := eb.PutRule(ctx(t), &eventbridge.PutRuleInput{Name: aws.String("reload"), EventBusName: bus, EventPattern: aws.String(`{"source":["jav.test"]}`)}); err != nil {
		t.Fatal(err)
	}
	out, err := eb.PutTargets(ctx(t), &eventbridge.PutTargetsInput{Rule: aws.String("reload"), EventBusName: bus, Targets: []types.Target{{
		Id: aws.String("jenkins"), Arn: dest.ApiDestinationArn, RoleArn: aws.String("arn:aws:iam::" + hub + ":role/" + reloadRole),
		RetryPolicy:      &types.RetryPolicy{MaximumRetryAttempts: aws.Int32(retries), MaximumEventAgeInSeconds: aws.Int32(3600)},
		DeadLetterConfig: &types.DeadLetterConfig{Arn: aws.String("arn:aws:sqs:" + region + ":" + hub + ":reload-dlq")},
	}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("put targets = %+v, %v", out, err)
	}
	return eb, *dest.ApiDestinationArn
}

func putTestEvents(t *testing.T, eb *eventbridge.Client, n int) {
	t.Helper()
	for i := range n {
		if _, err := eb.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{
			EventBusName: aws.String("jenkins-agent-vpcs"), Source: aws.String("jav.test"), DetailType: aws.String("Test"),
			Detail: aws.String(`{"n":` + string(rune('0'+i)) + `}`)}}}); err != nil {
			t.Fatal(err)
		}
	}
}

// Each matched event is one POST with the connection's secret query
// parameter and API key header and the event as body, no faster than the
// destination's rate limit; Describe does not show the secret.
func TestAPIDestinationPostsEachEventWithTheConnectionsSecretAtItsRate(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology(), Relax: Relax{Delivery: true}})
	ep := newEndpoint(t, http.StatusOK)
	eb, _ := apiDestinationSetup(t, srv, url, ep, 4, 2, false)

	putTestEvents(t, eb, 3)
	if !srv.Flush(10 * time.Second) {
		t.Fatal("deliveries did not finish")
	}
	if ep.count() != 3 {
		t.Fatalf("endpoint got %d requests, want 3", ep.count())
	}
	for i, r := range ep.requests {
		if r.Method != http.MethodPost || r.URL.Path != "/reload-configuration-as-code/" || r.URL.Query().Get("casc-reload-token") != "s3cret" ||
			r.Header.Get("X-Reload-Source") != "events" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("request %d: %s %s headers %v", i, r.Method, r.URL, r.Header)
		}
		var ev struct{ Source, ID string }
		if err := json.Unmarshal([]byte(ep.bodies[i]), &ev); err != nil || ev.Source != "jav.test" || ev.ID == "" {
			t.Errorf("request %d body %q is not the event (%v)", i, ep.bodies[i], err)
		}
	}
	// 4 a second: the third request goes out at least 500ms after the first.
	if gap := ep.times[2].Sub(ep.times[0]); gap < 450*time.Millisecond {
		t.Errorf("3 requests within %s at a rate limit of 4/s", gap)
	}
	if dl := srv.DeadLetters(); len(dl) != 0 {
		t.Errorf("dead letters %+v", dl)
	}
	desc, err := eb.DescribeConnection(ctx(t), &eventbridge.DescribeConnectionInput{Name: aws.String("jenkins")})
	if err != nil {
		t.Fatal(err)
	}
	q := desc.AuthParameters.InvocationHttpParameters.QueryStringParameters
	if len(q) != 1 || aws.ToString(q[0].Key) != "casc-reload-token" || aws.ToString(q[0].Value) != "" || !q[0].IsValueSecret || aws.ToString(desc.SecretArn) == "" {
		t.Errorf("DescribeConnection shows %+v (secret %s)", q, aws.ToString(desc.SecretArn))
	}
}

// A refused request, an endpoint that keeps failing and a role that may
// not invoke the destination all end in the dead-letter queue, after the
// retries the failure deserves.
func TestAPIDestinationFailuresEndInTheDeadLetterQueue(t *testing.T) {
	for _, tt := range []struct {
		name       string
		status     int
		denyInvoke bool
		wantCalls  int
		wantCode   string
	}{
		{name: "wrong token", status: http.StatusUnauthorized, wantCalls: 1, wantCode: "HTTP_STATUS_401"},
		{name: "controller down", status: http.StatusServiceUnavailable, wantCalls: 3, wantCode: "RETRIES_EXHAUSTED"},
		{name: "role may not invoke", status: http.StatusOK, denyInvoke: true, wantCalls: 0, wantCode: "NO_PERMISSIONS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, url := startServer(t, Options{Topology: testTopology(), Relax: Relax{Delivery: true, SQS: true}})
			dlqARN := "arn:aws:sqs:" + region + ":" + hub + ":reload-dlq"
			if _, err := srv.CreateQueue(hub, region, "reload-dlq", map[string]string{"Policy": `{"Statement":[{"Effect":"Allow",
				"Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"` + dlqARN + `",
				"Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:events:` + region + `:` + hub + `:rule/jenkins-agent-vpcs/reload"}}}]}`}); err != nil {
				t.Fatal(err)
			}
			ep := newEndpoint(t, tt.status)
			eb, dest := apiDestinationSetup(t, srv, url, ep, 10, 2, tt.denyInvoke)
			putTestEvents(t, eb, 1)
			if !srv.Flush(10 * time.Second) {
				t.Fatal("deliveries did not finish")
			}
			if ep.count() != tt.wantCalls {
				t.Errorf("endpoint got %d requests, want %d", ep.count(), tt.wantCalls)
			}
			dl := srv.DeadLetters()
			if len(dl) != 1 || dl[0].ErrorCode != tt.wantCode || dl[0].TargetARN != dest || !strings.HasSuffix(dl[0].QueueARN, ":reload-dlq") ||
				dl[0].Event.Source != "jav.test" {
				t.Fatalf("dead letters %+v, want one %s for %s", dl, tt.wantCode, dest)
			}
			// and the event is in the dead-letter queue, as EventBridge sends it
			got := receive(t, sqsClient(url, hub), url+"/"+hub+"/reload-dlq", 0)
			if len(got) != 1 || *got[0].MessageAttributes["ERROR_CODE"].StringValue != tt.wantCode ||
				*got[0].MessageAttributes["TARGET_ARN"].StringValue != dest || !strings.Contains(*got[0].Body, `"source":"jav.test"`) {
				t.Fatalf("dead-letter queue holds %+v", got)
			}
		})
	}
}

func TestCreateApiDestinationRefusesWhatAWSRefuses(t *testing.T) {
	_, url := startServer(t, Options{Topology: testTopology()})
	eb := eventbridge.NewFromConfig(awsConfig(url, hub, "x", ""))
	conn, err := eb.CreateConnection(ctx(t), &eventbridge.CreateConnectionInput{Name: aws.String("c"), AuthorizationType: types.ConnectionAuthorizationTypeApiKey,
		AuthParameters: &types.CreateConnectionAuthRequestParameters{ApiKeyAuthParameters: &types.CreateConnectionApiKeyAuthRequestParameters{
			ApiKeyName: aws.String("k"), ApiKeyValue: aws.String("v")}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]*eventbridge.CreateApiDestinationInput{
		"http endpoint":  {Name: aws.String("d"), ConnectionArn: conn.ConnectionArn, InvocationEndpoint: aws.String("http://jenkins.example/"), HttpMethod: "POST"},
		"rate below 1":   {Name: aws.String("d"), ConnectionArn: conn.ConnectionArn, InvocationEndpoint: aws.String("https://jenkins.example/"), HttpMethod: "POST", InvocationRateLimitPerSecond: aws.Int32(0)},
		"no connection":  {Name: aws.String("d"), ConnectionArn: aws.String(strings.Replace(*conn.ConnectionArn, "/c/", "/gone/", 1)), InvocationEndpoint: aws.String("https://jenkins.example/"), HttpMethod: "POST"},
		"unknown method": {Name: aws.String("d"), ConnectionArn: conn.ConnectionArn, InvocationEndpoint: aws.String("https://jenkins.example/"), HttpMethod: "CONNECT"},
	} {
		if _, err := eb.CreateApiDestination(ctx(t), in); err == nil {
			t.Errorf("%s: created", name)
		}
	}
	_, err = eb.CreateConnection(ctx(t), &eventbridge.CreateConnectionInput{Name: aws.String("c"), AuthorizationType: types.ConnectionAuthorizationTypeApiKey,
		AuthParameters: &types.CreateConnectionAuthRequestParameters{ApiKeyAuthParameters: &types.CreateConnectionApiKeyAuthRequestParameters{
			ApiKeyName: aws.String("k"), ApiKeyValue: aws.String("v")}}})
	wantCode(t, err, "ResourceAlreadyExistsException")
}

// A pipe's call to an API destination: the role's policy decides, the
// request carries the connection's secret and the pipe's body, and it is
// recorded with the pipe as its source.
func TestInvokeAPIDestinationAsAPipeRole(t *testing.T) {
	for _, deny := range []bool{false, true} {
		srv, url := startServer(t, Options{Topology: testTopology(), Relax: Relax{Delivery: true}})
		ep := newEndpoint(t, http.StatusOK)
		_, destARN := apiDestinationSetup(t, srv, url, ep, 1, 0, deny)
		pipe := "arn:aws:pipes:" + region + ":" + hub + ":pipe/reload"
		call, err := srv.InvokeAPIDestination(ctx(t), "arn:aws:iam::"+hub+":role/"+reloadRole, destARN, pipe, "m-1", []byte(`[{"messageId":"m-1"}]`))
		if deny {
			if err == nil || !strings.Contains(err.Error(), "may not invoke "+destARN) || ep.count() != 0 {
				t.Fatalf("a role without events:InvokeApiDestination: %+v, %v, %d requests", call, err, ep.count())
			}
			continue
		}
		if err != nil || call.Status != http.StatusOK || call.RuleARN != pipe || call.EventID != "m-1" || ep.count() != 1 {
			t.Fatalf("call = %+v, %v; %d requests", call, err, ep.count())
		}
		if q := ep.requests[0].URL.Query().Get("casc-reload-token"); q != "s3cret" || ep.bodies[0] != `[{"messageId":"m-1"}]` {
			t.Fatalf("request token %q, body %s", q, ep.bodies[0])
		}
		if calls := srv.APICalls(); len(calls) != 1 || calls[0].RuleARN != pipe {
			t.Fatalf("recorded calls %+v", calls)
		}
	}
}
