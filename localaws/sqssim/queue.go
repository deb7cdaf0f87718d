package sqssim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
	iampolicy "github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/iam"
)

type queue struct {
	account, region, name, arn string
	// attrs are the settable attributes, defaults filled in.
	attrs             map[string]string
	policy            *iampolicy.Policy
	redrive           *redrivePolicy
	tags              map[string]string
	created, modified time.Time
	lastPurge         time.Time
	// usableAt is when calls may use the queue (see SetCreationDelay).
	usableAt time.Time
	msgs     []*message
	// fifo is a FIFO queue's deduplication and sequence state; nil for a
	// standard queue.
	fifo *fifoState
}

type redrivePolicy struct {
	DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

// defaults are the settable attributes' values when not given (CreateQueue,
// "Attributes"; SSE-SQS is on by default for new queues since 2022).
var defaults = map[string]string{
	"DelaySeconds":                  "0",
	"MaximumMessageSize":            "1048576",
	"MessageRetentionPeriod":        "345600",
	"ReceiveMessageWaitTimeSeconds": "0",
	"VisibilityTimeout":             "30",
	"SqsManagedSseEnabled":          "true",
}

// intRanges are the integer attributes and their valid values.
var intRanges = map[string][2]int{
	"DelaySeconds":                  {0, 900},
	"MaximumMessageSize":            {1024, 1048576},
	"MessageRetentionPeriod":        {60, 1209600},
	"ReceiveMessageWaitTimeSeconds": {0, 20},
	"VisibilityTimeout":             {0, 43200},
	"KmsDataKeyReusePeriodSeconds":  {60, 86400},
}

// settable names the attributes CreateQueue and SetQueueAttributes take.
var settable = map[string]bool{
	"DelaySeconds": true, "MaximumMessageSize": true, "MessageRetentionPeriod": true, "Policy": true,
	"ReceiveMessageWaitTimeSeconds": true, "VisibilityTimeout": true, "RedrivePolicy": true, "RedriveAllowPolicy": true,
	"KmsMasterKeyId": true, "KmsDataKeyReusePeriodSeconds": true, "SqsManagedSseEnabled": true,
	"FifoQueue": true, "ContentBasedDeduplication": true, "DeduplicationScope": true, "FifoThroughputLimit": true,
}

// readOnly names the attributes only GetQueueAttributes answers.
var readOnly = []string{"QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
	"ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp"}

var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func (q *queue) intAttr(name string) int {
	n, _ := strconv.Atoi(q.attrs[name])
	return n
}

// checkAttributes validates attributes for a queue of account/region and
// returns the parsed policy and redrive policy they carry.
func (s *Service) checkAttributesLocked(account, region, arn string, fifo bool, current, attrs map[string]string) (*iampolicy.Policy, *redrivePolicy, *awsproto.Error) {
	var pol *iampolicy.Policy
	var rp *redrivePolicy
	if err := checkFIFOAttributes(fifo, current, attrs); err != nil {
		return nil, nil, err
	}
	for name, v := range attrs {
		if err := checkAttributeValue(name, v); err != nil {
			return nil, nil, err
		}
		if v == "" {
			continue
		}
		switch name {
		case "Policy":
			p, err := iampolicy.ParsePolicy("queue policy of "+arn, []byte(v))
			if err != nil {
				return nil, nil, invalidAttributeValue(name, err.Error())
			}
			pol = p
		case "RedrivePolicy":
			r, err := s.checkRedriveLocked(account, region, arn, fifo, v)
			if err != nil {
				return nil, nil, err
			}
			rp = r
		}
	}
	if attrs["SqsManagedSseEnabled"] == "true" && attrs["KmsMasterKeyId"] != "" {
		return nil, nil, invalidAttributeValue("SqsManagedSseEnabled", "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE.")
	}
	return pol, rp, nil
}

// checkAttributeValue validates one attribute on its own: that it can be
// set, that a number is in its range and that a flag is a boolean (the
// FIFO attributes are checkFIFOAttributes').
func checkAttributeValue(name, v string) *awsproto.Error {
	if !settable[name] {
		return awsproto.Errorf("InvalidAttributeName", "Unknown Attribute %s.", name)
	}
	if r, ok := intRanges[name]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < r[0] || n > r[1] {
			return invalidAttributeValue(name, fmt.Sprintf("Must be an integer from %d to %d.", r[0], r[1]))
		}
	}
	switch name {
	case "FifoQueue", "SqsManagedSseEnabled":
		if v != "true" && v != "false" {
			return invalidAttributeValue(name, "Must be true or false.")
		}
	}
	return nil
}

