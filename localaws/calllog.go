package localaws

import (
	"sync"
	"time"
)

// Call is one authenticated API call as the local AWS saw it: who made it
// (the principal, not only the account, so a test can tell the onboard
// function's role from the spoke role it assumed) and how it ended. Calls
// refused before the caller is known (unsigned, unknown key) are not
// recorded: AWS's CloudTrail does not attribute them either.
type Call struct {
	// Seq numbers calls from 1 in the order they reached the server; it
	// keeps counting across ResetCallLog, so a mark taken before stays valid.
	Seq       int64     `json:"seq"`
	Service   string    `json:"service"` // ec2, sts, ssm, events (the IAM service prefix)
	Action    string    `json:"action"`
	Account   string    `json:"account"`
	Principal string    `json:"principal"` // arn:aws:iam::<acct>:root or arn:aws:sts::<acct>:assumed-role/<role>/<session>
	Region    string    `json:"region"`
	Code      string    `json:"code,omitempty"` // the error code answered; "" on success (or while the call runs)
	Time      time.Time `json:"time"`           // the server clock when the call arrived
}

// maxCallLog bounds the log of a long-running server (the local stack):
// past it, the oldest quarter of the calls is dropped.
const maxCallLog = 1 << 17

// callLog records every call in arrival order.
type callLog struct {
	mu    sync.Mutex
	seq   int64
	calls []Call
	ids   []string // request id of each call, to record its error code
}

// record appends a call that has just been identified.
func (l *callLog) record(service, action, account, principal, region, requestID string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	l.calls = append(l.calls, Call{Seq: l.seq, Service: service, Action: action, Account: account, Principal: principal, Region: region, Time: now})
	l.ids = append(l.ids, requestID)
	if len(l.calls) > maxCallLog {
		// Drop a quarter at once: copying the whole log for every call
		// past the bound made each call cost the log's size.
		drop := len(l.calls) - maxCallLog*3/4
		l.calls, l.ids = append([]Call(nil), l.calls[drop:]...), append([]string(nil), l.ids[drop:]...)
	}
}

// fail records the error code a call was answered with. Requests that
// fail before they are recorded (authentication) match nothing.
func (l *callLog) fail(requestID, code string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// The call is among the last few: only concurrent calls arrived since.
	for i := len(l.ids) - 1; i >= max(0, len(l.ids)-4096); i-- {
		if l.ids[i] == requestID {
			l.calls[i].Code = code
			return
		}
	}
}

func (l *callLog) list() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Call(nil), l.calls...)
}

func (l *callLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls, l.ids = nil, nil
}

// CallLog returns every recorded call, oldest first. Failed calls (faults,
// throttling, service errors) are included with their error code.
func (s *Server) CallLog() []Call { return s.callLog.list() }

// ResetCallLog forgets the recorded calls (Seq keeps counting). The
// counters of Calls and CallCount are separate; ResetCalls resets those.
func (s *Server) ResetCallLog() { s.callLog.reset() }
