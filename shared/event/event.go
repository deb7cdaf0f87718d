package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/arn"
)

// Kind is what happened to a VPC, as far as the event tells.
type Kind string

const (
	// TagsChanged means the VPC's tags changed (or it was created with tags).
	TagsChanged Kind = "tags-changed"
	// Deleted means the VPC was deleted.
	Deleted Kind = "deleted"
	// DeleteBlocked means DeleteVpc failed with DependencyViolation; the owner is
	// tearing the VPC down and our resources may be in the way.
	DeleteBlocked Kind = "delete-blocked"
	// SubnetDeleteBlocked means DeleteSubnet failed with DependencyViolation; our
	// endpoint's interface in that subnet may be in the way.
	SubnetDeleteBlocked Kind = "subnet-delete-blocked"
	// Redrive is a direct invocation asking to converge one VPC.
	Redrive Kind = "redrive"
)

// Hint names one VPC (or subnet) to look at again.
type Hint struct {
	Kind     Kind
	Account  string
	Region   string
	VPCID    string // empty for SubnetDeleteBlocked
	SubnetID string // SubnetDeleteBlocked only
	Source   string // the event's source, for logs and metrics
	// Claim is what the event says the opt-in tag became, nil when it does
	// not say (re-drives, deletions, a DeleteTags that names a value).
	Claim *TagClaim
	// FollowUp counts the follow-ups of this VPC the onboard function sent
	// itself before this one (0 for any other event): a VPC whose endpoint
	// is not available yet is looked at again a little later, a bounded
	// number of times.
	FollowUp int
}

// TagClaim is what an event says of the opt-in tag after the change. The
// event is a hint, never the truth, but EC2's reads lag its writes
// ("Eventual consistency in the Amazon EC2 API", EC2 API reference): a
// describe right after the change may still show the tags from before it.
// Onboard reads again for a while when its read disagrees with the claim,
// then acts on what it reads.
type TagClaim struct {
	Present bool   // the tag is on the VPC after the change
	Value   string // its value, when Present
}

// Result is a decoded invocation: the hints, or why it was ignored.
type Result struct {
	Hints   []Hint
	Ignored string // non-empty when the event is of no interest
}

// MalformedError is a payload that cannot be decoded at all.
type MalformedError struct{ Reason string }

func (e *MalformedError) Error() string { return "malformed event: " + e.Reason }

// RefusedError is a decodable event that is invalid or forged.
type RefusedError struct {
	Reason string // a short, stable reason used as a metric dimension
	Detail string
}

func (e *RefusedError) Error() string { return "refused event: " + e.Reason + ": " + e.Detail }

// AsRefused returns the *RefusedError in err's chain, if any.
func AsRefused(err error) (*RefusedError, bool) {
	var r *RefusedError
	ok := errors.As(err, &r)
	return r, ok
}

// Sources and detail types the onboard function is routed.
const (
	SourceTag        = "aws.tag"
	SourceEC2        = "aws.ec2"
	DetailTagChange  = "Tag Change on Resource"
	DetailCloudTrail = "AWS API Call via CloudTrail"
)

var (
	regionRE = regexp.MustCompile(`^([a-z]{2}|eusc)(-[a-z]+)+-[0-9]+$`) // us-east-1, eusc-de-east-1 (the SDK's partition table)
	vpcRE    = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	subnetRE = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
)

// Decoder turns onboard invocations into hints. TagKey is the opt-in tag:
// tag events that do not touch it are ignored, which also keeps the
// product's own status tags from re-triggering it.
type Decoder struct {
	TagKey string
}

// Decode decodes one onboard invocation payload.
//
// Keys are matched exactly (see checkKeys): the envelope's, the re-drive
// payload's, and the detail's fields that the decoder reads; a key twice is
// refused anywhere in the payload. A CloudTrail detail's field names are
// checked only once its eventName is one the decoder handles, since
// requestParameters take each API's own shape; an ambiguous eventName then
// ends either ignored or refused, never acted on.
func (d Decoder) Decode(payload []byte) (Result, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(payload, &probe); err != nil {
		return Result{}, &MalformedError{Reason: "payload is not a JSON object: " + err.Error()}
	}
	_, hasSource := probe["source"]
	_, hasDetailType := probe["detail-type"]
	switch {
	case hasSource || hasDetailType:
		var ev events.EventBridgeEvent
		if err := unmarshalStrict(payload, &ev, "EventBridge envelope", ""); err != nil {
			return Result{}, err
		}
		return d.decodeEventBridge(ev)
	case probe["vpcId"] != nil || probe["account"] != nil:
		return decodeRedrive(payload)
	case probe["Records"] != nil:
		return Result{Ignored: "records of an SNS or SQS batch are not one event (an SQS batch is read by DecodeBatch; SNS records are for the accept function)"}, nil
	}
	return Result{Ignored: "unknown payload shape"}, nil
}

