package localaws

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// serveAdmin answers the control endpoints under /_localaws/:
//
//	GET    /_localaws/health
//	GET    /_localaws/faults            list active faults
//	POST   /_localaws/faults            add one Fault or a JSON array of them
//	DELETE /_localaws/faults[?id=...]   remove one or every fault
//	GET    /_localaws/throttle          {"enabled":bool}
//	POST   /_localaws/throttle          {"enabled":bool}
//	GET    /_localaws/calls             per service/action/account counters
//	DELETE /_localaws/calls             reset the counters (POST /_localaws/calls/reset too)
//	GET    /_localaws/clock             {"now":..., "frozen":bool}
//	POST   /_localaws/clock             {"set":RFC3339} | {"advance":"90s"} | {"real":true}
//	POST   /_localaws/topology          seed more topology (YAML or JSON body)
//	GET    /_localaws/events            the last events put on any bus
//	POST   /_localaws/rules/trigger     {"account","region","bus","rule"}: fire a schedule rule
//	POST   /_localaws/credentials       {"account","role","session","durationSeconds"}: a role's
//	                                    credentials as Lambda would get them (no trust check)
//	POST   /_localaws/flush             wait until queued and delayed deliveries ran
//	GET    /_localaws/delivery          {"strict","options","stats"}: how events are delivered, what it did
//	DELETE /_localaws/delivery          reset the delivery counters
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	reply := func(v any) { s.writeAdmin(w, r, http.StatusOK, v) }
	fail := func(status int, err error) { s.writeAdmin(w, r, status, map[string]string{"error": err.Error()}) }
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		fail(http.StatusBadRequest, err)
		return
	}
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /_localaws/health":
		reply(map[string]string{"status": "ok"})
	case "GET /_localaws/faults":
		reply(s.Faults())
	case "POST /_localaws/faults":
		var list []Fault
		if len(body) > 0 && body[0] == '[' {
			err = json.Unmarshal(body, &list)
		} else {
			var f Fault
			err = json.Unmarshal(body, &f)
			list = []Fault{f}
		}
		if err != nil {
			fail(http.StatusBadRequest, fmt.Errorf("decoding fault, %w", err))
			return
		}
		ids := []string{}
		for _, f := range list {
			ids = append(ids, s.InjectFault(f))
		}
		reply(map[string][]string{"ids": ids})
	case "DELETE /_localaws/faults":
		if id := r.URL.Query().Get("id"); id != "" {
			reply(map[string]bool{"removed": s.RemoveFault(id)})
			return
		}
		s.ClearFaults()
		reply(map[string]bool{"removed": true})
	case "GET /_localaws/throttle":
		s.throttle.mu.Lock()
		enabled := s.throttle.enabled
		s.throttle.mu.Unlock()
		reply(map[string]bool{"enabled": enabled})
	case "POST /_localaws/throttle":
		var in struct{ Enabled bool }
		if err := json.Unmarshal(body, &in); err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		s.SetThrottle(in.Enabled)
		reply(map[string]bool{"enabled": in.Enabled})
	case "GET /_localaws/calls":
		reply(s.Calls())
	case "DELETE /_localaws/calls", "POST /_localaws/calls/reset":
		s.ResetCalls()
		reply(map[string]bool{"reset": true})
	case "GET /_localaws/clock":
		reply(map[string]any{"now": s.clock.Now(), "frozen": s.clock.Frozen()})
	case "POST /_localaws/clock":
		var in struct {
			Set     *time.Time
			Advance Duration
			Real    bool
		}
		if err := json.Unmarshal(body, &in); err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		switch {
		case in.Real:
			s.clock.Real()
		case in.Set != nil:
			s.clock.Set(*in.Set)
		case in.Advance != 0:
			s.clock.Advance(time.Duration(in.Advance))
		}
		reply(map[string]any{"now": s.clock.Now(), "frozen": s.clock.Frozen()})
	case "POST /_localaws/topology":
		t, err := ParseTopology(body)
		if err == nil {
			err = s.Seed(t)
		}
		if err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		reply(map[string]int{"accounts": len(t.Accounts)})
	case "GET /_localaws/events":
		reply(s.RecentEvents())
	case "POST /_localaws/rules/trigger":
		var in struct{ Account, Region, Bus, Rule string }
		if err := json.Unmarshal(body, &in); err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		if err := s.TriggerRule(in.Account, in.Region, in.Bus, in.Rule); err != nil {
			fail(http.StatusNotFound, err)
			return
		}
		reply(map[string]bool{"triggered": true})
	case "POST /_localaws/credentials":
		var in struct {
			Account, Role, Session string
			DurationSeconds        int
		}
		if err := json.Unmarshal(body, &in); err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		c, err := s.RoleCredentials(in.Account, in.Role, or(in.Session, "localaws"), time.Duration(in.DurationSeconds)*time.Second)
		if err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		reply(c)
	case "POST /_localaws/flush":
		reply(map[string]bool{"drained": s.Flush(10 * time.Second)})
	case "GET /_localaws/delivery":
		opts, strict := s.Delivery()
		reply(map[string]any{"strict": strict, "stats": s.DeliveryStats(), "options": map[string]any{
			"duplicateRatio": opts.DuplicateRatio, "dropTagRatio": opts.DropTagRatio, "seed": opts.Seed,
			"maxDelay": opts.MaxDelay.String(), "cloudTrailDelay": opts.CloudTrailDelay.String()}})
	case "DELETE /_localaws/delivery":
		s.ResetDeliveryStats()
		reply(map[string]bool{"reset": true})
	default:
		fail(http.StatusNotFound, fmt.Errorf("no admin endpoint %s", route))
	}
}

// writeAdmin answers an admin call with v as JSON.
func (s *Server) writeAdmin(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.log.Debug("writing the admin answer", "path", r.URL.Path, "err", err)
	}
}
