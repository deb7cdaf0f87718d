package onboard

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/invocation"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/telemetry"
)

// HandleBatch handles a batch of the onboard queue (Lambda's SQS event
// source mapping with ReportBatchItemFailures). Events naming the same VPC
// are coalesced into one convergence (a tag change arrives twice, as
// aws.tag and as CloudTrail's CreateTags, and an untag quickly followed by
// a re-tag four times); the VPCs of the batch converge at once, each under
// its lease. The response names the messages to hand out again: those of
// a VPC whose convergence failed, and those that could not be decoded (the
// queue's redrive policy moves a message that keeps failing to its
// dead-letter queue). A refused or ignored event is done with. A batch
// that is malformed as a whole is an error: Lambda then hands all of it
// out again.
func (h *Handler) HandleBatch(ctx context.Context, payload []byte) (events.SQSEventResponse, error) {
	ctx, end := invocation.Begin(ctx, invocation.Function{Name: "onboard", Log: h.Log, MetricsOut: h.MetricsOut})
	defer end()
	msgs, err := h.Decoder.DecodeBatch(payload)
	if err != nil {
		telemetry.Logger(ctx).Error("batch malformed", "error", err.Error())
		telemetry.Count(ctx, "EventsMalformed", 1)
		return events.SQSEventResponse{}, err
	}
	telemetry.Count(ctx, "Messages", float64(len(msgs)))
	var failed []string
	var work []convergence
	for _, m := range msgs {
		mctx := telemetry.With(ctx, "messageId", m.ID)
		handle, err := invocation.Sort(mctx, m.Result.Ignored, m.Err)
		if err != nil {
			failed = append(failed, m.ID)
		}
		if handle {
			work = coalesce(work, m.ID, m.Result.Hints)
		}
	}
	telemetry.Count(ctx, "Convergences", float64(len(work)))
	wctx, cancel := beforeDeadline(ctx)
	defer cancel()
	failed = append(failed, h.convergeAll(wctx, work)...)
	resp := response(ctx, msgs, failed)
	h.retrySooner(ctx, msgs, resp)
	return resp, nil
}

// batchReserve is the part of the invocation's time kept back from the
// convergences: to give their leases back (each release has 10 s), hand
// the failed messages back sooner and answer.
const batchReserve = 20 * time.Second

// beforeDeadline is the context the batch's convergences run under: it
// ends batchReserve before the invocation's deadline. A convergence still
// running then (throttled calls waited out, a lease waited for) is cut
// short and its messages named in the response. Otherwise Lambda would
// end the invocation at its timeout: no response, every message of the
// batch left until the queue's visibility timeout (30 minutes), and the
// leases held until they expire, so that the next invocations for those
// VPCs wait in turn.
func beforeDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, dl.Add(-batchReserve))
}

// retrySooner hands the failed messages back to the queue after
// RetryDelay rather than the queue's visibility timeout; failing to do so
// only delays their retry, so it is logged, not returned.
func (h *Handler) retrySooner(ctx context.Context, msgs []event.Message, resp events.SQSEventResponse) {
	if h.Retries == nil || len(resp.BatchItemFailures) == 0 {
		return
	}
	var failed []event.Message
	for _, m := range msgs {
		if slices.ContainsFunc(resp.BatchItemFailures, func(f events.SQSBatchItemFailure) bool { return f.ItemIdentifier == m.ID }) {
			failed = append(failed, m)
		}
	}
	if err := h.Retries.Retry(ctx, failed); err != nil {
		telemetry.Logger(ctx).Warn("failed messages come back at the queue's visibility timeout", "error", err.Error())
		return
	}
	telemetry.Logger(ctx).Info("failed messages come back sooner", "messages", len(failed))
}

// convergence is one VPC's convergence and the messages that asked for it.
type convergence struct {
	hint     event.Hint
	messages []string
}

// key names the VPC (or, for a blocked subnet deletion, the subnet) a
// hint is about.
func key(h event.Hint) string {
	return h.Account + "/" + h.Region + "/" + h.VPCID + h.SubnetID
}

// rank orders what events of one VPC say, for coalescing: a VPC whose
// deletion is blocked (its owner is tearing it down) is removed whatever
// its tag says, a deletion makes absence final, a tag change brings a
// claim to read against, a re-drive or follow-up only asks for a look.
func rank(k event.Kind) int {
	switch k {
	case event.DeleteBlocked, event.SubnetDeleteBlocked:
		return 3
	case event.Deleted:
		return 2
	case event.TagsChanged:
		return 1
	}
	return 0
}

// coalesce adds the hints of one message to the batch's convergences,
// merging hints about a VPC already there: the strongest kind wins, the
// last claim of the opt-in tag is kept (the convergence decides from its
// own read, taken after the read delay; the claim only says what to expect
// of it), and the highest follow-up count is kept.
func coalesce(work []convergence, id string, hints []event.Hint) []convergence {
	for _, h := range hints {
		i := slices.IndexFunc(work, func(c convergence) bool { return key(c.hint) == key(h) })
		if i < 0 {
			work = append(work, convergence{hint: h, messages: []string{id}})
			continue
		}
		c := &work[i]
		if !slices.Contains(c.messages, id) {
			c.messages = append(c.messages, id)
		}
		merged := c.hint
		if rank(h.Kind) > rank(merged.Kind) {
			merged.Kind, merged.Source = h.Kind, h.Source
		}
		if h.Claim != nil {
			merged.Claim = h.Claim
		}
		merged.FollowUp = max(merged.FollowUp, h.FollowUp)
		c.hint = merged
	}
	return work
}

// convergeAll converges the batch's VPCs at once and returns the messages
// of those that failed. The hub's writes are paced across them (the
// store's and guard's buckets), so running them together costs no more of
// the hub's quotas than running them in turn.
func (h *Handler) convergeAll(ctx context.Context, work []convergence) []string {
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
	)
	for _, c := range work {
		wg.Go(func() {
			if err := h.converge(ctx, []event.Hint{c.hint}); err != nil {
				mu.Lock()
				failed = append(failed, c.messages...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// response is the partial batch response: the failed messages, each once,
// in the batch's order.
func response(ctx context.Context, msgs []event.Message, failed []string) events.SQSEventResponse {
	var out events.SQSEventResponse
	for _, m := range msgs {
		if slices.Contains(failed, m.ID) {
			out.BatchItemFailures = append(out.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.ID})
		}
	}
	telemetry.Count(ctx, "BatchItemFailures", float64(len(out.BatchItemFailures)))
	return out
}
