package localaws

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

const (
	xrService  = "vpce-svc-0a1b2c3d4e5f60001"
	xrName     = "com.amazonaws.vpce." + region + "." + xrService
	xrConsumer = "eu-central-1"
	xrVPC      = "vpc-0ccccccccccccccc1" // the member's VPC in eu-central-1
	xrHomeVPC  = "vpc-0ccccccccccccccc2" // the member's VPC in the hub's Region
)

// crossRegionTopology: the hub's endpoint service in eu-west-1 serves
// eu-central-1 too; the member has a VPC in each Region and a role
// without policies (each case puts one); the hub has a provider role.
func crossRegionTopology() *Topology {
	return &Topology{Region: region, Organization: &Organization{ID: orgID}, Accounts: []Account{
		{ID: hub, Roles: []Role{{Name: "provider", Trust: Trust{Principals: []string{hub}}}},
			EndpointServices: []EndpointService{{ID: xrService, AcceptanceRequired: true,
				AllowedPrincipals: []string{"arn:aws:iam::" + member + ":role/spoke"}, SupportedRegions: []string{xrConsumer}}}},
		{ID: member, Roles: []Role{{Name: "spoke", Trust: Trust{Principals: []string{hub}}}}, VPCs: []VPC{
			{ID: xrVPC, Region: xrConsumer, CIDR: "10.1.0.0/16", Subnets: []Subnet{{AZ: xrConsumer + "a"}}},
			{ID: xrHomeVPC, CIDR: "10.2.0.0/16", Subnets: []Subnet{{AZ: region + "a"}}}}},
	}}
}

// spokePolicy lets the role create endpoints in its VPCs, and the endpoint
// itself only for the hub's service in serviceRegion; extra statements
// are appended.
func spokePolicy(serviceRegion string, extra ...string) string {
	return `{"Version":"2012-10-17","Statement":[
		{"Sid":"Network","Effect":"Allow","Action":"ec2:CreateVpcEndpoint","Resource":["arn:aws:ec2:*:` + member + `:vpc/*","arn:aws:ec2:*:` + member + `:subnet/*","arn:aws:ec2:*:` + member + `:security-group/*"]},
		{"Sid":"HubService","Effect":"Allow","Action":"ec2:CreateVpcEndpoint","Resource":"arn:aws:ec2:*:` + member + `:vpc-endpoint/*",
		 "Condition":{"StringEquals":{"ec2:VpceServiceName":"` + xrName + `","ec2:VpceServiceRegion":"` + serviceRegion + `"}}}` +
		strings.Join(append([]string{""}, extra...), ",\n") + `]}`
}

const allowMultiRegion = `{"Sid":"CrossRegion","Effect":"Allow","Action":"vpce:AllowMultiRegion","Resource":"arn:aws:ec2:*:` + member + `:vpc-endpoint/*"}`

