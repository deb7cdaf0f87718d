package stssim

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
	iampolicy "github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/iam"
)

// Service holds roles, the organization and the sessions AssumeRole issued.
type Service struct {
	clock awsproto.Clock

	mu       sync.RWMutex
	roles    map[string]*role // "<acct>/<name>"
	sessions map[string]*session
	org      struct {
		ID       string
		Accounts []string // empty: every account seeded
	}
	accounts map[string]bool // accounts named by the topologies
	// resourcePolicies are resource-based policies by resource ARN.
	resourcePolicies map[string]*iampolicy.Policy
}

// Role is an IAM role that AssumeRole can issue credentials for.
type Role struct {
	Name  string
	Trust Trust
	// MaxSessionDuration in seconds (3600 when zero, at most 43200).
	MaxSessionDuration int
}

// Trust is a role's trust policy, reduced to what the product uses: the
// principals allowed (an account root or 12-digit id trusts every
// principal of that account, a role ARN the sessions of that role, "*"
// anyone), an ExternalID that must be passed as sts:ExternalId, and an
// OrganizationID the caller's account must belong to (aws:PrincipalOrgID).
type Trust struct {
	Principals     []string
	ExternalID     string
	OrganizationID string
}

// Policy is one inline identity policy of a role: its name and JSON document.
type Policy struct {
	Name     string
	Document []byte
}

type role struct {
	account string
	Role
	id       string // AROA...
	policies []*iampolicy.Policy
}

type session struct {
	account, principal, userID string
	secret, token              string
	expires                    time.Time
}

// Identity is an authenticated caller.
type Identity struct {
	Account   string // 12 digits
	Principal string // arn:aws:iam::<acct>:root or arn:aws:sts::<acct>:assumed-role/<role>/<session>
	UserID    string // the account id, or <role id>:<session>
	// AssumedRole is true for role sessions (their calls are authorized
	// against the role's policies) and false for account roots.
	AssumedRole bool
}

// New returns a service without roles that reads the time from c.
func New(c awsproto.Clock) *Service {
	return &Service{clock: c, roles: map[string]*role{}, sessions: map[string]*session{}, accounts: map[string]bool{}}
}

// SetOrganization names the organization aws:PrincipalOrgID conditions
// check against and adds members to it; no members means every account
// seeded with AddAccount.
func (m *Service) SetOrganization(id string, members []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.org.ID = id
	m.org.Accounts = append(m.org.Accounts, members...)
}

// AddAccount records an account a topology names (for organizations
// without a member list).
func (m *Service) AddAccount(account string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.accounts[account] = true
}

