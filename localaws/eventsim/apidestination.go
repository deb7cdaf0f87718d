package eventsim

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// Connections and API destinations (CreateConnection, CreateApiDestination
// and their Describe/Delete calls), as the AWSEvents JSON 1.1 API names
// their fields (aws-sdk-go-v2 service/eventbridge, types.go:
// CreateConnectionAuthRequestParameters, ConnectionHttpParameters,
// ConnectionQueryStringParameter with IsValueSecret; CreateApiDestinationInput
// with HttpMethod and InvocationRateLimitPerSecond).
//
// A connection keeps its secrets (the API key value, the password, the
// parameters marked IsValueSecret) for deliveries only: Describe returns
// them without their values, as EventBridge keeps them in a Secrets Manager
// secret it manages and returns only its SecretArn.

type connection struct {
	name, arn, authType, state, description string
	secretARN                               string
	apiKeyName, apiKeyValue                 string
	username, password                      string
	http                                    connectionHTTP
	created                                 time.Time
}

type connectionParam struct {
	Key           string
	Value         string `json:",omitempty"`
	IsValueSecret bool
}

type connectionHTTP struct {
	HeaderParameters      []connectionParam `json:",omitempty"`
	QueryStringParameters []connectionParam `json:",omitempty"`
	BodyParameters        []connectionParam `json:",omitempty"`
}

// redacted is the parameters as Describe shows them: secret values left out.
func (h connectionHTTP) redacted() connectionHTTP {
	hide := func(ps []connectionParam) []connectionParam {
		out := make([]connectionParam, len(ps))
		for i, p := range ps {
			out[i] = p
			if p.IsValueSecret {
				out[i].Value = ""
			}
		}
		return out
	}
	return connectionHTTP{HeaderParameters: hide(h.HeaderParameters), QueryStringParameters: hide(h.QueryStringParameters), BodyParameters: hide(h.BodyParameters)}
}

type apiDestination struct {
	name, arn, connectionARN, endpoint, method, description string
	rate                                                    int
	created                                                 time.Time
	// next is the wall-clock time the rate limit lets the next request
	// go out; requests wait for it in arrival order.
	next time.Time
}

// DefaultInvocationRateLimit is an API destination's rate limit when
// CreateApiDestination gives none: 300 invocations per second (the AWS
// provider's documentation of invocation_rate_limit_per_second, as
// rendered by Pulumi: "Enter a value greater than 0 (default 300)"; the
// API reference gives no default). The type of InvocationEndpoint in the
// API model is HttpsEndpoint.
const DefaultInvocationRateLimit = 300

// destinations holds the connections and API destinations of every account.
type destinations struct {
	mu           sync.Mutex
	connections  map[string]*connection     // by ARN
	apis         map[string]*apiDestination // by ARN
	client       *http.Client
	calls        []APICall
	deadLettered []DeadLetter
	// authorize, when set, decides a rule's use of an API destination
	// with the target's role ("" allows; otherwise why not).
	authorize func(ruleARN, roleARN, destinationARN string) string
}

func newDestinations() *destinations {
	return &destinations{connections: map[string]*connection{}, apis: map[string]*apiDestination{},
		// "EventBridge requests to an API destination endpoint must have a
		// maximum client execution timeout of 5 seconds" (EventBridge User
		// Guide, "API destinations as targets").
		client: &http.Client{Timeout: 5 * time.Second}}
}

// SetHTTPClient sets the client API destinations are called with (a test
// server's client, to trust its certificate); its Timeout is set to
// EventBridge's 5 seconds.
func (e *Service) SetHTTPClient(c *http.Client) {
	cp := *c
	cp.Timeout = 5 * time.Second
	e.dest.mu.Lock()
	defer e.dest.mu.Unlock()
	e.dest.client = &cp
}

// SetInvokeAuthorizer makes every delivery to an API destination ask fn
// first ("" allows; otherwise why not), as EventBridge needs the target's
// role to allow events:InvokeApiDestination. Without one, every delivery
// is allowed.
func (e *Service) SetInvokeAuthorizer(fn func(ruleARN, roleARN, destinationARN string) string) {
	e.dest.mu.Lock()
	defer e.dest.mu.Unlock()
	e.dest.authorize = fn
}

var (
	connectionNameRE = regexp.MustCompile(`^[\.\-_A-Za-z0-9]{1,64}$`)
	httpMethods      = []string{"POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"}
)

