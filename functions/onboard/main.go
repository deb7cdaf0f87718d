// Command onboard is the onboard function: it turns VPC tag and lifecycle
// events into converged agent VPCs. All behaviour is in shared/onboard.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function/core"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function/onboarding"
)

func main() {
	core.Main(func(cfg config.Config, base aws.Config, o core.Options) lambda.Handler {
		return onboarding.New(cfg, onboarding.ClientsFrom(base), o).Onboard()
	})
}