// RedriveRequest is the direct invocation that asks the onboard function to
// converge one VPC (an operator's re-drive, or a replay from the
// dead-letter queue's hints).
type RedriveRequest struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	VPCID   string `json:"vpcId"`
}

func decodeRedrive(payload []byte) (Result, error) {
	const what = `re-drive payload, want {"account","region","vpcId"}`
	var in RedriveRequest
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return Result{}, &MalformedError{Reason: what + ": " + err.Error()}
	}
	if err := checkKeys(payload, reflect.TypeFor[RedriveRequest](), what, ""); err != nil {
		return Result{}, err
	}
	switch {
	case !arn.IsAccountID(in.Account):
		return Result{}, &MalformedError{Reason: fmt.Sprintf("re-drive account %q is not a 12-digit account id", in.Account)}
	case !regionRE.MatchString(in.Region):
		return Result{}, &MalformedError{Reason: fmt.Sprintf("re-drive region %q is not a region", in.Region)}
	case !vpcRE.MatchString(in.VPCID):
		return Result{}, &MalformedError{Reason: fmt.Sprintf("re-drive vpcId %q is not a VPC id", in.VPCID)}
	}
	return Result{Hints: []Hint{{Kind: Redrive, Account: in.Account, Region: in.Region, VPCID: in.VPCID, Source: "redrive"}}}, nil
}

func (d Decoder) decodeEventBridge(ev events.EventBridgeEvent) (Result, error) {
	switch {
	case ev.Source == SourceTag && ev.DetailType == DetailTagChange:
		if err := checkEnvelope(ev); err != nil {
			return Result{}, err
		}
		return d.decodeTagChange(ev)
	case ev.Source == SourceEC2 && ev.DetailType == DetailCloudTrail:
		if err := checkEnvelope(ev); err != nil {
			return Result{}, err
		}
		return d.decodeCloudTrail(ev)
	}
	return Result{Ignored: fmt.Sprintf("no decoder for source %q, detail-type %q", ev.Source, ev.DetailType)}, nil
}

func checkEnvelope(ev events.EventBridgeEvent) error {
	switch {
	case !arn.IsAccountID(ev.AccountID):
		return &RefusedError{Reason: "bad-account", Detail: fmt.Sprintf("event account %q is not a 12-digit account id", ev.AccountID)}
	case !regionRE.MatchString(ev.Region):
		return &RefusedError{Reason: "bad-region", Detail: fmt.Sprintf("event region %q is not a region", ev.Region)}
	case len(ev.Detail) == 0 || string(ev.Detail) == "null":
		return &RefusedError{Reason: "missing-detail", Detail: "event has no detail"}
	}
	return nil
}

type tagChangeDetail struct {
	ChangedTagKeys []string          `json:"changed-tag-keys"`
	Service        string            `json:"service"`
	ResourceType   string            `json:"resource-type"`
	Version        json.RawMessage   `json:"version"` // seen as 3 and "4.0": not interpreted
	Tags           map[string]string `json:"tags"`
}

func (d Decoder) decodeTagChange(ev events.EventBridgeEvent) (Result, error) {
	var det tagChangeDetail
	if err := unmarshalStrict(ev.Detail, &det, "tag change detail", "detail"); err != nil {
		return Result{}, err
	}
	if det.Service != "ec2" || det.ResourceType != "vpc" {
		return Result{Ignored: fmt.Sprintf("tag change on %s/%s", det.Service, det.ResourceType)}, nil
	}
	if !slices.Contains(det.ChangedTagKeys, d.TagKey) {
		return Result{Ignored: "tag change does not touch " + d.TagKey}, nil
	}
	if len(ev.Resources) != 1 {
		return Result{}, &RefusedError{Reason: "bad-resources", Detail: fmt.Sprintf("want exactly one VPC ARN in resources, got %d", len(ev.Resources))}
	}
	region, account, vpcID, err := arn.ParseVPC(ev.Resources[0])
	switch {
	case err != nil:
		return Result{}, &RefusedError{Reason: "bad-resources", Detail: "resource " + err.Error()}
	case account != ev.AccountID:
		return Result{}, &RefusedError{Reason: "account-mismatch",
			Detail: fmt.Sprintf("resource %s is in account %s, event says %s", ev.Resources[0], account, ev.AccountID)}
	case region != ev.Region:
		return Result{}, &RefusedError{Reason: "region-mismatch",
			Detail: fmt.Sprintf("resource %s is in region %s, event says %s", ev.Resources[0], region, ev.Region)}
	}
	// detail.tags is the whole tag set after the change.
	v, present := det.Tags[d.TagKey]
	return Result{Hints: []Hint{{Kind: TagsChanged, Account: ev.AccountID, Region: ev.Region, VPCID: vpcID, Source: SourceTag,
		Claim: &TagClaim{Present: present, Value: v}}}}, nil
}

