package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/internal/jcasc"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/pace"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/spoke"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

var _ jcasc.Spokes = (*spoke.Role[jcasc.EC2])(nil)

// jcascFlags are the flags of `agentvpcs jcasc`.
type jcascFlags struct {
	hub                                                            hubFlags
	ssmPrefix, launchType, jenkinsURL, credentialsID, ecsRole, pub *string
	team                                                           jcasc.Team
	tags, check                                                    *bool
}

func parseJCasCFlags(args []string) (jcascFlags, error) {
	fs := flag.NewFlagSet("agentvpcs jcasc", flag.ContinueOnError)
	f := jcascFlags{hub: newHubFlags(fs)}
	f.ssmPrefix = fs.String("casc-ssm-prefix", "", "the controller's CASC_SSM_PREFIX (default $CASC_SSM_PREFIX, else $PARAMETER_PREFIX/)")
	fs.StringVar(&f.team.Cluster, "cluster", "", "ECS cluster (name or ARN) for VPCs without the "+jcasc.TagCluster+" tag")
	fs.StringVar(&f.team.Label, "label", "ecs", "agent label(s) for VPCs without the "+jcasc.TagLabel+" tag")
	fs.StringVar(&f.team.Image, "image", "jenkins/inbound-agent:latest", "agent image for VPCs without the "+jcasc.TagImage+" tag")
	fs.IntVar(&f.team.CPU, "cpu", 1024, "task CPU units for VPCs without the "+jcasc.TagCPU+" tag")
	fs.IntVar(&f.team.Memory, "memory", 2048, "task memory (MiB) for VPCs without the "+jcasc.TagMemory+" tag")
	f.launchType = fs.String("launch-type", "FARGATE", "the templates' launchType: FARGATE, EC2 or EXTERNAL")
	f.jenkinsURL = fs.String("jenkins-url", "", "controller URL for VPCs with no published jenkins-url (default: Jenkins' own URL)")
	f.credentialsID = fs.String("credentials-id", "", "the clouds' AWS credentials id (default: the controller's role)")
	f.ecsRole = fs.String("ecs-role-name", "", "a role in each member account the controller assumes to run tasks there")
	f.tags = fs.Bool("tags", true, "read the teams' tags through the spoke roles (false: the flags alone)")
	f.pub = fs.String("publish", "", "also write each cloud to a parameter under this path (outside $PARAMETER_PREFIX), e.g. /jenkins-agent-vpcs-jcasc")
	f.check = fs.Bool("check", false, "resolve every ${...} against Parameter Store as the controller will, and fail if one does not resolve")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("jcasc takes no arguments, got %q", fs.Args())
	}
	switch *f.launchType {
	case "FARGATE", "EC2", "EXTERNAL": // ECSTaskTemplate's launch types (the ECS API's LaunchType)
	default:
		return f, fmt.Errorf("-launch-type is %q, want FARGATE, EC2 or EXTERNAL", *f.launchType)
	}
	return f, nil
}

// config is the functions' configuration (the prefix, the spoke role),
// and the controller's CASC_SSM_PREFIX.
func (f jcascFlags) config(getenv func(string) string) (config.Config, string, error) {
	cfg, err := config.Load(func(k string) string {
		switch {
		case k == "SPOKE_EXTERNAL_ID" && *f.hub.externalID != "":
			return *f.hub.externalID
		// The functions need these; jcasc reads neither the endpoint
		// service nor the bus.
		case k == "ENDPOINT_SERVICE_ID" && getenv(k) == "":
			return "vpce-svc-00000000000000000"
		case k == "EVENT_BUS_NAME" && getenv(k) == "":
			return "jenkins-agent-vpcs"
		}
		return getenv(k)
	})
	if err != nil {
		return cfg, "", err
	}
	if *f.pub != "" {
		if err := jcasc.CheckPublicationPath(*f.pub, cfg.ParameterPrefix); err != nil {
			return cfg, "", err
		}
	}
	for _, p := range []string{*f.ssmPrefix, getenv("CASC_SSM_PREFIX")} {
		if p != "" {
			return cfg, p, nil
		}
	}
	return cfg, cfg.ParameterPrefix + "/", nil
}

// runJCasC prints the `jenkins: clouds:` section, one Amazon ECS cloud per
// ready agent VPC, whose tunnel (and jenkins-url, when published) refer to
// the published parameters through the secret-ssm plugin, so the file
// stays right while endpoints are replaced. Agent VPCs it cannot describe
// are left out and named on errOut.
//
//	agentvpcs jcasc [-role-arn ...] [-external-id ...] [-casc-ssm-prefix /jenkins-agent-vpcs/] [-cluster ci-agents] [-label ecs] [-check] [-publish /path] > clouds.yaml
func runJCasC(ctx context.Context, args []string, getenv func(string) string, out, errOut io.Writer) error {
	f, err := parseJCasCFlags(args)
	if err != nil {
		return err
	}
	cfg, prefix, err := f.config(getenv)
	if err != nil {
		return err
	}
	base, err := f.hub.awsConfig(ctx)
	if err != nil {
		return err
	}
	clients := function.ClientsFrom(base, cfg)
	fleet := jcasc.Fleet{Concurrency: 8, Store: tunnel.Store{SSM: clients.SSM, Prefix: cfg.ParameterPrefix,
		ReadPace: pace.New(cfg.SSMReadRate, max(1, int(cfg.SSMReadRate)))}}
	if *f.tags {
		fleet.Spokes = spoke.New(base, sts.NewFromConfig(base), cfg.SpokeRoleName, cfg.SpokeExternalID, "agentvpcs",
			func(c aws.Config) jcasc.EC2 { return ec2.NewFromConfig(c) })
	}
	vpcs, skipped, err := fleet.Ready(ctx)
	if err != nil {
		return err
	}
	file, left := jcasc.Generate(vpcs, jcasc.Settings{ParameterPrefix: cfg.ParameterPrefix, SSMPrefix: prefix, Defaults: f.team,
		JenkinsURL: *f.jenkinsURL, CredentialsID: *f.credentialsID, ECSRoleName: *f.ecsRole, LaunchType: *f.launchType})
	for _, s := range append(skipped, left...) {
		fmt.Fprintf(errOut, "agentvpcs jcasc: left out %s\n", s)
	}
	b, err := file.YAML()
	if err != nil {
		return err
	}
	if *f.check {
		// The plugin's own call: GetParameter(CASC_SSM_PREFIX + key).
		if _, err := jcasc.ResolveYAML(ctx, b, jcasc.SSMSource(ssm.NewFromConfig(base), prefix)); err != nil {
			return fmt.Errorf("checking the generated clouds against Parameter Store, %w", err)
		}
	}
	if *f.pub != "" {
		pub := jcasc.Publication{SSM: clients.SSM, Path: *f.pub, Pace: pace.New(cfg.SSMWriteRate, max(1, int(cfg.SSMWriteRate)))}
		wrote, deleted, err := pub.Publish(ctx, file)
		fmt.Fprintf(errOut, "agentvpcs jcasc: published under %s: %d written, %d deleted\n", *f.pub, len(wrote), len(deleted))
		if err != nil {
			return err
		}
	}
	_, err = out.Write(b)
	return err
}
