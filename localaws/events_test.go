package localaws

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// recorder collects deliveries from subscriber goroutines.
type recorder[T any] struct {
	mu   sync.Mutex
	list []T
}

func (r *recorder[T]) add(v T) { r.mu.Lock(); r.list = append(r.list, v); r.mu.Unlock() }
func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.list...)
}

func TestPutEventsRoutesAcrossAccounts(t *testing.T) {
	// The subject is routing: exactly-once, in-order delivery lets the test
	// count deliveries (delivery_test.go covers strict delivery).
	srv, url := startServer(t, Options{Topology: testTopology(), Relax: Relax{Delivery: true}})
	hubBus := "arn:aws:events:" + region + ":" + hub + ":event-bus/jenkins-agent-vpcs"
	fnARN := "arn:aws:lambda:" + region + ":" + hub + ":function:onboard"
	allowForwarding(t, srv, hubBus)

	memberEB := eventbridge.NewFromConfig(awsConfig(url, member, "x", ""))
	if _, err := memberEB.PutRule(ctx(t), &eventbridge.PutRuleInput{Name: aws.String("to-hub"),
		EventPattern: aws.String(`{"source":["aws.tag","jav.test"],"detail":{"resource-type":["vpc"]}}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := memberEB.PutTargets(ctx(t), &eventbridge.PutTargetsInput{Rule: aws.String("to-hub"),
		Targets: []types.Target{{Id: aws.String("hub"), Arn: aws.String(hubBus), RoleArn: aws.String("arn:aws:iam::" + member + ":role/events")}}}); err != nil {
		t.Fatal(err)
	}
	hubEB := eventbridge.NewFromConfig(awsConfig(url, hub, "x", ""))
	if _, err := hubEB.PutRule(ctx(t), &eventbridge.PutRuleInput{Name: aws.String("onboard"), EventBusName: aws.String("jenkins-agent-vpcs"),
		EventPattern: aws.String(`{"detail":{"tags":{"jenkins-agents":[{"exists":true}]}}}`)}); err != nil {
		t.Fatal(err)
	}
	out, err := hubEB.PutTargets(ctx(t), &eventbridge.PutTargetsInput{Rule: aws.String("onboard"), EventBusName: aws.String("jenkins-agent-vpcs"),
		Targets: []types.Target{{Id: aws.String("fn"), Arn: aws.String(fnARN)}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("put targets = %+v, %v", out, err)
	}

	var got recorder[Delivery]
	defer srv.Subscribe(fnARN, got.add)()
	var watched recorder[awsproto.Event]
	defer srv.Watch(hub, region, "jenkins-agent-vpcs", watched.add)()

	res, err := memberEB.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		{Source: aws.String("jav.test"), DetailType: aws.String("Tag Change on Resource"), Detail: aws.String(`{"resource-type":"vpc","tags":{"jenkins-agents":"true"}}`)},
		{Source: aws.String("jav.test"), DetailType: aws.String("x"), Detail: aws.String(`{"resource-type":"vpc","tags":{}}`)},
		{Source: aws.String("jav.test"), DetailType: aws.String("x"), Detail: aws.String(`not json`)},
		{Source: aws.String("aws.ec2"), DetailType: aws.String("x"), Detail: aws.String(`{}`)},
		{DetailType: aws.String("x"), Detail: aws.String(`{}`)},
		{Source: aws.String("jav.test"), DetailType: aws.String("x"), Detail: aws.String(`{}`), EventBusName: aws.String("nope")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	wantEntryCodes := []string{"", "", "MalformedDetail", "NotAuthorizedForSourceException", "InvalidArgument", "ResourceNotFoundException"}
	if res.FailedEntryCount != 4 {
		t.Fatalf("failed entries = %d", res.FailedEntryCount)
	}
	for i, e := range res.Entries {
		if aws.ToString(e.ErrorCode) != wantEntryCodes[i] || (wantEntryCodes[i] == "") == (e.EventId == nil) {
			t.Fatalf("entry %d = %+v", i, e)
		}
	}
	if !srv.Flush(5 * time.Second) {
		t.Fatal("deliveries did not drain")
	}
	if len(watched.all()) != 2 {
		t.Fatalf("hub bus saw %d events, want 2 (both vpc events forwarded)", len(watched.all()))
	}
	ds := got.all()
	if len(ds) != 1 {
		t.Fatalf("function got %d deliveries, want 1", len(ds))
	}
	d := ds[0]
	if d.Event.Account != member || d.Event.Source != "jav.test" || d.RuleARN != "arn:aws:events:"+region+":"+hub+":rule/jenkins-agent-vpcs/onboard" {
		t.Fatalf("delivery = %+v", d)
	}
	var payload awsproto.Event
	if err := json.Unmarshal(d.Payload, &payload); err != nil || payload.ID != d.Event.ID || payload.DetailType != "Tag Change on Resource" {
		t.Fatalf("payload = %s, %v", d.Payload, err)
	}

	_, err = memberEB.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: make([]types.PutEventsRequestEntry, 11)})
	if err == nil {
		t.Fatal("11 entries accepted")
	}
}

func TestRulesLifecycle(t *testing.T) {
	// Relaxed delivery: the test counts the schedule's deliveries.
	srv, url := startServer(t, Options{Topology: testTopology(), Relax: Relax{Delivery: true}})
	c := eventbridge.NewFromConfig(awsConfig(url, hub, "x", ""))
	_, err := c.PutRule(ctx(t), &eventbridge.PutRuleInput{Name: aws.String("bad"), EventPattern: aws.String(`{"source":"aws.ec2"}`)})
	wantCode(t, err, "InvalidEventPatternException")
	_, err = c.PutRule(ctx(t), &eventbridge.PutRuleInput{Name: aws.String("none")})
	wantCode(t, err, "ValidationException")
	_, err = c.PutRule(ctx(t), &eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"source":["x"]}`), EventBusName: aws.String("missing")})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = c.PutRule(ctx(t), &eventbridge.PutRuleInput{Name: aws.String("r"), ScheduleExpression: aws.String("rate(5 minutes)"), EventBusName: aws.String("jenkins-agent-vpcs")})
	wantCode(t, err, "ValidationException")

	sched, err := c.PutRule(ctx(t), &eventbridge.PutRuleInput{Name: aws.String("reconcile"), ScheduleExpression: aws.String("rate(15 minutes)")})
	if err != nil || *sched.RuleArn != "arn:aws:events:"+region+":"+hub+":rule/reconcile" {
		t.Fatalf("put rule = %v, %v", sched, err)
	}
	fn := "arn:aws:lambda:" + region + ":" + hub + ":function:reconcile"
	if _, err := c.PutTargets(ctx(t), &eventbridge.PutTargetsInput{Rule: aws.String("reconcile"),
		Targets: []types.Target{{Id: aws.String("fn"), Arn: aws.String(fn), Input: aws.String(`{"mode":"sweep"}`)}}}); err != nil {
		t.Fatal(err)
	}
	var got recorder[Delivery]
	defer srv.Subscribe(fn, got.add)()
	if err := srv.TriggerRule(hub, region, "default", "reconcile"); err != nil {
		t.Fatal(err)
	}
	srv.Flush(5 * time.Second)
	if ds := got.all(); len(ds) != 1 || string(ds[0].Payload) != `{"mode":"sweep"}` || ds[0].Event.DetailType != "Scheduled Event" {
		t.Fatalf("scheduled deliveries = %+v", ds)
	}

	desc, err := c.DescribeRule(ctx(t), &eventbridge.DescribeRuleInput{Name: aws.String("reconcile")})
	if err != nil || desc.State != types.RuleStateEnabled || *desc.ScheduleExpression != "rate(15 minutes)" {
		t.Fatalf("describe = %+v, %v", desc, err)
	}
	list, err := c.ListRules(ctx(t), &eventbridge.ListRulesInput{})
	if err != nil || len(list.Rules) != 1 {
		t.Fatalf("list = %+v, %v", list, err)
	}
	_, err = c.DeleteRule(ctx(t), &eventbridge.DeleteRuleInput{Name: aws.String("reconcile")})
	wantCode(t, err, "ValidationException")
	rm, err := c.RemoveTargets(ctx(t), &eventbridge.RemoveTargetsInput{Rule: aws.String("reconcile"), Ids: []string{"fn", "ghost"}})
	if err != nil || rm.FailedEntryCount != 1 {
		t.Fatalf("remove targets = %+v, %v", rm, err)
	}
	if _, err := c.DeleteRule(ctx(t), &eventbridge.DeleteRuleInput{Name: aws.String("reconcile")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeRule(ctx(t), &eventbridge.DescribeRuleInput{Name: aws.String("reconcile")})
	wantCode(t, err, "ResourceNotFoundException")

	bus, err := c.CreateEventBus(ctx(t), &eventbridge.CreateEventBusInput{Name: aws.String("status")})
	if err != nil || *bus.EventBusArn != "arn:aws:events:"+region+":"+hub+":event-bus/status" {
		t.Fatalf("create bus = %v, %v", bus, err)
	}
	_, err = c.CreateEventBus(ctx(t), &eventbridge.CreateEventBusInput{Name: aws.String("status")})
	wantCode(t, err, "ResourceAlreadyExistsException")
	if d, err := c.DescribeEventBus(ctx(t), &eventbridge.DescribeEventBusInput{Name: aws.String("status")}); err != nil || *d.Arn != *bus.EventBusArn {
		t.Fatalf("describe bus = %v, %v", d, err)
	}
}
