package event_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
)

const redriveBody = `{\"account\": \"222222222222\", \"region\": \"us-east-1\", \"vpcId\": \"vpc-0a11b22c33d44e55f\"}`

func record(id, body, attrs string) string {
	r := `{"messageId":"` + id + `","receiptHandle":"h-` + id + `","body":"` + body + `","eventSource":"aws:sqs",` +
		`"eventSourceARN":"arn:aws:sqs:us-east-1:111111111111:onboard","awsRegion":"us-east-1"`
	if attrs != "" {
		r += `,"messageAttributes":` + attrs
	}
	return r + "}"
}

func batch(records ...string) []byte {
	return []byte(`{"Records":[` + strings.Join(records, ",") + `]}`)
}

func TestDecodeBatch(t *testing.T) {
	followUp := func(v string) string {
		return `{"follow-up":{"stringValue":"` + v + `","dataType":"Number"}}`
	}
	tests := []struct {
		name      string
		payload   []byte
		wantErr   string // the batch as a whole
		wantMsgs  int
		wantFirst string // the first message's error, or "" when it decodes
		followUp  int    // the first message's hint's follow-up count
	}{
		{name: "one re-drive", payload: batch(record("m1", redriveBody, "")), wantMsgs: 1},
		{name: "a follow-up", payload: batch(record("m1", redriveBody, followUp("3"))), wantMsgs: 1, followUp: 3},
		{name: "a follow-up count that is not a count", payload: batch(record("m1", redriveBody, followUp("x"))), wantMsgs: 1,
			wantFirst: `message m1 has follow-up attribute "x", want a count`},
		{name: "a body that is not an event", payload: batch(record("m1", `not json`, ""), record("m2", redriveBody, "")), wantMsgs: 2,
			wantFirst: "payload is not a JSON object"},
		{name: "no records", payload: []byte(`{"Records":[]}`), wantErr: "SQS batch has no records"},
		{name: "a record from SNS", payload: []byte(`{"Records":[{"messageId":"m1","eventSource":"aws:sns","body":"{}"}]}`),
			wantErr: `record 0 of the SQS batch has eventSource "aws:sns", want aws:sqs`},
		{name: "a record without id", payload: batch(record("", redriveBody, "")), wantErr: "record 0 of the SQS batch has no messageId"},
		{name: "one id twice counts once", payload: batch(record("m1", redriveBody, ""), record("m1", redriveBody, "")), wantMsgs: 1},
		{name: "not JSON", payload: []byte(`{"Records":`), wantErr: "SQS batch"},
	}
	d := event.Decoder{TagKey: "jenkins-agents"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := d.DecodeBatch(tc.payload)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DecodeBatch = %v, want an error saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(msgs) != tc.wantMsgs {
				t.Fatalf("DecodeBatch = %d messages, %v; want %d", len(msgs), err, tc.wantMsgs)
			}
			m := msgs[0]
			if tc.wantFirst != "" {
				if m.Err == nil || !strings.Contains(m.Err.Error(), tc.wantFirst) {
					t.Fatalf("message %s: error %v, want %q", m.ID, m.Err, tc.wantFirst)
				}
				return
			}
			if m.Err != nil || m.ID != "m1" || len(m.Result.Hints) != 1 || m.Result.Hints[0].VPCID != "vpc-0a11b22c33d44e55f" ||
				m.Result.Hints[0].FollowUp != tc.followUp {
				t.Fatalf("message = %+v, want m1 re-driving vpc-0a11b22c33d44e55f with follow-up %d", m, tc.followUp)
			}
		})
	}
}

func TestIsBatch(t *testing.T) {
	for payload, want := range map[string]bool{
		string(batch(record("m1", redriveBody, ""))):                   true,
		`{"Records":[{"EventSource":"aws:sns","Sns":{"Message":""}}]}`: false,
		`{"account":"222222222222"}`:                                   false,
		`not json`:                                                     false,
	} {
		if got := event.IsBatch([]byte(payload)); got != want {
			t.Errorf("IsBatch(%s) = %v, want %v", payload, got, want)
		}
	}
}

// FuzzDecodeBatch checks that every record of a batch that decodes is
// one message, under the record's own id.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(batch(record("m1", redriveBody, ""), record("m2", `{}`, `{"follow-up":{"stringValue":"1","dataType":"Number"}}`)))
	f.Fuzz(func(t *testing.T, payload []byte) {
		msgs, err := event.Decoder{TagKey: "jenkins-agents"}.DecodeBatch(payload)
		if err != nil {
			checkError(t, err)
			return
		}
		var ev struct {
			Records []struct {
				MessageID string `json:"messageId"`
			} `json:"Records"`
		}
		// One message per distinct id, in the order the ids first come: a
		// standard queue may hand a message out twice in one batch.
		var ids []string
		if json.Unmarshal(payload, &ev) == nil {
			for _, r := range ev.Records {
				if !slices.Contains(ids, r.MessageID) {
					ids = append(ids, r.MessageID)
				}
			}
		}
		if len(ids) != len(msgs) {
			t.Fatalf("%d messages from a batch of %d distinct ids the decoder accepted", len(msgs), len(ids))
		}
		for i, m := range msgs {
			if m.ID == "" || m.ID != ids[i] {
				t.Fatalf("message %d has id %q, want %q", i, m.ID, ids[i])
			}
			if m.Err != nil {
				checkError(t, m.Err)
			}
		}
	})
}
