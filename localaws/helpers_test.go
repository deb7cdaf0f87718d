package localaws

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"
)

const (
	hub     = "111111111111"
	member  = "222222222222"
	member2 = "333333333333"
	region  = "eu-west-1"
	orgID   = "o-localaws01"
)

// testTopology is a hub with function roles and two members with a spoke
// role trusted by the hub's function roles with an external id.
func testTopology() *Topology {
	spoke := Role{Name: "jenkins-agent-vpcs-spoke", Trust: Trust{
		Principals: []string{"arn:aws:iam::" + hub + ":role/jenkins-agent-vpcs-onboard"},
		ExternalID: "jenkins-agent-vpcs", OrganizationID: orgID,
	}, Policies: []RolePolicy{{Name: "ec2", Document: PolicyDocument(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}`)}}}
	return &Topology{
		Region:       region,
		Organization: &Organization{ID: orgID},
		Accounts: []Account{
			{ID: hub, Roles: []Role{
				{Name: "jenkins-agent-vpcs-onboard", Trust: Trust{Principals: []string{"lambda.amazonaws.com", hub}}, MaxSessionDuration: 7200,
					Policies: []RolePolicy{{Name: "hub", Document: PolicyDocument(`{"Version":"2012-10-17","Statement":[
						{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::*:role/jenkins-agent-vpcs-spoke"},
						{"Effect":"Allow","Action":["ec2:*","ssm:*","events:*"],"Resource":"*"}]}`)}}},
				{Name: "open", Trust: Trust{Principals: []string{"*"}}},
			}, EventBuses: []EventBus{{Name: "jenkins-agent-vpcs"}}},
			{ID: member, Roles: []Role{spoke}, VPCs: []VPC{{CIDR: "10.1.0.0/16", Tags: map[string]string{"jenkins-agents": "true"},
				Subnets: []Subnet{{AZ: region + "a"}, {AZ: region + "b"}}}}},
			{ID: member2, Roles: []Role{spoke, {Name: "org-only", Trust: Trust{Principals: []string{"*"}, OrganizationID: orgID}}}},
		},
	}
}

// startServer starts a server on a loopback port for the test.
func startServer(t testing.TB, opts Options) (*Server, string) {
	t.Helper()
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatalf("creating server: %v", err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("starting server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing server: %v", err)
		}
	})
	return srv, url
}

// decodeBody decodes a JSON response body into v and closes it.
func decodeBody(t testing.TB, resp *http.Response, v any) {
	t.Helper()
	err := json.NewDecoder(resp.Body).Decode(v)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("reading the answer of %s: %v", resp.Request.URL.Path, err)
	}
}

// later lets the server's clock pass EC2's consistency window, as between
// one step of a person and the next, so that the next read sees what was
// written. The clock keeps running (or stays stopped) as it was.
func later(srv *Server) { srv.Clock().Skip(srv.ConsistencyWindow()) }

// awsConfig is an SDK config for an access key at the server, without
// retries so error paths show on the first call.
func awsConfig(url, accessKey, secret, token string) aws.Config {
	return aws.Config{
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(accessKey, secret, token),
		BaseEndpoint:     aws.String(url),
		RetryMaxAttempts: 1,
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// wantCode fails unless err is an API error with the code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want API error %s, got %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want error code %s, got %s (%s)", code, ae.ErrorCode(), ae.ErrorMessage())
	}
}
