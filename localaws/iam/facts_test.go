package iam

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestSQSFactsMatchDataset checks the sqs actions of iam-authorization.json
// against the copy of the dataset they were taken from
// (testdata/iam-dataset-sqs.json, verbatim from iann0036/iam-dataset's
// aws/iam_definition.json at the commit the facts file names): every action
// the local SQS authorizes is there, with the same resource types, required
// flags, condition keys and dependent actions.
func TestSQSFactsMatchDataset(t *testing.T) {
	raw, err := os.ReadFile("testdata/iam-dataset-sqs.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Source  string
		Service struct {
			Prefix     string
			Privileges []struct {
				Privilege     string
				ResourceTypes []struct {
					ConditionKeys    []string `json:"condition_keys"`
					DependentActions []string `json:"dependent_actions"`
					ResourceType     string   `json:"resource_type"`
				} `json:"resource_types"`
			}
			Resources []struct {
				ARN      string
				Resource string
			}
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("reading the dataset copy: %v", err)
	}
	var source struct{ Source string }
	if err := json.Unmarshal(authorizationJSON, &source); err != nil {
		t.Fatal(err)
	}
	commit := source.Source[strings.LastIndex(source.Source, " ")+1:]
	if !strings.Contains(doc.Source, strings.TrimSuffix(commit, ")")) {
		t.Fatalf("the dataset copy (%s) is not from the facts file's source (%s)", doc.Source, source.Source)
	}
	if doc.Service.Prefix != "sqs" || len(doc.Service.Privileges) < 11 {
		t.Fatalf("dataset copy: prefix %q with %d privileges", doc.Service.Prefix, len(doc.Service.Privileges))
	}
	for _, p := range doc.Service.Privileges {
		got, ok := Facts("sqs:" + p.Privilege)
		if !ok {
			t.Errorf("sqs:%s is in the dataset copy but not in the facts", p.Privilege)
			continue
		}
		if len(got.Resources) != len(p.ResourceTypes) {
			t.Errorf("sqs:%s: %d resource types, dataset %d", p.Privilege, len(got.Resources), len(p.ResourceTypes))
			continue
		}
		for i, want := range p.ResourceTypes {
			r := got.Resources[i]
			if r.Type != strings.TrimSuffix(want.ResourceType, "*") || r.Required != strings.HasSuffix(want.ResourceType, "*") ||
				!slices.Equal(r.ConditionKeys, want.ConditionKeys) || !slices.Equal(r.DependentActions, want.DependentActions) {
				t.Errorf("sqs:%s resource %d: facts %+v, dataset %+v", p.Privilege, i, r, want)
			}
		}
	}
	for _, action := range []string{"CreateQueue", "GetQueueUrl", "GetQueueAttributes", "SetQueueAttributes", "SendMessage", "ReceiveMessage",
		"DeleteMessage", "ChangeMessageVisibility", "PurgeQueue", "DeleteQueue", "ListQueues"} {
		if _, ok := Facts("sqs:" + action); !ok {
			t.Errorf("sqs:%s, an action the local SQS authorizes, has no facts", action)
		}
	}
}
