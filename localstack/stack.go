package localstack

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
)

//go:embed topology.yaml
var topologyYAML []byte

// Topology returns the documented local topology (topology.yaml): the hub
// 111111111111 with the Jenkins endpoint service, members 222222222222 and
// 333333333333 with VPCs over several AZs.
func Topology() (*localaws.Topology, error) { return localaws.ParseTopology(topologyYAML) }

// Defaults of the local deployment.
const (
	StackName   = "jenkins-agent-vpcs"
	HubAccount  = "111111111111"
	ExternalID  = "jenkins-agent-vpcs-local"
	memberStack = "jenkins-agent-vpcs-member"
	// OperatorRole is a hub role people assume (the hub's administrators
	// may) and the member stacks' HubFunctionRoleArns also names, as an
	// operator would add theirs, so cmd/agentvpcs can read member accounts.
	OperatorRole = "jenkins-agent-vpcs-operator"
)

// Options configure a Stack. The zero value runs every function of
// template.yaml on the documented topology.
type Options struct {
	RepoRoot string // default: found from the working directory
	WorkDir  string // builds and function logs; default: a new temporary directory
	CacheDir string // the emulator binary; default CacheDir()
	Addr     string // local AWS listen address; default 127.0.0.1:0

	Topology   *localaws.Topology // default Topology()
	HubAccount string             // default 111111111111
	// Parameters override template.yaml's parameters (defaults apply otherwise;
	// OrganizationId, EndpointServiceId and SpokeExternalId are filled in from
	// the topology).
	Parameters map[string]string

	// Functions limits the functions run (logical ids); default: every
	// function of template.yaml. A function that cannot be built fails Start.
	Functions []string
	// Bootstraps are prebuilt bootstrap paths by logical id (skips the build).
	Bootstraps map[string]string
	// Emulator is a prebuilt aws-lambda-rie path (skips its build).
	Emulator string
	// Instances is the number of execution environments per function
	// (default 2: two invocations of one function can run at once, as on Lambda).
	Instances int

	// Schedule fires the template's schedules at this interval; 0 never
	// (TriggerSchedules fires them on demand).
	Schedule time.Duration
	// Retries are the delays between the attempts of an asynchronous
	// invocation that failed (Lambda retries twice); default 200ms, 1s.
	Retries []time.Duration

	Throttle bool
	// PutParameterRate is Parameter Store's PutParameter rate when
	// throttling (localaws.Options.PutParameterRate; default 3 per second).
	PutParameterRate float64
	TransitionDelay  time.Duration
	// Relax turns off strict behaviours of the local AWS (zero: as strict
	// as AWS); Relax.Delivery makes event delivery exactly once, at once and
	// in order, and loses no aws.tag event.
	Relax localaws.Relax
	// Delivery shapes strict delivery (duplicates, delays, lost aws.tag
	// events, late CloudTrail events); zero fields take localaws's defaults.
	Delivery localaws.DeliveryOptions
	// Queues shape strict SQS queues (copies of messages handed out twice,
	// short polls that miss messages); zero fields take localaws's defaults.
	Queues localaws.QueueStrictness
	// Seed seeds the local AWS's fault and delivery RNGs.
	Seed int64
	// Jenkins, when set, is the controller the template's reload rule
	// calls: JenkinsUrl defaults to its URL and the reload token secret
	// to its token (StartJenkins).
	Jenkins *Jenkins
	// Secrets are the Secrets Manager secrets the template's dynamic
	// references read, by name (see DeployOptions.Secrets).
	Secrets map[string]string
	// Trace receives one line per invocation (nil: none).
	Trace io.Writer
	// Progress receives what Start builds and for how long, with a line at
	// least every 10 s while a build runs (nil: none).
	Progress io.Writer
}

