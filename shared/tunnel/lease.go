package tunnel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/awserr"
)

// LeaseName is the leaf of the parameter that lets one invocation at a
// time converge an agent VPC. It sits beside the published parameters,
// under the prefix the functions may already write, and List leaves it
// out of what is published.
const LeaseName = "lease"

// Lease is the value of a VPC's lease parameter: who holds it and until
// when. Until is the holder's deadline (a Lambda invocation cannot run
// past its timeout) plus a margin for clock skew, so a lease whose holder
// was stopped without releasing it expires on its own.
type Lease struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

// HeldError is a lease another holder has and has not outlived.
type HeldError struct {
	VPCID string
	Lease Lease
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is being converged by %s (lease until %s)", e.VPCID, e.Lease.Holder, e.Lease.Until.Format(time.RFC3339))
}

// IsHeld reports whether err is a lease held by another.
func IsHeld(err error) bool {
	var h *HeldError
	return errors.As(err, &h)
}

func (s Store) leaseName(account, vpc string) string { return s.Path(account, vpc) + "/" + LeaseName }

// TakeLease takes the lease of one agent VPC, or answers a *HeldError.
// PutParameter without Overwrite is Parameter Store's create-if-absent: of
// two writers only one succeeds, the other gets ParameterAlreadyExists
// ("The parameter already exists. You can't create duplicate
// parameters", the SSM API reference), so two invocations cannot both take a free lease. A lease past
// its Until is broken (deleted, then taken again). Parameter Store has no
// compare-and-set, so two invocations breaking the same expired lease at
// the same moment can both believe they hold it; that needs a holder that
// overran its deadline, and each side's re-reads before destroying still
// apply.
func (s Store) TakeLease(ctx context.Context, account, vpc string, l Lease, now time.Time) error {
	name := s.leaseName(account, vpc)
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encoding the lease of %s, %w", vpc, err)
	}
	for attempt := 0; ; attempt++ {
		if err := s.Pace.Wait(ctx); err != nil {
			return err
		}
		_, err = s.SSM.PutParameter(ctx, &ssm.PutParameterInput{
			Name: aws.String(name), Value: aws.String(string(b)), Type: ssmtypes.ParameterTypeString,
			Overwrite: aws.Bool(false), Description: aws.String("jenkins-agent-vpcs lease (managed; do not edit)"), Tier: s.tier(),
		})
		if err == nil {
			return nil
		}
		if awserr.Code(err) != "ParameterAlreadyExists" {
			return fmt.Errorf("taking the lease %s, %w", name, err)
		}
		held, found, err := s.lease(ctx, name)
		if err != nil {
			return err
		}
		switch {
		case !found && attempt < 3:
			continue // released between the put and the read
		case found && held.Holder == l.Holder:
			return nil // our own, from an earlier attempt whose answer was lost
		case found && now.After(held.Until) && attempt < 3:
			if _, err := s.Delete(ctx, name); err != nil {
				return err
			}
			continue
		}
		return &HeldError{VPCID: vpc, Lease: held}
	}
}

// ReleaseLease gives the lease back, when holder still has it.
func (s Store) ReleaseLease(ctx context.Context, account, vpc, holder string) error {
	name := s.leaseName(account, vpc)
	held, found, err := s.lease(ctx, name)
	if err != nil || !found || held.Holder != holder {
		return err
	}
	_, err = s.Delete(ctx, name) // not paced: see Store.Pace
	return err
}

// lease reads a lease parameter. A value that is not a lease (a person's
// edit) reads as one that has expired, so it is broken rather than
// blocking the VPC for good.
func (s Store) lease(ctx context.Context, name string) (Lease, bool, error) {
	have, err := s.get(ctx, name)
	if err != nil {
		return Lease{}, false, err
	}
	v, found := have[name]
	if !found {
		return Lease{}, false, nil
	}
	var l Lease
	if json.Unmarshal([]byte(v), &l) != nil {
		l = Lease{Holder: "unreadable value " + fmt.Sprintf("%.40q", v)} // Until zero: expired
	}
	return l, true, nil
}

// LeaseOf reads the lease of one agent VPC; found is false when it is free.
func (s Store) LeaseOf(ctx context.Context, account, vpc string) (l Lease, found bool, err error) {
	return s.lease(ctx, s.leaseName(account, vpc))
}