type cloudTrailDetail struct {
	EventSource        string `json:"eventSource"`
	EventName          string `json:"eventName"`
	AWSRegion          string `json:"awsRegion"`
	RecipientAccountID string `json:"recipientAccountId"`
	ErrorCode          string `json:"errorCode"`
	RequestParameters  struct {
		VPCID        string `json:"vpcId"`
		SubnetID     string `json:"subnetId"`
		ResourcesSet struct {
			Items []struct {
				ResourceID string `json:"resourceId"`
			} `json:"items"`
		} `json:"resourcesSet"`
		TagSet              tagSet `json:"tagSet"`
		TagSpecificationSet struct {
			Items []struct {
				ResourceType string `json:"resourceType"`
				Tags         []tag  `json:"tags"`
			} `json:"items"`
		} `json:"tagSpecificationSet"`
	} `json:"requestParameters"`
	ResponseElements *struct {
		VPC struct {
			VPCID string `json:"vpcId"`
		} `json:"vpc"`
	} `json:"responseElements"`
}

// cloudTrailEvents are the EC2 calls the decoder turns into hints.
var cloudTrailEvents = []string{"CreateTags", "DeleteTags", "CreateVpc", "DeleteVpc", "DeleteSubnet"}

type tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type tagSet struct {
	Items []tag `json:"items"`
}

func (s tagSet) has(key string) bool {
	return slices.ContainsFunc(s.Items, func(t tag) bool { return t.Key == key })
}

// claim is what a CreateTags or DeleteTags of these tags says the opt-in
// tag became. A DeleteTags that names a value deletes the tag only when
// the value matches, so it claims nothing.
func (s tagSet) claim(eventName, key string, deletesAll bool) *TagClaim {
	if deletesAll {
		return &TagClaim{}
	}
	i := slices.IndexFunc(s.Items, func(t tag) bool { return t.Key == key })
	switch {
	case i < 0:
		return nil
	case eventName == "CreateTags":
		return &TagClaim{Present: true, Value: s.Items[i].Value}
	case s.Items[i].Value == "":
		return &TagClaim{}
	}
	return nil
}

func (d Decoder) decodeCloudTrail(ev events.EventBridgeEvent) (Result, error) {
	var det cloudTrailDetail
	if err := json.Unmarshal(ev.Detail, &det); err != nil {
		return Result{}, &MalformedError{Reason: "CloudTrail detail: " + err.Error()}
	}
	if det.EventSource != "ec2.amazonaws.com" {
		return Result{Ignored: "CloudTrail record from " + det.EventSource}, nil
	}
	if !slices.Contains(cloudTrailEvents, det.EventName) {
		return Result{Ignored: "CloudTrail event " + det.EventName + " is of no interest"}, nil
	}
	if err := checkKeys(ev.Detail, reflect.TypeFor[cloudTrailDetail](), "CloudTrail detail", "detail"); err != nil {
		return Result{}, err
	}
	if det.RecipientAccountID != "" && det.RecipientAccountID != ev.AccountID {
		return Result{}, &RefusedError{Reason: "account-mismatch",
			Detail: fmt.Sprintf("CloudTrail recipient account %s, event says %s", det.RecipientAccountID, ev.AccountID)}
	}
	if det.AWSRegion != "" && det.AWSRegion != ev.Region {
		return Result{}, &RefusedError{Reason: "region-mismatch",
			Detail: fmt.Sprintf("CloudTrail region %s, event says %s", det.AWSRegion, ev.Region)}
	}
	switch det.EventName {
	case "CreateTags", "DeleteTags":
		return d.decodeTagCall(ev, det)
	case "CreateVpc":
		return d.decodeCreateVpc(ev, det)
	case "DeleteVpc":
		return decodeDeleteVpc(ev, det)
	case "DeleteSubnet":
		return decodeDeleteSubnet(ev, det)
	}
	return Result{Ignored: "CloudTrail event " + det.EventName + " is of no interest"}, nil
}

// hint is a hint of kind about vpc, from this record of the event ev.
func (det cloudTrailDetail) hint(ev events.EventBridgeEvent, kind Kind, vpc string) Hint {
	return Hint{Kind: kind, Account: ev.AccountID, Region: ev.Region, VPCID: vpc, Source: SourceEC2 + ":" + det.EventName}
}

// dependencyViolation says the call failed because something still
// depends on the resource it deleted.
func (det cloudTrailDetail) dependencyViolation() bool {
	return strings.HasSuffix(det.ErrorCode, "DependencyViolation")
}