// Stack is the running product: the local AWS, the deployed templates and
// one emulator pool per function.
type Stack struct {
	AWS    *localaws.Server
	URL    string
	Region string // the hub's
	// Regions are the Regions served, the hub's first (see Regions): the
	// hub template's AgentRegions are the others, and every member account
	// has the member template in each.
	Regions []string
	Hub     string
	Members []string
	// Parameters are the hub template's resolved parameters.
	Parameters map[string]string
	Functions  map[string]*Function // by logical id
	Routes     []route
	// Queues are the template's queues' URLs by logical id.
	Queues  map[string]string
	WorkDir string

	opts     Options
	ctx      context.Context
	cancel   context.CancelFunc
	inflight atomic.Int64
	bg       sync.WaitGroup

	mu          sync.Mutex
	queues      *sqs.Client // the hub administrator's, for queue depths
	mappings    []*EventSourceMapping
	pipeSpecs   []PipeSpec // the template's pipes (pipe.go)
	pipes       []*Pipe
	invocations []Invocation
	cancels     []func()
}

// Function is one deployed function.
type Function struct {
	LogicalID string
	Name      string // FunctionName
	ARN       string
	Env       map[string]string // as template.yaml sets it, plus the runtime's
	LogPath   string

	pool      chan *Instance
	instances []*Instance
	// role is an SDK configuration with the execution role's credentials.
	role aws.Config
	// running and peak count invocations in an execution environment.
	running, peak atomic.Int64
}

// Invocation is one attempt at invoking a function.
type Invocation struct {
	Function string // logical id
	Trigger  string // the rule, topic or "direct"
	Attempt  int    // 0 for the first
	Payload  []byte
	Result   Result
	Err      error // the invocation did not complete
	Start    time.Time
}

// Events returns the events an invocation carried: the body of each record
// of a batch from a queue (the EventBridge events the rules put there),
// else the payload itself.
func (i Invocation) Events() [][]byte {
	var batch events.SQSEvent
	if json.Unmarshal(i.Payload, &batch) == nil && len(batch.Records) > 0 && batch.Records[0].EventSource == "aws:sqs" {
		out := make([][]byte, 0, len(batch.Records))
		for _, r := range batch.Records {
			out = append(out, []byte(r.Body))
		}
		return out
	}
	return [][]byte{i.Payload}
}

// Failed reports whether the function did not succeed.
func (i Invocation) Failed() bool { return i.Err != nil || i.Result.Error != nil }

// Start builds, deploys and starts everything. Close it when done.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if err := opts.fillDefaults(); err != nil {
		return nil, err
	}
	s := newStack(opts)
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()

	// The template first: it names the functions to build.
	hub, err := newHubDeployment(opts.RepoRoot, s.Hub, opts.Topology, opts.Parameters)
	if err != nil {
		return nil, err
	}
	s.Parameters = hub.params
	ids, err := functionIDs(hub, opts.Functions)
	if err != nil {
		return nil, err
	}

	// Build while the local AWS starts.
	builds := make(chan built, 1)
	prog := newProgress(opts.Progress, progressEvery)
	go func() { builds <- buildFunctions(ctx, opts, ids, prog) }()
	if err := s.startAWS(ctx, hub); err != nil {
		<-builds
		return nil, err
	}

	b := <-builds
	if b.err != nil {
		return nil, b.err
	}
	if err := os.MkdirAll(filepath.Join(opts.WorkDir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("creating the log directory, %w", err)
	}
	for _, id := range ids {
		fn, err := s.startFunction(ctx, hub, id, b.emulator, b.paths[id])
		if err != nil {
			return nil, err
		}
		s.Functions[id] = fn
	}
	s.wire()
	if err := s.startPipes(s.pipeSpecs); err != nil {
		return nil, err
	}
	if opts.Schedule > 0 {
		s.bg.Go(func() { s.tick(opts.Schedule) })
	}
	return s, nil
}

