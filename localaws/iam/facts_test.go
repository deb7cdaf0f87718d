package iam

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestFactsMatchDataset checks the actions iam-authorization.json took
// from iann0036/iam-dataset against verbatim copies of the dataset
// (testdata/iam-dataset-*.json, from aws/iam_definition.json at the commit
// each names): every privilege of the copy is in the facts with the same
// resource types, required flags, condition keys and dependent actions,
// and the actions the local AWS authorizes have facts. The sqs copy is from
// the facts file's source commit; the vpce copy from the later commit the
// facts file's notes name (vpce:AllowMultiRegion is not in the former).
func TestFactsMatchDataset(t *testing.T) {
	var source struct{ Source string }
	if err := json.Unmarshal(authorizationJSON, &source); err != nil {
		t.Fatal(err)
	}
	sourceCommit := strings.TrimSuffix(source.Source[strings.LastIndex(source.Source, " ")+1:], ")")
	tests := []struct {
		file, prefix, commit string
		minPrivileges        int
		served               []string // actions the local AWS authorizes
	}{
		{"testdata/iam-dataset-sqs.json", "sqs", sourceCommit, 11, []string{"CreateQueue", "GetQueueUrl", "GetQueueAttributes",
			"SetQueueAttributes", "SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "PurgeQueue", "DeleteQueue", "ListQueues"}},
		{"testdata/iam-dataset-vpce.json", "vpce", "f9b3c62b28278da14c5c2af4f5e41e22292155de", 1, []string{"AllowMultiRegion"}},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			doc := readDatasetCopy(t, tt.file)
			if !strings.Contains(doc.Source, tt.commit) {
				t.Fatalf("the dataset copy (%s) is not from commit %s", doc.Source, tt.commit)
			}
			if doc.Service.Prefix != tt.prefix || len(doc.Service.Privileges) < tt.minPrivileges {
				t.Fatalf("dataset copy: prefix %q with %d privileges, want %s with at least %d", doc.Service.Prefix, len(doc.Service.Privileges), tt.prefix, tt.minPrivileges)
			}
			for _, p := range doc.Service.Privileges {
				compareFacts(t, tt.prefix+":"+p.Privilege, p.ResourceTypes)
			}
			for _, action := range tt.served {
				if _, ok := Facts(tt.prefix + ":" + action); !ok {
					t.Errorf("%s:%s, an action the local AWS authorizes, has no facts", tt.prefix, action)
				}
			}
		})
	}
}

type datasetResourceType struct {
	ConditionKeys    []string `json:"condition_keys"`
	DependentActions []string `json:"dependent_actions"`
	ResourceType     string   `json:"resource_type"`
}

type datasetCopy struct {
	Source  string
	Service struct {
		Prefix     string
		Privileges []struct {
			Privilege     string
			ResourceTypes []datasetResourceType `json:"resource_types"`
		}
	}
}

func readDatasetCopy(t *testing.T, file string) datasetCopy {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc datasetCopy
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("reading the dataset copy %s: %v", file, err)
	}
	return doc
}

// compareFacts checks one action's facts against the dataset's resource
// types, in order.
func compareFacts(t *testing.T, action string, want []datasetResourceType) {
	t.Helper()
	got, ok := Facts(action)
	if !ok {
		t.Errorf("%s is in the dataset copy but not in the facts", action)
		return
	}
	if len(got.Resources) != len(want) {
		t.Errorf("%s: %d resource types, dataset %d", action, len(got.Resources), len(want))
		return
	}
	for i, w := range want {
		r := got.Resources[i]
		if r.Type != strings.TrimSuffix(w.ResourceType, "*") || r.Required != strings.HasSuffix(w.ResourceType, "*") ||
			!slices.Equal(r.ConditionKeys, w.ConditionKeys) || !slices.Equal(r.DependentActions, w.DependentActions) {
			t.Errorf("%s resource %d: facts %+v, dataset %+v", action, i, r, w)
		}
	}
}