// decodeTagCall turns a CreateTags or DeleteTags record into one hint per
// VPC it names, when it touches the opt-in tag.
func (d Decoder) decodeTagCall(ev events.EventBridgeEvent, det cloudTrailDetail) (Result, error) {
	if det.ErrorCode != "" {
		return Result{Ignored: det.EventName + " failed: " + det.ErrorCode}, nil
	}
	// DeleteTags may name keys without values, or no tags at all, which
	// deletes every tag: the opt-in tag among them.
	deletesAll := det.EventName == "DeleteTags" && len(det.RequestParameters.TagSet.Items) == 0
	if !deletesAll && !det.RequestParameters.TagSet.has(d.TagKey) {
		return Result{Ignored: det.EventName + " does not touch " + d.TagKey}, nil
	}
	claim := det.RequestParameters.TagSet.claim(det.EventName, d.TagKey, deletesAll)
	var hints []Hint
	for _, it := range det.RequestParameters.ResourcesSet.Items {
		if !strings.HasPrefix(it.ResourceID, "vpc-") {
			continue
		}
		if !vpcRE.MatchString(it.ResourceID) {
			return Result{}, &RefusedError{Reason: "bad-resources", Detail: fmt.Sprintf("%q is not a VPC id", it.ResourceID)}
		}
		if slices.ContainsFunc(hints, func(h Hint) bool { return h.VPCID == it.ResourceID }) {
			continue // a record may name a VPC twice: one hint is enough
		}
		h := det.hint(ev, TagsChanged, it.ResourceID)
		h.Claim = claim
		hints = append(hints, h)
	}
	if len(hints) == 0 {
		return Result{Ignored: det.EventName + " names no VPC"}, nil
	}
	return Result{Hints: hints}, nil
}

// decodeCreateVpc turns a CreateVpc record that tags the new VPC with the
// opt-in tag into a hint about it.
func (d Decoder) decodeCreateVpc(ev events.EventBridgeEvent, det cloudTrailDetail) (Result, error) {
	if det.ErrorCode != "" {
		return Result{Ignored: "CreateVpc failed: " + det.ErrorCode}, nil
	}
	var claim *TagClaim
	for _, spec := range det.RequestParameters.TagSpecificationSet.Items {
		if spec.ResourceType == "vpc" {
			if c := (tagSet{Items: spec.Tags}).claim("CreateTags", d.TagKey, false); c != nil {
				claim = c
			}
		}
	}
	if claim == nil {
		return Result{Ignored: "CreateVpc without " + d.TagKey}, nil
	}
	if det.ResponseElements == nil || !vpcRE.MatchString(det.ResponseElements.VPC.VPCID) {
		return Result{}, &RefusedError{Reason: "missing-vpc", Detail: "CreateVpc record has no responseElements.vpc.vpcId"}
	}
	h := det.hint(ev, TagsChanged, det.ResponseElements.VPC.VPCID)
	h.Claim = claim
	return Result{Hints: []Hint{h}}, nil
}

// decodeDeleteVpc turns a DeleteVpc record into a Deleted hint, or a
// DeleteBlocked one when a dependency kept the VPC alive.
func decodeDeleteVpc(ev events.EventBridgeEvent, det cloudTrailDetail) (Result, error) {
	if det.ErrorCode != "" && !det.dependencyViolation() {
		return Result{Ignored: "DeleteVpc failed: " + det.ErrorCode}, nil
	}
	if !vpcRE.MatchString(det.RequestParameters.VPCID) {
		return Result{}, &RefusedError{Reason: "missing-vpc", Detail: fmt.Sprintf("DeleteVpc record has vpcId %q", det.RequestParameters.VPCID)}
	}
	if det.dependencyViolation() {
		return Result{Hints: []Hint{det.hint(ev, DeleteBlocked, det.RequestParameters.VPCID)}}, nil
	}
	return Result{Hints: []Hint{det.hint(ev, Deleted, det.RequestParameters.VPCID)}}, nil
}

// decodeDeleteSubnet turns a DeleteSubnet that a dependency blocked into a
// hint naming the subnet; a subnet delete that went through says nothing.
func decodeDeleteSubnet(ev events.EventBridgeEvent, det cloudTrailDetail) (Result, error) {
	if !det.dependencyViolation() {
		return Result{Ignored: "DeleteSubnet not blocked by a dependency"}, nil
	}
	if !subnetRE.MatchString(det.RequestParameters.SubnetID) {
		return Result{}, &RefusedError{Reason: "missing-subnet", Detail: fmt.Sprintf("DeleteSubnet record has subnetId %q", det.RequestParameters.SubnetID)}
	}
	h := det.hint(ev, SubnetDeleteBlocked, "")
	h.SubnetID = det.RequestParameters.SubnetID
	return Result{Hints: []Hint{h}}, nil
}
