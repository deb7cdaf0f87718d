package localaws

import (
	"encoding/json"
	"errors"
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
//	GET    /_localaws/queues            {"strict","options","stats","depths"}: the queues' strictness,
//	                                    what it did, and each queue's depth by ARN
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	var v any
	if err == nil {
		v, err = s.admin(r, body)
	}
	if err != nil {
		status := http.StatusBadRequest
		if errors.As(err, new(adminNotFoundError)) {
			status = http.StatusNotFound
		}
		s.writeAdmin(w, r, status, map[string]string{"error": err.Error()})
		return
	}
	s.writeAdmin(w, r, http.StatusOK, v)
}

// adminNotFoundError is an admin call's error that answers 404 Not Found;
// every other error answers 400 Bad Request.
type adminNotFoundError struct{ error }

// admin does what an admin call asks and returns the answer's body.
func (s *Server) admin(r *http.Request, body []byte) (any, error) {
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /_localaws/health":
		return map[string]string{"status": "ok"}, nil
	case "GET /_localaws/faults":
		return s.Faults(), nil
	case "POST /_localaws/faults":
		return s.adminInjectFaults(body)
	case "DELETE /_localaws/faults":
		if id := r.URL.Query().Get("id"); id != "" {
			return map[string]bool{"removed": s.RemoveFault(id)}, nil
		}
		s.ClearFaults()
		return map[string]bool{"removed": true}, nil
	case "GET /_localaws/throttle":
		s.throttle.mu.Lock()
		enabled := s.throttle.enabled
		s.throttle.mu.Unlock()
		return map[string]bool{"enabled": enabled}, nil
	case "POST /_localaws/throttle":
		var in struct{ Enabled bool }
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		s.SetThrottle(in.Enabled)
		return map[string]bool{"enabled": in.Enabled}, nil
	case "GET /_localaws/calls":
		return s.Calls(), nil
	case "DELETE /_localaws/calls", "POST /_localaws/calls/reset":
		s.ResetCalls()
		return map[string]bool{"reset": true}, nil
	case "GET /_localaws/clock":
		return map[string]any{"now": s.clock.Now(), "frozen": s.clock.Frozen()}, nil
	case "POST /_localaws/clock":
		return s.adminSetClock(body)
	case "POST /_localaws/topology":
		return s.adminSeed(body)
	case "GET /_localaws/events":
		return s.RecentEvents(), nil
	case "POST /_localaws/rules/trigger":
		return s.adminTriggerRule(body)
	case "POST /_localaws/credentials":
		return s.adminCredentials(body)
	case "POST /_localaws/flush":
		return map[string]bool{"drained": s.Flush(10 * time.Second)}, nil
	case "GET /_localaws/delivery":
		opts, strict := s.Delivery()
		return map[string]any{"strict": strict, "stats": s.DeliveryStats(), "options": map[string]any{
			"duplicateRatio": opts.DuplicateRatio, "dropTagRatio": opts.DropTagRatio, "seed": opts.Seed,
			"maxDelay": opts.MaxDelay.String(), "cloudTrailDelay": opts.CloudTrailDelay.String()}}, nil
	case "DELETE /_localaws/delivery":
		s.ResetDeliveryStats()
		return map[string]bool{"reset": true}, nil
	case "GET /_localaws/queues":
		opts, strict := s.QueueStrictness()
		return map[string]any{"strict": strict, "options": opts, "stats": s.QueueStats(), "depths": s.QueueDepths()}, nil
	}
	return nil, adminNotFoundError{fmt.Errorf("no admin endpoint %s", route)}
}

// adminInjectFaults injects one Fault or a JSON array of them.
func (s *Server) adminInjectFaults(body []byte) (any, error) {
	var list []Fault
	var err error
	if len(body) > 0 && body[0] == '[' {
		err = json.Unmarshal(body, &list)
	} else {
		var f Fault
		err = json.Unmarshal(body, &f)
		list = []Fault{f}
	}
	if err != nil {
		return nil, fmt.Errorf("decoding fault, %w", err)
	}
	ids := []string{}
	for _, f := range list {
		ids = append(ids, s.InjectFault(f))
	}
	return map[string][]string{"ids": ids}, nil
}

// adminSetClock sets, advances or unfreezes the clock.
func (s *Server) adminSetClock(body []byte) (any, error) {
	var in struct {
		Set     *time.Time
		Advance Duration
		Real    bool
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	switch {
	case in.Real:
		s.clock.Real()
	case in.Set != nil:
		s.clock.Set(*in.Set)
	case in.Advance != 0:
		s.clock.Advance(time.Duration(in.Advance))
	}
	return map[string]any{"now": s.clock.Now(), "frozen": s.clock.Frozen()}, nil
}

// adminSeed seeds more topology from a YAML or JSON body.
func (s *Server) adminSeed(body []byte) (any, error) {
	t, err := ParseTopology(body)
	if err == nil {
		err = s.Seed(t)
	}
	if err != nil {
		return nil, err
	}
	return map[string]int{"accounts": len(t.Accounts)}, nil
}

// adminTriggerRule fires a schedule rule; a rule that is not there is
// not found.
func (s *Server) adminTriggerRule(body []byte) (any, error) {
	var in struct{ Account, Region, Bus, Rule string }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if err := s.TriggerRule(in.Account, in.Region, in.Bus, in.Rule); err != nil {
		return nil, adminNotFoundError{err}
	}
	return map[string]bool{"triggered": true}, nil
}

// adminCredentials issues a role's credentials as Lambda would get them
// (no trust check).
func (s *Server) adminCredentials(body []byte) (any, error) {
	var in struct {
		Account, Role, Session string
		DurationSeconds        int
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	c, err := s.RoleCredentials(in.Account, in.Role, or(in.Session, "localaws"), time.Duration(in.DurationSeconds)*time.Second)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// writeAdmin answers an admin call with v as JSON.
func (s *Server) writeAdmin(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.log.Debug("writing the admin answer", "path", r.URL.Path, "err", err)
	}
}
