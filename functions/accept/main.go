// Command accept is the accept function: it settles connection requests to
// the endpoint service. All behaviour is in shared/accept and shared/acceptance.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function"
)

func main() {
	function.Main(func(c *function.Core) lambda.Handler { return c.Accept() })
}
