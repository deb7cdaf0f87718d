package status

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// Source is the source of every event the product puts on the bus.
const Source = "jenkins-agent-vpcs"

// Detail types.
const (
	AgentVPCStatus    = "Agent VPC Status"
	ApprovalNeeded    = "Connection Approval Needed"
	ReconcileReport   = "Reconcile Report"
	ReconcileAccounts = "Reconcile Accounts" // fan-out batches, routed back to the reconciler
)

// Agent VPC states, as published in events, status tags and the document.
const (
	Ready             = "ready"              // endpoint available, tunnel published
	Connecting        = "connecting"         // accepted, endpoint not yet available
	PendingAcceptance = "pending-acceptance" // waiting for acceptance (manual mode)
	Removed           = "removed"
	Failed            = "failed"
	// Degraded: the endpoint is Partial (some subnets failed) or in a
	// state this version does not know; it is kept, never duplicated, and
	// reported until a person or AWS resolves it.
	Degraded = "degraded"
)

// Bus is the part of EventBridge the product uses.
type Bus interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Publisher puts status events on the central bus.
type Publisher struct {
	Bus     Bus
	BusName string
}

// VPC is the detail of an Agent VPC Status event.
type VPC struct {
	Account    string `json:"account"`
	Region     string `json:"region"`
	VPCID      string `json:"vpcId"`
	Status     string `json:"status"`
	EndpointID string `json:"endpointId,omitempty"`
	Tunnel     string `json:"tunnel,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// Changed says this outcome changed what the VPC's status tags record
	// (its status or endpoint), as against repeating an outcome already
	// reported: a retry, a duplicated event, a sweep that found the VPC in
	// sync. A consumer that acts once per change, as the Jenkins reload
	// rule in template.yaml, matches it. It is not part of EventID: the
	// outcome is the same.
	Changed bool `json:"changed"`
	// EventID names the outcome this event reports: the same account,
	// VPC, status, endpoint, tunnel and reason always give the same id.
	// Every invocation that reaches an outcome reports it (so a retry
	// re-sends an event that was lost), and consumers drop an event whose
	// id equals the last one they processed for the same VPC.
	EventID string `json:"eventId"`
}

// WithID returns the detail with its EventID set.
func (v VPC) WithID() VPC {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|%s|%s|%s", v.Account, v.Region, v.VPCID, v.Status, v.EndpointID, v.Tunnel, v.Reason)
	v.EventID = hex.EncodeToString(h.Sum(nil))[:32]
	return v
}

// Put publishes one event; detail is marshalled to JSON. A failed entry is
// an error: status events are part of the contract, not decoration.
func (p Publisher) Put(ctx context.Context, detailType string, resources []string, detail any) error {
	if v, ok := detail.(VPC); ok {
		detail = v.WithID()
	}
	body, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("encoding %s event, %w", detailType, err)
	}
	out, err := p.Bus.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(p.BusName),
		Source:       aws.String(Source),
		DetailType:   aws.String(detailType),
		Detail:       aws.String(string(body)),
		Resources:    resources,
	}}})
	if err != nil {
		return fmt.Errorf("putting %s event on %s, %w", detailType, p.BusName, err)
	}
	if out.FailedEntryCount > 0 && len(out.Entries) > 0 {
		e := out.Entries[0]
		return fmt.Errorf("putting %s event on %s, %s: %s", detailType, p.BusName,
			aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage))
	}
	return nil
}
