package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
)

// The fuzz targets check properties of every decoder, not only that it does
// not panic. Seeds are the saved events in testdata/events (and, as for any
// Go fuzz target, the corpus in testdata/fuzz/<target>); `make fuzz` runs
// each target for a while.

var (
	fuzzAccountRE = regexp.MustCompile(`^[0-9]{12}$`)
	fuzzRegionRE  = regexp.MustCompile(`^([a-z]{2}|eusc)(-[a-z]+)+-[0-9]+$`) // the Region names of the SDK's partition table
	fuzzVPCRE     = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	fuzzSubnetRE  = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
)

// addSavedEvents seeds f with every file of testdata/events.
func addSavedEvents(f *testing.F) {
	f.Helper()
	for _, b := range savedEvents(f) {
		f.Add(b)
	}
}

// savedEvents reads every file of testdata/events.
func savedEvents(f *testing.F) [][]byte {
	f.Helper()
	dir := filepath.Join("..", "..", "testdata", "events")
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// checkError says err is one of the package's two error kinds.
func checkError(t *testing.T, err error) {
	t.Helper()
	var m *event.MalformedError
	if _, refused := event.AsRefused(err); !refused && !errors.As(err, &m) {
		t.Fatalf("error %T %v is neither malformed nor refused", err, err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func FuzzDecode(f *testing.F) {
	addSavedEvents(f)
	d := event.Decoder{TagKey: "jenkins-agents"}
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkDecode(t, d, payload)
	})
}

// checkDecode decodes payload and checks the properties every onboard
// decoding has; it returns the hints.
func checkDecode(t *testing.T, d event.Decoder, payload []byte) []event.Hint {
	t.Helper()
	res, err := d.Decode(payload)

	res2, err2 := d.Decode(payload)
	if !reflect.DeepEqual(res, res2) || errString(err) != errString(err2) {
		t.Fatalf("not deterministic: %+v, %v then %+v, %v", res, err, res2, err2)
	}
	if err != nil {
		checkError(t, err)
		if !reflect.DeepEqual(res, event.Result{}) {
			t.Fatalf("error %v came with a result %+v", err, res)
		}
		return nil
	}
	if res.Ignored != "" {
		if len(res.Hints) > 0 {
			t.Fatalf("ignored (%s) with hints %+v", res.Ignored, res.Hints)
		}
		return nil
	}
	if len(res.Hints) == 0 {
		t.Fatalf("neither hints nor a reason to ignore: %+v", res)
	}
	if ambiguous, key := ambiguousEnvelopeKey(payload); ambiguous {
		t.Fatalf("decoded %+v from a payload with key %q twice", res, key)
	}
	var envelope events.EventBridgeEvent
	isEnvelope := json.Unmarshal(payload, &envelope) == nil && envelope.Source != ""
	for _, h := range res.Hints {
		checkHint(t, h)
		if isEnvelope && (h.Account != envelope.AccountID || h.Region != envelope.Region) {
			t.Fatalf("hint %+v is not in the event's account %s and region %s", h, envelope.AccountID, envelope.Region)
		}
		if h.Kind == event.SubnetDeleteBlocked {
			continue
		}
		// The hint's re-drive form decodes to the same VPC.
		redrive, err := json.Marshal(event.RedriveRequest{Account: h.Account, Region: h.Region, VPCID: h.VPCID})
		if err != nil {
			t.Fatal(err)
		}
		again, err := d.Decode(redrive)
		want := event.Hint{Kind: event.Redrive, Account: h.Account, Region: h.Region, VPCID: h.VPCID, Source: "redrive"}
		if err != nil || len(again.Hints) != 1 || again.Hints[0] != want {
			t.Fatalf("re-drive %s of %+v decoded to %+v, %v", redrive, h, again, err)
		}
	}
	return res.Hints
}

// FuzzDecodeEventFields varies the fields of well-formed tag change and
// CloudTrail events (the byte-level target rarely gets past the JSON
// syntax to the validation of ids, ARNs and names).
func FuzzDecodeEventFields(f *testing.F) {
	for _, b := range savedEvents(f) {
		var ev struct {
			events.EventBridgeEvent
			Detail struct {
				ChangedTagKeys    []string `json:"changed-tag-keys"`
				EventName         string   `json:"eventName"`
				ErrorCode         string   `json:"errorCode"`
				RequestParameters struct {
					VPCID        string `json:"vpcId"`
					SubnetID     string `json:"subnetId"`
					ResourcesSet struct {
						Items []struct {
							ResourceID string `json:"resourceId"`
						} `json:"items"`
					} `json:"resourcesSet"`
				} `json:"requestParameters"`
				ResponseElements struct {
					VPC struct {
						VPCID string `json:"vpcId"`
					} `json:"vpc"`
				} `json:"responseElements"`
			} `json:"detail"`
		}
		if json.Unmarshal(b, &ev) != nil || ev.Source == "" {
			continue
		}
		det := ev.Detail
		resource, changed := "", ""
		if len(ev.Resources) > 0 {
			resource = ev.Resources[0]
		}
		if len(det.ChangedTagKeys) > 0 {
			changed = det.ChangedTagKeys[0]
		}
		id := det.RequestParameters.VPCID + det.RequestParameters.SubnetID + det.ResponseElements.VPC.VPCID
		if items := det.RequestParameters.ResourcesSet.Items; len(items) > 0 {
			id = items[0].ResourceID
		}
		f.Add(ev.Source, ev.DetailType, ev.AccountID, ev.Region, resource, changed, det.EventName, det.ErrorCode, id)
	}
	d := event.Decoder{TagKey: "jenkins-agents"}
	f.Fuzz(func(t *testing.T, source, detailType, account, region, resource, tagKey, eventName, errorCode, id string) {
		var detail map[string]any
		if source == event.SourceTag {
			detail = map[string]any{"changed-tag-keys": []string{tagKey}, "service": "ec2", "resource-type": "vpc",
				"version": 4.0, "tags": map[string]string{tagKey: "true"}}
		} else {
			tags := []map[string]string{{"key": tagKey, "value": "true"}}
			detail = map[string]any{"eventSource": "ec2.amazonaws.com", "eventName": eventName, "awsRegion": region,
				"recipientAccountId": account, "errorCode": errorCode,
				"requestParameters": map[string]any{"vpcId": id, "subnetId": id,
					"resourcesSet":        map[string]any{"items": []map[string]string{{"resourceId": id}}},
					"tagSet":              map[string]any{"items": tags},
					"tagSpecificationSet": map[string]any{"items": []map[string]any{{"resourceType": "vpc", "tags": tags}}}},
				"responseElements": map[string]any{"vpc": map[string]string{"vpcId": id}}}
		}
		payload, err := json.Marshal(map[string]any{"version": "0", "id": "e", "detail-type": detailType, "source": source,
			"account": account, "time": "2026-11-27T09:30:00Z", "region": region, "resources": []string{resource}, "detail": detail})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range checkDecode(t, d, payload) {
			// The hint names the VPC (or subnet) the event names, nothing else.
			if h.VPCID != id && h.SubnetID != id && !strings.HasSuffix(resource, fmt.Sprintf(":ec2:%s:%s:vpc/%s", h.Region, h.Account, h.VPCID)) {
				t.Fatalf("hint %+v names neither %q nor %q", h, id, resource)
			}
		}
	})
}

// checkHint says h names a valid account, region and VPC (or subnet).
func checkHint(t *testing.T, h event.Hint) {
	t.Helper()
	ok := fuzzAccountRE.MatchString(h.Account) && fuzzRegionRE.MatchString(h.Region) && h.Source != ""
	switch h.Kind {
	case event.SubnetDeleteBlocked:
		ok = ok && h.VPCID == "" && fuzzSubnetRE.MatchString(h.SubnetID)
	case event.TagsChanged, event.Deleted, event.DeleteBlocked, event.Redrive:
		ok = ok && fuzzVPCRE.MatchString(h.VPCID) && h.SubnetID == ""
	default:
		ok = false
	}
	if !ok {
		t.Fatalf("invalid hint %+v", h)
	}
}

// ambiguousEnvelopeKey reports whether payload is an object with two
// top-level keys that encoding/json would decode into one field of the
// EventBridge envelope. It is written apart from the decoder's check, on
// purpose, as the reference the fuzzer holds it to.
func ambiguousEnvelopeKey(payload []byte) (bool, string) {
	fields := []string{"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false, ""
	}
	count := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false, ""
		}
		key := tok.(string)
		for _, f := range fields {
			if strings.EqualFold(key, f) {
				if count[f]++; count[f] > 1 {
					return true, key
				}
			}
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false, ""
		}
	}
	return false, ""
}

