package status

import (
	"context"
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
}

// Put publishes one event; detail is marshalled to JSON. A failed entry is
// an error: status events are part of the contract, not decoration.
func (p Publisher) Put(ctx context.Context, detailType string, resources []string, detail any) error {
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