// fillDefaults sets the options left zero to what Start uses for them.
func (opts *Options) fillDefaults() (err error) {
	if opts.RepoRoot == "" {
		wd, _ := os.Getwd()
		if opts.RepoRoot, err = RepoRoot(wd); err != nil {
			return err
		}
	}
	if opts.WorkDir == "" {
		if opts.WorkDir, err = os.MkdirTemp("", "localstack-"); err != nil {
			return fmt.Errorf("creating a work directory, %w", err)
		}
	}
	if opts.CacheDir == "" {
		if opts.CacheDir, err = CacheDir(); err != nil {
			return err
		}
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.HubAccount == "" {
		opts.HubAccount = HubAccount
	}
	if opts.Topology == nil {
		if opts.Topology, err = Topology(); err != nil {
			return err
		}
	}
	if opts.Instances == 0 {
		opts.Instances = 2
	}
	if opts.Retries == nil {
		opts.Retries = []time.Duration{200 * time.Millisecond, time.Second}
	}
	opts.reloadDefaults()
	return nil
}

// newStack is the stack opts describe, before anything is deployed or
// started: every account of the topology but the hub is a member.
func newStack(opts Options) *Stack {
	topo := opts.Topology
	regions := Regions(topo)
	s := &Stack{Region: regions[0], Regions: regions, Hub: opts.HubAccount, WorkDir: opts.WorkDir, opts: opts, Functions: map[string]*Function{}}
	for _, a := range topo.Accounts {
		if a.ID != s.Hub {
			s.Members = append(s.Members, a.ID)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// functionIDs are the logical ids of the functions to start: those asked
// for, each of which the template must have, or else all of the template's.
func functionIDs(hub *deployment, asked []string) ([]string, error) {
	ids := hub.tpl.Functions()
	if len(asked) == 0 {
		return ids, nil
	}
	for _, id := range asked {
		if !slices.Contains(ids, id) {
			return nil, fmt.Errorf("template.yaml has no function %s (it has %s)", id, strings.Join(ids, ", "))
		}
	}
	return asked, nil
}

// built is what building the functions gave: each function's bootstrap
// by logical id and the Runtime Interface Emulator's path.
type built struct {
	paths    map[string]string
	emulator string
	err      error
}

// buildFunctions finds or builds the Runtime Interface Emulator and the
// bootstraps of the functions ids that opts does not provide.
func buildFunctions(ctx context.Context, opts Options, ids []string, prog *progress) built {
	var b built
	b.emulator = opts.Emulator
	if b.emulator == "" {
		if b.emulator, b.err = emulator(ctx, opts.CacheDir, prog); b.err != nil {
			return b
		}
	}
	var missing []string
	b.paths = map[string]string{}
	for _, id := range ids {
		if p, ok := opts.Bootstraps[id]; ok {
			b.paths[id] = p
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		var paths map[string]string
		paths, b.err = build(ctx, opts.RepoRoot, filepath.Join(opts.WorkDir, "build"), missing, prog)
		for id, p := range paths {
			b.paths[id] = p
		}
	}
	return b
}

// startAWS starts the local AWS server and deploys the templates into it.
func (s *Stack) startAWS(ctx context.Context, hub *deployment) (err error) {
	opts := s.opts
	if s.AWS, err = localaws.NewServer(localaws.Options{Topology: opts.Topology, Throttle: opts.Throttle, PutParameterRate: opts.PutParameterRate, TransitionDelay: opts.TransitionDelay,
		Relax: opts.Relax, Delivery: opts.Delivery, SQS: opts.Queues, Seed: opts.Seed}); err != nil {
		return fmt.Errorf("starting the local AWS, %w", err)
	}
	if s.URL, err = s.AWS.Start(opts.Addr); err != nil {
		return fmt.Errorf("starting the local AWS on %s, %w", opts.Addr, err)
	}
	if opts.Jenkins != nil {
		s.AWS.SetAPIDestinationClient(opts.Jenkins.Client())
		opts.Jenkins.SetClock(s.AWS.Clock().Now)
	}
	s.Routes, err = (&target{AWS: s.AWS, URL: s.URL, Region: s.Region, Regions: s.Regions, Hub: s.Hub, Members: s.Members, RepoRoot: opts.RepoRoot, Secrets: opts.Secrets}).deploy(ctx, hub)
	s.Queues = maps.Clone(hub.queueURLs)
	if err != nil {
		return err
	}
	s.pipeSpecs, err = pipeSpecs(hub)
	return err
}

func (s *target) deployMembers(ctx context.Context, hub *deployment) error {
	busARN, err := hub.attr(hub.tpl.Resources("AWS::Events::EventBus")[0], "Arn")
	if err != nil {
		return err
	}
	operator := "arn:aws:iam::" + s.Hub + ":role/" + OperatorRole
	if err := s.AWS.Seed(&localaws.Topology{Region: s.Region, Accounts: []localaws.Account{{ID: s.Hub,
		Roles: []localaws.Role{{Name: OperatorRole, Trust: localaws.Trust{Principals: []string{s.Hub}}, Policies: operatorPolicies(hub)}}}}}); err != nil {
		return fmt.Errorf("creating the operator role, %w", err)
	}
	roleARNs := []string{operator}
	for _, id := range hub.tpl.Functions() {
		if role, ok := hub.tpl.FunctionRoles()[id]; ok {
			arn, err := hub.attr(role, "Arn")
			if err != nil {
				return err
			}
			roleARNs = append(roleARNs, arn)
		}
	}
	params := map[string]string{
		"HubAccountId": s.Hub, "HubEventBusArn": busARN, "HubFunctionRoleArns": strings.Join(roleARNs, ","),
		"SpokeRoleName": hub.params["SpokeRoleName"], "ExternalId": hub.params["SpokeExternalId"],
		"EndpointServiceName": "com.amazonaws.vpce." + s.Region + "." + hub.params["EndpointServiceId"], "TagKey": hub.params["TagKey"],
		"HubRegion": s.Region, "AgentRegions": strings.Join(s.Regions[1:], ","),
	}
	// As a StackSet with RegionOrder hub first: every member account, the
	// hub's Region (which creates the roles the others' rules name) first.
	for _, account := range s.Members {
		for _, region := range s.Regions {
			member, err := newDeployment(filepath.Join(s.RepoRoot, "member-template.yaml"), memberStack, account, region, params)
			if err != nil {
				return err
			}
			if err := s.deployMember(ctx, member, account, region); err != nil {
				return fmt.Errorf("deploying member-template.yaml in %s %s, %w", account, region, err)
			}
		}
	}
	return nil
}

// startFunction starts function id of the hub deployment as Lambda would run it: its
// environment, its execution role's credentials, and its execution environments.
func (s *Stack) startFunction(ctx context.Context, hub *deployment, id, emulator, bootstrap string) (*Function, error) {
	fn := &Function{LogicalID: id, Env: map[string]string{}, LogPath: filepath.Join(s.WorkDir, "logs", id+".log")}
	var err error
	if fn.Name, err = hub.ref(id); err != nil {
		return nil, err
	}
	if fn.ARN, err = hub.attr(id, "Arn"); err != nil {
		return nil, err
	}
	for k, raw := range hub.tpl.Env(id) {
		if fn.Env[k], err = hub.text(raw); err != nil {
			return nil, fmt.Errorf("environment variable %s of %s, %w", k, id, err)
		}
	}
	creds, err := s.roleCredentials(hub, id, fn.Name)
	if err != nil {
		return nil, err
	}
	fn.role = aws.Config{Region: s.Region, BaseEndpoint: aws.String(s.URL),
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)}
	env, err := s.runtimeEnv(hub, fn, creds)
	if err != nil {
		return nil, err
	}
	if err := s.startInstances(ctx, fn, emulator, bootstrap, env); err != nil {
		return nil, err
	}
	return fn, nil
}

// roleCredentials is the session credentials of the execution role of function id,
// named session: Lambda gives a function its execution role's session credentials.
func (s *Stack) roleCredentials(hub *deployment, id, session string) (localaws.Credentials, error) {
	roleID, ok := hub.tpl.FunctionRoles()[id]
	if !ok {
		return localaws.Credentials{}, fmt.Errorf("%s has no role of the template", id)
	}
	roleName, err := hub.ref(roleID)
	if err != nil {
		return localaws.Credentials{}, err
	}
	creds, err := s.AWS.RoleCredentials(s.Hub, roleName, session, 12*time.Hour)
	if err != nil {
		return localaws.Credentials{}, fmt.Errorf("issuing the credentials of role %s, %w", roleName, err)
	}
	return creds, nil
}

// runtimeEnv adds to fn.Env the variables the Lambda runtime sets, and returns the
// whole environment as sorted KEY=value pairs.
func (s *Stack) runtimeEnv(hub *deployment, fn *Function, creds localaws.Credentials) ([]string, error) {
	timeout := "60" // Globals.Function.Timeout
	if v, ok := hub.tpl.Property(fn.LogicalID, "Timeout"); ok {
		timeout = v
	}
	memory := "128"
	if v, ok := hub.tpl.Property(fn.LogicalID, "MemorySize"); ok {
		memory = v
	}
	home := filepath.Join(s.WorkDir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, fmt.Errorf("creating the functions' home, %w", err)
	}
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": s.URL, "AWS_REGION": s.Region, "AWS_DEFAULT_REGION": s.Region,
		"AWS_ACCESS_KEY_ID": creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY": creds.SecretAccessKey, "AWS_SESSION_TOKEN": creds.SessionToken,
		"AWS_LAMBDA_FUNCTION_NAME": fn.Name, "AWS_LAMBDA_FUNCTION_TIMEOUT": timeout, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory,
		"AWS_EC2_METADATA_DISABLED": "true", "HOME": home, "TZ": "UTC",
	} {
		fn.Env[k] = v
	}
	env := make([]string, 0, len(fn.Env))
	for k, v := range fn.Env {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env, nil
}

// startInstances starts the execution environments of fn, logging to fn.LogPath, and
// stops those it started when one fails.
func (s *Stack) startInstances(ctx context.Context, fn *Function, emulator, bootstrap string, env []string) error {
	logFile, err := os.OpenFile(fn.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening %s, %w", fn.LogPath, err)
	}
	// Enough execution environments for the function's event source
	// mappings to reach their maximum concurrency.
	instances := s.opts.Instances
	for _, r := range s.Routes {
		if r.Kind == "SQS" && r.Function == fn.LogicalID {
			instances = max(instances, r.Mapping.MaximumConcurrency)
		}
	}
	fn.pool = make(chan *Instance, instances)
	for range instances {
		in, err := StartInstance(ctx, emulator, bootstrap, fn.LogicalID, env, logFile)
		if err != nil {
			errs := []error{err, logFile.Close()}
			for _, started := range fn.instances {
				errs = append(errs, started.Stop())
			}
			return errors.Join(errs...)
		}
		fn.instances = append(fn.instances, in)
		fn.pool <- in
	}
	// The children hold their own descriptors.
	if err := logFile.Close(); err != nil {
		return fmt.Errorf("closing %s, %w", fn.LogPath, err)
	}
	return nil
}

// wire subscribes the functions to what the deployed routes deliver.
func (s *Stack) wire() {
	subscribed := map[string]bool{}
	for _, r := range s.Routes {
		fn := s.Functions[r.Function]
		if fn == nil {
			continue
		}
		switch r.Kind {
		case "SQS":
			m := s.mapping(fn, r)
			s.mappings = append(s.mappings, m)
			s.bg.Go(func() { m.Run(s.ctx) })
		case "SNS":
			topic := r.Topic
			s.cancels = append(s.cancels, s.AWS.SubscribeTopic(topic, func(subject, message string) {
				s.InvokeAsync(fn.LogicalID, snsEvent(topic, subject, message, time.Now()), "sns:"+topic[strings.LastIndex(topic, ":")+1:])
			}))
		default:
			if subscribed[fn.ARN] {
				continue
			}
			subscribed[fn.ARN] = true
			s.cancels = append(s.cancels, s.AWS.Subscribe(fn.ARN, func(d localaws.Delivery) {
				s.InvokeAsync(fn.LogicalID, d.Payload, d.RuleARN[strings.LastIndex(d.RuleARN, "/")+1:])
			}))
		}
	}
}

// mapping is the event source mapping of route r (Kind SQS) to fn: it
// polls with the function's execution role, as Lambda does, and invokes
// through the function's execution environments.
func (s *Stack) mapping(fn *Function, r route) *EventSourceMapping {
	trigger := "sqs:" + r.QueueARN[strings.LastIndex(r.QueueARN, ":")+1:]
	return &EventSourceMapping{
		QueueURL: r.QueueURL, QueueARN: r.QueueARN, Region: s.Region,
		BatchSize: r.Mapping.BatchSize, BatchingWindow: time.Duration(r.Mapping.BatchingWindowSeconds) * time.Second,
		MaximumConcurrency: cmp.Or(r.Mapping.MaximumConcurrency, cap(fn.pool)), ReportBatchItemFailures: r.Mapping.ReportBatchItemFailures,
		Queue: sqs.NewFromConfig(fn.role),
		Invoke: func(ctx context.Context, payload []byte) (Result, error) {
			inv := s.invoke(ctx, fn.LogicalID, payload, trigger, 0)
			return inv.Result, inv.Err
		},
		Done: func(b Batch) {
			if b.Refused != "" && s.opts.Trace != nil {
				fmt.Fprintf(s.opts.Trace, "  %s  %s: Lambda failed the batch of %d: %s\n", time.Now().Format("15:04:05.000"), trigger, len(b.Records), b.Refused)
			}
		},
	}
}

// snsEvent is what Lambda passes a function subscribed to a topic.
func snsEvent(topic, subject, message string, now time.Time) []byte {
	type record struct {
		EventSource, EventVersion, EventSubscriptionArn string
		Sns                                             map[string]any
	}
	b, _ := json.Marshal(map[string]any{"Records": []record{{
		EventSource: "aws:sns", EventVersion: "1.0", EventSubscriptionArn: topic + ":local",
		Sns: map[string]any{"Type": "Notification", "MessageId": strconv.FormatInt(now.UnixNano(), 36), "TopicArn": topic,
			"Subject": subject, "Message": message, "Timestamp": now.UTC().Format(time.RFC3339Nano),
			"SignatureVersion": "1", "MessageAttributes": map[string]any{}},
	}}})
	return b
}

// TriggerSchedules fires every schedule route now, as its schedule would.
func (s *Stack) TriggerSchedules() error {
	var errs []error
	for _, r := range s.Routes {
		if r.Kind == "Schedule" && s.Functions[r.Function] != nil {
			errs = append(errs, s.AWS.TriggerRule(s.Hub, s.Region, r.Bus, r.Name))
		}
	}
	return errors.Join(errs...)
}

func (s *Stack) tick(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if err := s.TriggerSchedules(); err != nil && s.opts.Trace != nil {
				fmt.Fprintf(s.opts.Trace, "schedule: %v\n", err)
			}
		}
	}
}

// Invoke invokes a function synchronously (RequestResponse), as the
// Lambda Invoke API would, waiting for a free execution environment.
func (s *Stack) Invoke(ctx context.Context, logicalID string, payload []byte) (Result, error) {
	inv := s.invoke(ctx, logicalID, payload, "direct", 0)
	return inv.Result, inv.Err
}

// InvokeAsync queues an asynchronous invocation (InvocationType Event):
// a failed attempt is retried after each of Options.Retries.
func (s *Stack) InvokeAsync(logicalID string, payload []byte, trigger string) {
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Add(-1)
		for attempt := 0; ; attempt++ {
			inv := s.invoke(s.ctx, logicalID, payload, trigger, attempt)
			if !inv.Failed() || attempt >= len(s.opts.Retries) || s.ctx.Err() != nil {
				return
			}
			select {
			case <-time.After(s.opts.Retries[attempt]):
			case <-s.ctx.Done():
				return
			}
		}
	}()
}

func (s *Stack) invoke(ctx context.Context, logicalID string, payload []byte, trigger string, attempt int) Invocation {
	inv := Invocation{Function: logicalID, Trigger: trigger, Attempt: attempt, Payload: payload, Start: time.Now()}
	fn := s.Functions[logicalID]
	if fn == nil {
		inv.Err = fmt.Errorf("function %s is not running", logicalID)
		return inv
	}
	select {
	case in := <-fn.pool:
		raise(&fn.peak, fn.running.Add(1))
		inv.Result, inv.Err = in.Invoke(ctx, payload)
		fn.running.Add(-1)
		fn.pool <- in
	case <-ctx.Done():
		inv.Err = ctx.Err()
	}
	s.mu.Lock()
	s.invocations = append(s.invocations, inv)
	s.mu.Unlock()
	if s.opts.Trace != nil {
		fmt.Fprintln(s.opts.Trace, traceLine(inv))
	}
	return inv
}

func traceLine(inv Invocation) string {
	outcome := "ok"
	switch {
	case inv.Err != nil:
		outcome = "FAILED " + inv.Err.Error()
	case inv.Result.Error != nil:
		outcome = "error " + inv.Result.Error.Error()
	}
	retry := ""
	if inv.Attempt > 0 {
		retry = fmt.Sprintf(" (retry %d)", inv.Attempt)
	}
	return fmt.Sprintf("  %s  λ %-17s <- %-34s %s%s  %s", inv.Start.Format("15:04:05.000"), inv.Function, inv.Trigger+" "+describe(inv.Payload),
		outcome, retry, inv.Result.Duration.Round(time.Millisecond))
}

// describe names an event briefly: its source and detail-type, or its kind.
func describe(payload []byte) string {
	var ev struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
		Detail     struct {
			EventName string `json:"eventName"`
		} `json:"detail"`
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
	}
	if json.Unmarshal(payload, &ev) != nil {
		return "(not JSON)"
	}
	switch {
	case ev.Detail.EventName != "":
		return "[" + ev.Detail.EventName + "]"
	case ev.DetailType != "":
		return "[" + ev.DetailType + "]"
	case len(ev.Records) > 0 && ev.Records[0].EventSource == "aws:sqs":
		return fmt.Sprintf("[%d messages]", len(ev.Records))
	case len(ev.Records) > 0:
		return "[SNS notification]"
	}
	return "[direct]"
}