// checkRedriveLocked validates a RedrivePolicy: the dead-letter queue must
// exist, in the same account and Region, and be of the source's type ("The
// dead-letter queue of a FIFO queue must also be a FIFO queue. Similarly,
// the dead-letter queue of a standard queue must also be a standard queue",
// and "must be in the same AWS account and Region": Developer Guide, "Using
// dead-letter queues").
func (s *Service) checkRedriveLocked(account, region, arn string, fifo bool, v string) (*redrivePolicy, *awsproto.Error) {
	var raw map[string]any
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, invalidAttributeValue("RedrivePolicy", "Redrive policy is not a valid JSON map.")
	}
	target, _ := raw["deadLetterTargetArn"].(string)
	var count int
	switch c := raw["maxReceiveCount"].(type) {
	case float64:
		count = int(c)
	case string:
		count, _ = strconv.Atoi(c)
	}
	if target == "" {
		return nil, invalidAttributeValue("RedrivePolicy", "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
	}
	if count < 1 || count > 1000 {
		return nil, invalidAttributeValue("RedrivePolicy", "Invalid value for maxReceiveCount: "+fmt.Sprint(raw["maxReceiveCount"])+", valid values are from 1 to 1000 both inclusive.")
	}
	parts := strings.SplitN(target, ":", 6)
	if len(parts) != 6 || parts[2] != "sqs" || parts[3] != region || parts[4] != account {
		return nil, invalidAttributeValue("RedrivePolicy", "Dead-letter target owner should be same as the source.")
	}
	if target == arn {
		return nil, invalidAttributeValue("RedrivePolicy", "Dead-letter target can not be the source queue.")
	}
	dlq := s.queues[target]
	if dlq == nil {
		return nil, invalidAttributeValue("RedrivePolicy", "Dead letter target does not exist.")
	}
	if (dlq.fifo != nil) != fifo {
		return nil, invalidAttributeValue("RedrivePolicy", "Dead-letter target must be of the same type (FIFO or standard) as the source queue.")
	}
	return &redrivePolicy{DeadLetterTargetArn: target, MaxReceiveCount: count}, nil
}

type createQueueInput struct {
	QueueName  string
	Attributes map[string]string
	Tags       map[string]string `json:"tags"`
}