// TestIAMCrossRegionEndpoints: a cross-Region CreateVpcEndpoint needs the
// permission-only vpce:AllowMultiRegion besides ec2:CreateVpcEndpoint, and
// ec2:VpceServiceRegion (the service's Region, present on every create)
// scopes which Regions' services a role may reach.
func TestIAMCrossRegionEndpoints(t *testing.T) {
	srv, url := startServer(t, Options{Topology: crossRegionTopology()})
	tests := []struct {
		name             string
		policy           string
		consumer, vpc    string
		serviceRegion    string // "" leaves ServiceRegion out
		deniedAction     string // "" allowed
		deniedOnResource string
	}{
		{"cross-Region with vpce:AllowMultiRegion", spokePolicy(region, allowMultiRegion), xrConsumer, xrVPC, region, "", ""},
		{"cross-Region without vpce:AllowMultiRegion", spokePolicy(region), xrConsumer, xrVPC, region, "vpce:AllowMultiRegion", "vpc-endpoint/*"},
		{"vpce:AllowMultiRegion explicitly denied", spokePolicy(region, allowMultiRegion,
			`{"Effect":"Deny","Action":"vpce:*","Resource":"*"}`), xrConsumer, xrVPC, region, "vpce:AllowMultiRegion", "vpc-endpoint/*"},
		{"a policy for another service Region", spokePolicy("us-east-1", allowMultiRegion), xrConsumer, xrVPC, region, "ec2:CreateVpcEndpoint", "vpc-endpoint/*"},
		{"same Region: the key holds the caller's Region", spokePolicy(region), region, xrHomeVPC, "", "", ""},
		{"same Region named explicitly", spokePolicy(region), region, xrHomeVPC, region, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := srv.PutRolePolicy(member, "spoke", "p", []byte(tt.policy)); err != nil {
				t.Fatal(err)
			}
			srv.ResetDenials()
			cfg := roleConfig(t, srv, url, member, "spoke")
			cfg.Region = tt.consumer
			in := &ec2.CreateVpcEndpointInput{VpcEndpointType: types.VpcEndpointTypeInterface, VpcId: aws.String(tt.vpc), ServiceName: aws.String(xrName)}
			if tt.serviceRegion != "" {
				in.ServiceRegion = aws.String(tt.serviceRegion)
			}
			out, err := ec2.NewFromConfig(cfg).CreateVpcEndpoint(ctx(t), in)
			if tt.deniedAction == "" {
				if err != nil {
					t.Fatalf("create: %v (denials %+v)", err, srv.Denials())
				}
				if got := aws.ToString(out.VpcEndpoint.ServiceRegion); got != region {
					t.Fatalf("ServiceRegion %s", got)
				}
				return
			}
			code, msg, _ := apiError(t, err)
			if code != "UnauthorizedOperation" || !strings.Contains(msg, "perform: "+tt.deniedAction+" on resource: arn:aws:ec2:"+tt.consumer+":"+member+":"+tt.deniedOnResource) {
				t.Fatalf("denial %s %q, want UnauthorizedOperation for %s on %s", code, msg, tt.deniedAction, tt.deniedOnResource)
			}
			if d := srv.Denials(); len(d) != 1 || d[0].Action != tt.deniedAction {
				t.Fatalf("denials %+v", d)
			}
		})
	}
}

// TestIAMProviderNeedsAllowMultiRegionToAddRegions: making a service
// available in another Region needs vpce:AllowMultiRegion on the service;
// removing one needs only the ec2 action.
func TestIAMProviderNeedsAllowMultiRegionToAddRegions(t *testing.T) {
	srv, url := startServer(t, Options{Topology: crossRegionTopology()})
	modify := `{"Effect":"Allow","Action":"ec2:ModifyVpcEndpointServiceConfiguration","Resource":"*"}`
	tests := []struct {
		name        string
		statements  string
		add, remove []string
		denied      bool
	}{
		{"add without vpce:AllowMultiRegion", modify, []string{"us-east-1"}, nil, true},
		{"add with it", modify + `,{"Effect":"Allow","Action":"vpce:AllowMultiRegion","Resource":"arn:aws:ec2:` + region + `:` + hub + `:vpc-endpoint-service/` + xrService + `"}`,
			[]string{"us-east-1"}, nil, false},
		{"remove without it", modify, nil, []string{"us-east-1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := srv.PutRolePolicy(hub, "provider", "p", []byte(`{"Version":"2012-10-17","Statement":[`+tt.statements+`]}`)); err != nil {
				t.Fatal(err)
			}
			provider := ec2.NewFromConfig(roleConfig(t, srv, url, hub, "provider"))
			_, err := provider.ModifyVpcEndpointServiceConfiguration(ctx(t), &ec2.ModifyVpcEndpointServiceConfigurationInput{
				ServiceId: aws.String(xrService), AddSupportedRegions: tt.add, RemoveSupportedRegions: tt.remove})
			if !tt.denied {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			code, msg, _ := apiError(t, err)
			if code != "UnauthorizedOperation" || !strings.Contains(msg, "vpce:AllowMultiRegion on resource: arn:aws:ec2:"+region+":"+hub+":vpc-endpoint-service/"+xrService) {
				t.Fatalf("denial %s %q", code, msg)
			}
		})
	}
}
