package awserr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/awserr"
)

func TestClassification(t *testing.T) {
	wrap := func(code string) error {
		return fmt.Errorf("doing something, %w", &smithy.GenericAPIError{Code: code, Message: "m"})
	}
	tests := []struct {
		code                                      string
		notFound, duplicate, throttle, denied, dv bool
	}{
		{code: "InvalidVpcID.NotFound", notFound: true},
		{code: "InvalidVpcEndpoint.NotFound", notFound: true},
		{code: "ParameterNotFound", notFound: true},
		{code: "InvalidGroup.Duplicate", duplicate: true},
		{code: "InvalidPermission.Duplicate", duplicate: true},
		{code: "RequestLimitExceeded", throttle: true},
		{code: "ThrottlingException", throttle: true},
		{code: "TooManyUpdates", throttle: true},
		{code: "AccessDenied", denied: true},
		{code: "UnauthorizedOperation", denied: true},
		{code: "DependencyViolation", dv: true},
		{code: "InvalidParameterValue"},
	}
	for _, tc := range tests {
		err := wrap(tc.code)
		got := []bool{awserr.IsNotFound(err), awserr.IsDuplicate(err), awserr.IsThrottle(err), awserr.IsAccessDenied(err), awserr.IsDependencyViolation(err)}
		want := []bool{tc.notFound, tc.duplicate, tc.throttle, tc.denied, tc.dv}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: classification %v, want %v", tc.code, got, want)
				break
			}
		}
		if awserr.Code(err) != tc.code {
			t.Errorf("Code = %q, want %q", awserr.Code(err), tc.code)
		}
	}
	if awserr.Code(errors.New("plain")) != "" || awserr.IsNotFound(nil) {
		t.Error("errors without a code must classify as nothing")
	}
}