func FuzzDecodeNotifications(f *testing.F) {
	addSavedEvents(f)
	f.Add([]byte(`{"Records":[{"EventSource":"aws:sns","Sns":{"Message":"{\"serviceId\":\"a\",\"ServiceId\":\"b\"}"}}]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		notes, err := event.DecodeNotifications(payload)
		notes2, err2 := event.DecodeNotifications(payload)
		if !reflect.DeepEqual(notes, notes2) || errString(err) != errString(err2) {
			t.Fatalf("not deterministic: %+v, %v then %+v, %v", notes, err, notes2, err2)
		}
		if err != nil {
			checkError(t, err)
			if notes != nil {
				t.Fatalf("error %v came with notifications %+v", err, notes)
			}
			return
		}
		var ev events.SNSEvent
		if json.Unmarshal(payload, &ev) != nil || len(notes) == 0 || len(notes) != len(ev.Records) {
			t.Fatalf("%d notifications from %d records", len(notes), len(ev.Records))
		}
	})
}

func FuzzDecodeSweep(f *testing.F) {
	addSavedEvents(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		s, err := event.DecodeSweep(payload, hub)
		s2, err2 := event.DecodeSweep(payload, hub)
		if !reflect.DeepEqual(s, s2) || errString(err) != errString(err2) {
			t.Fatalf("not deterministic: %+v, %v then %+v, %v", s, err, s2, err2)
		}
		if err != nil {
			checkError(t, err)
			if !reflect.DeepEqual(s, event.Sweep{}) {
				t.Fatalf("error %v came with a sweep %+v", err, s)
			}
			return
		}
		if !slices.Contains([]string{event.DeepRotating, event.DeepAll, event.DeepNone}, s.Deep) {
			t.Fatalf("sweep %+v has an unknown depth", s)
		}
		for _, a := range s.Accounts {
			if !fuzzAccountRE.MatchString(a) {
				t.Fatalf("sweep %+v names account %q", s, a)
			}
		}
		var envelope events.EventBridgeEvent
		if json.Unmarshal(payload, &envelope) == nil && envelope.DetailType == "Reconcile Accounts" && envelope.AccountID != hub {
			t.Fatalf("obeyed a fan-out batch %+v from account %q", s, envelope.AccountID)
		}
		// A sweep re-encoded as a direct request decodes to itself.
		direct, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		again, err := event.DecodeSweep(direct, hub)
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("direct request %s of %+v decoded to %+v, %v", direct, s, again, err)
		}
	})
}
