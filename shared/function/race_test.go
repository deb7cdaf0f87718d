package function_test

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
)

// Defect 3 as AWS would play it: untag quickly followed by re-tag (and
// the reverse), each flip's aws.tag event starting its own invocation,
// the two invocations running side by side against a local AWS whose
// reads lag its writes (a 200 ms window: the flips come 0-15 ms apart, so
// every read of the tag in the first moments may show either state). No
// reconciler: every trial must end in the state the tag last says, with
// failed invocations retried as Lambda does (twice). RACE_TRIALS sets the
// number of trials (the README's figure is from 1,000).
func TestTagFlipRaceUnderLaggingReads(t *testing.T) {
	trials := 20 // about 30 s
	if testing.Short() {
		trials = 6
	}
	if n, err := strconv.Atoi(os.Getenv("RACE_TRIALS")); err == nil && n > 0 {
		trials = n
	}
	const window = 200 * time.Millisecond
	w := newWorld(t)
	w.cfg.ReadDelay = window
	w.retryInterval = window / 5 // five retries wait 40+80+160+320 ms
	w.srv.SetConsistency(localaws.Consistency{Window: window, Seed: 2026})
	w.jitter = rand.New(rand.NewPCG(11, 1))
	later := func() { w.srv.Clock().Skip(window + time.Millisecond) }
	started := time.Now()
	wrong := flipRace(t, w, rand.New(rand.NewPCG(11, 2026)), trials, func(tagged bool) []byte { return tagEvent(t, tagged) }, later)
	t.Logf("%d trials in %s, %d wrong", trials, time.Since(started).Round(time.Second), wrong)
	if wrong > 0 {
		t.Errorf("%d of %d trials ended in a wrong state", wrong, trials)
	}
}

// flipRace runs trials of two quick flips of cVPC1's opt-in tag, each
// flip starting its own onboard invocation with payload(the tag after
// it): the first invocation right after the first flip, the second flip
// 0-15 ms later and its invocation 0-5 ms after it. A failed invocation
// is retried twice, as Lambda does; no reconciler runs. later lets the
// reads catch up before the end state is checked. It returns how many
// trials ended in a state other than the one the tag last says (each
// logged), and starts every other trial from the other state.
func flipRace(t *testing.T, w *world, rng *rand.Rand, trials int, payload func(tagged bool) []byte, later func()) (wrong int) {
	t.Helper()
	invoke := func(wg *sync.WaitGroup, mu *sync.Mutex, errs *[]string, event []byte, delay time.Duration) {
		defer wg.Done()
		time.Sleep(delay)
		var err error
		for range 3 { // the invocation and Lambda's two retries
			if err = run(w.core("onboard", 0).Onboard(), event); err == nil {
				return
			}
		}
		mu.Lock()
		*errs = append(*errs, err.Error())
		mu.Unlock()
	}
	tagged := false
	for trial := range trials {
		start := tagged
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []string
		w.setTag(cVPC1, !start)
		wg.Add(1)
		go invoke(&wg, &mu, &errs, payload(!start), 0)
		time.Sleep(time.Duration(rng.IntN(15000)) * time.Microsecond)
		w.setTag(cVPC1, start)
		wg.Add(1)
		go invoke(&wg, &mu, &errs, payload(start), time.Duration(rng.IntN(5000))*time.Microsecond)
		wg.Wait()
		later()
		var problems []string
		if start {
			problems = w.onboardedProblems(cVPC1)
		} else {
			problems = w.removedProblems(cVPC1)
		}
		problems = append(problems, errs...)
		if len(problems) > 0 {
			wrong++
			t.Logf("trial %d (ends tagged=%v): %s", trial, start, strings.Join(problems, "; "))
		}
		if trial%2 == 0 {
			tagged = !tagged
			w.setTag(cVPC1, tagged)
			if err := run(w.core("onboard", 0).Onboard(), payload(tagged)); err != nil {
				t.Fatalf("trial %d: moving to tagged=%v: %v", trial, tagged, err)
			}
			later()
		}
	}
	return wrong
}
