package localaws

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCloseAppendsStrictnessStatsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.jsonl")
	t.Setenv(StatsFileEnv, path)
	s := New(Options{})
	s.denied.add(Denial{Action: "ec2:CreateVpcEndpoint"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line per server, got %q", b)
	}
	var got StrictnessStats
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil || got.Denials != 1 {
		t.Fatalf("stats %q: %+v, %v", lines[0], got, err)
	}
}