// AddRole creates or replaces a role of account with its inline policies.
func (m *Service) AddRole(account string, r Role, policies []Policy) error {
	nr := &role{account: account, Role: r, id: "AROA" + stableID(account+"/"+r.Name, 17)}
	for _, p := range policies {
		if err := nr.putPolicy(p.Name, p.Document); err != nil {
			return fmt.Errorf("seeding role %s in %s, %w", r.Name, account, err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roles[account+"/"+r.Name] = nr
	return nil
}

// putPolicy adds or replaces an inline policy (PutRolePolicy).
func (r *role) putPolicy(name string, doc []byte) error {
	p, err := iampolicy.ParsePolicy("role/"+r.Name+"/"+name, doc)
	if err != nil {
		return err
	}
	for i, old := range r.policies {
		if old.Name == p.Name {
			r.policies[i] = p
			return nil
		}
	}
	r.policies = append(r.policies, p)
	return nil
}

// stableID derives an upper-case alphanumeric id of n characters from s.
func stableID(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	id := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:])
	return id[:n]
}

func randomID(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return string(b)
}

func (m *Service) inOrg(account, orgID string) bool {
	if m.org.ID == "" || m.org.ID != orgID {
		return false
	}
	if len(m.org.Accounts) == 0 {
		return m.accounts[account]
	}
	return slices.Contains(m.org.Accounts, account)
}

// Identify maps an access key (and the session token sent with it) to its
// account and principal: a 12-digit access key id is that account's root.
func (m *Service) Identify(accessKey, token string) (Identity, *awsproto.Error) {
	if IsAccountID(accessKey) {
		return Identity{Account: accessKey, Principal: "arn:aws:iam::" + accessKey + ":root", UserID: accessKey}, nil
	}
	invalid := &awsproto.Error{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid.", Status: 403}
	m.mu.RLock()
	sess := m.sessions[accessKey]
	m.mu.RUnlock()
	if sess == nil || token != sess.token {
		return Identity{}, invalid
	}
	if !m.clock.Now().Before(sess.expires) {
		return Identity{}, &awsproto.Error{Code: "ExpiredToken", Message: "The security token included in the request is expired", Status: 403}
	}
	return Identity{Account: sess.account, Principal: sess.principal, UserID: sess.userID, AssumedRole: true}, nil
}

// Credentials are temporary credentials issued for a role session.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	AssumedRoleARN  string // arn:aws:sts::<acct>:assumed-role/<role>/<session>
	AssumedRoleID   string // AROA...:<session>
}

var sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// Assume issues credentials for roleARN to the caller after checking the
// trust policy; trusted skips the trust check (a service assuming a role).
func (m *Service) Assume(caller Identity, roleARN, sessionName, externalID string, duration int, trusted bool) (Credentials, *awsproto.Error) {
	if !sessionNameRE.MatchString(sessionName) {
		return Credentials{}, awsproto.Errorf("ValidationError", "1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", sessionName)
	}
	if len(roleARN) < 20 {
		return Credentials{}, awsproto.Errorf("ValidationError", "1 validation error detected: Value '%s' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20", roleARN)
	}
	account, name, ok := ParseRoleARN(roleARN)
	if !ok {
		return Credentials{}, awsproto.Errorf("ValidationError", "%s is invalid", roleARN)
	}
	if duration == 0 {
		duration = 3600
	}
	if duration < 900 {
		return Credentials{}, awsproto.Errorf("ValidationError", "1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", duration)
	}
	if duration > 43200 {
		return Credentials{}, awsproto.Errorf("ValidationError", "1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200", duration)
	}
	denied := &awsproto.Error{Code: "AccessDenied", Status: 403,
		Message: fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", caller.Principal, roleARN)}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.roles[account+"/"+name]
	if r == nil {
		return Credentials{}, denied
	}
	if !trusted && !m.trusts(r, caller, externalID) {
		return Credentials{}, denied
	}
	maxDuration := r.MaxSessionDuration
	if maxDuration == 0 {
		maxDuration = 3600
	}
	if caller.AssumedRole && duration > 3600 {
		return Credentials{}, awsproto.Errorf("ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assuming other roles.")
	}
	if duration > maxDuration {
		return Credentials{}, awsproto.Errorf("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	c := Credentials{
		AccessKeyID:     "ASIA" + randomID(16),
		SecretAccessKey: base64.StdEncoding.EncodeToString([]byte(randomID(30)))[:40],
		Expiration:      m.clock.Now().Add(time.Duration(duration) * time.Second).Truncate(time.Second),
		AssumedRoleARN:  "arn:aws:sts::" + account + ":assumed-role/" + name + "/" + sessionName,
		AssumedRoleID:   r.id + ":" + sessionName,
	}
	c.SessionToken = "FwoGZXIvYXdzE" + base64.StdEncoding.EncodeToString([]byte(c.AccessKeyID+"/"+randomID(60)))
	m.sessions[c.AccessKeyID] = &session{account: account, principal: c.AssumedRoleARN, userID: c.AssumedRoleID,
		secret: c.SecretAccessKey, token: c.SessionToken, expires: c.Expiration}
	return c, nil
}

func (m *Service) trusts(r *role, caller Identity, externalID string) bool {
	callerRole := awsproto.RoleARNOf(caller.Principal)
	ok := false
	for _, p := range r.Trust.Principals {
		switch p {
		case "*", caller.Account, "arn:aws:iam::" + caller.Account + ":root", callerRole, caller.Principal:
			ok = true
		}
	}
	if !ok {
		return false
	}
	if r.Trust.ExternalID != "" && r.Trust.ExternalID != externalID {
		return false
	}
	if r.Trust.OrganizationID != "" && !m.inOrg(caller.Account, r.Trust.OrganizationID) {
		return false
	}
	return true
}

// ParseRoleARN splits arn:aws:iam::<acct>:role/[path/]<name>.
func ParseRoleARN(arn string) (account, name string, ok bool) {
	rest, found := strings.CutPrefix(arn, "arn:aws:iam::")
	if !found || len(rest) < 13 || !IsAccountID(rest[:12]) {
		return "", "", false
	}
	path, found := strings.CutPrefix(rest[12:], ":role/")
	if !found || path == "" {
		return "", "", false
	}
	// Role paths (role/service-role/x) name the role by their last segment.
	return rest[:12], path[strings.LastIndex(path, "/")+1:], true
}

const stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"

// Handle serves one STS call (query protocol) by caller and returns the
// XML response.
func (m *Service) Handle(call *awsproto.Call, caller Identity) ([]byte, error) {
	var b bytes.Buffer
	open := func(action string) {
		b.WriteString("<" + action + `Response xmlns="` + stsNS + `"><` + action + "Result>")
	}
	closeResp := func(action string) {
		b.WriteString("</" + action + "Result><ResponseMetadata><RequestId>" + call.RequestID + "</RequestId></ResponseMetadata></" + action + "Response>")
	}
	switch call.Action {
	case "GetCallerIdentity":
		open(call.Action)
		writeElems(&b, "Arn", caller.Principal, "UserId", caller.UserID, "Account", caller.Account)
		closeResp(call.Action)
	case "AssumeRole":
		f := call.Form
		duration := 0
		if d := f.Get("DurationSeconds"); d != "" {
			n, err := strconv.Atoi(d)
			if err != nil {
				return nil, awsproto.Errorf("ValidationError", "DurationSeconds %q is not a number", d)
			}
			duration = n
		}
		if f.Get("RoleArn") == "" || f.Get("RoleSessionName") == "" {
			return nil, awsproto.Errorf("MissingParameter", "The request must contain the parameter RoleArn and RoleSessionName")
		}
		c, err := m.Assume(caller, f.Get("RoleArn"), f.Get("RoleSessionName"), f.Get("ExternalId"), duration, false)
		if err != nil {
			return nil, err
		}
		open(call.Action)
		b.WriteString("<Credentials>")
		writeElems(&b, "AccessKeyId", c.AccessKeyID, "SecretAccessKey", c.SecretAccessKey, "SessionToken", c.SessionToken,
			"Expiration", c.Expiration.UTC().Format(time.RFC3339))
		b.WriteString("</Credentials><AssumedRoleUser>")
		writeElems(&b, "AssumedRoleId", c.AssumedRoleID, "Arn", c.AssumedRoleARN)
		b.WriteString("</AssumedRoleUser><PackedPolicySize>0</PackedPolicySize>")
		closeResp(call.Action)
	default:
		return nil, awsproto.Errorf("InvalidAction", "Could not find operation %s for version 2011-06-15", call.Action)
	}
	return b.Bytes(), nil
}

// writeElems writes <k>v</k> pairs, escaping values.
func writeElems(b *bytes.Buffer, kv ...string) {
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString("<" + kv[i] + ">")
		awsproto.WriteXMLText(b, kv[i+1])
		b.WriteString("</" + kv[i] + ">")
	}
}

// IsAccountID reports whether s is a 12-digit AWS account id.
func IsAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
