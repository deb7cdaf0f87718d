package ssmsim

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// TestStandardQuotaAndIntelligentTiering fills the standard tier's 10,000
// parameters of an account and Region: a new parameter that asks for
// Standard (or names no tier) is refused with ParameterLimitExceeded, one
// that asks for Intelligent-Tiering becomes advanced, as AWS documents
// ("Specifying a default parameter tier"), and deleting a standard
// parameter makes room again.
func TestStandardQuotaAndIntelligentTiering(t *testing.T) {
	svc := New(awsproto.NewStoppedClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)))
	for i := range parametersPerScope {
		if err := svc.Seed(hub, region, fmt.Sprintf("/fill/%05d", i), "", "v"); err != nil {
			t.Fatalf("seeding parameter %d: %v", i, err)
		}
	}
	v := "host:50000"
	tests := []struct {
		name, tier, wantTier, wantCode string
	}{
		{"no tier", "", "", "ParameterLimitExceeded"},
		{"standard", "Standard", "", "ParameterLimitExceeded"},
		{"intelligent-tiering", "Intelligent-Tiering", "Advanced", ""},
		{"advanced", "Advanced", "Advanced", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			par, err := svc.put(hub, region, putParameterInput{Name: "/jav/" + strings.ReplaceAll(tc.name, " ", "-"), Value: &v, Type: "String", Tier: tc.tier})
			switch {
			case tc.wantCode != "" && (err == nil || err.Code != tc.wantCode):
				t.Fatalf("put with tier %q = %v, want %s", tc.tier, err, tc.wantCode)
			case tc.wantCode == "" && err != nil:
				t.Fatalf("put with tier %q: %v", tc.tier, err)
			case tc.wantCode == "" && par.tier != tc.wantTier:
				t.Fatalf("put with tier %q stored tier %s, want %s", tc.tier, par.tier, tc.wantTier)
			}
		})
	}
	svc.mu.Lock()
	svc.remove(scopeKey(hub, region), svc.params[scopeKey(hub, region)], "/fill/00000")
	svc.mu.Unlock()
	if par, err := svc.put(hub, region, putParameterInput{Name: "/jav/after-delete", Value: &v, Type: "String"}); err != nil || par.tier != "Standard" {
		t.Fatalf("put after deleting a standard parameter = %v, %v; want a standard parameter", par, err)
	}
}
