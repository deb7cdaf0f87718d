package spoke

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/arn"
)

// STS is the part of the STS API the role needs.
type STS interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// Role hands out clients of type C that act as the spoke role in a member
// account. It is safe for concurrent use.
type Role[C any] struct {
	sts        STS
	base       aws.Config
	name       string
	externalID string
	session    string
	newClient  func(aws.Config) C

	mu    sync.Mutex
	cache map[string]C
	// creds are the role's credentials per account, shared by the clients
	// of every Region: IAM is global, so one AssumeRole serves them all.
	creds map[string]*aws.CredentialsCache
}

// New builds a Role. base is the function's own configuration (its
// retryer and endpoint are kept); newClient builds a client from a
// configuration whose credentials are the assumed role's
// (ec2.NewFromConfig in production).
func New[C any](base aws.Config, stsClient STS, roleName, externalID, sessionName string, newClient func(aws.Config) C) *Role[C] {
	return &Role[C]{sts: stsClient, base: base, name: roleName, externalID: externalID,
		session: sessionName, newClient: newClient, cache: map[string]C{}, creds: map[string]*aws.CredentialsCache{}}
}

// AccessError says the spoke role of an account cannot be assumed: the
// member template is missing there, or its trust does not name us.
type AccessError struct {
	Account string
	Err     error
}

func (e *AccessError) Error() string {
	return fmt.Sprintf("assuming the spoke role in account %s, %v", e.Account, e.Err)
}
func (e *AccessError) Unwrap() error { return e.Err }

// ARN is the spoke role's ARN in account.
func (r *Role[C]) ARN(account, region string) string {
	return arn.Role(region, account, r.name)
}

// For returns the client for account in region, assuming the role the
// first time and checking that the credentials really are that account's.
func (r *Role[C]) For(ctx context.Context, account, region string) (C, error) {
	key := account + "/" + region
	r.mu.Lock()
	c, ok := r.cache[key]
	r.mu.Unlock()
	if ok {
		return c, nil
	}
	var zero C
	cfg := r.base.Copy()
	cfg.Region = region
	cfg.Credentials = r.credentials(account, region)
	// Fetch now: a missing role is better reported here, once, than as
	// the first EC2 call's failure.
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return zero, &AccessError{Account: account, Err: err}
	}
	c = r.newClient(cfg)
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.cache[key]; ok {
		return prev, nil
	}
	r.cache[key] = c
	return c, nil
}

// credentials returns the account's credentials cache, made the first time
// with the Region of that first use (for the ARN's partition, the same in
// every Region the product serves).
func (r *Role[C]) credentials(account, region string) *aws.CredentialsCache {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.creds[account]; ok {
		return c
	}
	c := aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) {
		return r.assume(ctx, account, region)
	}), func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 5 * time.Minute })
	r.creds[account] = c
	return c
}

func (r *Role[C]) assume(ctx context.Context, account, region string) (aws.Credentials, error) {
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(r.ARN(account, region)),
		RoleSessionName: aws.String(r.session),
		DurationSeconds: aws.Int32(3600),
	}
	if r.externalID != "" {
		in.ExternalId = aws.String(r.externalID)
	}
	out, err := r.sts.AssumeRole(ctx, in)
	if err != nil {
		return aws.Credentials{}, err
	}
	if out.Credentials == nil || out.AssumedRoleUser == nil {
		return aws.Credentials{}, errors.New("AssumeRole returned no credentials")
	}
	// arn:aws:sts::<account>:assumed-role/<role>/<session>
	if arn.AccountOf(aws.ToString(out.AssumedRoleUser.Arn)) != account {
		return aws.Credentials{}, fmt.Errorf("AssumeRole returned %s, not a role of account %s",
			aws.ToString(out.AssumedRoleUser.Arn), account)
	}
	creds := aws.Credentials{
		AccessKeyID:     aws.ToString(out.Credentials.AccessKeyId),
		SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
		SessionToken:    aws.ToString(out.Credentials.SessionToken),
		Source:          "spoke-role",
		AccountID:       account,
	}
	if out.Credentials.Expiration != nil {
		creds.CanExpire, creds.Expires = true, *out.Credentials.Expiration
	}
	return creds, nil
}
