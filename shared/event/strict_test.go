package event_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
)

// Go's encoding/json would decode each of these, letting the last of two
// matching keys win; AWS never sends them, so each is refused as malformed,
// naming the key.
func TestDecodeRefusesAmbiguousKeys(t *testing.T) {
	tagChange := string(load(t, "tag-change-tagged.json"))
	deleteVpc := string(load(t, "cloudtrail-deletevpc.json"))
	createTags := string(load(t, "cloudtrail-createtags-mixed.json"))
	redrive := string(load(t, "redrive.json"))
	tests := []struct {
		name    string
		payload string
		say     string // the malformed reason names this
	}{
		{"envelope key twice", replaceOnce(t, tagChange, `"account": "222222222222",`, `"account": "222222222222", "account": "333333333333",`),
			`duplicate key "account" at the top level`},
		{"envelope key in another case", replaceOnce(t, tagChange, `"account": "222222222222",`, `"account": "222222222222", "Account": "333333333333",`),
			`key "Account" at the top level differs only in case from "account"`},
		{"envelope key in another case alone", replaceOnce(t, tagChange, `"account": "222222222222",`, `"ACCOUNT": "222222222222",`),
			`key "ACCOUNT"`},
		{"envelope key folded by Unicode", replaceOnce(t, tagChange, `"resources":`, `"re\u017Fources":`),
			`differs only in case from "resources"`},
		{"envelope key escaped", replaceOnce(t, tagChange, `"region": "us-east-1",`, `"region": "us-east-1", "\u0072egion": "eu-west-1",`),
			`duplicate key "region"`},
		{"source twice", replaceOnce(t, tagChange, `"source": "aws.tag",`, `"source": "aws.tag", "source": "aws.tag",`),
			`duplicate key "source"`},
		{"detail field twice", replaceOnce(t, tagChange, `"service": "ec2",`, `"service": "ec2", "service": "s3",`),
			`duplicate key "service" in detail`},
		{"tag key twice", replaceOnce(t, tagChange, `"Name": "ci-agents"`, `"Name": "ci-agents", "Name": "other"`),
			`duplicate key "Name" in detail.tags`},
		{"tag change detail field in another case", replaceOnce(t, tagChange, `"resource-type": "vpc",`, `"resource-type": "vpc", "Resource-Type": "subnet",`),
			`key "Resource-Type" in detail differs only in case from "resource-type"`},
		{"CloudTrail recipient in another case", replaceOnce(t, deleteVpc, `"recipientAccountId": "222222222222"`, `"recipientAccountId": "222222222222", "RecipientAccountId": "333333333333"`),
			`key "RecipientAccountId" in detail differs only in case from "recipientAccountId"`},
		{"CloudTrail nested field in another case", replaceOnce(t, createTags, `"resourceId": "vpc-0a11b22c33d44e55f"`, `"resourceId": "vpc-0a11b22c33d44e55f", "ResourceId": "vpc-0b22c33d44e55f66a"`),
			`in detail.requestParameters.resourcesSet.items[0] differs only in case from "resourceId"`},
		{"CloudTrail unread field twice", replaceOnce(t, deleteVpc, `"eventType": "AwsApiCall",`, `"eventType": "AwsApiCall", "eventType": "AwsApiCall",`),
			`duplicate key "eventType" in detail`},
		{"re-drive key in another case", replaceOnce(t, redrive, `"account": "222222222222"`, `"Account": "222222222222"`),
			`key "Account" at the top level differs only in case from "account"`},
		{"re-drive key twice", replaceOnce(t, redrive, `"account": "222222222222"`, `"account": "222222222222", "account": "333333333333"`),
			`duplicate key "account"`},
	}
	d := event.Decoder{TagKey: "jenkins-agents"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := d.Decode([]byte(tc.payload))
			var m *event.MalformedError
			if !errors.As(err, &m) {
				t.Fatalf("want MalformedError, got %+v, %v", res, err)
			}
			if !strings.Contains(m.Reason, tc.say) {
				t.Errorf("reason %q does not say %q", m.Reason, tc.say)
			}
		})
	}
}

