package templates

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestHubRoutesEveryEventToItsFunction(t *testing.T) {
	hub, _ := loadProduct(t)
	type summary struct{ Name, Kind, EventBus, Schedule, Topic, Function, Queue string }
	var got []summary
	for _, r := range hub.Routes() {
		got = append(got, summary{r.Name, r.Kind, r.EventBus, r.Schedule, r.Topic, r.Function, r.Queue})
	}
	// The onboard events go through the queue: the rules target it, the function polls it.
	want := []summary{
		{"OnboardFunctionQueue", "SQS", "", "", "", "OnboardFunction", "OnboardQueue"},
		{"AcceptFunctionNotification", "SNS", "", "", "!Ref ConnectionTopic", "AcceptFunction", ""},
		{"ReconcileFunctionSchedule", "Schedule", "", "!Ref ReconcileRate", "", "ReconcileFunction", ""},
		{"ReconcileFunctionFanout", "EventBridgeRule", "!Ref EventBus", "", "", "ReconcileFunction", ""},
		{"OnboardTagChangeRule", "EventBridgeRule", "!Ref EventBus", "", "", "", "OnboardQueue"},
		{"OnboardTagCallRule", "EventBridgeRule", "!Ref EventBus", "", "", "", "OnboardQueue"},
		{"OnboardVpcCallRule", "EventBridgeRule", "!Ref EventBus", "", "", "", "OnboardQueue"},
		// Optional (JenkinsUrl): status changes to the Jenkins reload queue (a pipe drains it).
		{"JenkinsReloadRule", "EventBridgeRule", "!Ref EventBus", "", "", "", "JenkinsReloadQueue"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hub routes =\n  %+v\nwant\n  %+v", got, want)
	}
}

func TestFanoutPatternResolvesToTheHubAccountOnly(t *testing.T) {
	hub, _ := loadProduct(t)
	var fanout Route
	for _, r := range hub.Routes() {
		if r.Name == "ReconcileFunctionFanout" {
			fanout = r
		}
	}
	resolved, err := ResolvePattern(fanout.Pattern, map[string]string{"AWS::AccountId": "111111111111"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(resolved)
	want := `{"account":["111111111111"],"detail-type":["Reconcile Accounts"],"source":["jenkins-agent-vpcs"]}`
	if string(got) != want {
		t.Errorf("fan-out pattern = %s, want %s", got, want)
	}
	if _, err := ResolvePattern(fanout.Pattern, nil); err == nil {
		t.Error("resolving without AWS::AccountId succeeded; an unresolved reference must fail")
	}
}

func TestMemberRoutesForwardToTheHubBus(t *testing.T) {
	_, member := loadProduct(t)
	routes := member.Routes()
	if len(routes) != 3 {
		t.Fatalf("member routes = %+v, want 3", routes)
	}
	for _, r := range routes {
		if r.EventBus != "" || r.Target != "!Ref HubEventBusArn" || r.RoleArn != forwardRoleARN || r.Function != "" {
			t.Errorf("member route %+v, want default bus -> hub bus with the forwarding role", r)
		}
	}
	tag, err := ResolvePattern(routes[0].Pattern, map[string]string{"TagKey": "jenkins-agents"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(tag)
	want := `{"detail":{"changed-tag-keys":["jenkins-agents"],"resource-type":["vpc"],"service":["ec2"]},"detail-type":["Tag Change on Resource"],"source":["aws.tag"]}`
	if string(got) != want {
		t.Errorf("tag change pattern = %s, want %s", got, want)
	}
}

func TestResolvePatternRefusesOtherIntrinsicsAndKeepsLiterals(t *testing.T) {
	tpl, err := Parse([]byte(`
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        E:
          Type: EventBridgeRule
          Properties:
            Pattern:
              detail:
                name: [!Sub "${X}-y"]
                literal: ["!Ref NotAnIntrinsic", {numeric: [">", 0]}, {exists: true}]
`))
	if err != nil {
		t.Fatal(err)
	}
	p := tpl.Routes()[0].Pattern
	if _, err := ResolvePattern(p, map[string]string{"X": "x"}); err == nil {
		t.Error("a !Sub in a pattern resolved; want an error rather than a silently wrong pattern")
	}
	literal := p.(map[string]any)["detail"].(map[string]any)["literal"]
	resolved, err := ResolvePattern(literal, nil)
	if err != nil {
		t.Fatalf("literal values: %v", err)
	}
	got, _ := json.Marshal(resolved)
	if want := `["!Ref NotAnIntrinsic",{"numeric":["\u003e",0]},{"exists":true}]`; string(got) != want {
		t.Errorf("literals = %s, want %s (quoted text stays text; numbers and booleans keep their type)", got, want)
	}
}
