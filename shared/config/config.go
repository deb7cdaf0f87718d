package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/arn"
)

// PrincipalMode says which principal the endpoint service allows for a
// spoke account.
type PrincipalMode string

const (
	// PrincipalRole allows only the spoke automation role: the narrowest
	// principal that works, and the default.
	PrincipalRole PrincipalMode = "role"
	// PrincipalAccount allows the spoke account's root.
	PrincipalAccount PrincipalMode = "account"
	// PrincipalAny allows "*"; acceptance is then the only gate.
	PrincipalAny PrincipalMode = "any"
)

// ApprovalMode says what happens to a pending connection the product can
// tie to a tagged VPC of an allowed account.
type ApprovalMode string

const (
	// ApprovalAuto accepts it.
	ApprovalAuto ApprovalMode = "auto"
	// ApprovalManual leaves it pending and emits an "approval needed" event.
	ApprovalManual ApprovalMode = "manual"
)

// Config is everything the functions read from their environment.
type Config struct {
	TagKey       string // the opt-in tag on a VPC
	TagValue     string // compared case-insensitively
	SubnetTagKey string // opt-in tag restricting the endpoint's subnets

	EndpointServiceID string // vpce-svc-... in the hub account
	SpokeRoleName     string
	SpokeExternalID   string

	TunnelPort int // the inbound-agent (JNLP) port the service forwards
	HTTPPort   int // the Jenkins HTTP port the service forwards; 0 when it does not

	ParameterPrefix string // SSM path prefix, e.g. /jenkins-agent-vpcs
	PrincipalMode   PrincipalMode
	ApprovalMode    ApprovalMode
	AllowedAccounts []string // empty: any account
	DeniedAccounts  []string
	EventBusName    string
	LogLevel        string
	// AgentRegions are the Regions whose agent VPCs the product serves
	// besides the hub's own (always served): the endpoint service lists
	// them in its SupportedRegions, and an endpoint there names the hub's
	// Region as its ServiceRegion (cross-Region PrivateLink).
	AgentRegions []string
	// ReadDelay is how long onboard waits, after a tag event starts it,
	// before reading the tag it decides from: EC2's reads lag its writes.
	ReadDelay time.Duration

	// Reconcile only.
	DryRun              bool
	GracePeriod         time.Duration
	Concurrency         int
	FanoutThreshold     int
	FanoutBatchSize     int
	OrganizationRoleARN string
	// Parameter Store rates the reconciler paces itself to: reads share
	// about 40 TPS per account and Region (10,000 with "higher
	// throughput"), PutParameter manages about 3 per second.
	SSMReadRate  float64
	SSMWriteRate float64
	// ParameterReads is how a scheduled sweep reads the published
	// parameters: "prefix" (page the whole prefix once, one invocation) or
	// "account" (each account's path, fanned out above FanoutThreshold).
	ParameterReads string

	// Onboarding at organization scale (the onboard queue).
	//
	// OnboardConcurrency is the onboard queue's event source mapping's
	// maximum concurrency: the onboard invocations that may run at once,
	// among which the hub's write rates are shared.
	OnboardConcurrency int
	// ConnectionRate is the hub's accept/reject rate (EC2 refills that
	// bucket at 1 call per second).
	ConnectionRate float64
	// ParameterTier is the tier of the published parameters: Standard
	// (free, 10,000 per account and Region), Intelligent-Tiering (Standard
	// until that quota is used up, then Advanced) or Advanced.
	ParameterTier string
	// OnboardQueueURL is the onboard queue, to which onboard sends its own
	// follow-up of a VPC whose endpoint is not available yet; empty: none.
	OnboardQueueURL string
	// FollowUpDelay is how long after a not-yet-available outcome the
	// follow-up comes (SQS delays a message by at most 15 minutes);
	// FollowUps bounds the follow-ups of one VPC, after which the
	// scheduled sweep takes over.
	FollowUpDelay time.Duration
	FollowUps     int
}

// ParameterTiers are Parameter Store's tiers (ssm types.ParameterTier).
var ParameterTiers = []string{"Standard", "Intelligent-Tiering", "Advanced"}

var (
	serviceIDRE = regexp.MustCompile(`^vpce-svc-[0-9a-f]{8,17}$`)
	roleNameRE  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	paramPathRE = regexp.MustCompile(`^(/[a-zA-Z0-9_.-]+)+$`)
	// regionRE is a Region name: us-east-1, eusc-de-east-1 (the SDK's
	// partition table).
	regionRE = regexp.MustCompile(`^([a-z]{2}|eusc)(-[a-z]+)+-[0-9]+$`)
)

