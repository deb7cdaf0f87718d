package core

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// FromEnvironment is the AWS configuration Lambda gives a function in its
// environment: the execution role's session credentials
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) and
// AWS_REGION, with the functions' retry policy.
//
// It reads only the environment, not config.LoadDefaultConfig's chain:
// Lambda's OS-only runtime (provided.al2023) gives a function its
// credentials there and nowhere else (SnapStart's container credentials
// are for Java, Python and .NET managed runtimes), so the chain's shared
// files, SSO, SSO-OIDC, web identity, process, container and IMDS
// providers would only add a megabyte to every bootstrap.
//
// Endpoints keep the SDK's documented semantics: AWS_ENDPOINT_URL for every
// client (the local stack points the functions at the local AWS with it),
// AWS_ENDPOINT_URL_<SERVICE> for one service (the service's SDK id in
// capitals, spaces as underscores: AWS_ENDPOINT_URL_EC2,
// AWS_ENDPOINT_URL_SSM), and AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true to
// ignore both. The per-service variables are resolved by the clients
// themselves through aws.Config.ConfigSources, so this reads the process
// environment, as the clients do.
func FromEnvironment() (aws.Config, error) {
	env := environment{}
	cfg := aws.Config{
		Region:        env.first("AWS_REGION", "AWS_DEFAULT_REGION"),
		Retryer:       Retryer,
		ConfigSources: []any{env},
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("loading AWS configuration, AWS_REGION is not set")
	}
	key, secret := env.first("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"), env.first("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY")
	switch {
	case key == "":
		return aws.Config{}, fmt.Errorf("loading AWS configuration, AWS_ACCESS_KEY_ID is not set")
	case secret == "":
		return aws.Config{}, fmt.Errorf("loading AWS configuration, AWS_SECRET_ACCESS_KEY is not set")
	}
	cfg.Credentials = credentials.NewStaticCredentialsProvider(key, secret, os.Getenv("AWS_SESSION_TOKEN"))
	ignore, _, err := env.GetIgnoreConfiguredEndpoints(context.Background())
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration, %w", err)
	}
	if url := os.Getenv("AWS_ENDPOINT_URL"); url != "" && !ignore {
		cfg.BaseEndpoint = aws.String(url)
	}
	return cfg, nil
}

// environment answers the clients' questions about configured endpoints
// (the SDK's internal configsources interfaces, which the clients look
// for in aws.Config.ConfigSources) from the process environment, as the
// SDK's config.EnvConfig does.
type environment struct{}

func (environment) first(keys ...string) string {
	for _, k := range keys {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}

// GetServiceBaseEndpoint is AWS_ENDPOINT_URL_<SERVICE> for the client whose
// SDK id is sdkID ("EC2", "SSM", "EventBridge", "STS", "Organizations").
func (environment) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	url := os.Getenv("AWS_ENDPOINT_URL_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_"))
	return url, url != "", nil
}

// GetIgnoreConfiguredEndpoints is AWS_IGNORE_CONFIGURED_ENDPOINT_URLS:
// true or false in any case, anything else an error.
func (environment) GetIgnoreConfiguredEndpoints(context.Context) (value, found bool, err error) {
	v := os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
	switch {
	case v == "":
		return false, false, nil
	case strings.EqualFold(v, "true"):
		return true, true, nil
	case strings.EqualFold(v, "false"):
		return false, true, nil
	}
	return false, false, fmt.Errorf("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is %q, want true or false", v)
}

// Retryer is the functions' retry policy: adaptive mode (the SDK slows
// its own sending rate when AWS throttles it), six attempts for an error
// that may pass, and patience for throttling: a throttled call is retried
// with the SDK's backoff (at most 20 s apart) until the invocation's
// context ends, not failed after six attempts. In a rollout of many VPCs
// the hub's quotas (PutParameter, accept/reject) are shared by every
// onboard invocation; failing on throttling would turn a busy minute into
// failed batches and dead letters. Throttled retries spend nothing from the
// retry quota (the SDK's token bucket for retries): that bucket exists to
// stop retry storms against a failing service, and a throttling answer is
// a service that is up and asks the caller to slow down, which the
// adaptive rate does.
func Retryer() aws.Retryer { return retryer() }

func retryer(opts ...func(*retry.StandardOptions)) aws.Retryer {
	return Patient(retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, PatientOptions)
		o.StandardOptions = append(o.StandardOptions, opts...)
	}))
}

// Attempts of the retry policy: errors that may pass get OtherAttempts;
// throttling gets ThrottledAttempts, which at the 20 s backoff ceiling
// outlasts the onboard function's 300 s timeout.
const (
	OtherAttempts     = 6
	ThrottledAttempts = 30
)

// PatientOptions are the standard retry options of the policy:
// ThrottledAttempts attempts, throttled retries free of the retry quota.
func PatientOptions(o *retry.StandardOptions) {
	o.MaxAttempts = ThrottledAttempts
	o.ThrottlingRetryCost = 0
}

// Patient makes r stop retrying an error that is not throttling after
// OtherAttempts attempts (r allows ThrottledAttempts): the retry
// middleware asks RetryDelay before each retry and stops with the error it
// returns.
func Patient(r aws.RetryerV2) aws.RetryerV2 { return patientRetryer{r} }

type patientRetryer struct{ aws.RetryerV2 }

func (p patientRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	if attempt >= OtherAttempts && retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
		return 0, &retry.MaxAttemptsError{Attempt: attempt, Err: err}
	}
	return p.RetryerV2.RetryDelay(attempt, err)
}
