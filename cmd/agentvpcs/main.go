// Command agentvpcs shows an operator, for the hub account its credentials
// point at (or the local AWS, through AWS_ENDPOINT_URL), the status of
// every agent VPC and the plan the reconciler would apply. It changes
// nothing: it runs the reconciler's observation and plan in dry-run mode.
//
//	agentvpcs [status] [-role-arn arn:aws:iam::<hub>:role/<ops>] [-service vpce-svc-...] [-accounts 222222222222,...] [-deep all|none|rotating] [-json]
//
// `agentvpcs jcasc` prints the Jenkins configuration-as-code clouds of the
// ready agent VPCs (see jcasc.go).
//
// It reads member accounts through their spoke roles, which trust only the
// roles the member stack set names (HubFunctionRoleArns): run it as, or with
// -role-arn assume, one of those, such as an operations role added there.
// Settings not given as flags come from the same environment variables as
// the functions (ENDPOINT_SERVICE_ID, SPOKE_EXTERNAL_ID, ALLOWED_ACCOUNTS,
// PARAMETER_PREFIX, ...).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/reconcile"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "agentvpcs:", err)
		os.Exit(1)
	}
}

// run picks the subcommand: status (the default) or jcasc.
func run(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "jcasc":
			return runJCasC(ctx, args[1:], getenv, out, errOut)
		case "status":
			args = args[1:]
		}
	}
	return runStatus(ctx, args, getenv, out)
}

// hubFlags are the flags every subcommand reads the hub with.
type hubFlags struct {
	externalID, roleARN *string
}

func newHubFlags(fs *flag.FlagSet) hubFlags {
	return hubFlags{
		externalID: fs.String("external-id", "", "spoke role external id (default $SPOKE_EXTERNAL_ID)"),
		roleARN:    fs.String("role-arn", "", "a hub role to assume first, one the spoke roles trust"),
	}
}

// awsConfig is the base SDK configuration: the environment's credentials,
// or the role -role-arn names, assumed with them.
func (h hubFlags) awsConfig(ctx context.Context) (aws.Config, error) {
	base, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRetryer(function.Retryer))
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration, %w", err)
	}
	if base.Region == "" {
		return aws.Config{}, fmt.Errorf("loading AWS configuration, AWS_REGION is not set")
	}
	if *h.roleARN != "" {
		base.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(base), *h.roleARN,
			func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "agentvpcs" }))
	}
	return base, nil
}

func runStatus(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("agentvpcs", flag.ContinueOnError)
	service := fs.String("service", "", "endpoint service id (default $ENDPOINT_SERVICE_ID)")
	hub := newHubFlags(fs)
	externalID := hub.externalID
	accounts := fs.String("accounts", "", "comma-separated accounts to show (default: discover them as the reconciler does)")
	deep := fs.String("deep", "all", "check subnets and security group rules: all, none or rotating")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	env := func(k string) string {
		switch {
		case k == "ENDPOINT_SERVICE_ID" && *service != "":
			return *service
		case k == "SPOKE_EXTERNAL_ID" && *externalID != "":
			return *externalID
		case k == "EVENT_BUS_NAME" && getenv(k) == "":
			return "jenkins-agent-vpcs" // read-only: the bus is never written
		case k == "LOG_LEVEL" && getenv(k) == "":
			return "error"
		}
		return getenv(k)
	}
	cfg, err := config.Load(env)
	if err != nil {
		return err
	}
	depth := map[string]reconcile.Depth{"all": reconcile.DeepAll, "none": reconcile.DeepNone, "rotating": reconcile.DeepRotating}
	d, ok := depth[*deep]
	if !ok {
		return fmt.Errorf("-deep is %q, want all, none or rotating", *deep)
	}
	base, err := hub.awsConfig(ctx)
	if err != nil {
		return err
	}
	clients := function.ClientsFrom(base, cfg)
	core := function.NewCore(cfg, clients, function.Options{Region: clients.Base.Region,
		Log: telemetry.NewLogger(os.Stderr, cfg.LogLevel), MetricsOut: io.Discard, SessionName: "agentvpcs"})
	rec := core.Reconciler()
	ctx = telemetry.WithLogger(ctx, core.Options.Log)
	req := reconcile.Request{DryRun: true, Deep: d, RunID: "agentvpcs"}
	if *accounts != "" {
		req.Accounts = strings.Split(*accounts, ",")
	}
	cfg.FanoutThreshold = 1 << 30 // show everything here, never fan out
	rec.Config = cfg
	rep, err := rec.Run(ctx, req)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(out, "Endpoint service %s, %d account(s), %d agent VPC(s)\n\n", cfg.EndpointServiceID, rep.Accounts, rep.VPCs)
	return reconcile.WriteTable(out, rep)
}
