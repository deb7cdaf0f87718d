// Command reconcile is the reconcile function: it repairs drift across the
// organization on a schedule. All behaviour is in shared/reconcile.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/function"
)

func main() {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	clients, err := function.RealClients(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	core := function.NewCore(cfg, clients, function.Options{Region: clients.Base.Region})
	lambda.Start(core.Reconcile())
}