// Invocations returns every invocation attempt so far, in completion order.
func (s *Stack) Invocations() []Invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.invocations)
}

// Settle waits until no event is queued in the local AWS, no
// asynchronous invocation is running or waiting for a retry, and the
// queues the functions poll are empty (no message visible, in flight or
// delayed). A message a function failed stays in flight for the queue's
// visibility timeout, as on AWS, so Settle waits for that too.
func (s *Stack) Settle(ctx context.Context) error {
	quiet := 0
	for quiet < 3 {
		deadline, ok := ctx.Deadline()
		wait := 10 * time.Second
		if ok {
			wait = time.Until(deadline)
		}
		if !s.AWS.Flush(wait) {
			return fmt.Errorf("settling: events still queued, %w", context.DeadlineExceeded)
		}
		queued, err := s.polledMessages(ctx)
		if err != nil {
			return fmt.Errorf("settling: %w", err)
		}
		if s.inflight.Load() == 0 && queued == 0 {
			quiet++
		} else {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("settling: %d invocations in flight, %d messages in polled queues, %w", s.inflight.Load(), queued, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// polledMessages counts the messages of the queues the functions poll.
func (s *Stack) polledMessages(ctx context.Context) (int, error) {
	n := 0
	for _, r := range s.Routes {
		if r.Kind != "SQS" {
			continue
		}
		d, err := s.queueDepth(ctx, r.QueueURL)
		if err != nil {
			return 0, err
		}
		n += d.total()
	}
	return n, nil
}

// depth is what a queue holds: messages visible, in flight (received, not
// deleted) and delayed, with its visibility timeout.
type depth struct {
	Visible, InFlight, Delayed int
	VisibilityTimeout          time.Duration
}

func (d depth) total() int { return d.Visible + d.InFlight + d.Delayed }

// queueDepth reads a queue's depth as the hub's administrator.
func (s *Stack) queueDepth(ctx context.Context, url string) (depth, error) {
	s.mu.Lock()
	if s.queues == nil {
		// One client, so one pool of connections, however often Settle asks.
		s.queues = sqs.NewFromConfig(AdminConfig(s.URL, s.Region, s.Hub))
	}
	client := s.queues
	s.mu.Unlock()
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed,
			sqstypes.QueueAttributeNameVisibilityTimeout},
	})
	if err != nil {
		return depth{}, fmt.Errorf("reading the depth of %s, %w", url, err)
	}
	var d depth
	var seconds int
	for name, to := range map[string]*int{"ApproximateNumberOfMessages": &d.Visible, "ApproximateNumberOfMessagesNotVisible": &d.InFlight,
		"ApproximateNumberOfMessagesDelayed": &d.Delayed, "VisibilityTimeout": &seconds} {
		if *to, err = strconv.Atoi(out.Attributes[name]); err != nil {
			return depth{}, fmt.Errorf("%s: %s %q is not a number", url, name, out.Attributes[name])
		}
	}
	d.VisibilityTimeout = time.Duration(seconds) * time.Second
	return d, nil
}

// ReturnAbandoned lets the local AWS's time pass when all the polled
// queues hold is messages nothing works on and nothing else runs: messages
// in flight that no poller holds (a message whose batch failed, a copy a
// standard queue handed out twice) come back when the visibility timeout
// ends (30 minutes for the onboarding queue), delayed ones (onboard's
// follow-ups) when their delay has passed, and nothing happens until then.
// It reports whether it moved the clock; tests call it when Settle times
// out on such messages.
func (s *Stack) ReturnAbandoned(ctx context.Context) (bool, error) {
	if s.inflight.Load() > 0 {
		return false, nil
	}
	for _, fn := range s.Functions {
		if fn.running.Load() > 0 {
			return false, nil
		}
	}
	for _, m := range s.mappings {
		if m.Holding() > 0 {
			return false, nil
		}
	}
	var skip time.Duration
	for _, r := range s.Routes {
		if r.Kind != "SQS" {
			continue
		}
		d, err := s.queueDepth(ctx, r.QueueURL)
		if err != nil {
			return false, err
		}
		if d.Visible > 0 {
			return false, nil
		}
		if d.InFlight > 0 {
			skip = max(skip, d.VisibilityTimeout+time.Second)
		}
		if d.Delayed > 0 {
			// A delayed message (onboard's follow-ups) shows up when its
			// delay has passed; a minute at a time, the default follow-up
			// delay.
			skip = max(skip, time.Minute)
		}
	}
	if skip == 0 {
		return false, nil
	}
	s.AWS.Clock().Skip(skip)
	return true, nil
}

// DeadLetterDepths returns the messages in each of the template's queues
// that no function or pipe polls (its dead-letter queues), by logical id.
func (s *Stack) DeadLetterDepths(ctx context.Context) (map[string]int, error) {
	polled := s.pipeSources()
	for _, r := range s.Routes {
		if r.Kind == "SQS" {
			polled[r.Queue] = true
		}
	}
	out := map[string]int{}
	for id, url := range s.Queues {
		if polled[id] {
			continue
		}
		d, err := s.queueDepth(ctx, url)
		if err != nil {
			return nil, err
		}
		out[id] = d.total()
	}
	return out, nil
}

// raise sets peak to n when n is higher.
func raise(peak *atomic.Int64, n int64) {
	for p := peak.Load(); n > p; p = peak.Load() {
		if peak.CompareAndSwap(p, n) {
			return
		}
	}
}

// PeakConcurrency returns, per function, the most invocations that ran in
// its execution environments at once.
func (s *Stack) PeakConcurrency() map[string]int {
	out := map[string]int{}
	for id, fn := range s.Functions {
		out[id] = int(fn.peak.Load())
	}
	return out
}

// ColdStarts returns each function's measured cold starts (process start to
// first invocation answered), one per instance that has been invoked.
func (s *Stack) ColdStarts() map[string][]time.Duration {
	out := map[string][]time.Duration{}
	for id, fn := range s.Functions {
		for _, in := range fn.instances {
			if d := in.ColdStart(); d > 0 {
				out[id] = append(out[id], d)
			}
		}
	}
	return out
}

// Log returns what a function (and its emulator) wrote so far.
func (s *Stack) Log(logicalID string) string {
	fn := s.Functions[logicalID]
	if fn == nil {
		return ""
	}
	b, _ := os.ReadFile(fn.LogPath)
	return string(b)
}

// Close stops the schedule, every emulator process and the local AWS.
func (s *Stack) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.bg.Wait()
	for _, c := range s.cancels {
		c()
	}
	var errs []error
	for _, fn := range s.Functions {
		for _, in := range fn.instances {
			errs = append(errs, in.Stop())
		}
	}
	if s.AWS != nil {
		errs = append(errs, s.AWS.Close())
	}
	return errors.Join(errs...)
}
