package localaws

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

const deliveryTarget = "arn:aws:lambda:" + region + ":" + hub + ":function:onboard"

// routeToFunction makes the hub's default bus deliver source jav.test to
// deliveryTarget and returns the hub's EventBridge client.
func routeToFunction(t *testing.T, url string) *eventbridge.Client {
	t.Helper()
	c := eventbridge.NewFromConfig(awsConfig(url, hub, "x", ""))
	if _, err := c.PutRule(ctx(t), &eventbridge.PutRuleInput{Name: aws.String("r"), EventPattern: aws.String(`{"source":["jav.test"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutTargets(ctx(t), &eventbridge.PutTargetsInput{Rule: aws.String("r"),
		Targets: []types.Target{{Id: aws.String("fn"), Arn: aws.String(deliveryTarget)}}}); err != nil {
		t.Fatal(err)
	}
	return c
}

// putNumbered puts n events whose detail is {"n": i}, ten per call, and
// returns their ids in put order.
func putNumbered(t *testing.T, c *eventbridge.Client, n int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; i += 10 {
		var entries []types.PutEventsRequestEntry
		for j := i; j < min(n, i+10); j++ {
			entries = append(entries, types.PutEventsRequestEntry{Source: aws.String("jav.test"), DetailType: aws.String("n"), Detail: aws.String(fmt.Sprintf(`{"n":%d}`, j))})
		}
		out, err := c.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: entries})
		if err != nil || out.FailedEntryCount != 0 {
			t.Fatalf("put events = %+v, %v", out, err)
		}
		for _, e := range out.Entries {
			ids = append(ids, aws.ToString(e.EventId))
		}
	}
	return ids
}

func eventIDs(ds []Delivery) []string {
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.Event.ID)
	}
	return ids
}

// Strict delivery: every event arrives, some twice, not in put order; the
// counters say so and agree with what the subscriber saw.
func TestStrictDeliveryIsAtLeastOnceUnorderedAndCounted(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology(), Delivery: DeliveryOptions{DuplicateRatio: 0.3, MaxDelay: 50 * time.Millisecond, Seed: 3}})
	c := routeToFunction(t, url)
	var got recorder[Delivery]
	defer srv.Subscribe(deliveryTarget, got.add)()
	put := putNumbered(t, c, 60)
	if !srv.Flush(5 * time.Second) {
		t.Fatal("deliveries did not drain")
	}
	arrived := eventIDs(got.all())
	count := map[string]int{}
	for _, id := range arrived {
		count[id]++
	}
	for _, id := range put {
		if count[id] == 0 {
			t.Errorf("event %s was never delivered", id)
		}
	}
	st := srv.DeliveryStats()
	if st.Duplicated < 8 || st.Duplicated > 30 {
		t.Errorf("duplicate ratio 0.3 duplicated %d of 60", st.Duplicated)
	}
	if len(arrived) != len(put)+st.Duplicated || st.Delivered != len(arrived) {
		t.Errorf("%d deliveries for %d events, stats %+v", len(arrived), len(put), st)
	}
	var firsts []string
	for _, id := range arrived {
		if !slices.Contains(firsts, id) {
			firsts = append(firsts, id)
		}
	}
	if slices.Equal(firsts, put) || st.Reordered == 0 || st.Delayed == 0 {
		t.Errorf("deliveries kept the put order; stats %+v", st)
	}
}

// Relaxed delivery is exactly once and in order, and counts nothing.
func TestRelaxedDeliveryIsExactlyOnceInOrder(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology(), Relax: Relax{Delivery: true}})
	c := routeToFunction(t, url)
	var got recorder[Delivery]
	defer srv.Subscribe(deliveryTarget, got.add)()
	put := putNumbered(t, c, 30)
	srv.Flush(5 * time.Second)
	if arrived := eventIDs(got.all()); !slices.Equal(arrived, put) {
		t.Errorf("relaxed delivery changed the events: put %d, got %d (%v)", len(put), len(arrived), arrived)
	}
	if st := srv.DeliveryStats(); st != (DeliveryStats{}) {
		t.Errorf("relaxed delivery counted %+v", st)
	}
	if _, strict := srv.Delivery(); strict {
		t.Error("Relax.Delivery reported strict")
	}
}

// tagTwenty tags the member's VPC twenty times as its administrator,
// watching the default bus, and returns which calls' aws.tag event
// arrived, the CloudTrail events seen before Flush, and all events.
func tagTwenty(t *testing.T, opts DeliveryOptions) (srv *Server, tagged []bool, ctBeforeFlush int, all []awsproto.Event) {
	t.Helper()
	srv, url := startServer(t, Options{Topology: testTopology(), Delivery: opts})
	var evs recorder[awsproto.Event]
	defer srv.Watch(member, region, "default", evs.add)()
	c := ec2.NewFromConfig(awsConfig(url, member, "x", ""))
	vpcs, err := c.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{})
	if err != nil || len(vpcs.Vpcs) == 0 {
		t.Fatalf("describe vpcs = %v, %v", vpcs, err)
	}
	for i := range 20 {
		if _, err := c.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: []string{aws.ToString(vpcs.Vpcs[0].VpcId)},
			Tags: []ec2types.Tag{{Key: aws.String("n"), Value: aws.String(fmt.Sprint(i))}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range evs.all() {
		if ev.DetailType == "AWS API Call via CloudTrail" {
			ctBeforeFlush++
		}
	}
	if !srv.Flush(5 * time.Second) {
		t.Fatal("deliveries did not drain")
	}
	all = evs.all()
	tagged = make([]bool, 20)
	for _, ev := range all {
		if ev.Source == "aws.tag" {
			var d struct{ Tags map[string]string }
			if err := json.Unmarshal(ev.Detail, &d); err != nil {
				t.Fatalf("tag event detail %s: %v", ev.Detail, err)
			}
			i, err := strconv.Atoi(d.Tags["n"])
			if err != nil {
				t.Fatalf("tag event detail %s: %v", ev.Detail, err)
			}
			tagged[i] = true
		}
	}
	return srv, tagged, ctBeforeFlush, all
}

// aws.tag events are best effort: some never reach the bus. CloudTrail
// events all arrive, late, and Flush waits for them.
func TestTagEventsLostAndCloudTrailEventsLate(t *testing.T) {
	srv, tagged, early, all := tagTwenty(t, DeliveryOptions{DropTagRatio: 0.4, CloudTrailDelay: 300 * time.Millisecond, Seed: 11})
	st := srv.DeliveryStats()
	lost := 0
	for _, ok := range tagged {
		if !ok {
			lost++
		}
	}
	if lost == 0 || lost == 20 || lost != st.DroppedTagEvents {
		t.Errorf("%d of 20 tag events lost, stats %+v", lost, st)
	}
	trail := 0
	for _, ev := range all {
		if ev.DetailType == "AWS API Call via CloudTrail" {
			trail++
		}
	}
	if trail != 20 || st.LateCloudTrailEvents != 20 {
		t.Errorf("%d CloudTrail events arrived (%d late), want all 20", trail, st.LateCloudTrailEvents)
	}
	if early == 20 {
		t.Error("every CloudTrail event was on the bus when the last call returned: none was late")
	}
}

// The same seed loses the same tag events; the delivery RNG is not the
// one request ids or fault ratios draw from.
func TestDeliveryReproducibleGivenSeed(t *testing.T) {
	opts := DeliveryOptions{DropTagRatio: 0.5, CloudTrailDelay: -1, Seed: 42}
	_, a, _, _ := tagTwenty(t, opts)
	_, b, _, _ := tagTwenty(t, opts)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different losses:\n%v\n%v", a, b)
	}
	opts.Seed = 43
	if _, c, _, _ := tagTwenty(t, opts); slices.Equal(a, c) {
		t.Errorf("seeds 42 and 43 lost the same tag events: %v", a)
	}
}

// Flush waits for a delivery that is still running, and reports a
// timeout; Close cancels deliveries not yet due without waiting for them.
func TestFlushWaitsForRunningDeliveriesAndCloseCancelsDelayed(t *testing.T) {
	srv, url := startServer(t, Options{Topology: testTopology(), Delivery: DeliveryOptions{DuplicateRatio: -1, MaxDelay: -1}})
	c := routeToFunction(t, url)
	release := make(chan struct{})
	var mu sync.Mutex
	n := 0
	defer srv.Subscribe(deliveryTarget, func(Delivery) { <-release; mu.Lock(); n++; mu.Unlock() })()
	putNumbered(t, c, 1)
	if srv.Flush(50 * time.Millisecond) {
		t.Fatal("Flush returned while a delivery was running")
	}
	close(release)
	if !srv.Flush(5 * time.Second) {
		t.Fatal("deliveries did not drain after release")
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 1 {
		t.Fatalf("delivered %d times, want 1", n)
	}

	late, _ := startServer(t, Options{Delivery: DeliveryOptions{CloudTrailDelay: time.Hour}})
	var seen recorder[awsproto.Event]
	defer late.Watch(member, region, "default", seen.add)()
	late.DefaultBus(member, region, awsproto.Event{Source: "aws.ec2", DetailType: "AWS API Call via CloudTrail", Detail: json.RawMessage(`{}`)})
	if late.Flush(10 * time.Millisecond) {
		t.Fatal("Flush did not wait for a late CloudTrail event")
	}
	start := time.Now()
	if err := late.Close(); err != nil {
		t.Errorf("closing the server: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close waited %s for a delivery not due", took)
	}
	if n := len(seen.all()); n != 0 {
		t.Errorf("%d events delivered by Close, want the late one cancelled", n)
	}
}

func TestAdminDelivery(t *testing.T) {
	_, url := startServer(t, Options{Seed: 9})
	resp, err := http.Get(url + "/_localaws/delivery")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Strict  bool
		Options map[string]any
		Stats   DeliveryStats
	}
	decodeBody(t, resp, &got)
	want := map[string]any{"duplicateRatio": DefaultDuplicateRatio, "dropTagRatio": DefaultDropTagRatio, "seed": 9.0, "maxDelay": "200ms", "cloudTrailDelay": "1s"}
	if !got.Strict || fmt.Sprint(got.Options) != fmt.Sprint(want) {
		t.Errorf("GET /_localaws/delivery = %+v, want strict with %v", got, want)
	}
}
