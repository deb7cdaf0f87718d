package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localstack"
)

// demoReloadToken is the stand-in Jenkins's CASC_RELOAD_TOKEN in the demo;
// the local stack's stand-in for Secrets Manager holds the same value.
const demoReloadToken = "demo-casc-reload-token"

// reloadDelay is template.yaml's JenkinsReloadQueue delay; dedupInterval
// is SQS's deduplication interval: the changes of 5 minutes make one
// reload, 6 minutes after the first of them.
const (
	reloadDelay   = 360 * time.Second
	dedupInterval = 300 * time.Second
)

// foldedReloads is what the reload section did with the changes so far:
// the message in the fold queue, then, once the demo lets the window pass
// on the local AWS's clock, the reload the pipe made of it.
func (d *demo) foldedReloads() error {
	queued, err := d.reloadQueue()
	if err != nil {
		return err
	}
	d.say("The status changes went to JenkinsReloadQueue (FIFO, content-based deduplication, 5-minute delay):")
	d.say("  %d message(s) waiting, %d JCasC reload(s) so far", queued, d.jenkins.Reloads())
	d.say("Let the queue's 5 minutes pass on the local AWS's clock; the pipe then calls Jenkins:")
	return d.passReloadWindow()
}

// reloadQueue counts the fold queue's messages.
func (d *demo) reloadQueue() (int, error) {
	depth, ok := d.s.AWS.QueueDepth(d.s.Queues["JenkinsReloadQueue"])
	if !ok {
		return 0, fmt.Errorf("no JenkinsReloadQueue in the stack (queues %v)", d.s.Queues)
	}
	return depth.Visible + depth.InFlight + depth.Delayed, nil
}

// passReloadWindow moves the local AWS's clock past the fold queue's delay
// and waits until the pipe has emptied the queue.
func (d *demo) passReloadWindow() error {
	d.s.AWS.Clock().Skip(reloadDelay + time.Second)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n, err := d.reloadQueue()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the reload queue still holds %d message(s) after its window", n)
		}
	}
}

// showReloads lists the JCasC reloads on the local AWS's clock and checks
// the fold: at least want reloads, all accepted, no two in one window, and
// nothing in the reload dead-letter queues.
func (d *demo) showReloads(want int) error {
	var calls []localstack.ReloadCall
	reloads := 0
	for _, c := range d.jenkins.Calls() {
		// The pipe's calls carry the connection's header; the demo's
		// own wrong-token call does not.
		if c.From == "reload" {
			calls = append(calls, c)
			if c.Status == http.StatusOK {
				reloads++
			}
		}
	}
	d.say("Jenkins stand-in at %s (POST /reload-configuration-as-code/?casc-reload-token=...):", d.jenkins.URL)
	for i, c := range calls {
		gap := ""
		if i > 0 {
			gap = fmt.Sprintf("  (%s after the previous one)", c.AWSTime.Sub(calls[i-1].AWSTime).Round(time.Second))
		}
		d.say("  AWS time %s  %d %s%s", c.AWSTime.Format("15:04:05"), c.Status, http.StatusText(c.Status), gap)
		if i > 0 && c.AWSTime.Sub(calls[i-1].AWSTime) < dedupInterval-time.Second {
			return fmt.Errorf("reloads %d and %d within one 5-minute window", i-1, i)
		}
	}
	if reloads < want || reloads != len(calls) {
		return fmt.Errorf("jenkins reloaded %d times in %d calls, want at least %d, all accepted", reloads, len(calls), want)
	}
	depths, err := d.s.DeadLetterDepths(d.ctx)
	if err != nil {
		return err
	}
	for _, q := range []string{"JenkinsReloadDeadLetterQueue", "JenkinsReloadQueueDeadLetterQueue"} {
		if depths[q] > 0 {
			return fmt.Errorf("%d reload(s) in %s", depths[q], q)
		}
	}
	return nil
}

// wrongToken calls the reload endpoint with a wrong token, as anyone
// without the connection's secret would.
func (d *demo) wrongToken() error {
	ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.jenkins.URL+"/reload-configuration-as-code/?casc-reload-token=guess", nil)
	if err != nil {
		return err
	}
	resp, err := d.jenkins.Client().Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	d.say("$ curl -X POST '%s/reload-configuration-as-code/?casc-reload-token=guess'  -> %d %s", d.jenkins.URL, resp.StatusCode, http.StatusText(resp.StatusCode))
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("a wrong token got %d", resp.StatusCode)
	}
	return nil
}

// reloads is the demo step after tagging: two VPCs became ready, their
// changes fold into one reload; a wrong token is refused.
func (d *demo) reloads() error {
	if err := d.foldedReloads(); err != nil {
		return err
	}
	if err := d.showReloads(1); err != nil {
		return err
	}
	d.say("")
	return d.wrongToken()
}

// allReloads is the demo's last step: the changes since (repairs,
// removals) fold the same way.
func (d *demo) allReloads() error {
	if err := d.foldedReloads(); err != nil {
		return err
	}
	return d.showReloads(2)
}
