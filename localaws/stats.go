package localaws

import (
	"encoding/json"
	"errors"
	"os"
)

// StrictnessStats is how strict a server was with its callers: what IAM
// refused, how often EC2 answered from before a write, what delivery
// duplicated, delayed, reordered or lost, and what the queues handed out
// twice, missed on a short poll or moved to a dead-letter queue.
type StrictnessStats struct {
	Denials           int           `json:"denials"`
	ConsistencyFaults int64         `json:"consistencyFaults"`
	Delivery          DeliveryStats `json:"delivery"`
	Queues            QueueStats    `json:"queues"`
}

// Strictness reads the counters behind StrictnessStats.
func (s *Server) Strictness() StrictnessStats {
	return StrictnessStats{Denials: len(s.Denials()), ConsistencyFaults: s.ConsistencyFaults(), Delivery: s.DeliveryStats(), Queues: s.QueueStats()}
}

// StatsFileEnv names a file to which every server appends one JSON line of
// StrictnessStats when it closes: how a whole test suite's strictness is
// counted (see the README's measurements).
const StatsFileEnv = "LOCALAWS_STATS_FILE"

func (s *Server) appendStats() {
	path := os.Getenv(StatsFileEnv)
	if path == "" {
		return
	}
	line, err := json.Marshal(s.Strictness())
	if err != nil {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		s.log.Warn("writing strictness stats", "file", path, "err", err)
		return
	}
	_, werr := f.Write(append(line, '\n'))
	if err := errors.Join(werr, f.Close()); err != nil {
		s.log.Warn("writing strictness stats", "file", path, "err", err)
	}
}
