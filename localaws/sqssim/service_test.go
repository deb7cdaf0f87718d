package sqssim

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

const (
	account = "111111111111"
	region  = "eu-west-1"
)

// call runs one action with a JSON body against s and decodes the answer
// into out (when not nil).
func call(t *testing.T, s *Service, action string, in, out any) *awsproto.Error {
	t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	b, herr := s.Handle(&awsproto.Call{Account: account, Region: region, Action: action, Body: body}, Caller{Endpoint: "http://local", SenderID: account})
	if herr != nil {
		var ae *awsproto.Error
		if !errors.As(herr, &ae) {
			t.Fatalf("%s failed with %v, not an API error", action, herr)
		}
		return ae
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s answered %s: %v", action, b, err)
		}
	}
	return nil
}

func TestParseQueueURL(t *testing.T) {
	tests := []struct {
		url, account, name string
		ok                 bool
	}{
		{"https://sqs.eu-west-1.amazonaws.com/111111111111/q", "111111111111", "q", true},
		{"http://127.0.0.1:4566/111111111111/work-dlq", "111111111111", "work-dlq", true},
		{"111111111111/q", "", "", false},
		{"http://h/11111111111/q", "", "", false},
		{"http://h/111111111111/", "", "", false},
		{"http://h/111111111111/q/extra", "", "", false},
	}
	for _, tt := range tests {
		a, n, ok := ParseQueueURL(tt.url)
		if a != tt.account || n != tt.name || ok != tt.ok {
			t.Errorf("ParseQueueURL(%q) = %q %q %v, want %q %q %v", tt.url, a, n, ok, tt.account, tt.name, tt.ok)
		}
	}
}

// TestDigests: MD5OfMessageBody and MD5OfMessageAttributes as AWS computes
// them (the values moto_server answers for the same message, see
// localaws.TestSQSAgainstMoto).
func TestDigests(t *testing.T) {
	if got := md5Hex([]byte(`{"vpc":"vpc-1"}`)); got != "5ad16bb3643c22bbb6f2d92bc2216304" {
		t.Errorf("body digest %s", got)
	}
	attrs := map[string]messageAttribute{"kind": {DataType: "String", StringValue: "retry"}, "count": {DataType: "Number", StringValue: "3"},
		"blob": {DataType: "Binary", BinaryValue: []byte{0, 1, 2}}}
	if got := attributesMD5(attrs); got != "4f96d7075809293f0395e5ecf08528c4" {
		t.Errorf("attributes digest %s", got)
	}
}

func TestQueryBody(t *testing.T) {
	tests := []struct {
		name string
		form url.Values
		want string
	}{
		{"attributes and tags", url.Values{"Action": {"CreateQueue"}, "QueueName": {"q"}, "Attribute.1.Name": {"VisibilityTimeout"}, "Attribute.1.Value": {"40"},
			"Attribute.2.Name": {"DelaySeconds"}, "Attribute.2.Value": {"5"}, "Tag.1.Key": {"team"}, "Tag.1.Value": {"ci"}},
			`{"Attributes":{"DelaySeconds":"5","VisibilityTimeout":"40"},"QueueName":"q","tags":{"team":"ci"}}`},
		{"receive", url.Values{"QueueUrl": {"u"}, "MaxNumberOfMessages": {"10"}, "WaitTimeSeconds": {"2"}, "AttributeName.1": {"All"},
			"MessageAttributeName.2": {"b"}, "MessageAttributeName.1": {"a"}},
			`{"AttributeNames":["All"],"MaxNumberOfMessages":10,"MessageAttributeNames":["a","b"],"QueueUrl":"u","WaitTimeSeconds":2}`},
		{"batch with message attributes", url.Values{"QueueUrl": {"u"}, "SendMessageBatchRequestEntry.1.Id": {"a"},
			"SendMessageBatchRequestEntry.1.MessageBody": {"x"}, "SendMessageBatchRequestEntry.1.DelaySeconds": {"3"},
			"SendMessageBatchRequestEntry.1.MessageAttribute.1.Name": {"k"}, "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType": {"String"},
			"SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue": {"v"}},
			`{"Entries":[{"DelaySeconds":3,"Id":"a","MessageAttributes":{"k":{"DataType":"String","StringValue":"v"}},"MessageBody":"x"}],"QueueUrl":"u"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := QueryBody(tt.form)
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(tt.want), &w) != nil || !reflect.DeepEqual(g, w) {
				t.Fatalf("QueryBody = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestStrictnessIsSeeded: two services with the same seed, driven the same
// way, hand out the same messages in the same order; strictness can be
// replayed.
func TestStrictnessIsSeeded(t *testing.T) {
	run := func() []string {
		s := New(awsproto.NewStoppedClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), true, Strictness{DuplicateRatio: 0.3}, 42)
		s.SetCreationDelay(0)
		var created struct {
			QueueURL string `json:"QueueUrl"`
		}
		if err := call(t, s, "CreateQueue", map[string]any{"QueueName": "q"}, &created); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if err := call(t, s, "SendMessage", map[string]any{"QueueUrl": created.QueueURL, "MessageBody": string(rune('a' + i))}, nil); err != nil {
				t.Fatal(err)
			}
		}
		var bodies []string
		for range 5 {
			var got struct {
				Messages []struct{ Body, ReceiptHandle string }
			}
			if err := call(t, s, "ReceiveMessage", map[string]any{"QueueUrl": created.QueueURL, "MaxNumberOfMessages": 10}, &got); err != nil {
				t.Fatal(err)
			}
			for _, m := range got.Messages {
				bodies = append(bodies, m.Body)
			}
		}
		return bodies
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) || len(a) == 0 {
		t.Fatalf("same seed, different receives:\n%v\n%v", a, b)
	}
}

// TestRelaxedQueueIsOrderedAndExact: relaxed, a queue hands out messages in
// send order, every one on a short poll, once.
func TestRelaxedQueueIsOrderedAndExact(t *testing.T) {
	s := New(awsproto.NewStoppedClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), false, Strictness{}, 1)
	s.SetCreationDelay(0)
	var created struct {
		QueueURL string `json:"QueueUrl"`
	}
	if err := call(t, s, "CreateQueue", map[string]any{"QueueName": "q"}, &created); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"1", "2", "3"} {
		if err := call(t, s, "SendMessage", map[string]any{"QueueUrl": created.QueueURL, "MessageBody": b}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var got struct{ Messages []struct{ Body string } }
	if err := call(t, s, "ReceiveMessage", map[string]any{"QueueUrl": created.QueueURL, "MaxNumberOfMessages": 10}, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 3 || got.Messages[0].Body != "1" || got.Messages[2].Body != "3" || s.Stats() != (Stats{}) {
		t.Fatalf("relaxed receive %+v, stats %+v", got, s.Stats())
	}
}