// Load reads the configuration through getenv (os.Getenv in production).
// All problems are reported together, each naming its variable.
func Load(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	c := Config{
		TagKey:            r.str("TAG_KEY", "jenkins-agents"),
		TagValue:          r.str("TAG_VALUE", "true"),
		SubnetTagKey:      r.str("SUBNET_TAG_KEY", "jenkins-agents-subnet"),
		EndpointServiceID: r.required("ENDPOINT_SERVICE_ID"),
		SpokeRoleName:     r.str("SPOKE_ROLE_NAME", "jenkins-agent-vpcs-spoke"),
		SpokeExternalID:   r.str("SPOKE_EXTERNAL_ID", ""),
		TunnelPort:        r.port("TUNNEL_PORT", 50000, false),
		HTTPPort:          r.port("HTTP_PORT", 0, true),
		ParameterPrefix:   strings.TrimSuffix(r.str("PARAMETER_PREFIX", "/jenkins-agent-vpcs"), "/"),
		PrincipalMode:     PrincipalMode(r.oneOf("PRINCIPAL_MODE", "role", "role", "account", "any")),
		ApprovalMode:      ApprovalMode(r.oneOf("APPROVAL_MODE", "auto", "auto", "manual")),
		AllowedAccounts:   r.accounts("ALLOWED_ACCOUNTS"),
		DeniedAccounts:    r.accounts("DENIED_ACCOUNTS"),
		EventBusName:      r.required("EVENT_BUS_NAME"),
		AgentRegions:      r.regions("AGENT_REGIONS"),
		LogLevel:          r.oneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error"),
		ReadDelay:         r.duration("TAG_READ_DELAY", 2*time.Second),

		DryRun:              r.boolean("DRY_RUN", false),
		GracePeriod:         r.duration("GRACE_PERIOD", 10*time.Minute),
		Concurrency:         r.positive("CONCURRENCY", 16),
		FanoutThreshold:     r.positive("FANOUT_THRESHOLD", 50),
		FanoutBatchSize:     r.positive("FANOUT_BATCH_SIZE", 25),
		OrganizationRoleARN: r.str("ORGANIZATION_ROLE_ARN", ""),
		SSMReadRate:         r.rate("SSM_READ_RATE", 35),
		SSMWriteRate:        r.rate("SSM_WRITE_RATE", 3),
		ParameterReads:      r.oneOf("PARAMETER_READS", "prefix", "prefix", "account"),

		OnboardConcurrency: r.positive("ONBOARD_CONCURRENCY", 5),
		ConnectionRate:     r.rate("CONNECTION_RATE", 1),
		ParameterTier:      r.str("PARAMETER_TIER", "Standard"),
		OnboardQueueURL:    r.str("ONBOARD_QUEUE_URL", ""),
		FollowUpDelay:      r.duration("FOLLOW_UP_DELAY", time.Minute),
		FollowUps:          r.positive("FOLLOW_UP_LIMIT", 15),
	}
	r.check("PARAMETER_TIER", slices.Contains(ParameterTiers, c.ParameterTier),
		fmt.Sprintf("is %q, want one of %s", c.ParameterTier, strings.Join(ParameterTiers, ", ")))
	r.check("FOLLOW_UP_DELAY", c.FollowUpDelay <= 15*time.Minute, "must be at most 15m (SQS's longest message delay)")
	r.check("ONBOARD_QUEUE_URL", c.OnboardQueueURL == "" || strings.HasPrefix(c.OnboardQueueURL, "https://") || strings.HasPrefix(c.OnboardQueueURL, "http://"),
		"must be an SQS queue URL")
	r.check("TAG_KEY", c.TagKey != "" && len(c.TagKey) <= 128, "must be 1 to 128 characters")
	r.check("TAG_VALUE", len(c.TagValue) <= 256, "must be at most 256 characters")
	r.check("ENDPOINT_SERVICE_ID", c.EndpointServiceID == "" || serviceIDRE.MatchString(c.EndpointServiceID),
		"must look like vpce-svc-0123456789abcdef0")
	r.check("SPOKE_ROLE_NAME", roleNameRE.MatchString(c.SpokeRoleName), "must be an IAM role name")
	r.check("PARAMETER_PREFIX", paramPathRE.MatchString(c.ParameterPrefix) && !reservedPrefix(c.ParameterPrefix),
		"must be an SSM path like /jenkins-agent-vpcs (letters, digits, _.-/, not starting with aws or ssm)")
	r.check("PARAMETER_PREFIX", strings.Count(c.ParameterPrefix, "/") <= 12,
		"must have at most 12 levels, leaving room for /<account>/<vpc>/<name>")
	r.check("HTTP_PORT", c.HTTPPort == 0 || c.HTTPPort != c.TunnelPort, "must differ from TUNNEL_PORT")
	if _, _, err := arn.ParseRole(c.OrganizationRoleARN); c.OrganizationRoleARN != "" && err != nil {
		r.fail("ORGANIZATION_ROLE_ARN", "must be an IAM role ARN: %v", err)
	}
	for _, a := range c.AllowedAccounts {
		r.check("ALLOWED_ACCOUNTS", !slices.Contains(c.DeniedAccounts, a),
			fmt.Sprintf("account %s is also in DENIED_ACCOUNTS", a))
	}
	if len(r.errs) > 0 {
		return Config{}, fmt.Errorf("invalid configuration: %w", errors.Join(r.errs...))
	}
	return c, nil
}

