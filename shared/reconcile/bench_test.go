package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/reconcile"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

// BenchmarkInSyncSweep measures the scheduled sweep of an organization
// that is already in sync: 1,000 member accounts with 3 agent VPCs each,
// against the local AWS run as its own process (so the memory figure is
// the reconciler's alone), with 20 ms added to every AWS call. It reports
// the wall time of one sweep, AWS calls per account and in total, writes,
// and the reconciler's peak heap. Run it with:
//
//	go test ./shared/reconcile -run '^$' -bench InSyncSweep -benchtime 1x -count 3 -timeout 60m
//
// BENCH_ACCOUNTS changes the organization's size.
func BenchmarkInSyncSweep(b *testing.B) {
	accounts := 1000
	if n, err := fmt.Sscan(os.Getenv("BENCH_ACCOUNTS"), &accounts); n == 0 || err != nil {
		accounts = 1000
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	l := startLocalAWS(b, accounts)
	rec := l.reconciler(b, accounts, "10000")
	ctx := context.Background()
	// Onboard the whole organization (unpaced: this is set-up, not the measure).
	store := rec.Store
	rec.Store.Pace, rec.VPCs.Store.Pace, rec.Store.ReadPace, rec.VPCs.Store.ReadPace = nil, nil, nil, nil
	for i := range 2 {
		rep, err := rec.Run(ctx, reconcile.Request{Deep: reconcile.DeepAll})
		if err != nil || len(rep.FailedRepairs)+len(rep.FailedAccounts) > 0 {
			b.Fatalf("set-up run %d: %v %v %v", i, err, rep.FailedRepairs, rep.FailedAccounts)
		}
	}
	rec.Store, rec.VPCs.Store = store, store

	// SSM_READ_RATE is Parameter Store's read rate: 10,000 with its
	// "higher throughput" setting, 40 by default (paced at 35).
	for _, mode := range []struct {
		name     string
		throttle bool
		depth    reconcile.Depth
		readRate string
	}{
		{"latency20ms", false, reconcile.DeepNone, "10000"},
		{"latency20ms-rotatingDeep", false, reconcile.DeepRotating, "10000"},
		{"latency20ms-throttled-defaultSSM", true, reconcile.DeepNone, "35"},
	} {
		b.Run(mode.name, func(b *testing.B) {
			l.admin(b, "POST", "throttle", fmt.Sprintf(`{"enabled":%v}`, mode.throttle))
			l.admin(b, "DELETE", "faults", "")
			l.admin(b, "POST", "faults", `{"latency":"20ms"}`)
			defer l.admin(b, "DELETE", "faults", "")
			for range b.N {
				// A fresh reconciler, as after a cold start: no cached spoke
				// credentials, so each account's AssumeRole is counted.
				rec := l.reconciler(b, accounts, mode.readRate)
				l.admin(b, "DELETE", "calls", "")
				peak := watchHeap()
				start := time.Now()
				rep, err := rec.Run(ctx, reconcile.Request{Deep: mode.depth})
				wall := time.Since(start)
				heap := peak()
				if err != nil {
					b.Fatal(err)
				}
				if rep.Drifts != 0 || len(rep.FailedAccounts) > 0 {
					b.Fatalf("sweep of an in-sync organization found %d drifts, %d failed accounts: %v", rep.Drifts, len(rep.FailedAccounts), rep.FailedAccounts)
				}
				total, writes, perSweep := l.calls(b)
				b.ReportMetric(wall.Seconds(), "wall-s")
				b.ReportMetric(float64(total), "calls")
				b.ReportMetric(float64(total-perSweep)/float64(accounts), "calls/account")
				b.ReportMetric(float64(perSweep), "hub-calls/sweep")
				b.ReportMetric(float64(writes), "writes")
				b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MB")
			}
		})
	}
}

type localProcess struct {
	url string
}

func startLocalAWS(b *testing.B, accounts int) *localProcess {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "localaws")
	build := exec.Command("go", "build", "-o", bin, "github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/cmd/localaws")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		b.Fatalf("building the local AWS: %v", err)
	}
	top := topology(accounts)
	raw, _ := json.Marshal(top)
	topFile := filepath.Join(dir, "topology.json")
	if err := os.WriteFile(topFile, raw, 0o644); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-addr", addr, "-topology", topFile)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	l := &localProcess{url: "http://" + addr}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(l.url + "/_localaws/health")
		if err == nil {
			if err := resp.Body.Close(); err != nil {
				b.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the local AWS did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return l
}

func topology(accounts int) localaws.Topology {
	const hub = "111111111111"
	top := localaws.Topology{Region: "us-east-1", Accounts: []localaws.Account{{
		ID:         hub,
		Roles:      []localaws.Role{{Name: "jenkins-agent-vpcs-reconcile", Trust: localaws.Trust{Principals: []string{"lambda.amazonaws.com"}}}},
		EventBuses: []localaws.EventBus{{Name: "jenkins-agent-vpcs"}},
		EndpointServices: []localaws.EndpointService{{ID: "vpce-svc-0a1b2c3d4e5f60001", AcceptanceRequired: true,
			AZs: []string{"use1-az1", "use1-az2", "use1-az4"}, Ports: []int{50000}}},
	}}}
	spoke := []localaws.Role{{Name: "jenkins-agent-vpcs-spoke", Trust: localaws.Trust{ExternalID: "bench",
		Principals: []string{"arn:aws:iam::" + hub + ":role/jenkins-agent-vpcs-reconcile"}}}}
	for i := range accounts {
		a := localaws.Account{ID: fmt.Sprintf("%012d", 200000000000+i), Roles: spoke}
		for v := range 3 {
			a.VPCs = append(a.VPCs, localaws.VPC{CIDR: fmt.Sprintf("10.%d.0.0/16", v), Tags: map[string]string{"jenkins-agents": "true"},
				Subnets: []localaws.Subnet{{AZ: "us-east-1a"}, {AZ: "us-east-1b"}, {AZ: "us-east-1c"}}})
		}
		top.Accounts = append(top.Accounts, a)
	}
	return top
}

func (l *localProcess) admin(b *testing.B, method, path, body string) []byte {
	b.Helper()
	req, _ := http.NewRequest(method, l.url+"/_localaws/"+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	out, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	if resp.StatusCode >= 300 {
		b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
	return out
}

// calls totals the local AWS's call counters: all calls, writes, and the
// hub's calls that are per sweep rather than per account (everything on
// the hub but the per-account parameter reads).
func (l *localProcess) calls(b *testing.B) (total, writes, hub int) {
	var counts []struct {
		Service, Action, Account string
		Count                    int
	}
	raw := l.admin(b, "GET", "calls", "")
	if err := json.Unmarshal(raw, &counts); err != nil {
		var wrapped struct {
			Calls []struct {
				Service, Action, Account string
				Count                    int
			}
		}
		if err := json.Unmarshal(raw, &wrapped); err != nil {
			b.Fatalf("decoding calls: %v: %s", err, raw)
		}
		counts = wrapped.Calls
	}
	for _, c := range counts {
		total += c.Count
		if c.Account == "111111111111" && c.Action != "GetParametersByPath" && c.Action != "AssumeRole" {
			hub += c.Count
		}
		if !strings.HasPrefix(c.Action, "Describe") && !strings.HasPrefix(c.Action, "Get") && c.Action != "AssumeRole" {
			writes += c.Count
		}
	}
	return total, writes, hub
}

func (l *localProcess) reconciler(b *testing.B, accounts int, readRate string) *reconcile.Reconciler {
	b.Helper()
	var creds localaws.Credentials
	raw := l.admin(b, "POST", "credentials", `{"account":"111111111111","role":"jenkins-agent-vpcs-reconcile","session":"bench"}`)
	if err := json.Unmarshal(raw, &creds); err != nil {
		b.Fatal(err)
	}
	allowed := make([]string, accounts)
	for i := range accounts {
		allowed[i] = fmt.Sprintf("%012d", 200000000000+i)
	}
	m := map[string]string{"ENDPOINT_SERVICE_ID": "vpce-svc-0a1b2c3d4e5f60001", "EVENT_BUS_NAME": "jenkins-agent-vpcs",
		"SPOKE_EXTERNAL_ID": "bench", "GRACE_PERIOD": "0s", "CONCURRENCY": "64", "FANOUT_THRESHOLD": "100000",
		"ALLOWED_ACCOUNTS": strings.Join(allowed, ","), "SSM_READ_RATE": readRate}
	cfg, err := config.Load(func(k string) string { return m[k] })
	if err != nil {
		b.Fatal(err)
	}
	base := aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(l.url), Retryer: function.Retryer,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)}
	base.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	core := function.NewCore(cfg, function.ClientsFrom(base, cfg), function.Options{Region: "us-east-1",
		Log: telemetry.NewLogger(io.Discard, "error"), MetricsOut: io.Discard, SessionName: "reconcile"})
	return core.Reconciler()
}

// watchHeap samples the heap until the returned func is called, which
// returns the peak in bytes.
func watchHeap() func() uint64 {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(stop); <-done; return peak.Load() }
}
