package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
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
	fuzzRegionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
	fuzzVPCRE     = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	fuzzSubnetRE  = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
)

// addSavedEvents seeds f with every file of testdata/events.
func addSavedEvents(f *testing.F) {
	f.Helper()
	dir := filepath.Join("..", "..", "testdata", "events")
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
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
			return
		}
		if res.Ignored != "" {
			if len(res.Hints) > 0 {
				t.Fatalf("ignored (%s) with hints %+v", res.Ignored, res.Hints)
			}
			return
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
