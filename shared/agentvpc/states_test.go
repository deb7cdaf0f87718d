package agentvpc_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/agentvpc"
)

// Every state of the EC2 API model is classified, in the SDK's casing and
// in the wire's.
func TestClassifyEveryState(t *testing.T) {
	want := map[types.State]agentvpc.Class{
		types.StatePendingAcceptance: agentvpc.Usable,
		types.StatePending:           agentvpc.Usable,
		types.StateAvailable:         agentvpc.Usable,
		types.StateRejected:          agentvpc.Unusable,
		types.StateFailed:            agentvpc.Unusable,
		types.StateExpired:           agentvpc.Unusable,
		types.StateDeleting:          agentvpc.Leaving,
		types.StateDeleted:           agentvpc.Leaving,
		types.StatePartial:           agentvpc.Degraded,
	}
	for _, s := range types.State("").Values() {
		w, ok := want[s]
		if !ok {
			t.Errorf("state %q of the API model has no expected class here: classify it", s)
			continue
		}
		wire := string(s)
		wire = string(wire[0]|0x20) + wire[1:] // pendingAcceptance, as the wire spells it
		for _, spelled := range []string{string(s), wire} {
			if got := agentvpc.Classify(spelled); got != w {
				t.Errorf("Classify(%q) = %s, want %s", spelled, got, w)
			}
		}
	}
	if got := agentvpc.Classify("someFutureState"); got != agentvpc.Degraded {
		t.Errorf("an unknown state is %s, want degraded (never duplicated, never taken for usable)", got)
	}
}

// The planner's decision per state of the VPC's only endpoint: a degraded
// endpoint is never joined by a second one.
func TestPlanPerEndpointState(t *testing.T) {
	tests := []struct {
		state  string
		create bool // a new endpoint is planned
		delete bool // the observed one is deleted
	}{
		{"pendingAcceptance", false, false},
		{"pending", false, false},
		{"available", false, false},
		{"Partial", false, false},
		{"partial", false, false},
		{"someFutureState", false, false},
		{"rejected", true, true},
		{"failed", true, true},
		{"expired", true, true},
		{"deleting", true, false},
		{"deleted", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.state, func(t *testing.T) {
			d, o := inSync()
			o.Endpoints[0].State = tc.state
			steps := agentvpc.Plan(d, o, now, time.Minute)
			k := kinds(steps)
			if got := slices.Contains(k, agentvpc.CreateEndpoint); got != tc.create {
				t.Errorf("create planned = %v, want %v (%v)", got, tc.create, k)
			}
			if got := slices.Contains(k, agentvpc.DeleteEndpoints); got != tc.delete {
				t.Errorf("delete planned = %v, want %v (%v)", got, tc.delete, k)
			}
		})
	}
}

// A usable endpoint is kept over an older degraded one.
func TestKeeperPrefersUsable(t *testing.T) {
	_, o := inSync()
	o.Endpoints = []agentvpc.Endpoint{
		{ID: "vpce-old", State: "Partial", Created: now.Add(-2 * time.Hour)},
		{ID: "vpce-new", State: "available", Created: now.Add(-time.Hour)},
	}
	if k, _ := o.Keeper(); k.ID != "vpce-new" {
		t.Errorf("keeper %s, want vpce-new", k.ID)
	}
}
