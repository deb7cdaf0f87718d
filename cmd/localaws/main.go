// Command localaws runs the local AWS on one HTTP endpoint:
//
//	go run ./cmd/localaws -addr 127.0.0.1:4566 -topology localaws/testdata/topology.yaml
//
// Point clients at it with AWS_ENDPOINT_URL (the CLI v2 needs
// --endpoint-url) and use a 12-digit account id as the access key id.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4566", "listen address")
	topology := flag.String("topology", "", "topology file (YAML or JSON) to seed")
	throttle := flag.Bool("throttle", false, "enforce the EC2 and SSM rate limits")
	delay := flag.Duration("transition-delay", 0, "endpoint state transition delay (0: ec2sim default)")
	seed := flag.Int64("seed", 1, "seed of the fault-ratio and consistency RNGs")
	window := flag.Duration("consistency-window", localaws.DefaultConsistencyWindow, "longest time an EC2 write stays invisible to reads")
	consistent := flag.Bool("consistent", false, "turn EC2 eventual consistency off (reads see every write at once)")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	opts := localaws.Options{Logger: log, Throttle: *throttle, TransitionDelay: *delay, Seed: *seed,
		Consistency: localaws.Consistency{Window: *window}, Relax: localaws.Relax{Consistency: *consistent}}
	if *topology != "" {
		t, err := localaws.LoadTopology(*topology)
		if err != nil {
			fmt.Fprintln(os.Stderr, "localaws:", err)
			os.Exit(2)
		}
		opts.Topology = t
	}
	start := time.Now()
	srv, err := localaws.NewServer(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "localaws:", err)
		os.Exit(2)
	}
	url, err := srv.Start(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "localaws:", err)
		os.Exit(1)
	}
	log.Info("localaws listening", "url", url, "seeded_in", time.Since(start).String())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "localaws: stopping,", err)
		os.Exit(1)
	}
}
