package awserr

import (
	"errors"
	"strings"

	"github.com/aws/smithy-go"
)

// Code returns the AWS error code of err, or "" when err carries none.
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// IsNotFound reports errors that mean the thing is already gone: on
// delete, success.
func IsNotFound(err error) bool { return IsNotFoundCode(Code(err)) }

// IsDuplicate reports errors that mean the thing is already there: on
// create, success.
func IsDuplicate(err error) bool {
	switch Code(err) {
	case "InvalidGroup.Duplicate", "InvalidPermission.Duplicate", "ParameterAlreadyExists":
		return true
	}
	return false
}

// IsThrottle reports throttling.
func IsThrottle(err error) bool {
	switch Code(err) {
	case "RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException",
		"TooManyUpdates", "RequestThrottled", "RequestThrottledException":
		return true
	}
	return false
}

// IsAccessDenied reports a refusal by IAM or by the spoke role's trust.
func IsAccessDenied(err error) bool {
	switch Code(err) {
	case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess",
		"InvalidClientTokenId", "AuthFailure":
		return true
	}
	return false
}

// IsDependencyViolation reports a delete refused because something still
// uses the resource.
func IsDependencyViolation(err error) bool {
	return Code(err) == "DependencyViolation"
}

// IsNotFoundCode is IsNotFound for a bare code, as found in Unsuccessful[]
// items of batch calls.
func IsNotFoundCode(code string) bool {
	return strings.HasSuffix(code, ".NotFound") || code == "ParameterNotFound" || code == "ResourceNotFoundException"
}