// Strictness stops at what AWS really sends: map keys are data (EC2 tag
// keys are case-sensitive), unknown keys are allowed, and a CloudTrail
// record of no interest is not inspected.
func TestDecodeAcceptsWhatAWSSends(t *testing.T) {
	deleteVpc := string(load(t, "cloudtrail-deletevpc.json"))
	tests := []struct {
		name    string
		payload string
		ignored bool
	}{
		{"tags differing in case, replay-name", string(load(t, "tag-change-replayed.json")), false},
		{"unknown envelope key", replaceOnce(t, string(load(t, "tag-change-tagged.json")), `"version": "0",`, `"version": "0", "x-new-field": 1,`), false},
		{"CloudTrail call of no interest with its own field names",
			replaceOnce(t, replaceOnce(t, deleteVpc, `"eventName": "DeleteVpc"`, `"eventName": "ModifyVpcAttribute"`),
				`{"vpcId": "vpc-0a11b22c33d44e55f"}`, `{"vpcId": "vpc-0a11b22c33d44e55f", "VpcId": "vpc-0a11b22c33d44e55f"}`), true},
		{"SNS records", string(load(t, "sns-connection-notification.json")), true},
	}
	d := event.Decoder{TagKey: "jenkins-agents"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := d.Decode([]byte(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Ignored != ""; got != tc.ignored || (!tc.ignored && len(res.Hints) == 0) {
				t.Errorf("got %+v, want ignored=%v", res, tc.ignored)
			}
		})
	}
}

func TestDecodeNotificationsRefusesAmbiguousKeys(t *testing.T) {
	sns := string(load(t, "sns-connection-notification.json"))
	tests := []struct {
		name, payload, say string
	}{
		{"Records twice", `{"Records": [], "Records": [{"EventSource": "aws:sns"}]}`, `duplicate key "Records"`},
		{"EventSource in another case", replaceOnce(t, sns, `"EventSource": "aws:sns",`, `"EventSource": "aws:sns", "eventSource": "aws:sqs",`),
			`key "eventSource" in Records[0] differs only in case from "EventSource"`},
		{"Message twice", replaceOnce(t, sns, `"Type": "Notification",`, `"Type": "Notification", "Message": "{}",`), `duplicate key "Message" in Records[0].Sns`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			notes, err := event.DecodeNotifications([]byte(tc.payload))
			var m *event.MalformedError
			if !errors.As(err, &m) || notes != nil {
				t.Fatalf("want MalformedError and no notifications, got %+v, %v", notes, err)
			}
			if !strings.Contains(m.Reason, tc.say) {
				t.Errorf("reason %q does not say %q", m.Reason, tc.say)
			}
		})
	}
	// Lambda spells the SNS fields the decoder does not read either way.
	urls := replaceOnce(t, sns, `"SigningCertUrl"`, `"SigningCertURL"`)
	if _, err := event.DecodeNotifications([]byte(urls)); err != nil {
		t.Errorf("SigningCertURL: %v", err)
	}
}

// A message body naming a field in two cases decodes the same every time.
func TestDecodeNotificationsIsDeterministic(t *testing.T) {
	body := `{\"serviceId\":\"vpce-svc-0a\",\"ServiceId\":\"vpce-svc-0b\",\"SERVICEID\":\"vpce-svc-0c\",\"State\":\"a\",\"state\":\"b\",\"vpcEndpointState\":\"c\"}`
	payload := `{"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "` + body + `"}}]}`
	for range 50 {
		notes, err := event.DecodeNotifications([]byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		if notes[0].ServiceID != "vpce-svc-0a" || notes[0].State != "c" {
			t.Fatalf("got %+v, want the exact key's value and the first name's", notes[0])
		}
	}
}

func replaceOnce(t *testing.T, s, old, with string) string {
	t.Helper()
	if strings.Count(s, old) != 1 {
		t.Fatalf("%q occurs %d times in the test event, want once", old, strings.Count(s, old))
	}
	return strings.Replace(s, old, with, 1)
}
