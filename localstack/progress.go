package localstack

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// progressEvery is how often a build in progress says it still runs: a
// first build with an empty Go build cache takes minutes.
const progressEvery = 10 * time.Second

// progress reports steps that take long: a line when one starts, one every
// interval naming the steps still running and for how long, and one with
// each step's duration when it ends. A nil *progress reports nothing.
type progress struct {
	w     io.Writer
	every time.Duration

	mu      sync.Mutex
	running map[string]time.Time
	tick    *time.Ticker
	stop    chan struct{}
}

func newProgress(w io.Writer, every time.Duration) *progress {
	if w == nil {
		return nil
	}
	return &progress{w: w, every: every, running: map[string]time.Time{}}
}

// start reports that what began (say "building AcceptFunction (make
// build-AcceptFunction)") and returns the function that reports its end.
func (p *progress) start(what, detail string) (done func(err error)) {
	if p == nil {
		return func(error) {}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	began := time.Now()
	p.running[what] = began
	p.printf("%s %s", what, detail)
	if p.tick == nil {
		p.tick, p.stop = time.NewTicker(p.every), make(chan struct{})
		go p.report(p.tick, p.stop)
	}
	return func(err error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(p.running, what)
		took := time.Since(began).Round(100 * time.Millisecond)
		if err != nil {
			p.printf("%s failed after %s", what, took)
		} else {
			p.printf("%s: done in %s", what, took)
		}
		if len(p.running) == 0 {
			p.tick.Stop()
			close(p.stop)
			p.tick = nil
		}
	}
}

func (p *progress) report(tick *time.Ticker, stop chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		var still []string
		for what, began := range p.running {
			still = append(still, fmt.Sprintf("%s (%s)", what, time.Since(began).Round(time.Second)))
		}
		slices.Sort(still)
		if len(still) > 0 {
			p.printf("still %s", strings.Join(still, ", "))
		}
		p.mu.Unlock()
	}
}

func (p *progress) printf(format string, args ...any) {
	fmt.Fprintf(p.w, format+"\n", args...)
}
