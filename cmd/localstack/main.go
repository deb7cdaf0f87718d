// Command localstack runs the whole product on this machine: the local AWS
// with the documented topology (localstack/topology.yaml), the templates'
// routing, and the three functions' real bootstraps under the AWS Lambda
// Runtime Interface Emulator.
//
//	make local    # go run ./cmd/localstack: stays up until Ctrl-C
//	make demo     # go run ./cmd/localstack -demo: a narrated scenario, exits 0 when it worked
//
// Drive `make local` with the AWS CLI: an access key id equal to an account
// id is that account's administrator (see the banner it prints).
//
// Event delivery is reliable by default (exactly once, at once, in order),
// so what a person sees follows what they did; -lossy delivers as AWS does
// (duplicated, late, out of order, some aws.tag events lost: see
// localaws.DeliveryOptions), and the reconcile schedule makes up for what is
// lost. The demo always delivers reliably, so its narration ("the tag event
// reached onboard") stays true.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4566", "listen address of the local AWS")
	schedule := flag.Duration("schedule", time.Minute, "interval of the reconcile schedule (0: only on demand); the template's rate is for AWS")
	throttle := flag.Bool("throttle", false, "enforce the EC2 and SSM rate limits in the local AWS")
	demo := flag.Bool("demo", false, "run the narrated demo scenario and exit")
	quiet := flag.Bool("quiet", false, "do not print one line per function invocation")
	lossy := flag.Bool("lossy", false, "deliver events as AWS does: duplicated, late, out of order, some aws.tag events lost (the reconcile schedule repairs)")
	seed := flag.Int64("seed", 1, "seed of the local AWS's fault and delivery RNGs")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if *demo {
		err = runDemo(ctx, os.Stdout)
	} else {
		err = runLocal(ctx, localstack.Options{Addr: *addr, Schedule: *schedule, Throttle: *throttle, Seed: *seed,
			Relax: localaws.Relax{Delivery: !*lossy}}, *quiet)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		os.Exit(1)
	}
}

func runLocal(ctx context.Context, opts localstack.Options, quiet bool) (err error) {
	if !quiet {
		opts.Trace = os.Stdout
	}
	work, err := os.MkdirTemp("", "localstack-")
	if err != nil {
		return err
	}
	started := time.Now()
	fmt.Println("Starting: building the functions (make build-<LogicalId>) and the emulator, deploying the templates...")
	opts.WorkDir = work
	opts.Progress = os.Stdout
	s, err := localstack.Start(ctx, opts)
	if err != nil {
		return err
	}
	// Every process started is stopped on the way out, Ctrl-C included.
	defer func() { err = errors.Join(err, s.Close()) }()
	printBanner(os.Stdout, s, opts.Schedule, time.Since(started))
	<-ctx.Done()
	fmt.Println("\nStopping: emulators and the local AWS.")
	return nil
}

func printBanner(w io.Writer, s *localstack.Stack, schedule time.Duration, took time.Duration) {
	fmt.Fprintf(w, "\njenkins-agent-vpcs is running locally (started in %s)\n\n", took.Round(time.Millisecond))
	fmt.Fprintf(w, "  local AWS     %s   region %s (hub), serving %s\n", s.URL, s.Region, strings.Join(s.Regions, ", "))
	fmt.Fprintf(w, "  credentials   AWS_ACCESS_KEY_ID=<account id>, any AWS_SECRET_ACCESS_KEY\n")
	fmt.Fprintf(w, "  accounts      %s hub (Jenkins endpoint service %s)\n", s.Hub, s.Parameters["EndpointServiceId"])
	for _, m := range s.Members {
		fmt.Fprintf(w, "                %s member\n", m)
	}
	ids := make([]string, 0, len(s.Functions))
	for id := range s.Functions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i, id := range ids {
		label := "functions"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "  %-13s %-18s %s  log %s\n", label, id, s.Functions[id].Name, s.Functions[id].LogPath)
	}
	if schedule > 0 {
		fmt.Fprintf(w, "  schedule      reconcile every %s\n", schedule)
	}
	if _, strict := s.AWS.Delivery(); strict {
		fmt.Fprintf(w, "  delivery      lossy, as AWS: duplicated, late, out of order, some aws.tag events lost (GET %s/_localaws/delivery)\n", s.URL)
	} else {
		fmt.Fprintf(w, "  delivery      reliable: exactly once, in order (-lossy to deliver as AWS does)\n")
	}
	prefix := s.Parameters["ParameterPrefix"]
	fmt.Fprintf(w, `
Try it (AWS CLI v1; v2 is /usr/bin/aws and needs --endpoint-url %[1]s):

  export AWS_ACCESS_KEY_ID=222222222222 AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=%[2]s AWS_ENDPOINT_URL=%[1]s
  aws ec2 create-tags --resources vpc-0a000000000000001 --tags Key=%[3]s,Value=true
  AWS_ACCESS_KEY_ID=%[4]s aws ssm get-parameter --name %[5]s/222222222222/vpc-0a000000000000001/tunnel
  aws ec2 describe-vpc-endpoints
  aws ec2 delete-tags --resources vpc-0a000000000000001 --tags Key=%[3]s

The operator view (every agent VPC and the reconciler's plan, read-only):

  AWS_ACCESS_KEY_ID=%[4]s SPOKE_EXTERNAL_ID=%[6]s go run ./cmd/agentvpcs \
    -role-arn arn:aws:iam::%[4]s:role/%[7]s -service %[8]s

Ctrl-C stops everything. One line per function invocation follows.

`, s.URL, s.Region, s.Parameters["TagKey"], s.Hub, prefix, localstack.ExternalID, localstack.OperatorRole, s.Parameters["EndpointServiceId"])
}