// AccountAllowed reports whether the product may act for account, and
// when not, why.
func (c Config) AccountAllowed(account string) (bool, string) {
	switch {
	case !arn.IsAccountID(account):
		return false, "malformed account id"
	case slices.Contains(c.DeniedAccounts, account):
		return false, "account denied"
	case len(c.AllowedAccounts) > 0 && !slices.Contains(c.AllowedAccounts, account):
		return false, "account not in allow list"
	}
	return true, ""
}

// Regions are the Regions served from a hub in hub: the hub's own first,
// then AgentRegions in order, each once.
func (c Config) Regions(hub string) []string {
	out := []string{hub}
	for _, r := range c.AgentRegions {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// Serves reports whether agent VPCs in region are served from a hub in hub.
func (c Config) Serves(region, hub string) bool {
	return region == hub || slices.Contains(c.AgentRegions, region)
}

// Tagged reports whether a VPC's tags opt it in.
func (c Config) Tagged(tags map[string]string) bool {
	v, ok := tags[c.TagKey]
	return ok && strings.EqualFold(strings.TrimSpace(v), c.TagValue)
}

// Ports are the ports the endpoint service forwards, tunnel first.
func (c Config) Ports() []int {
	if c.HTTPPort == 0 {
		return []int{c.TunnelPort}
	}
	return []int{c.TunnelPort, c.HTTPPort}
}

func reservedPrefix(p string) bool {
	first := strings.ToLower(strings.TrimPrefix(p, "/"))
	return strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm")
}

type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) fail(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s %s", name, fmt.Sprintf(format, args...)))
}

func (r *reader) check(name string, ok bool, why string) {
	if !ok {
		r.fail(name, "%s", why)
	}
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) required(name string) string {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		r.fail(name, "is required")
	}
	return v
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(r.str(name, def))
	if !slices.Contains(allowed, v) {
		r.fail(name, "is %q, want one of %s", v, strings.Join(allowed, ", "))
	}
	return v
}

func (r *reader) port(name string, def int, zeroOK bool) int {
	v := r.str(name, strconv.Itoa(def))
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !zeroOK) {
		r.fail(name, "is %q, want a TCP port (1-65535%s)", v, map[bool]string{true: ", or 0 for none"}[zeroOK])
		return def
	}
	return n
}

func (r *reader) positive(name string, def int) int {
	v := r.str(name, strconv.Itoa(def))
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		r.fail(name, "is %q, want a positive integer", v)
		return def
	}
	return n
}

func (r *reader) rate(name string, def float64) float64 {
	v := r.str(name, strconv.FormatFloat(def, 'f', -1, 64))
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		r.fail(name, "is %q, want a positive number of calls per second", v)
		return def
	}
	return f
}

func (r *reader) boolean(name string, def bool) bool {
	v := r.str(name, strconv.FormatBool(def))
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "is %q, want true or false", v)
		return def
	}
	return b
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, def.String())
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.fail(name, "is %q, want a duration like 10m", v)
		return def
	}
	return d
}

// regions reads a comma-separated list of Region names.
func (r *reader) regions(name string) []string {
	var out []string
	for _, v := range strings.Split(r.getenv(name), ",") {
		v = strings.TrimSpace(v)
		switch {
		case v == "":
		case !regionRE.MatchString(v):
			r.fail(name, "has %q, want Region names like eu-west-1 separated by commas", v)
		case !slices.Contains(out, v):
			out = append(out, v)
		}
	}
	return out
}

func (r *reader) accounts(name string) []string {
	var out []string
	for _, a := range strings.Split(r.getenv(name), ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !arn.IsAccountID(a) {
			r.fail(name, "has %q, want 12-digit account ids separated by commas", a)
			continue
		}
		out = append(out, a)
	}
	return out
}
