package stssim

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

const (
	hub    = "111111111111"
	member = "222222222222"
	other  = "333333333333"
)

func root(account string) Identity {
	return Identity{Account: account, Principal: "arn:aws:iam::" + account + ":root", UserID: account}
}

func newService(t *testing.T) (*Service, *awsproto.StoppedClock) {
	t.Helper()
	c := awsproto.NewStoppedClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	m := New(c)
	m.SetOrganization("o-test", []string{hub, member})
	roles := []Role{
		{Name: "fn", Trust: Trust{Principals: []string{hub}}, MaxSessionDuration: 7200},
		{Name: "spoke", Trust: Trust{Principals: []string{"arn:aws:iam::" + hub + ":role/fn"}, ExternalID: "x-1"}},
		{Name: "org", Trust: Trust{Principals: []string{"*"}, OrganizationID: "o-test"}},
	}
	for _, r := range roles {
		if err := m.AddRole(member, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.AddRole(hub, roles[0], []Policy{{Name: "p", Document: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)}}); err != nil {
		t.Fatal(err)
	}
	return m, c
}

// TestAssumeRoleTrust checks each part of a trust policy and the duration
// limits against the caller.
func TestAssumeRoleTrust(t *testing.T) {
	m, _ := newService(t)
	fn, aerr := m.Assume(root(hub), "arn:aws:iam::"+hub+":role/fn", "s1", "", 0, false)
	if aerr != nil {
		t.Fatal(aerr)
	}
	fnID, aerr := m.Identify(fn.AccessKeyID, fn.SessionToken)
	if aerr != nil {
		t.Fatal(aerr)
	}
	for _, tc := range []struct {
		name       string
		caller     Identity
		role, ext  string
		duration   int
		wantCode   string // "" for success
		wantSubstr string
	}{
		{"root of a trusted account", root(hub), "fn", "", 0, "", ""},
		{"root of another account", root(other), "fn", "", 0, "AccessDenied", "is not authorized to perform: sts:AssumeRole"},
		{"trusted role with the external id", fnID, "spoke", "x-1", 0, "", ""},
		{"trusted role without the external id", fnID, "spoke", "", 0, "AccessDenied", ""},
		{"untrusted root", root(hub), "spoke", "x-1", 0, "AccessDenied", ""},
		{"organization member", root(member), "org", "", 0, "", ""},
		{"outside the organization", root(other), "org", "", 0, "AccessDenied", ""},
		{"unknown role", root(hub), "nobody", "", 0, "AccessDenied", ""},
		{"within the role's maximum", root(hub), "fn", "", 7200, "", ""},
		{"beyond the role's maximum", root(hub), "fn", "", 7201, "ValidationError", "MaxSessionDuration"},
		{"chained beyond an hour", fnID, "spoke", "x-1", 3601, "ValidationError", "1 hour session limit"},
		{"too short", root(hub), "fn", "", 899, "ValidationError", "greater than or equal to 900"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			account := member
			if tc.role == "fn" && tc.caller.Account != member {
				account = hub
			}
			_, err := m.Assume(tc.caller, "arn:aws:iam::"+account+":role/"+tc.role, "sess", tc.ext, tc.duration, false)
			switch {
			case tc.wantCode == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantCode != "" && (err == nil || err.Code != tc.wantCode || !strings.Contains(err.Message, tc.wantSubstr)):
				t.Fatalf("error = %v, want %s containing %q", err, tc.wantCode, tc.wantSubstr)
			}
		})
	}
}

func TestIdentifySessionsExpire(t *testing.T) {
	m, clock := newService(t)
	c, aerr := m.Assume(root(hub), "arn:aws:iam::"+hub+":role/fn", "s1", "", 900, false)
	if aerr != nil {
		t.Fatal(aerr)
	}
	id, aerr := m.Identify(c.AccessKeyID, c.SessionToken)
	if aerr != nil || !id.AssumedRole || id.Principal != "arn:aws:sts::"+hub+":assumed-role/fn/s1" || id.Account != hub {
		t.Fatalf("identify = %+v, %v", id, aerr)
	}
	if len(m.IdentityPolicies(id.Principal)) != 1 {
		t.Fatalf("session of fn has %d identity policies, want the role's 1", len(m.IdentityPolicies(id.Principal)))
	}
	if _, aerr := m.Identify(c.AccessKeyID, "wrong"); aerr == nil || aerr.Code != "InvalidClientTokenId" {
		t.Fatalf("wrong token = %v, want InvalidClientTokenId", aerr)
	}
	clock.Advance(900 * time.Second)
	if _, aerr := m.Identify(c.AccessKeyID, c.SessionToken); aerr == nil || aerr.Code != "ExpiredToken" {
		t.Fatalf("expired session = %v, want ExpiredToken", aerr)
	}
	if id, aerr := m.Identify(member, ""); aerr != nil || id.AssumedRole || id.Principal != "arn:aws:iam::"+member+":root" {
		t.Fatalf("account key = %+v, %v", id, aerr)
	}
}

func TestParseRoleARN(t *testing.T) {
	for _, tc := range []struct {
		arn, account, name string
		ok                 bool
	}{
		{"arn:aws:iam::111111111111:role/fn", hub, "fn", true},
		{"arn:aws:iam::111111111111:role/service-role/fn", hub, "fn", true},
		{"arn:aws:iam::11111111111:role/fn", "", "", false},
		{"arn:aws:iam::111111111111:user/fn", "", "", false},
		{"arn:aws:iam::111111111111:role/", "", "", false},
		{"arn:aws:sts::111111111111:assumed-role/fn/s", "", "", false},
	} {
		account, name, ok := ParseRoleARN(tc.arn)
		if account != tc.account || name != tc.name || ok != tc.ok {
			t.Errorf("ParseRoleARN(%s) = %s %s %v, want %s %s %v", tc.arn, account, name, ok, tc.account, tc.name, tc.ok)
		}
	}
}

func TestHandleGetCallerIdentityAndAuthorizationContext(t *testing.T) {
	m, _ := newService(t)
	out, err := m.Handle(&awsproto.Call{Action: "GetCallerIdentity", RequestID: "r-1"}, root(member))
	if err != nil {
		t.Fatal(err)
	}
	want := `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::222222222222:root</Arn><UserId>222222222222</UserId><Account>222222222222</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
	if string(out) != want {
		t.Fatalf("GetCallerIdentity =\n%s\nwant\n%s", out, want)
	}
	if reqs := m.AuthorizationContext(&awsproto.Call{Action: "GetCallerIdentity"}); len(reqs) != 0 {
		t.Fatalf("GetCallerIdentity needs %d authorizations, want none", len(reqs))
	}
	form := url.Values{"RoleArn": {"arn:aws:iam::" + member + ":role/spoke"}, "RoleSessionName": {"s"}, "ExternalId": {"x-1"}}
	reqs := m.AuthorizationContext(&awsproto.Call{Action: "AssumeRole", Form: form})
	if len(reqs) != 1 || reqs[0].Action != "sts:AssumeRole" || reqs[0].Resources[0].ARN != form.Get("RoleArn") || reqs[0].Context["sts:ExternalId"][0] != "x-1" {
		t.Fatalf("AssumeRole authorization = %+v", reqs)
	}
	if _, err := m.Handle(&awsproto.Call{Action: "GetSessionToken"}, root(member)); err == nil || !strings.Contains(err.Error(), "InvalidAction") {
		t.Fatalf("unknown action = %v, want InvalidAction", err)
	}
}
