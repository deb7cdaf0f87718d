// Command reconcile is the reconcile function: it repairs drift across the
// organization on a schedule. All behaviour is in shared/reconcile.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function"
)

func main() {
	function.Main(func(c *function.Core) lambda.Handler { return c.Reconcile() })
}
