package localaws

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
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

// TestIAMRuleForwardingToAnotherRegionsBus: a rule in eu-central-1 sends
// to the hub's bus in eu-west-1 only with a role (PutTargets refuses a bus
// of another Region without one), the role must allow events:PutEvents
// (and, across accounts, the bus policy the role), and the event arrives
// with the Region and account it originated in.
func TestIAMRuleForwardingToAnotherRegionsBus(t *testing.T) {
	hubBus := "arn:aws:events:" + region + ":" + hub + ":event-bus/jenkins-agent-vpcs"
	tests := []struct {
		name       string
		from       string // the rule's account
		withPolicy bool   // the role may put events on the hub bus
		role       bool   // the target names the role
		putCode    string // PutTargets' error
		delivered  bool
		reason     string
	}{
		{"another account: role and bus policy allow", member, true, true, "", true, ""},
		{"another account: no role", member, true, false, "ValidationException", false, ""},
		{"another account: the role may not put events", member, false, true, "", false, "no identity-based policy allows it"},
		{"own account: the role allows, no bus policy needed", hub, true, true, "", true, ""},
		{"own account: no role", hub, true, false, "ValidationException", false, ""},
		{"own account: the role may not put events", hub, false, true, "", false, "no identity-based policy allows it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, url := startServer(t, Options{Topology: testTopology()})
			role := Role{Name: "events", Trust: Trust{Principals: []string{"events.amazonaws.com"}}}
			if tc.withPolicy {
				role.Policies = []RolePolicy{{Name: "put", Document: PolicyDocument(`{"Statement":{"Effect":"Allow","Action":"events:PutEvents","Resource":"` + hubBus + `"}}`)}}
			}
			if err := srv.Seed(&Topology{Region: region, Accounts: []Account{{ID: tc.from, Roles: []Role{role}}}}); err != nil {
				t.Fatal(err)
			}
			if tc.from != hub {
				if err := srv.PutResourcePolicy(hubBus, []byte(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"events:PutEvents","Resource":"`+hubBus+`",
					"Condition":{"StringEquals":{"aws:PrincipalOrgID":"`+orgID+`"}}}}`)); err != nil {
					t.Fatal(err)
				}
			}
			cfg := awsConfig(url, tc.from, "x", "")
			cfg.Region = xrConsumer
			eb := eventbridge.NewFromConfig(cfg)
			if _, err := eb.PutRule(ctx(t), &eventbridge.PutRuleInput{Name: aws.String("to-hub"), EventPattern: aws.String(`{"source":["jav.test"]}`)}); err != nil {
				t.Fatal(err)
			}
			target := ebtypes.Target{Id: aws.String("hub"), Arn: aws.String(hubBus)}
			if tc.role {
				target.RoleArn = aws.String("arn:aws:iam::" + tc.from + ":role/events")
			}
			_, err := eb.PutTargets(ctx(t), &eventbridge.PutTargetsInput{Rule: aws.String("to-hub"), Targets: []ebtypes.Target{target}})
			if tc.putCode != "" {
				if code, msg, _ := apiError(t, err); code != tc.putCode || !strings.Contains(msg, "RoleArn is required for target "+hubBus) {
					t.Fatalf("PutTargets = %s %q, want %s", code, msg, tc.putCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var watched recorder[awsproto.Event]
			defer srv.Watch(hub, region, "jenkins-agent-vpcs", watched.add)()
			if _, err := eb.PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{
				{Source: aws.String("jav.test"), DetailType: aws.String("x"), Detail: aws.String(`{}`)}}}); err != nil {
				t.Fatal(err)
			}
			srv.Flush(5 * time.Second)
			got := watched.all()
			if (len(got) == 1) != tc.delivered {
				t.Fatalf("delivered %d events, want delivered = %v (denials %+v)", len(got), tc.delivered, srv.Denials())
			}
			if tc.delivered && (got[0].Region != xrConsumer || got[0].Account != tc.from) {
				t.Fatalf("forwarded event from %s in %s, want %s in %s", got[0].Account, got[0].Region, tc.from, xrConsumer)
			}
			d := srv.Denials()
			if tc.delivered != (len(d) == 0) || (len(d) > 0 && (!strings.Contains(d[0].Reason, tc.reason) || d[0].Action != "events:PutEvents")) {
				t.Fatalf("denials = %+v, want reason %q", d, tc.reason)
			}
		})
	}
}
