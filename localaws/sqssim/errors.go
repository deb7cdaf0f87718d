package sqssim

import (
	"fmt"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// SQS answers an error in the JSON protocol with the error shape's name in
// __type and its query-protocol code in the x-amzn-query-error header
// ("<code>;Sender"); the SDKs report the query code as the error code
// (smithy-go's awsjson protocol: a modeled error takes the header's code as
// its ErrorCode, an unmodeled one's Code is the header's code). The
// service's errors carry the query code; WireType gives the shape.
//
// The shapes and codes are the SQS API model's (the awsQueryError traits of
// github.com/aws/aws-sdk-go-v2/service/sqs/schemas); InvalidParameterValue,
// MissingParameter, AccessDenied and the throttling and auth errors are
// SQS's common errors, which the model does not list (SQS API Reference,
// "Common Errors").
var wireTypes = map[string]string{
	"AWS.SimpleQueueService.BatchEntryIdsNotDistinct":     "com.amazonaws.sqs#BatchEntryIdsNotDistinct",
	"AWS.SimpleQueueService.BatchRequestTooLong":          "com.amazonaws.sqs#BatchRequestTooLong",
	"AWS.SimpleQueueService.EmptyBatchRequest":            "com.amazonaws.sqs#EmptyBatchRequest",
	"AWS.SimpleQueueService.InvalidBatchEntryId":          "com.amazonaws.sqs#InvalidBatchEntryId",
	"AWS.SimpleQueueService.MessageNotInflight":           "com.amazonaws.sqs#MessageNotInflight",
	"AWS.SimpleQueueService.PurgeQueueInProgress":         "com.amazonaws.sqs#PurgeQueueInProgress",
	"AWS.SimpleQueueService.QueueDeletedRecently":         "com.amazonaws.sqs#QueueDeletedRecently",
	"AWS.SimpleQueueService.NonExistentQueue":             "com.amazonaws.sqs#QueueDoesNotExist",
	"AWS.SimpleQueueService.TooManyEntriesInBatchRequest": "com.amazonaws.sqs#TooManyEntriesInBatchRequest",
	"AWS.SimpleQueueService.UnsupportedOperation":         "com.amazonaws.sqs#UnsupportedOperation",
	"QueueAlreadyExists":                                  "com.amazonaws.sqs#QueueNameExists",
	"ReceiptHandleIsInvalid":                              "com.amazonaws.sqs#ReceiptHandleIsInvalid",
	"InvalidAttributeName":                                "com.amazonaws.sqs#InvalidAttributeName",
	"InvalidAttributeValue":                               "com.amazonaws.sqs#InvalidAttributeValue",
	"InvalidMessageContents":                              "com.amazonaws.sqs#InvalidMessageContents",
	"InvalidAddress":                                      "com.amazonaws.sqs#InvalidAddress",
	"InvalidSecurity":                                     "com.amazonaws.sqs#InvalidSecurity",
	"OverLimit":                                           "com.amazonaws.sqs#OverLimit",
	"RequestThrottled":                                    "com.amazonaws.sqs#RequestThrottled",
}

// WireType is the __type SQS answers for an error code: the modeled shape,
// or the code itself in SQS's namespace for a common error.
func WireType(code string) string {
	if t, ok := wireTypes[code]; ok {
		return t
	}
	return "com.amazonaws.sqs#" + code
}

func invalidParameter(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf("InvalidParameterValue", format, args...)
}

func noQueue() *awsproto.Error {
	return awsproto.Errorf("AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
}

func missing(name string) *awsproto.Error {
	return awsproto.Errorf("MissingParameter", "The request must contain the parameter %s.", name)
}

func invalidAttributeValue(name, why string) *awsproto.Error {
	return awsproto.Errorf("InvalidAttributeValue", "Invalid value for the parameter %s. Reason: %s", name, why)
}

func invalidHandle(h string) *awsproto.Error {
	return &awsproto.Error{Code: "ReceiptHandleIsInvalid", Status: 404,
		Message: fmt.Sprintf("The input receipt handle \"%s\" is not a valid receipt handle.", h)}
}
