package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
)

// deliverySeed seeds every test stack's local AWS: the tests run with
// strict delivery (duplicated, late, out-of-order events, lost aws.tag
// events), reproducibly as far as their events are emitted in order.
const deliverySeed = 20260101

// delivered sums what strict delivery did over the run, reported by TestMain.
var delivered struct {
	sync.Mutex
	localaws.DeliveryStats
	stacks int
}

// Built once per package run by TestMain.
var (
	repoRoot   string
	emulator   string
	bootstraps map[string]string
	functions  []string // the functions the tests run
	// noReconcile says why the reconcile function is not run ("" when it is).
	noReconcile string
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (_ int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	wd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	if repoRoot, err = localstack.RepoRoot(wd); err != nil {
		return 0, err
	}
	functions = []string{"OnboardFunction", "AcceptFunction", "ReconcileFunction"}
	if _, err := os.Stat(filepath.Join(repoRoot, localstack.FunctionDir("ReconcileFunction"))); errors.Is(err, os.ErrNotExist) {
		noReconcile = localstack.FunctionDir("ReconcileFunction") + " does not exist yet"
		functions = functions[:2]
	}
	cache, err := localstack.CacheDir()
	if err != nil {
		return 0, err
	}
	if emulator, err = localstack.Emulator(ctx, cache, os.Stderr); err != nil {
		return 0, err
	}
	out, err := os.MkdirTemp("", "e2e-build-")
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(out)) }()
	if bootstraps, err = localstack.Build(ctx, repoRoot, out, functions, os.Stderr); err != nil {
		return 0, err
	}
	code := m.Run()
	delivered.Lock()
	fmt.Fprintf(os.Stderr, "e2e: strict delivery over %d stacks (seed %d): %+v\n", delivered.stacks, deliverySeed, delivered.DeliveryStats)
	delivered.Unlock()
	return code, nil
}

// start runs the product for one test on the documented topology and
// stops every process when the test ends; on failure it prints the
// functions' logs.
func start(t *testing.T, opts localstack.Options) *localstack.Stack {
	t.Helper()
	opts.RepoRoot, opts.Emulator, opts.Bootstraps = repoRoot, emulator, bootstraps
	if opts.Functions == nil {
		opts.Functions = functions
	}
	if opts.WorkDir == "" {
		opts.WorkDir = t.TempDir()
	}
	if opts.Seed == 0 {
		opts.Seed = deliverySeed
	}
	if opts.Parameters == nil {
		// Nothing in these tests is old: let the reconciler repair at once.
		opts.Parameters = map[string]string{"GracePeriod": "0s"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := localstack.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st := s.AWS.DeliveryStats()
		t.Logf("delivery: %+v", st)
		delivered.Lock()
		delivered.stacks++
		delivered.Delivered += st.Delivered
		delivered.Duplicated += st.Duplicated
		delivered.Delayed += st.Delayed
		delivered.Reordered += st.Reordered
		delivered.DroppedTagEvents += st.DroppedTagEvents
		delivered.LateCloudTrailEvents += st.LateCloudTrailEvents
		delivered.Unlock()
		if t.Failed() {
			for _, id := range opts.Functions {
				t.Logf("---- %s log ----\n%s", id, tail(s.Log(id), 12000))
			}
			for _, inv := range s.Invocations() {
				t.Logf("invocation %s <- %s attempt %d: err=%v fnerr=%v payload=%.200s", inv.Function, inv.Trigger, inv.Attempt, inv.Err, inv.Result.Error, inv.Payload)
			}
		}
		if err := s.Close(); err != nil {
			t.Errorf("stopping the local stack, %v", err)
		}
	})
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func needReconcile(t *testing.T) {
	t.Helper()
	if noReconcile != "" {
		t.Skip("reconcile function not built: " + noReconcile)
	}
}
