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
	if do, ok := adminRoutes[route]; ok {
		return do(s, r, body)
	}
	return nil, adminNotFoundError{fmt.Errorf("no admin endpoint %s", route)}
}

// adminCall does one admin call: r for its query, body for its input.
type adminCall func(s *Server, r *http.Request, body []byte) (any, error)

// adminRoutes is every admin endpoint by "METHOD path".
var adminRoutes = map[string]adminCall{
	"GET /_localaws/health": func(*Server, *http.Request, []byte) (any, error) {
		return map[string]string{"status": "ok"}, nil
	},
	"GET /_localaws/faults": func(s *Server, _ *http.Request, _ []byte) (any, error) { return s.Faults(), nil },
	"POST /_localaws/faults": func(s *Server, _ *http.Request, body []byte) (any, error) {
		return s.adminInjectFaults(body)
	},
	"DELETE /_localaws/faults": func(s *Server, r *http.Request, _ []byte) (any, error) {
		if id := r.URL.Query().Get("id"); id != "" {
			return map[string]bool{"removed": s.RemoveFault(id)}, nil
		}
		s.ClearFaults()
		return map[string]bool{"removed": true}, nil
	},
	"GET /_localaws/throttle": func(s *Server, _ *http.Request, _ []byte) (any, error) {
		s.throttle.mu.Lock()
		enabled := s.throttle.enabled
		s.throttle.mu.Unlock()
		return map[string]bool{"enabled": enabled}, nil
	},
	"POST /_localaws/throttle": func(s *Server, _ *http.Request, body []byte) (any, error) {
		var in struct{ Enabled bool }
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		s.SetThrottle(in.Enabled)
		return map[string]bool{"enabled": in.Enabled}, nil
	},
	"GET /_localaws/calls":        func(s *Server, _ *http.Request, _ []byte) (any, error) { return s.Calls(), nil },
	"DELETE /_localaws/calls":     adminResetCalls,
	"POST /_localaws/calls/reset": adminResetCalls,
	"GET /_localaws/clock": func(s *Server, _ *http.Request, _ []byte) (any, error) {
		return map[string]any{"now": s.clock.Now(), "frozen": s.clock.Frozen()}, nil
	},
	"POST /_localaws/clock":    func(s *Server, _ *http.Request, body []byte) (any, error) { return s.adminSetClock(body) },
	"POST /_localaws/topology": func(s *Server, _ *http.Request, body []byte) (any, error) { return s.adminSeed(body) },
	"GET /_localaws/events":    func(s *Server, _ *http.Request, _ []byte) (any, error) { return s.RecentEvents(), nil },
	"POST /_localaws/rules/trigger": func(s *Server, _ *http.Request, body []byte) (any, error) {
		return s.adminTriggerRule(body)
	},
	"POST /_localaws/credentials": func(s *Server, _ *http.Request, body []byte) (any, error) {
		return s.adminCredentials(body)
	},
	"POST /_localaws/flush": func(s *Server, _ *http.Request, _ []byte) (any, error) {
		return map[string]bool{"drained": s.Flush(10 * time.Second)}, nil
	},
	"GET /_localaws/delivery": func(s *Server, _ *http.Request, _ []byte) (any, error) {
		opts, strict := s.Delivery()
		return map[string]any{"strict": strict, "stats": s.DeliveryStats(), "options": map[string]any{
			"duplicateRatio": opts.DuplicateRatio, "dropTagRatio": opts.DropTagRatio, "seed": opts.Seed,
			"maxDelay": opts.MaxDelay.String(), "cloudTrailDelay": opts.CloudTrailDelay.String()}}, nil
	},
	"DELETE /_localaws/delivery": func(s *Server, _ *http.Request, _ []byte) (any, error) {
		s.ResetDeliveryStats()
		return map[string]bool{"reset": true}, nil
	},
	"GET /_localaws/queues": func(s *Server, _ *http.Request, _ []byte) (any, error) {
		opts, strict := s.QueueStrictness()
		return map[string]any{"strict": strict, "options": opts, "stats": s.QueueStats(), "depths": s.QueueDepths()}, nil
	},
}

func adminResetCalls(s *Server, _ *http.Request, _ []byte) (any, error) {
	s.ResetCalls()
	return map[string]bool{"reset": true}, nil
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
