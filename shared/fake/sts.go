package fake

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// STS is STS as one caller: an account and a principal in it.
type STS struct{ view }

// STS returns STS as callerPrincipal of callerAccount ("" means the account root).
func (w *World) STS(callerAccount, callerPrincipal string) *STS {
	return &STS{w.view(callerAccount, callerPrincipal)}
}

// Trust is a role's trust policy, reduced to what the product relies on.
type Trust struct {
	// Principals allowed to assume the role: account roots (any principal of
	// the account), role ARNs (any session of the role), user ARNs, or "*".
	Principals []string
	// ExternalID, when set, must be passed as ExternalId.
	ExternalID string
	// MaxSession is the role's maximum session duration; 0 means one hour.
	MaxSession time.Duration
}

type role struct {
	name, id string
	trust    Trust
}

// AddRole creates an IAM role in acct and returns its ARN.
func (w *World) AddRole(acct, name string, trust Trust) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	trust.Principals = append([]string(nil), trust.Principals...)
	w.account(acct).roles[name] = &role{name: name, id: "AROA" + w.alnum(17, upperAlnum), trust: trust}
	return RoleARN(acct, name)
}

// AccessKey mints long-term-style credentials' access key id for principal of
// acct, so test wiring can give a function static credentials that
// AccountOfKey maps back to it.
func (w *World) AccessKey(acct, principal string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if principal == "" {
		principal = RootARN(acct)
	}
	id := "AKIAFAKE" + acct + w.alnum(8, upperAlnum)
	w.keys[id] = keyOwner{account: acct, principal: principal}
	return id
}

// AccountOfKey tells which account and principal an access key id (from
// AssumeRole or AccessKey) belongs to.
func (w *World) AccountOfKey(accessKeyID string) (acct, principal string, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if k, found := w.keys[accessKeyID]; found {
		return k.account, k.principal, true
	}
	return "", "", false
}

var sessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func (s *STS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	return call(s.view, ctx, "sts", "AssumeRole", func(_ *account) (*sts.AssumeRoleOutput, error) {
		w := s.w
		arn, session := aws.ToString(in.RoleArn), aws.ToString(in.RoleSessionName)
		if !sessionName.MatchString(session) {
			return nil, apiError("ValidationError", "1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", session)
		}
		acct, name, ok := roleOf(arn)
		if !ok || !strings.HasPrefix(arn, "arn:aws:iam::") {
			return nil, apiError("ValidationError", "%s is invalid", arn)
		}
		denied := apiError("AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", s.principal, arn)
		var r *role
		if a, found := w.accounts[acct]; found {
			r = a.roles[name]
		}
		if r == nil {
			return nil, denied
		}
		trusted := false
		for _, p := range r.trust.Principals {
			trusted = trusted || allows(p, s.principal)
		}
		if !trusted || (r.trust.ExternalID != "" && r.trust.ExternalID != aws.ToString(in.ExternalId)) {
			return nil, denied
		}
		limit := r.trust.MaxSession
		if limit == 0 {
			limit = time.Hour
		}
		chained := strings.Contains(s.principal, ":assumed-role/")
		if chained {
			limit = time.Hour
		}
		d := time.Hour
		if in.DurationSeconds != nil {
			d = time.Duration(*in.DurationSeconds) * time.Second
		}
		switch {
		case d < 15*time.Minute:
			return nil, apiError("ValidationError", "1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", int(d.Seconds()))
		case d > limit && chained:
			return nil, apiError("ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
		case d > limit:
			return nil, apiError("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
		}
		assumed := fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", acct, name, session)
		key := "ASIAFAKE" + acct + w.alnum(8, upperAlnum)
		w.keys[key] = keyOwner{account: acct, principal: assumed}
		return &sts.AssumeRoleOutput{
			AssumedRoleUser: &types.AssumedRoleUser{Arn: aws.String(assumed), AssumedRoleId: aws.String(r.id + ":" + session)},
			Credentials: &types.Credentials{
				AccessKeyId: aws.String(key), SecretAccessKey: aws.String(w.alnum(40, lowerAlnum+upperAlnum)),
				SessionToken: aws.String("FwoGZXIvYXdzEFAKE" + w.alnum(64, lowerAlnum+upperAlnum)), Expiration: aws.Time(w.clock.Now().Add(d)),
			},
		}, nil
	})
}

func (s *STS) GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return call(s.view, ctx, "sts", "GetCallerIdentity", func(a *account) (*sts.GetCallerIdentityOutput, error) {
		userID := a.id
		if acct, name, ok := roleOf(s.principal); ok && strings.Contains(s.principal, ":assumed-role/") {
			if ra := s.w.accounts[acct]; ra != nil && ra.roles[name] != nil {
				userID = ra.roles[name].id + ":" + s.principal[strings.LastIndex(s.principal, "/")+1:]
			}
		} else if !strings.HasSuffix(s.principal, ":root") {
			userID = "AIDAFAKE" + a.id
		}
		return &sts.GetCallerIdentityOutput{Account: aws.String(a.id), Arn: aws.String(s.principal), UserId: aws.String(userID)}, nil
	})
}
