package tunnel_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/localawstest"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/pace"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

const (
	hub    = "111111111111"
	member = "222222222222"
	vpc    = "vpc-0aaaaaaaaaaaaaaa1"
)

func store(t *testing.T) (tunnel.Store, *ssm.Client) {
	t.Helper()
	a := localawstest.New(t, localawstest.Options{Topology: &localaws.Topology{Region: "us-east-1",
		Accounts: []localaws.Account{{ID: hub}}}})
	c := a.SSM(hub)
	return tunnel.Store{SSM: c, Prefix: "/jenkins-agent-vpcs"}, c
}

// The lease is Parameter Store's create-if-absent: one holder at a time,
// given back only by its holder, broken once expired or unreadable.
func TestLease(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	a := tunnel.Lease{Holder: "a", Until: now.Add(time.Minute)}
	b := tunnel.Lease{Holder: "b", Until: now.Add(time.Minute)}
	name := "/jenkins-agent-vpcs/" + member + "/" + vpc + "/lease"

	cases := []struct {
		name    string
		before  func(t *testing.T, s tunnel.Store, c *ssm.Client)
		take    tunnel.Lease
		at      time.Time
		wantErr bool // held by another
		holder  string
	}{
		{"free", nil, a, now, false, "a"},
		{"held by another", func(t *testing.T, s tunnel.Store, _ *ssm.Client) { mustTake(t, s, b, now) }, a, now, true, "b"},
		{"held by another past its Until", func(t *testing.T, s tunnel.Store, _ *ssm.Client) { mustTake(t, s, b, now) },
			a, now.Add(2 * time.Minute), false, "a"},
		{"our own, an earlier answer lost", func(t *testing.T, s tunnel.Store, _ *ssm.Client) { mustTake(t, s, a, now) }, a, now, false, "a"},
		{"an unreadable value", func(t *testing.T, _ tunnel.Store, c *ssm.Client) {
			if _, err := c.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String("edited by hand"),
				Type: ssmtypes.ParameterTypeString}); err != nil {
				t.Fatal(err)
			}
		}, a, now, false, "a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, client := store(t)
			if c.before != nil {
				c.before(t, s, client)
			}
			err := s.TakeLease(ctx, member, vpc, c.take, c.at)
			if tunnel.IsHeld(err) != c.wantErr || (err != nil && !tunnel.IsHeld(err)) {
				t.Fatalf("TakeLease: %v, want held: %v", err, c.wantErr)
			}
			got, found, err := s.LeaseOf(ctx, member, vpc)
			if err != nil || !found || got.Holder != c.holder {
				t.Fatalf("lease %+v (found %v, %v), want held by %s", got, found, err, c.holder)
			}
		})
	}
}

func TestReleaseLeaseOnlyByItsHolder(t *testing.T) {
	ctx := context.Background()
	s, _ := store(t)
	now := time.Now()
	mustTake(t, s, tunnel.Lease{Holder: "a", Until: now.Add(time.Minute)}, now)
	if err := s.ReleaseLease(ctx, member, vpc, "b"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.LeaseOf(ctx, member, vpc); !found {
		t.Fatal("another holder gave the lease back")
	}
	if err := s.ReleaseLease(ctx, member, vpc, "a"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.LeaseOf(ctx, member, vpc); found {
		t.Fatal("the holder's release left the lease")
	}
	// Giving back a lease already gone is not an error.
	if err := s.ReleaseLease(ctx, member, vpc, "a"); err != nil {
		t.Fatal(err)
	}
}

// A lease is not published: List leaves it out, VPCs counts it (a VPC
// being onboarded keeps its account's principal).
func TestLeaseIsNotPublished(t *testing.T) {
	ctx := context.Background()
	s, _ := store(t)
	now := time.Now()
	mustTake(t, s, tunnel.Lease{Holder: "a", Until: now.Add(time.Minute)}, now)
	pub, err := s.List(ctx, "")
	if err != nil || len(pub) != 0 {
		t.Fatalf("List: %v %v, want nothing published", pub, err)
	}
	vpcs, err := s.VPCs(ctx, member)
	if err != nil || len(vpcs) != 1 || vpcs[0] != vpc {
		t.Fatalf("VPCs: %v %v, want [%s]", vpcs, err, vpc)
	}
}

func mustTake(t *testing.T, s tunnel.Store, l tunnel.Lease, now time.Time) {
	t.Helper()
	if err := s.TakeLease(context.Background(), member, vpc, l, now); err != nil {
		t.Fatal(err)
	}
}

// TestReleaseLeaseDoesNotWaitForThePace: giving a lease back is not held
// up by the store's write pace (a rollout's share of PutParameter), which
// would leave the lease held until it expires.
func TestReleaseLeaseDoesNotWaitForThePace(t *testing.T) {
	s, _ := storeOn(t)
	s.Pace = pace.New(0.001, 1) // one write, then one per quarter of an hour
	now := time.Now()
	if err := s.TakeLease(context.Background(), member, vpc, tunnel.Lease{Holder: "me", Until: now.Add(time.Minute)}, now); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.ReleaseLease(ctx, member, vpc, "me"); err != nil {
		t.Fatalf("releasing the lease with the write pace spent: %v", err)
	}
	if _, found, err := s.LeaseOf(context.Background(), member, vpc); err != nil || found {
		t.Fatalf("lease still held after release: %v, %v", found, err)
	}
}
