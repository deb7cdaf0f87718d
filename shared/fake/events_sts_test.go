package fake_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/fake"
)

func TestPutEvents(t *testing.T) {
	w := fake.NewWorld(fake.Options{})
	w.AddEventBus(hub, "jenkins-agent-vpcs")
	entry := func(bus, detail string) ebtypes.PutEventsRequestEntry {
		return ebtypes.PutEventsRequestEntry{EventBusName: optToken(bus), Source: aws.String("jenkins-agent-vpcs"), DetailType: aws.String("Agent VPC Status"), Detail: aws.String(detail), Resources: []string{"arn:aws:ec2:us-east-1:" + spoke + ":vpc/vpc-1"}}
	}
	out, err := w.EventBridge(hub).PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
		entry("jenkins-agent-vpcs", `{"state":"ready"}`),
		entry("jenkins-agent-vpcs", `not json`),
		{EventBusName: aws.String("jenkins-agent-vpcs"), Source: aws.String("s"), Detail: aws.String(`{}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 2 || out.Entries[0].EventId == nil || aws.ToString(out.Entries[1].ErrorCode) != "MalformedDetail" || aws.ToString(out.Entries[2].ErrorCode) != "InvalidArgument" {
		t.Errorf("result %+v", out)
	}
	// A spoke putting to the hub bus by ARN lands on the hub.
	arn := "arn:aws:events:us-east-1:" + hub + ":event-bus/jenkins-agent-vpcs"
	if _, err := w.EventBridge(spoke).PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry(arn, `{"n":2}`)}}); err != nil {
		t.Fatal(err)
	}
	got := w.Events(hub)
	if len(got) != 2 || got[0].Detail != `{"state":"ready"}` || got[0].Bus != "jenkins-agent-vpcs" || got[1].Sender != spoke || got[1].Account != hub {
		t.Errorf("hub events %+v", got)
	}
	if len(w.Events(spoke)) != 0 {
		t.Error("the spoke's own buses got the event")
	}
	eleven := make([]ebtypes.PutEventsRequestEntry, 11)
	for i := range eleven {
		eleven[i] = entry("", `{}`)
	}
	if _, err := w.EventBridge(hub).PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: eleven}); code(err) != "ValidationException" {
		t.Errorf("11 entries: %v", err)
	}
	if _, err := w.EventBridge(hub).PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry("nope", `{}`)}}); code(err) != "ResourceNotFoundException" {
		t.Errorf("missing bus: %v", err)
	}
}

func TestAssumeRole(t *testing.T) {
	clock := fake.NewClock(epoch)
	w := fake.NewWorld(fake.Options{Clock: clock})
	fn := fake.RoleARN(hub, "onboard-function")
	fnSession := "arn:aws:sts::" + hub + ":assumed-role/onboard-function/lambda-1"
	role := w.AddRole(spoke, "jenkins-agent-vpcs-spoke", fake.Trust{Principals: []string{fn}, ExternalID: "ext-1"})
	w.AddRole(other, "open", fake.Trust{Principals: []string{fake.RootARN(hub)}})
	tests := []struct {
		name     string
		caller   string
		role     string
		external string
		duration int32
		code     string
	}{
		{"trusted session with external id", fnSession, role, "ext-1", 0, ""},
		{"wrong external id", fnSession, role, "ext-2", 0, "AccessDenied"},
		{"no external id", fnSession, role, "", 0, "AccessDenied"},
		{"untrusted principal", "arn:aws:sts::" + hub + ":assumed-role/reconcile/x", role, "ext-1", 0, "AccessDenied"},
		{"missing role", fnSession, fake.RoleARN(spoke, "nope"), "ext-1", 0, "AccessDenied"},
		{"account root trust admits any principal of the account", fnSession, fake.RoleARN(other, "open"), "", 0, ""},
		{"role chaining is capped at one hour", fnSession, role, "ext-1", 7200, "ValidationError"},
		{"bad session name", fnSession, role, "ext-1", 0, "ValidationError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			session := "onboard"
			if tt.name == "bad session name" {
				session = "a b"
			}
			in := &sts.AssumeRoleInput{RoleArn: aws.String(tt.role), RoleSessionName: aws.String(session), ExternalId: optToken(tt.external)}
			if tt.duration != 0 {
				in.DurationSeconds = aws.Int32(tt.duration)
			}
			out, err := w.STS(hub, tt.caller).AssumeRole(t.Context(), in)
			if code(err) != tt.code {
				t.Fatalf("error %v, want %q", err, tt.code)
			}
			if err != nil {
				return
			}
			acct := strings.Split(tt.role, ":")[4]
			key := *out.Credentials.AccessKeyId
			if !strings.HasPrefix(key, "ASIAFAKE"+acct) {
				t.Errorf("key %s does not encode %s", key, acct)
			}
			roleName := tt.role[strings.LastIndex(tt.role, "/")+1:]
			wantARN := "arn:aws:sts::" + acct + ":assumed-role/" + roleName + "/onboard"
			if *out.AssumedRoleUser.Arn != wantARN || !out.Credentials.Expiration.Equal(epoch.Add(time.Hour)) {
				t.Errorf("user %s, expiry %v", *out.AssumedRoleUser.Arn, out.Credentials.Expiration)
			}
			gotAcct, principal, ok := w.AccountOfKey(key)
			if !ok || gotAcct != acct || principal != wantARN {
				t.Errorf("AccountOfKey = %s %s %v", gotAcct, principal, ok)
			}
			id, err := w.STS(gotAcct, principal).GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
			if err != nil || *id.Account != acct || *id.Arn != wantARN || !strings.HasSuffix(*id.UserId, ":onboard") {
				t.Errorf("GetCallerIdentity %v %+v", err, id)
			}
		})
	}
	if _, _, ok := w.AccountOfKey("AKIAUNKNOWN"); ok {
		t.Error("an unknown key resolved")
	}
	key := w.AccessKey(hub, fn)
	if a, p, ok := w.AccountOfKey(key); !ok || a != hub || p != fn {
		t.Errorf("AccessKey round trip: %s %s %v", a, p, ok)
	}
}
