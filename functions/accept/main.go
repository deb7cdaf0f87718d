// Command accept is the accept function: it settles connection requests to
// the endpoint service. All behaviour is in shared/accept and shared/acceptance.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function/core"
)

func main() {
	core.Main(func(cfg config.Config, base aws.Config, o core.Options) lambda.Handler {
		return core.New(cfg, core.ClientsFrom(base), o).Accept()
	})
}
