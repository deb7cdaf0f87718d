package event_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/event"
)

func load(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const vpc = "vpc-0a11b22c33d44e55f"

func TestDecode(t *testing.T) {
	d := event.Decoder{TagKey: "jenkins-agents"}
	tests := []struct {
		file      string
		wantHints []event.Hint // compared on Kind, Account, Region, VPCID, SubnetID
		ignored   bool
		refused   string // RefusedError reason
		malformed bool
	}{
		{file: "tag-change-tagged.json", wantHints: []event.Hint{{Kind: event.TagsChanged, Account: "222222222222", Region: "us-east-1", VPCID: vpc}}},
		{file: "tag-change-untagged.json", wantHints: []event.Hint{{Kind: event.TagsChanged, Account: "222222222222", Region: "us-east-1", VPCID: vpc}}},
		{file: "tag-change-other-key.json", ignored: true},
		{file: "tag-change-forged-account.json", refused: "account-mismatch"},
		{file: "tag-change-missing-resources.json", refused: "bad-resources"},
		{file: "tag-change-denied-account.json", wantHints: []event.Hint{{Kind: event.TagsChanged, Account: "444444444444", Region: "us-east-1", VPCID: "vpc-0d44e55f66a77b88c"}}},
		{file: "cloudtrail-createtags-mixed.json", wantHints: []event.Hint{
			{Kind: event.TagsChanged, Account: "222222222222", Region: "us-east-1", VPCID: vpc},
			{Kind: event.TagsChanged, Account: "222222222222", Region: "us-east-1", VPCID: "vpc-0b22c33d44e55f66a"},
		}},
		{file: "cloudtrail-deletetags.json", wantHints: []event.Hint{{Kind: event.TagsChanged, Account: "222222222222", Region: "us-east-1", VPCID: vpc}}},
		{file: "cloudtrail-createvpc-tagged.json", wantHints: []event.Hint{{Kind: event.TagsChanged, Account: "222222222222", Region: "us-east-1", VPCID: vpc}}},
		{file: "cloudtrail-deletevpc.json", wantHints: []event.Hint{{Kind: event.Deleted, Account: "222222222222", Region: "us-east-1", VPCID: vpc}}},
		{file: "cloudtrail-deletevpc-dependency.json", wantHints: []event.Hint{{Kind: event.DeleteBlocked, Account: "222222222222", Region: "us-east-1", VPCID: vpc}}},
		{file: "cloudtrail-deletesubnet-dependency.json", wantHints: []event.Hint{{Kind: event.SubnetDeleteBlocked, Account: "222222222222", Region: "us-east-1", SubnetID: "subnet-0b22c33d44e55f66a"}}},
		{file: "redrive.json", wantHints: []event.Hint{{Kind: event.Redrive, Account: "222222222222", Region: "us-east-1", VPCID: vpc}}},
		{file: "unknown-source.json", ignored: true},
		{file: "sns-connection-notification.json", ignored: true},
		{file: "malformed-not-json.txt", malformed: true},
		{file: "malformed-redrive.json", malformed: true},
		{file: "malformed-detail.json", malformed: true},
		{file: "malformed-duplicate-key.json", malformed: true},
		{file: "malformed-case-duplicate-key.json", malformed: true},
		{file: "malformed-cloudtrail-case-duplicate-key.json", malformed: true},
		{file: "tag-change-replayed.json", wantHints: []event.Hint{{Kind: event.TagsChanged, Account: "222222222222", Region: "us-east-1", VPCID: vpc}}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			res, err := d.Decode(load(t, tc.file))
			var malformed *event.MalformedError
			refused, isRefused := event.AsRefused(err)
			switch {
			case tc.malformed:
				if !errors.As(err, &malformed) {
					t.Fatalf("want MalformedError, got %v", err)
				}
				return
			case tc.refused != "":
				if !isRefused || refused.Reason != tc.refused {
					t.Fatalf("want refusal %q, got %v", tc.refused, err)
				}
				return
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.ignored:
				if res.Ignored == "" || len(res.Hints) > 0 {
					t.Fatalf("want ignored, got %+v", res)
				}
				return
			}
			if len(res.Hints) != len(tc.wantHints) {
				t.Fatalf("got %d hints %+v, want %d", len(res.Hints), res.Hints, len(tc.wantHints))
			}
			for i, w := range tc.wantHints {
				g := res.Hints[i]
				if g.Kind != w.Kind || g.Account != w.Account || g.Region != w.Region || g.VPCID != w.VPCID || g.SubnetID != w.SubnetID {
					t.Errorf("hint %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestDecodeRejectsCloudTrailFromAnotherAccount(t *testing.T) {
	raw := string(load(t, "cloudtrail-deletevpc.json"))
	forged := []byte(replace(raw, `"recipientAccountId": "222222222222"`, `"recipientAccountId": "333333333333"`))
	_, err := event.Decoder{TagKey: "jenkins-agents"}.Decode(forged)
	if r, ok := event.AsRefused(err); !ok || r.Reason != "account-mismatch" {
		t.Fatalf("want account-mismatch refusal, got %v", err)
	}
}

func TestDecodeIgnoresTagsThatAreNotTheOptInTag(t *testing.T) {
	raw := string(load(t, "cloudtrail-createtags-mixed.json"))
	other := []byte(replace(raw, `{"key": "jenkins-agents", "value": "true"}, `, ""))
	res, err := event.Decoder{TagKey: "jenkins-agents"}.Decode(other)
	if err != nil || res.Ignored == "" {
		t.Fatalf("want ignored, got %+v, %v", res, err)
	}
}

func TestDecodeNotifications(t *testing.T) {
	notes, err := event.DecodeNotifications(load(t, "sns-connection-notification.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := event.Notification{ServiceID: "vpce-svc-0123456789abcdef0", EndpointID: "vpce-0fedcba9876543210",
		Owner: "222222222222", State: "pendingAcceptance", Event: "Connect"}
	if len(notes) != 1 || notes[0] != want {
		t.Fatalf("got %+v, want %+v", notes, want)
	}
	for _, bad := range []string{`{}`, `not json`, `{"Records": [{"EventSource": "aws:sqs"}]}`} {
		var m *event.MalformedError
		if _, err := event.DecodeNotifications([]byte(bad)); !errors.As(err, &m) {
			t.Errorf("DecodeNotifications(%s) = %v, want MalformedError", bad, err)
		}
	}
}

func replace(s, old, with string) string { return strings.ReplaceAll(s, old, with) }

func TestDeleteTagsWithoutTagsDeletesTheOptInTag(t *testing.T) {
	raw := string(load(t, "cloudtrail-deletetags.json"))
	all := []byte(strings.ReplaceAll(raw, `"tagSet": {"items": [{"key": "jenkins-agents"}]}`, `"tagSet": {}`))
	if string(all) == raw {
		t.Fatal("test event not rewritten")
	}
	res, err := event.Decoder{TagKey: "jenkins-agents"}.Decode(all)
	if err != nil || len(res.Hints) != 1 || res.Hints[0].VPCID != vpc {
		t.Fatalf("DeleteTags of every tag: %+v, %v", res, err)
	}
}

// TestHintsCarryWhatTheEventSaysOfTheTag: onboard compares this claim with
// what it reads, to tell a lagging read from a tag that changed again.
func TestHintsCarryWhatTheEventSaysOfTheTag(t *testing.T) {
	tagged := &event.TagClaim{Present: true, Value: "true"}
	removed := &event.TagClaim{}
	tests := []struct {
		file string
		want *event.TagClaim
	}{
		{"tag-change-tagged.json", &event.TagClaim{Present: true, Value: "TRUE"}}, // the value is compared case-insensitively later
		{"tag-change-untagged.json", removed},
		{"cloudtrail-createtags-mixed.json", tagged},
		{"cloudtrail-deletetags.json", removed},
		{"cloudtrail-createvpc-tagged.json", tagged},
		{"cloudtrail-deletevpc.json", nil},
		{"redrive.json", nil},
	}
	d := event.Decoder{TagKey: "jenkins-agents"}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			res, err := d.Decode(load(t, tc.file))
			if err != nil || len(res.Hints) == 0 {
				t.Fatalf("decode: %+v, %v", res, err)
			}
			for _, h := range res.Hints {
				if (h.Claim == nil) != (tc.want == nil) || (h.Claim != nil && *h.Claim != *tc.want) {
					t.Errorf("claim %+v, want %+v", h.Claim, tc.want)
				}
			}
		})
	}
	// A DeleteTags that names a value deletes the tag only if the value
	// matches (EC2 API reference, DeleteTags): it claims nothing.
	raw := string(load(t, "cloudtrail-deletetags.json"))
	valued := strings.ReplaceAll(raw, `{"key": "jenkins-agents"}`, `{"key": "jenkins-agents", "value": "true"}`)
	if valued == raw {
		t.Fatal("test event not rewritten")
	}
	res, err := d.Decode([]byte(valued))
	if err != nil || len(res.Hints) != 1 || res.Hints[0].Claim != nil {
		t.Fatalf("DeleteTags naming a value: %+v, %v", res, err)
	}
}

// A tag event names its VPC by ARN; the ARN's partition follows the
// event's Region, and an ARN that is not the event's VPC is refused.
func TestDecodeTagChangeResource(t *testing.T) {
	raw := string(load(t, "tag-change-tagged.json"))
	const arn = "arn:aws:ec2:us-east-1:222222222222:vpc/vpc-0a11b22c33d44e55f"
	tests := []struct {
		name, region, resource string
		refused                string // RefusedError reason; "" to want a hint for vpc
	}{
		{name: "aws", region: "us-east-1", resource: arn},
		{name: "aws-cn", region: "cn-north-1", resource: "arn:aws-cn:ec2:cn-north-1:222222222222:vpc/" + vpc},
		{name: "aws-us-gov", region: "us-gov-west-1", resource: "arn:aws-us-gov:ec2:us-gov-west-1:222222222222:vpc/" + vpc},
		{name: "other region", region: "us-east-1", resource: "arn:aws:ec2:us-west-2:222222222222:vpc/" + vpc, refused: "region-mismatch"},
		{name: "other account", region: "us-east-1", resource: "arn:aws:ec2:us-east-1:333333333333:vpc/" + vpc, refused: "account-mismatch"},
		{name: "subnet", region: "us-east-1", resource: "arn:aws:ec2:us-east-1:222222222222:subnet/subnet-0b22c33d44e55f66a", refused: "bad-resources"},
		{name: "bare id", region: "us-east-1", resource: vpc, refused: "bad-resources"},
		{name: "not aws", region: "us-east-1", resource: "arn:other:ec2:us-east-1:222222222222:vpc/" + vpc, refused: "bad-resources"},
		{name: "short account", region: "us-east-1", resource: "arn:aws:ec2:us-east-1:22222222222:vpc/" + vpc, refused: "bad-resources"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := replace(replace(raw, arn, tc.resource), `"region": "us-east-1"`, `"region": "`+tc.region+`"`)
			res, err := event.Decoder{TagKey: "jenkins-agents"}.Decode([]byte(ev))
			if tc.refused != "" {
				if r, ok := event.AsRefused(err); !ok || r.Reason != tc.refused || !strings.Contains(r.Detail, tc.resource) {
					t.Fatalf("want refusal %q naming %s, got %v", tc.refused, tc.resource, err)
				}
				return
			}
			if err != nil || len(res.Hints) != 1 || res.Hints[0].VPCID != vpc || res.Hints[0].Region != tc.region {
				t.Fatalf("want one hint for %s in %s, got %+v, %v", vpc, tc.region, res, err)
			}
		})
	}
}
