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

// In its own Region the service offers its zones; elsewhere an endpoint
// connects across Regions and may use any zone but those AWS lists without
// cross-Region access, naming the service's Region.
func TestInfoAcrossRegions(t *testing.T) {
	info := endpointservice.Info{Region: "eu-west-1", AZIDs: []string{"euw1-az1", "euw1-az2"}, SupportedRegions: []string{"eu-west-1", "us-east-1"}}
	for _, tc := range []struct {
		region, az string
		offers     bool
	}{
		{"eu-west-1", "euw1-az1", true},
		{"eu-west-1", "euw1-az3", false}, // not one of the service's
		{"us-east-1", "use1-az1", true},
		{"us-east-1", "use1-az3", false}, // no cross-Region access there
		{"ap-northeast-2", "apne2-az2", false},
	} {
		if got := info.Offers(tc.region, tc.az); got != tc.offers {
			t.Errorf("Offers(%s, %s) = %v, want %v", tc.region, tc.az, got, tc.offers)
		}
	}
	for region, want := range map[string]bool{"eu-west-1": true, "us-east-1": true, "us-west-2": false} {
		if got := info.Supports(region); got != want {
			t.Errorf("Supports(%s) = %v, want %v", region, got, want)
		}
	}
	if got := info.ServiceRegionFor("us-east-1"); got != "eu-west-1" {
		t.Errorf("ServiceRegionFor(us-east-1) = %q, want eu-west-1", got)
	}
	if got := info.ServiceRegionFor("eu-west-1"); got != "" {
		t.Errorf("ServiceRegionFor(eu-west-1) = %q, want none (the current Region)", got)
	}
}
