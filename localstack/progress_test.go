package localstack

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits until out has a line starting with prefix after its first
// `after` bytes, and returns the output's length then.
func waitFor(t *testing.T, out *lockedBuffer, after int, prefix string) int {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		s := out.String()
		if strings.HasPrefix(s[after:], prefix) || strings.Contains(s[after:], "\n"+prefix) {
			return len(s)
		}
	}
	t.Fatalf("no line %q... after %q", prefix, out.String()[:after])
	return 0
}

// TestProgress: a step says when it starts, the steps still running are
// named with their time at every interval, and each end says how long it
// took; once nothing runs, nothing more is said.
func TestProgress(t *testing.T) {
	var out lockedBuffer
	p := newProgress(&out, 10*time.Millisecond)
	doneA := p.start("building A", "(make build-A)")
	doneB := p.start("building B", "(make build-B)")
	if got := out.String(); got != "building A (make build-A)\nbuilding B (make build-B)\n" {
		t.Errorf("starts said %q", got)
	}
	n := waitFor(t, &out, 0, "still building A (")
	if still := out.String(); !strings.Contains(still, "), building B (") {
		t.Errorf("the steps running are not both named: %q", still)
	}
	doneA(nil)
	n = waitFor(t, &out, n, "building A: done in ")
	n = waitFor(t, &out, n, "still building B (")
	doneB(errors.New("exit status 2"))
	waitFor(t, &out, n, "building B failed after ")
	end := out.String()
	time.Sleep(50 * time.Millisecond)
	if out.String() != end {
		t.Errorf("lines after every step ended: %q", out.String()[len(end):])
	}
	var nothing *progress
	nothing.start("x", "y")(nil) // a nil progress reports nothing
}
