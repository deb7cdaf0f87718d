package sqssim

import (
	"encoding/json"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
	iampolicy "github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/iam"
)

// iamActions maps the batch calls to the actions IAM authorizes them as:
// "You cannot set permissions explicitly for SendMessageBatch,
// DeleteMessageBatch, or ChangeMessageVisibilityBatch. Instead, setting
// permissions for SendMessage, DeleteMessage, or ChangeMessageVisibility
// sets permissions for the corresponding batch versions of the actions"
// (Developer Guide, "Amazon SQS batch actions"). The Service Authorization
// Reference lists no batch actions.
var iamActions = map[string]string{
	"SendMessageBatch":             "SendMessage",
	"DeleteMessageBatch":           "DeleteMessage",
	"ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}

// IAMAction is the IAM action a call to action is authorized as.
func IAMAction(action string) string {
	if a, ok := iamActions[action]; ok {
		return a
	}
	return action
}

// AuthorizationContext is what IAM evaluates before the call: the queue it
// names (by QueueUrl, or QueueName for CreateQueue and GetQueueUrl) with its
// tags and its policy; ListQueues has no resource-level permissions.
func (s *Service) AuthorizationContext(call *awsproto.Call) []iampolicy.Request {
	var in struct {
		QueueURL               string `json:"QueueUrl"`
		QueueName              string
		QueueOwnerAWSAccountID string            `json:"QueueOwnerAWSAccountId"`
		Tags                   map[string]string `json:"tags"`
	}
	if len(call.Body) > 0 {
		_ = json.Unmarshal(call.Body, &in) // malformed bodies are the service's to refuse
	}
	action := call.Action
	if a, ok := iamActions[action]; ok {
		action = a
	}
	req := iampolicy.Request{Action: "sqs:" + action, Context: map[string][]string{}}
	var arn string
	switch {
	case in.QueueURL != "":
		if account, name, ok := ParseQueueURL(in.QueueURL); ok {
			arn = QueueARN(account, call.Region, name)
		}
	case in.QueueName != "" && (call.Action == "CreateQueue" || call.Action == "GetQueueUrl"):
		arn = QueueARN(or(in.QueueOwnerAWSAccountID, call.Account), call.Region, in.QueueName)
	}
	if call.Action == "CreateQueue" && len(in.Tags) > 0 {
		var keys []string
		for k, v := range in.Tags {
			req.Context["aws:RequestTag/"+k] = []string{v}
			keys = append(keys, k)
		}
		req.Context["aws:TagKeys"] = keys
	}
	if arn != "" {
		r := iampolicy.Resource{ARN: arn, Type: "queue"}
		s.mu.Lock()
		if q := s.queues[arn]; q != nil {
			r.Policy = q.policy
			if len(q.tags) > 0 {
				r.Tags = map[string]string{}
				for k, v := range q.tags {
					r.Tags[k] = v
				}
			}
		}
		s.mu.Unlock()
		req.Resources = []iampolicy.Resource{r}
	}
	return []iampolicy.Request{req}
}

// Policy returns the parsed policy of a queue (nil when it has none or
// does not exist), for deciding what AWS services may send to it.
func (s *Service) Policy(queueARN string) *iampolicy.Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queues[queueARN]; q != nil {
		return q.policy
	}
	return nil
}
