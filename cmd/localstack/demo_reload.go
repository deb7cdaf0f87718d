package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// demoReloadToken is the stand-in Jenkins's CASC_RELOAD_TOKEN in the demo;
// the local stack's stand-in for Secrets Manager holds the same value.
const demoReloadToken = "demo-casc-reload-token"

// showReloads shows what template.yaml's reload rule did: one JCasC reload
// per agent VPC that became ready (or was removed), through the EventBridge
// API destination, and a call without the token refused as the JCasC
// plugin refuses it.
func (d *demo) showReloads(want int) error {
	calls := d.jenkins.Calls()
	d.say("Jenkins stand-in at %s (POST /reload-configuration-as-code/?casc-reload-token=...):", d.jenkins.URL)
	for _, c := range calls {
		d.say("  %s  %d %s", c.Time.Format("15:04:05.000"), c.Status, http.StatusText(c.Status))
	}
	if got := d.jenkins.Reloads(); got < want {
		return fmt.Errorf("jenkins reloaded %d times, want at least %d (dead letters %+v)", got, want, d.s.AWS.DeadLetters())
	}
	if len(d.s.AWS.DeadLetters()) > 0 {
		return fmt.Errorf("reload events dead-lettered: %+v", d.s.AWS.DeadLetters())
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

// reloads is the demo step after tagging: two VPCs became ready, so two
// reloads; a wrong token is refused.
func (d *demo) reloads() error {
	if err := d.showReloads(2); err != nil {
		return err
	}
	d.say("")
	return d.wrongToken()
}