func (s *Service) createQueue(call *awsproto.Call, from Caller) (any, *awsproto.Error) {
	var in createQueueInput
	if err := call.DecodeJSON(&in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.createLocked(call.Account, call.Region, in, s.creationDelay)
	if err != nil {
		return nil, err
	}
	return map[string]string{"QueueUrl": queueURL(from.Endpoint, q)}, nil
}

// Create creates a queue as CreateQueue does (or finds the one with the
// same attributes), for seeding; it returns the queue's ARN.
func (s *Service) Create(account, region, name string, attributes, tags map[string]string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.createLocked(account, region, createQueueInput{QueueName: name, Attributes: attributes, Tags: tags}, 0)
	if err != nil {
		return "", err
	}
	return q.arn, nil
}

// queueURL is a queue's URL on the endpoint a caller used, so that it
// routes back to this server whatever address the caller knows it by.
func queueURL(endpoint string, q *queue) string {
	return strings.TrimSuffix(endpoint, "/") + "/" + q.account + "/" + q.name
}

func (s *Service) createLocked(account, region string, in createQueueInput, delay time.Duration) (*queue, *awsproto.Error) {
	if in.QueueName == "" {
		return nil, missing("QueueName")
	}
	fifo := in.Attributes["FifoQueue"] == "true"
	if err := checkQueueName(in.QueueName, fifo); err != nil {
		return nil, err
	}
	arn := QueueARN(account, region, in.QueueName)
	now := s.clock.Now()
	if q := s.queues[arn]; q != nil {
		// "If you provide the name of an existing queue along with the
		// exact names and values of all the queue's attributes, CreateQueue
		// returns the queue URL for the existing queue. If the queue name,
		// attribute names, or attribute values don't match an existing
		// queue, CreateQueue returns an error." (API Reference, CreateQueue)
		for k, v := range in.Attributes {
			if k == "FifoQueue" && v == "false" && q.fifo == nil {
				continue
			}
			if q.attrs[k] != v {
				return nil, awsproto.Errorf("QueueAlreadyExists", "A queue already exists with the same name and a different value for attribute %s", k)
			}
		}
		return q, nil
	}
	if at, ok := s.deleted[arn]; ok && now.Sub(at) < 60*time.Second {
		// "After you delete a queue, you must wait at least 60 seconds
		// before creating a queue with the same name." (CreateQueue)
		return nil, awsproto.Errorf("AWS.SimpleQueueService.QueueDeletedRecently", "You must wait 60 seconds after deleting a queue before you can create another with the same name.")
	}
	pol, rp, err := s.checkAttributesLocked(account, region, arn, fifo, fifoDefaults, in.Attributes)
	if err != nil {
		return nil, err
	}
	q := &queue{account: account, region: region, name: in.QueueName, arn: arn,
		attrs: map[string]string{}, policy: pol, redrive: rp, tags: map[string]string{}, created: now, modified: now, usableAt: now.Add(delay)}
	for k, v := range defaults {
		q.attrs[k] = v
	}
	if fifo {
		q.fifo = &fifoState{accepted: map[string]acceptedMessage{}}
		for k, v := range fifoDefaults {
			q.attrs[k] = v
		}
	}
	if in.Attributes["KmsMasterKeyId"] != "" {
		q.attrs["SqsManagedSseEnabled"] = "false"
	}
	for k, v := range in.Attributes {
		// FifoQueue "false" is accepted and not kept: a standard queue has
		// no FifoQueue attribute.
		if k == "FifoQueue" && !fifo {
			continue
		}
		q.attrs[k] = v
	}
	for k, v := range in.Tags {
		q.tags[k] = v
	}
	s.queues[arn] = q
	return q, nil
}

func (s *Service) getQueueURL(call *awsproto.Call, from Caller) (any, *awsproto.Error) {
	var in struct {
		QueueName              string
		QueueOwnerAWSAccountID string `json:"QueueOwnerAWSAccountId"`
	}
	if err := call.DecodeJSON(&in); err != nil {
		return nil, err
	}
	if in.QueueName == "" {
		return nil, missing("QueueName")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[QueueARN(or(in.QueueOwnerAWSAccountID, call.Account), call.Region, in.QueueName)]
	if q == nil || !s.usableLocked(q) {
		return nil, noQueue()
	}
	return map[string]string{"QueueUrl": queueURL(from.Endpoint, q)}, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

type getQueueAttributesInput struct {
	queueRef
	AttributeNames []string
}

func (s *Service) getQueueAttributes(call *awsproto.Call, _ Caller) (any, *awsproto.Error) {
	return onQueue(s, call, func(q *queue, in getQueueAttributesInput) (any, *awsproto.Error) {
		now := s.clock.Now()
		s.expireLocked(q, now)
		all := map[string]string{}
		for k, v := range q.attrs {
			all[k] = v
		}
		d := q.depth(now)
		all["QueueArn"] = q.arn
		all["ApproximateNumberOfMessages"] = strconv.Itoa(d.Visible)
		all["ApproximateNumberOfMessagesNotVisible"] = strconv.Itoa(d.InFlight)
		all["ApproximateNumberOfMessagesDelayed"] = strconv.Itoa(d.Delayed)
		all["CreatedTimestamp"] = strconv.FormatInt(q.created.Unix(), 10)
		all["LastModifiedTimestamp"] = strconv.FormatInt(q.modified.Unix(), 10)
		out := map[string]string{}
		for _, n := range in.AttributeNames {
			if n == "All" {
				out = all
				break
			}
			if !settable[n] && !contains(readOnly, n) {
				return nil, awsproto.Errorf("InvalidAttributeName", "Unknown Attribute %s.", n)
			}
			if v, ok := all[n]; ok {
				out[n] = v
			}
		}
		if len(out) == 0 {
			return struct{}{}, nil
		}
		return map[string]any{"Attributes": out}, nil
	})
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

type setQueueAttributesInput struct {
	queueRef
	Attributes map[string]string
}

func (s *Service) setQueueAttributes(call *awsproto.Call, _ Caller) (any, *awsproto.Error) {
	return onQueue(s, call, func(q *queue, in setQueueAttributesInput) (any, *awsproto.Error) {
		if err := s.setAttributesLocked(q, in.Attributes); err != nil {
			return nil, err
		}
		return struct{}{}, nil
	})
}

// SetAttributes sets a queue's attributes as SetQueueAttributes does (a
// deploy's AWS::SQS::QueuePolicy sets Policy).
func (s *Service) SetAttributes(queueARN string, attributes map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[queueARN]
	if q == nil {
		return noQueue()
	}
	if err := s.setAttributesLocked(q, attributes); err != nil {
		return err
	}
	return nil
}

func (s *Service) setAttributesLocked(q *queue, attributes map[string]string) *awsproto.Error {
	if _, ok := attributes["FifoQueue"]; ok {
		return awsproto.Errorf("InvalidAttributeName", "Unknown Attribute FifoQueue.")
	}
	pol, rp, err := s.checkAttributesLocked(q.account, q.region, q.arn, q.fifo != nil, q.attrs, attributes)
	if err != nil {
		return err
	}
	for k, v := range attributes {
		q.attrs[k] = v
		switch k {
		case "Policy":
			q.policy = pol
		case "RedrivePolicy":
			q.redrive = rp
		}
		if v == "" && (k == "Policy" || k == "RedrivePolicy") {
			delete(q.attrs, k)
		}
	}
	q.modified = s.clock.Now()
	return nil
}

func (s *Service) deleteQueue(call *awsproto.Call, _ Caller) (any, *awsproto.Error) {
	return onQueue(s, call, func(q *queue, _ queueRef) (any, *awsproto.Error) {
		delete(s.queues, q.arn)
		s.deleted[q.arn] = s.clock.Now()
		return struct{}{}, nil
	})
}

func (s *Service) purgeQueue(call *awsproto.Call, _ Caller) (any, *awsproto.Error) {
	return onQueue(s, call, func(q *queue, _ queueRef) (any, *awsproto.Error) {
		now := s.clock.Now()
		// "Only one PurgeQueue operation on a queue is allowed every 60 seconds."
		if !q.lastPurge.IsZero() && now.Sub(q.lastPurge) < 60*time.Second {
			return nil, &awsproto.Error{Code: "AWS.SimpleQueueService.PurgeQueueInProgress", Status: 403,
				Message: "Only one PurgeQueue operation on " + q.name + " is allowed every 60 seconds."}
		}
		q.lastPurge, q.msgs = now, nil
		return struct{}{}, nil
	})
}

func (s *Service) listQueues(call *awsproto.Call, from Caller) (any, *awsproto.Error) {
	var in struct {
		QueueNamePrefix string
		MaxResults      *int
		NextToken       string
	}
	if err := call.DecodeJSON(&in); err != nil {
		return nil, err
	}
	if in.MaxResults != nil && (*in.MaxResults < 1 || *in.MaxResults > 1000) {
		return nil, invalidParameter("Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.", *in.MaxResults)
	}
	after := ""
	if in.NextToken != "" {
		a, ok := awsproto.ParsePageToken(in.NextToken)
		if !ok {
			return nil, invalidParameter("Invalid NextToken value.")
		}
		after = a
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	next := ""
	for _, arn := range sortedQueueARNs(s.queues) {
		q := s.queues[arn]
		if q.account != call.Account || q.region != call.Region || !strings.HasPrefix(q.name, in.QueueNamePrefix) || q.name <= after {
			continue
		}
		// Without MaxResults ListQueues answers at most 1,000 queues and
		// no token (API Reference, ListQueues).
		limit := 1000
		if in.MaxResults != nil {
			limit = *in.MaxResults
		}
		if len(names) == limit {
			if in.MaxResults != nil {
				next = awsproto.PageToken(names[len(names)-1])
			}
			break
		}
		names = append(names, q.name)
	}
	urls := make([]string, len(names))
	for i, n := range names {
		urls[i] = queueURL(from.Endpoint, &queue{account: call.Account, name: n})
	}
	out := map[string]any{}
	if len(urls) > 0 {
		out["QueueUrls"] = urls
	}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}
