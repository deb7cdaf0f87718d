// Command reconcile is the reconcile function: it repairs drift across the
// organization on a schedule. All behaviour is in shared/reconcile.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function/core"
)

func main() {
	core.Main(func(cfg config.Config, base aws.Config, o core.Options) lambda.Handler {
		return function.NewCore(cfg, function.ClientsFrom(base, cfg), o).Reconcile()
	})
}
