// Command onboard is the onboard function: it turns VPC tag and lifecycle
// events into converged agent VPCs. All behaviour is in shared/onboard.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function"
)

func main() {
	function.Main(func(c *function.Core) lambda.Handler { return c.Onboard() })
}
