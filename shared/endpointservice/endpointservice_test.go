package endpointservice_test

import (
	"testing"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/config"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/endpointservice"
)

// The principal allowed for a spoke account follows PRINCIPAL_MODE and is
// in the partition of the hub's Region: a principal of another partition
// would never match the spoke's requests.
func TestPrincipal(t *testing.T) {
	tests := []struct {
		mode   config.PrincipalMode
		region string
		want   string
	}{
		{config.PrincipalRole, "eu-west-1", "arn:aws:iam::222222222222:role/jenkins-agent-vpcs-spoke"},
		{config.PrincipalRole, "cn-north-1", "arn:aws-cn:iam::222222222222:role/jenkins-agent-vpcs-spoke"},
		{config.PrincipalRole, "us-gov-west-1", "arn:aws-us-gov:iam::222222222222:role/jenkins-agent-vpcs-spoke"},
		{config.PrincipalAccount, "eu-west-1", "arn:aws:iam::222222222222:root"},
		{config.PrincipalAccount, "cn-northwest-1", "arn:aws-cn:iam::222222222222:root"},
		{config.PrincipalAccount, "us-gov-east-1", "arn:aws-us-gov:iam::222222222222:root"},
		{config.PrincipalAny, "eu-west-1", "*"},
	}
	for _, tt := range tests {
		cfg := config.Config{EndpointServiceID: "vpce-svc-0a1b2c3d4e5f60001", PrincipalMode: tt.mode, SpokeRoleName: "jenkins-agent-vpcs-spoke"}
		if got := endpointservice.New(nil, cfg, tt.region).Principal("222222222222"); got != tt.want {
			t.Errorf("%s in %s: principal %s, want %s", tt.mode, tt.region, got, tt.want)
		}
	}
}
