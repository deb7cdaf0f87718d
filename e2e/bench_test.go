package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
)

// BenchmarkColdStart measures, per function, an emulator process started
// and its first invocation answered (an event the function ignores or
// refuses, so the figure is the runtime's, not the work's):
//
//	go test ./e2e -run XXX -bench ColdStart -count 5
func BenchmarkColdStart(b *testing.B) {
	payloads := map[string]string{
		"OnboardFunction":   `{"version":"0","id":"1","source":"local.ping","detail-type":"Ping","account":"111111111111","region":"eu-west-1","time":"2026-01-01T00:00:00Z","resources":[],"detail":{}}`,
		"AcceptFunction":    `{"Records":[]}`,
		"ReconcileFunction": `{"version":"0","id":"1","source":"local.ping","detail-type":"Ping","account":"111111111111","region":"eu-west-1","time":"2026-01-01T00:00:00Z","resources":[],"detail":{}}`,
	}
	for _, fn := range functions {
		b.Run(fn, func(b *testing.B) {
			env := []string{"AWS_REGION=eu-west-1", "AWS_ACCESS_KEY_ID=111111111111", "AWS_SECRET_ACCESS_KEY=x", "AWS_ENDPOINT_URL=http://127.0.0.1:9",
				"TAG_KEY=jenkins-agents", "TAG_VALUE=true", "SUBNET_TAG_KEY=jenkins-agents-subnet", "ENDPOINT_SERVICE_ID=vpce-svc-0a1b2c3d4e5f60718",
				"SPOKE_ROLE_NAME=jenkins-agent-vpcs-spoke", "SPOKE_EXTERNAL_ID=x", "TUNNEL_PORT=50000", "HTTP_PORT=0",
				"PARAMETER_PREFIX=/jenkins-agent-vpcs", "PRINCIPAL_MODE=role", "APPROVAL_MODE=auto", "EVENT_BUS_NAME=jenkins-agent-vpcs",
				"LOG_LEVEL=warn", "GRACE_PERIOD=10m", "DRY_RUN=true", "HOME=" + b.TempDir()}
			log, err := os.Create(os.DevNull)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				if err := log.Close(); err != nil {
					b.Error(err)
				}
			})
			var cold time.Duration
			for b.Loop() {
				in, err := localstack.StartInstance(context.Background(), emulator, bootstraps[fn], fn, env, log)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := in.Invoke(context.Background(), []byte(payloads[fn])); err != nil {
					b.Fatal(err)
				}
				cold += in.ColdStart()
				if err := in.Stop(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cold.Microseconds())/1000/float64(b.N), "ms-cold-start")
		})
	}
}

// BenchmarkCreateTagsToTunnel measures, on the stack `make local` runs, the
// time from CreateTags on a member VPC to its tunnel parameter being
// readable in the hub (untagging, settled, between iterations):
//
//	go test ./e2e -run XXX -bench CreateTagsToTunnel -count 5
func BenchmarkCreateTagsToTunnel(b *testing.B) {
	s, err := localstack.Start(context.Background(), localstack.Options{RepoRoot: repoRoot, Emulator: emulator, Bootstraps: bootstraps,
		Functions: functions, WorkDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("stopping the local stack, %v", err)
		}
	})
	ctx := context.Background()
	hub := s.SSM(s.Hub)
	name := aws.String(s.ParameterPath(teamA) + "/tunnel")
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		if err := s.Tag(ctx, teamA, true); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := hub.GetParameter(ctx, &ssm.GetParameterInput{Name: name}); err == nil {
				break
			}
			if time.Since(start) > 5*time.Second {
				b.Fatal("tunnel parameter not readable within 5 s")
			}
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
		b.StopTimer()
		if err := s.Settle(ctx); err != nil {
			b.Fatal(err)
		}
		if err := s.Tag(ctx, teamA, false); err != nil {
			b.Fatal(err)
		}
		if err := s.Settle(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-tunnel")
}
