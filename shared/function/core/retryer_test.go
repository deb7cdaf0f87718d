package core

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// TestRetryerWaitsOutThrottlingAndGivesUpOnOtherErrors drives a real SSM
// client against a server that answers a number of errors before it
// succeeds: throttling is retried past the six attempts other errors get
// (a rollout must wait for the hub's quotas, not fail), and an error that
// is not throttling still stops after six attempts.
func TestRetryerWaitsOutThrottlingAndGivesUpOnOtherErrors(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		code     string
		failures int32
		wantOK   bool
		wantSeen int32
	}{
		{"throttling beyond six attempts is waited out", 400, "ThrottlingException", 7, true, 8},
		{"a server error stops after six attempts", 500, "InternalServerError", 9, false, OtherAttempts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var seen atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				if seen.Add(1) <= tc.failures {
					w.WriteHeader(tc.status)
					_, _ = w.Write([]byte(`{"__type":"` + tc.code + `","message":"Rate exceeded"}`))
					return
				}
				_, _ = w.Write([]byte(`{"Version":1,"Tier":"Standard"}`))
			}))
			defer srv.Close()
			noWait := retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			client := ssm.NewFromConfig(aws.Config{
				Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
				Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
				Retryer:     func() aws.Retryer { return retryer(func(o *retry.StandardOptions) { o.Backoff = noWait }) },
			})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/p"), Value: aws.String("v"), Type: "String"})
			if (err == nil) != tc.wantOK {
				t.Fatalf("PutParameter after %d answers of %s: err = %v, want success %v", tc.failures, tc.code, err, tc.wantOK)
			}
			if got := seen.Load(); got != tc.wantSeen {
				t.Errorf("the server saw %d attempts, want %d", got, tc.wantSeen)
			}
		})
	}
}
