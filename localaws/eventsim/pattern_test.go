package eventsim

import (
	"encoding/json"
	"testing"
)

func TestEventPatterns(t *testing.T) {
	event := `{"source":"aws.tag","detail-type":"Tag Change on Resource","account":"222222222222",
	  "resources":["arn:aws:ec2:eu-west-1:222222222222:vpc/vpc-1"],
	  "detail":{"service":"ec2","resource-type":"vpc","version":3,"tags":{"jenkins-agents":"TRUE"},
	  "changed-tag-keys":["jenkins-agents","Name"],"items":[{"k":"a"},{"k":"b"}]}}`
	var doc map[string]any
	if err := json.Unmarshal([]byte(event), &doc); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		pattern string
		want    bool
	}{
		{`{"source":["aws.tag"]}`, true},
		{`{"source":["aws.ec2"]}`, false},
		{`{"source":["aws.ec2","aws.tag"],"detail-type":["Tag Change on Resource"]}`, true},
		{`{"detail":{"resource-type":["vpc"],"service":["ec2"]}}`, true},
		{`{"detail":{"resource-type":["subnet"]}}`, false},
		{`{"resources":[{"prefix":"arn:aws:ec2:"}]}`, true},
		{`{"resources":[{"prefix":"arn:aws:s3:"}]}`, false},
		{`{"detail":{"changed-tag-keys":["Name"]}}`, true},
		{`{"detail":{"tags":{"jenkins-agents":[{"exists":true}]}}}`, true},
		{`{"detail":{"tags":{"other":[{"exists":true}]}}}`, false},
		{`{"detail":{"tags":{"other":[{"exists":false}]}}}`, true},
		{`{"detail":{"tags":{"jenkins-agents":[{"exists":false}]}}}`, false},
		{`{"account":[{"anything-but":"111111111111"}]}`, true},
		{`{"account":[{"anything-but":["222222222222","333333333333"]}]}`, false},
		{`{"account":[{"anything-but":{"prefix":"22"}}]}`, false},
		{`{"detail":{"version":[{"numeric":[">=",3,"<",4]}]}}`, true},
		{`{"detail":{"version":[{"numeric":[">",3]}]}}`, false},
		{`{"detail":{"version":[3]}}`, true},
		{`{"detail":{"tags":{"jenkins-agents":[{"equals-ignore-case":"true"}]}}}`, true},
		{`{"detail":{"tags":{"jenkins-agents":["true"]}}}`, false},
		{`{"detail":{"items":{"k":["b"]}}}`, true},
		{`{"detail":{"missing":[{"anything-but":"x"}]}}`, false},
		{`{"resources":[{"suffix":"vpc-1"}]}`, true},
		{`{"resources":[{"wildcard":"arn:aws:ec2:*:vpc/*"}]}`, true},
	}
	for _, tc := range cases {
		p, err := compilePattern(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		if got := p.matches(doc); got != tc.want {
			t.Errorf("%s matched %v, want %v", tc.pattern, got, tc.want)
		}
	}
	for _, bad := range []string{`[]`, `{"source":"x"}`, `{"a":[{"exists":"yes"}]}`, `{"a":[{"numeric":[">"]}]}`, `{"a":[{"bogus":1}]}`} {
		if _, err := compilePattern(bad); err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
}
