package fake

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// EventBridge is one account's view of EventBridge.
type EventBridge struct{ view }

// EventBridge returns EventBridge as acct's root principal.
func (w *World) EventBridge(acct string) *EventBridge { return &EventBridge{w.view(acct, "")} }

// EventBridgeAs returns EventBridge as principal of acct.
func (w *World) EventBridgeAs(acct, principal string) *EventBridge {
	return &EventBridge{w.view(acct, principal)}
}

// Event is one event accepted by PutEvents, as the bus owner received it.
type Event struct {
	ID         string
	Account    string // the bus owner
	Sender     string // the account that called PutEvents
	Bus        string // bus name
	Source     string
	DetailType string
	Detail     string
	Resources  []string
	Time       time.Time
}

// AddEventBus creates a custom event bus; every account has "default".
func (w *World) AddEventBus(acct, name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.account(acct).buses[name] = true
}

// Events returns the events the buses of acct received, in order.
func (w *World) Events(acct string) []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := slices.Clone(w.account(acct).events)
	for i := range out {
		out[i].Resources = slices.Clone(out[i].Resources)
	}
	return out
}

// bus resolves an EventBusName (a name or an ARN, possibly of another account) to its owner and name.
func (w *World) bus(sender, name string) (owner, bus string) {
	if name == "" {
		return sender, "default"
	}
	if strings.HasPrefix(name, "arn:") {
		return accountOf(name), name[strings.LastIndex(name, "/")+1:]
	}
	return sender, name
}

// PutEvents delivers entries to their buses. Invalid entries fail one by one
// (ErrorCode on the entry, FailedEntryCount); a missing bus fails the call.
func (b *EventBridge) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	return call(b.view, ctx, "events", "PutEvents", func(a *account) (*eventbridge.PutEventsOutput, error) {
		w := b.w
		if len(in.Entries) == 0 || len(in.Entries) > 10 {
			return nil, apiError("ValidationException", "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1")
		}
		for _, e := range in.Entries {
			owner, bus := w.bus(a.id, aws.ToString(e.EventBusName))
			if !w.account(owner).buses[bus] {
				return nil, apiError("ResourceNotFoundException", "Event bus %s does not exist.", bus)
			}
		}
		out := &eventbridge.PutEventsOutput{}
		now := w.clock.Now()
		for _, e := range in.Entries {
			var fail string
			switch {
			case aws.ToString(e.Source) == "":
				fail = "Parameter Source is not valid. Reason: Source is a required argument."
			case aws.ToString(e.DetailType) == "":
				fail = "Parameter DetailType is not valid. Reason: DetailType is a required argument."
			case aws.ToString(e.Detail) == "":
				fail = "Parameter Detail is not valid. Reason: Detail is a required argument."
			case strings.HasPrefix(aws.ToString(e.Source), "aws."):
				fail = "NotAuthorizedForSourceException"
			}
			if fail == "NotAuthorizedForSourceException" {
				out.Entries = append(out.Entries, types.PutEventsResultEntry{ErrorCode: aws.String(fail), ErrorMessage: aws.String("Not authorized for the source.")})
				out.FailedEntryCount++
				continue
			}
			if fail != "" {
				out.Entries = append(out.Entries, types.PutEventsResultEntry{ErrorCode: aws.String("InvalidArgument"), ErrorMessage: aws.String(fail)})
				out.FailedEntryCount++
				continue
			}
			var obj map[string]any
			if json.Unmarshal([]byte(*e.Detail), &obj) != nil {
				out.Entries = append(out.Entries, types.PutEventsResultEntry{ErrorCode: aws.String("MalformedDetail"), ErrorMessage: aws.String("Detail is malformed.")})
				out.FailedEntryCount++
				continue
			}
			id := w.uuid()
			owner, bus := w.bus(a.id, aws.ToString(e.EventBusName))
			t := now
			if e.Time != nil {
				t = *e.Time
			}
			oa := w.account(owner)
			oa.events = append(oa.events, Event{
				ID: id, Account: owner, Sender: a.id, Bus: bus, Source: *e.Source, DetailType: *e.DetailType,
				Detail: *e.Detail, Resources: slices.Clone(e.Resources), Time: t,
			})
			out.Entries = append(out.Entries, types.PutEventsResultEntry{EventId: aws.String(id)})
		}
		return out, nil
	})
}

func (w *World) uuid() string {
	h := "0123456789abcdef"
	return w.alnum(8, h) + "-" + w.alnum(4, h) + "-4" + w.alnum(3, h) + "-a" + w.alnum(3, h) + "-" + w.alnum(12, h)
}
