// Command echo is a Lambda function for the emulator's tests: it answers
// with its function name and the payload it got.
package main

import (
	"context"
	"encoding/json"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, payload json.RawMessage) (map[string]any, error) {
		return map[string]any{"function": os.Getenv("AWS_LAMBDA_FUNCTION_NAME"), "payload": payload}, nil
	})
}
