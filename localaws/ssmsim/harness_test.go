package ssmsim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

const (
	hub    = "111111111111"
	member = "222222222222"
	region = "eu-west-1"
)

var credentialPattern = regexp.MustCompile(`Credential=([^/]+)/[0-9]+/([^/]+)/`)

// startServer puts a new Service behind a minimal front door: an HTTP
// server that takes the account from the SigV4 access key id, the
// operation from X-Amz-Target, and writes JSON 1.1 errors as the local
// AWS does.
func startServer(t testing.TB) string {
	t.Helper()
	svc := New(awsproto.NewStoppedClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)))
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		m := credentialPattern.FindStringSubmatch(r.Header.Get("Authorization"))
		if m == nil {
			http.Error(rw, "no SigV4 credential", http.StatusForbidden)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		_, action, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
		call := &awsproto.Call{Account: m[1], Principal: "arn:aws:iam::" + m[1] + ":root", Region: m[2],
			Action: action, Body: body, RequestID: "req-1"}
		rw.Header().Set("Content-Type", "application/x-amz-json-1.1")
		out, err := svc.Handle(call)
		if err != nil {
			var ae *awsproto.Error
			if !errors.As(err, &ae) {
				ae = &awsproto.Error{Code: "InternalError", Message: err.Error(), Status: 500}
			}
			status := ae.Status
			if status == 0 {
				status = 400
			}
			rw.Header().Set("X-Amzn-Errortype", ae.Code)
			rw.WriteHeader(status)
			out, _ = json.Marshal(map[string]string{"__type": ae.Code, "message": ae.Message})
		}
		if _, err := rw.Write(out); err != nil {
			t.Errorf("answering %s: %v", action, err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// awsConfig is an SDK config for an access key (the account) at the
// server, without retries so error paths show on the first call.
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
