package event_test

import (
	"testing"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
)

// BenchmarkDecode measures the onboard decoder, key checks included, on a
// CloudTrail record (the largest event it reads).
func BenchmarkDecode(b *testing.B) {
	payload := load(b, "cloudtrail-createtags-mixed.json")
	d := event.Decoder{TagKey: "jenkins-agents"}
	for b.Loop() {
		if res, err := d.Decode(payload); err != nil || len(res.Hints) == 0 {
			b.Fatal(res, err)
		}
	}
}
