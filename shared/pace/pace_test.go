package pace_test

import (
	"context"
	"testing"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/pace"
)

func TestBucketAllowsBurstThenPaces(t *testing.T) {
	b := pace.New(1000, 3) // fast, so the test does not depend on timing beyond order
	ctx := context.Background()
	for range 3 {
		if err := b.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The bucket is empty: a context that is already over cannot get a token.
	done, cancel := context.WithCancel(ctx)
	cancel()
	slow := pace.New(0.001, 1)
	_ = slow.Wait(ctx)
	if err := slow.Wait(done); err == nil {
		t.Fatal("an empty bucket let a call through")
	}
	var nilBucket *pace.Bucket
	if err := nilBucket.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}