func newUUID() string {
	a, b := rand.Uint64(), rand.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", uint32(a>>32), uint16(a>>16), uint16(a)&0xfff, uint16(b>>48)&0x3fff|0x8000, b&0xffffffffffff)
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// handleDestinations serves the connection and API destination calls; ok
// is false for any other action.
func (e *Service) handleDestinations(call *awsproto.Call) (out []byte, ok bool, err error) {
	switch call.Action {
	case "CreateConnection":
		out, err = e.createConnection(call)
	case "CreateApiDestination":
		out, err = e.createAPIDestination(call)
	case "DescribeConnection", "DeleteConnection", "DescribeApiDestination", "DeleteApiDestination":
		out, err = e.describeOrDelete(call)
	default:
		return nil, false, nil
	}
	return out, true, err
}

type createConnectionInput struct {
	Name, Description, AuthorizationType string
	AuthParameters                       struct {
		APIKeyAuthParameters *struct {
			Name  string `json:"ApiKeyName"`
			Value string `json:"ApiKeyValue"`
		} `json:"ApiKeyAuthParameters"`
		BasicAuthParameters *struct{ Username, Password string }
		OAuthParameters     json.RawMessage
		InvocationHTTP      connectionHTTP `json:"InvocationHttpParameters"`
	}
}

func (e *Service) createConnection(call *awsproto.Call) ([]byte, error) {
	var in createConnectionInput
	if err := call.DecodeJSON(&in); err != nil {
		return nil, err
	}
	if !connectionNameRE.MatchString(in.Name) {
		return nil, awsproto.Errorf("ValidationException", "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+", in.Name)
	}
	c := &connection{name: in.Name, authType: in.AuthorizationType, description: in.Description, http: in.AuthParameters.InvocationHTTP,
		state: "AUTHORIZED", created: e.clock.Now()}
	p := in.AuthParameters
	switch in.AuthorizationType {
	case "API_KEY":
		if p.APIKeyAuthParameters == nil || p.APIKeyAuthParameters.Name == "" || p.APIKeyAuthParameters.Value == "" {
			return nil, awsproto.Errorf("ValidationException", "ApiKeyAuthParameters with ApiKeyName and ApiKeyValue are required for authorization type API_KEY.")
		}
		c.apiKeyName, c.apiKeyValue = p.APIKeyAuthParameters.Name, p.APIKeyAuthParameters.Value
	case "BASIC":
		if p.BasicAuthParameters == nil || p.BasicAuthParameters.Username == "" || p.BasicAuthParameters.Password == "" {
			return nil, awsproto.Errorf("ValidationException", "BasicAuthParameters with Username and Password are required for authorization type BASIC.")
		}
		c.username, c.password = p.BasicAuthParameters.Username, p.BasicAuthParameters.Password
	case "OAUTH_CLIENT_CREDENTIALS":
		return nil, awsproto.Errorf("ValidationException", "Authorization type OAUTH_CLIENT_CREDENTIALS is not supported by localaws EventBridge.")
	default:
		return nil, awsproto.Errorf("ValidationException", "1 validation error detected: Value '%s' at 'authorizationType' failed to satisfy constraint: Member must satisfy enum value set: [BASIC, OAUTH_CLIENT_CREDENTIALS, API_KEY]", in.AuthorizationType)
	}
	id := newUUID()
	c.arn = "arn:aws:events:" + call.Region + ":" + call.Account + ":connection/" + in.Name + "/" + id
	c.secretARN = "arn:aws:secretsmanager:" + call.Region + ":" + call.Account + ":secret:events!connection/" + in.Name + "/" + id
	e.dest.mu.Lock()
	defer e.dest.mu.Unlock()
	if e.dest.byName(e.dest.connectionsList(), call, "connection", in.Name) != "" {
		return nil, &awsproto.Error{Code: "ResourceAlreadyExistsException", Message: fmt.Sprintf("Connection %s already exists.", in.Name), Status: 400}
	}
	e.dest.connections[c.arn] = c
	return json.Marshal(map[string]any{"ConnectionArn": c.arn, "ConnectionState": c.state,
		"CreationTime": epoch(c.created), "LastModifiedTime": epoch(c.created)})
}

func (e *Service) createAPIDestination(call *awsproto.Call) ([]byte, error) {
	var in struct {
		Name, Description, ConnectionArn, InvocationEndpoint string
		HTTPMethod                                           string `json:"HttpMethod"`
		InvocationRateLimitPerSecond                         *int
	}
	if err := call.DecodeJSON(&in); err != nil {
		return nil, err
	}
	if !connectionNameRE.MatchString(in.Name) {
		return nil, awsproto.Errorf("ValidationException", "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+", in.Name)
	}
	// API destinations are "HTTPS endpoints" (EventBridge User Guide,
	// "API destinations as targets").
	if !strings.HasPrefix(in.InvocationEndpoint, "https://") {
		return nil, awsproto.Errorf("ValidationException", "Parameter InvocationEndpoint is not valid. Reason: %q is not an HTTPS endpoint.", in.InvocationEndpoint)
	}
	if !contains(httpMethods, in.HTTPMethod) {
		return nil, awsproto.Errorf("ValidationException", "1 validation error detected: Value '%s' at 'httpMethod' failed to satisfy constraint: Member must satisfy enum value set: [%s]", in.HTTPMethod, strings.Join(httpMethods, ", "))
	}
	rate := DefaultInvocationRateLimit
	if in.InvocationRateLimitPerSecond != nil {
		if rate = *in.InvocationRateLimitPerSecond; rate < 1 {
			return nil, awsproto.Errorf("ValidationException", "1 validation error detected: Value '%d' at 'invocationRateLimitPerSecond' failed to satisfy constraint: Member must have value greater than or equal to 1", rate)
		}
	}
	e.dest.mu.Lock()
	defer e.dest.mu.Unlock()
	if e.dest.connections[in.ConnectionArn] == nil {
		return nil, &awsproto.Error{Code: "ResourceNotFoundException", Message: fmt.Sprintf("Connection %s does not exist.", in.ConnectionArn), Status: 400}
	}
	if e.dest.byName(e.dest.apisList(), call, "api-destination", in.Name) != "" {
		return nil, &awsproto.Error{Code: "ResourceAlreadyExistsException", Message: fmt.Sprintf("ApiDestination %s already exists.", in.Name), Status: 400}
	}
	a := &apiDestination{name: in.Name, connectionARN: in.ConnectionArn, endpoint: in.InvocationEndpoint, method: in.HTTPMethod,
		description: in.Description, rate: rate, created: e.clock.Now()}
	a.arn = "arn:aws:events:" + call.Region + ":" + call.Account + ":api-destination/" + in.Name + "/" + newUUID()
	e.dest.apis[a.arn] = a
	return json.Marshal(map[string]any{"ApiDestinationArn": a.arn, "ApiDestinationState": "ACTIVE",
		"CreationTime": epoch(a.created), "LastModifiedTime": epoch(a.created)})
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (d *destinations) connectionsList() []string {
	out := make([]string, 0, len(d.connections))
	for arn := range d.connections {
		out = append(out, arn)
	}
	return out
}

func (d *destinations) apisList() []string {
	out := make([]string, 0, len(d.apis))
	for arn := range d.apis {
		out = append(out, arn)
	}
	return out
}

// byName finds the ARN of the caller's resource of a kind by name. Call
// with d.mu held.
func (d *destinations) byName(arns []string, call *awsproto.Call, kind, name string) string {
	prefix := "arn:aws:events:" + call.Region + ":" + call.Account + ":" + kind + "/" + name + "/"
	sort.Strings(arns)
	for _, arn := range arns {
		if strings.HasPrefix(arn, prefix) {
			return arn
		}
	}
	return ""
}

func (e *Service) describeOrDelete(call *awsproto.Call) ([]byte, error) {
	var in struct{ Name string }
	if err := call.DecodeJSON(&in); err != nil {
		return nil, err
	}
	d := e.dest
	d.mu.Lock()
	defer d.mu.Unlock()
	isConnection := strings.HasSuffix(call.Action, "Connection")
	kind, list := "api-destination", d.apisList()
	if isConnection {
		kind, list = "connection", d.connectionsList()
	}
	arn := d.byName(list, call, kind, in.Name)
	if arn == "" {
		what := map[bool]string{true: "Connection", false: "ApiDestination"}[isConnection]
		return nil, &awsproto.Error{Code: "ResourceNotFoundException", Message: fmt.Sprintf("Failed to describe the %s(s). %s '%s' does not exist.", kind, what, in.Name), Status: 400}
	}
	switch call.Action {
	case "DeleteConnection":
		c := d.connections[arn]
		delete(d.connections, arn)
		return json.Marshal(map[string]any{"ConnectionArn": arn, "ConnectionState": "DELETING", "CreationTime": epoch(c.created)})
	case "DeleteApiDestination":
		delete(d.apis, arn)
		return []byte("{}"), nil
	case "DescribeConnection":
		c := d.connections[arn]
		auth := map[string]any{"InvocationHttpParameters": c.http.redacted()}
		switch c.authType {
		case "API_KEY":
			auth["ApiKeyAuthParameters"] = map[string]string{"ApiKeyName": c.apiKeyName}
		case "BASIC":
			auth["BasicAuthParameters"] = map[string]string{"Username": c.username}
		}
		return json.Marshal(map[string]any{"ConnectionArn": c.arn, "Name": c.name, "Description": c.description,
			"ConnectionState": c.state, "AuthorizationType": c.authType, "AuthParameters": auth, "SecretArn": c.secretARN,
			"CreationTime": epoch(c.created), "LastModifiedTime": epoch(c.created)})
	default: // DescribeApiDestination
		a := d.apis[arn]
		return json.Marshal(map[string]any{"ApiDestinationArn": a.arn, "Name": a.name, "Description": a.description,
			"ApiDestinationState": "ACTIVE", "ConnectionArn": a.connectionARN, "InvocationEndpoint": a.endpoint,
			"HttpMethod": a.method, "InvocationRateLimitPerSecond": a.rate,
			"CreationTime": epoch(a.created), "LastModifiedTime": epoch(a.created)})
	}
}

// isAPIDestination says whether a target ARN names an API destination.
func isAPIDestination(arn string) bool {
	return strings.HasPrefix(arn, "arn:aws:events:") && strings.Contains(arn, ":api-destination/")
}
