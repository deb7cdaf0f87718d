package arn_test

import (
	"strings"
	"testing"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/arn"
)

// The formats are the Service Authorization Reference's resource types
// (/work/shared/aws/iam-authorization.json): ec2 vpc
// arn:${Partition}:ec2:${Region}:${Account}:vpc/${VpcId}, iam role
// arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}, events
// event-bus arn:${Partition}:events:${Region}:${Account}:event-bus/${EventBusName}.
func TestBuild(t *testing.T) {
	const account = "012345678901"
	tests := []struct {
		region                          string
		partition, role, root, vpc, bus string
	}{
		{region: "eu-west-1", partition: "aws",
			role: "arn:aws:iam::012345678901:role/jenkins-agent-vpcs-spoke",
			root: "arn:aws:iam::012345678901:root",
			vpc:  "arn:aws:ec2:eu-west-1:012345678901:vpc/vpc-0123456789abcdef0",
			bus:  "arn:aws:events:eu-west-1:012345678901:event-bus/jenkins"},
		{region: "cn-north-1", partition: "aws-cn",
			role: "arn:aws-cn:iam::012345678901:role/jenkins-agent-vpcs-spoke",
			root: "arn:aws-cn:iam::012345678901:root",
			vpc:  "arn:aws-cn:ec2:cn-north-1:012345678901:vpc/vpc-0123456789abcdef0",
			bus:  "arn:aws-cn:events:cn-north-1:012345678901:event-bus/jenkins"},
		{region: "cn-northwest-1", partition: "aws-cn",
			role: "arn:aws-cn:iam::012345678901:role/jenkins-agent-vpcs-spoke",
			root: "arn:aws-cn:iam::012345678901:root",
			vpc:  "arn:aws-cn:ec2:cn-northwest-1:012345678901:vpc/vpc-0123456789abcdef0",
			bus:  "arn:aws-cn:events:cn-northwest-1:012345678901:event-bus/jenkins"},
		{region: "us-gov-west-1", partition: "aws-us-gov",
			role: "arn:aws-us-gov:iam::012345678901:role/jenkins-agent-vpcs-spoke",
			root: "arn:aws-us-gov:iam::012345678901:root",
			vpc:  "arn:aws-us-gov:ec2:us-gov-west-1:012345678901:vpc/vpc-0123456789abcdef0",
			bus:  "arn:aws-us-gov:events:us-gov-west-1:012345678901:event-bus/jenkins"},
		// us-east-1 shares the "us-" prefix with GovCloud and is commercial.
		{region: "us-east-1", partition: "aws",
			role: "arn:aws:iam::012345678901:role/jenkins-agent-vpcs-spoke",
			root: "arn:aws:iam::012345678901:root",
			vpc:  "arn:aws:ec2:us-east-1:012345678901:vpc/vpc-0123456789abcdef0",
			bus:  "arn:aws:events:us-east-1:012345678901:event-bus/jenkins"},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			for _, c := range []struct{ what, got, want string }{
				{"partition", arn.Partition(tt.region), tt.partition},
				{"role", arn.Role(tt.region, account, "jenkins-agent-vpcs-spoke"), tt.role},
				{"root", arn.Root(tt.region, account), tt.root},
				{"vpc", arn.VPC(tt.region, account, "vpc-0123456789abcdef0"), tt.vpc},
				{"event bus", arn.EventBus(tt.region, account, "jenkins"), tt.bus},
			} {
				if c.got != c.want {
					t.Errorf("%s: got %s, want %s", c.what, c.got, c.want)
				}
			}
		})
	}
}

// What the product builds, it reads back.
func TestRoundTrip(t *testing.T) {
	for _, region := range []string{"eu-west-1", "cn-north-1", "us-gov-east-1"} {
		r, a, id, err := arn.ParseVPC(arn.VPC(region, "222222222222", "vpc-0a1b2c3d"))
		if err != nil || r != region || a != "222222222222" || id != "vpc-0a1b2c3d" {
			t.Errorf("%s: VPC read back as %q %q %q, %v", region, r, a, id, err)
		}
		a, name, err := arn.ParseRole(arn.Role(region, "222222222222", "ops/jenkins"))
		if err != nil || a != "222222222222" || name != "ops/jenkins" {
			t.Errorf("%s: role read back as %q %q, %v", region, a, name, err)
		}
		for _, s := range []string{arn.Role(region, "222222222222", "x"), arn.Root(region, "222222222222"),
			arn.VPC(region, "222222222222", "vpc-0a1b2c3d"), arn.EventBus(region, "222222222222", "b")} {
			if got := arn.AccountOf(s); got != "222222222222" {
				t.Errorf("AccountOf(%s) = %q", s, got)
			}
		}
	}
}

func TestParseVPC(t *testing.T) {
	tests := []struct {
		in                   string
		region, account, vpc string
		err                  string // in the error when not ""
	}{
		{in: "arn:aws:ec2:eu-west-1:222222222222:vpc/vpc-0123456789abcdef0", region: "eu-west-1", account: "222222222222", vpc: "vpc-0123456789abcdef0"},
		{in: "arn:aws-cn:ec2:cn-north-1:222222222222:vpc/vpc-01234567", region: "cn-north-1", account: "222222222222", vpc: "vpc-01234567"},
		{in: "arn:aws-us-gov:ec2:us-gov-west-1:222222222222:vpc/vpc-01234567", region: "us-gov-west-1", account: "222222222222", vpc: "vpc-01234567"},
		{in: "arn:aws-iso-b:ec2:us-isob-east-1:222222222222:vpc/vpc-01234567", region: "us-isob-east-1", account: "222222222222", vpc: "vpc-01234567"},

		{in: "", err: "six fields"},
		{in: "vpc-0123456789abcdef0", err: "six fields"},
		{in: "arn:aws:ec2:eu-west-1:222222222222", err: "six fields"},
		{in: "ARN:aws:ec2:eu-west-1:222222222222:vpc/vpc-01234567", err: "six fields"},
		{in: "arn:azure:ec2:eu-west-1:222222222222:vpc/vpc-01234567", err: `partition "azure"`},
		{in: "arn::ec2:eu-west-1:222222222222:vpc/vpc-01234567", err: `partition ""`},
		{in: "arn:AWS:ec2:eu-west-1:222222222222:vpc/vpc-01234567", err: `partition "AWS"`},
		{in: "arn:aws:iam::222222222222:role/vpc-01234567", err: `service "iam"`},
		{in: "arn:aws:ec2:eu-west-1:22222222222:vpc/vpc-01234567", err: `account "22222222222"`},
		{in: "arn:aws:ec2:eu-west-1:2222222222222:vpc/vpc-01234567", err: `account "2222222222222"`},
		{in: "arn:aws:ec2:eu-west-1::vpc/vpc-01234567", err: `account ""`},
		{in: "arn:aws:ec2:eu-west-1:22222222222a:vpc/vpc-01234567", err: `account "22222222222a"`},
		{in: "arn:aws:ec2::222222222222:vpc/vpc-01234567", err: `region ""`},
		{in: "arn:aws:ec2:EU-WEST-1:222222222222:vpc/vpc-01234567", err: `region "EU-WEST-1"`},
		{in: "arn:aws:ec2:eu-west-1:222222222222:subnet/subnet-01234567", err: `resource "subnet/subnet-01234567"`},
		{in: "arn:aws:ec2:eu-west-1:222222222222:vpc/vpc-0123", err: "vpc/<vpc-id>"},
		{in: "arn:aws:ec2:eu-west-1:222222222222:vpc/vpc-0123456789ABCDEF0", err: "vpc/<vpc-id>"},
		{in: "arn:aws:ec2:eu-west-1:222222222222:vpc/vpc-01234567:extra", err: "vpc/<vpc-id>"},
		{in: "arn:aws:ec2:cn-north-1:222222222222:vpc/vpc-01234567", err: "in partition aws-cn, not aws"},
		{in: "arn:aws-cn:ec2:us-east-1:222222222222:vpc/vpc-01234567", err: "in partition aws, not aws-cn"},
		{in: "arn:aws:ec2:us-iso-east-1:222222222222:vpc/vpc-01234567", err: "in partition aws-iso, not aws"},
		{in: "arn:aws-eusc:ec2:eusc-de-east-1:222222222222:vpc/vpc-01234567", region: "eusc-de-east-1", account: "222222222222", vpc: "vpc-01234567"},
		{in: "arn:aws:ec2:eu-west-1:222222222222:vpc/vpc-01234567/x", err: "vpc/<vpc-id>"},
		{in: "arn:aws:ec2:eu-west-1:222222222222:vpc:vpc-01234567", err: "vpc/<vpc-id>"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			region, account, vpc, err := arn.ParseVPC(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "not a VPC ARN") {
					t.Fatalf("want an error about %s, got %v (read %q %q %q)", tt.err, err, region, account, vpc)
				}
				return
			}
			if err != nil || region != tt.region || account != tt.account || vpc != tt.vpc {
				t.Fatalf("got %q %q %q, %v; want %q %q %q", region, account, vpc, err, tt.region, tt.account, tt.vpc)
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in            string
		account, name string
		err           string
	}{
		{in: "arn:aws:iam::111111111111:role/jenkins-agent-vpcs-reconcile-org", account: "111111111111", name: "jenkins-agent-vpcs-reconcile-org"},
		{in: "arn:aws:iam::111111111111:role/service-role/ops+read=all,x.y@z_1", account: "111111111111", name: "service-role/ops+read=all,x.y@z_1"},
		{in: "arn:aws-cn:iam::111111111111:role/ops", account: "111111111111", name: "ops"},
		{in: "arn:aws-us-gov:iam::111111111111:role/ops", account: "111111111111", name: "ops"},
		{in: "arn:aws:iam::111111111111:role/" + strings.Repeat("a", 512), account: "111111111111", name: strings.Repeat("a", 512)},

		{in: "ops", err: "six fields"},
		{in: "arn:aws:iam::111111111111:role/" + strings.Repeat("a", 513), err: "role/<name>"},
		{in: "arn:aws:iam::111111111111:role/", err: "role/<name>"},
		{in: "arn:aws:iam::111111111111:user/ops", err: `resource "user/ops"`},
		{in: "arn:aws:iam::111111111111:root", err: `resource "root"`},
		{in: "arn:aws:iam::111111111111:role/ops team", err: "role/<name>"},
		{in: "arn:aws:iam:us-east-1:111111111111:role/ops", err: `has "us-east-1"`},
		{in: "arn:aws:sts::111111111111:assumed-role/ops/session", err: `service "sts"`},
		{in: "arn:aws:iam::1111:role/ops", err: `account "1111"`},
		{in: "arn:gcp:iam::111111111111:role/ops", err: `partition "gcp"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			account, name, err := arn.ParseRole(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "not an IAM role ARN") {
					t.Fatalf("want an error about %s, got %v (read %q %q)", tt.err, err, account, name)
				}
				return
			}
			if err != nil || account != tt.account || name != tt.name {
				t.Fatalf("got %q %q, %v; want %q %q", account, name, err, tt.account, tt.name)
			}
		})
	}
}

func TestAccountOf(t *testing.T) {
	tests := []struct{ in, want string }{
		{"arn:aws:iam::222222222222:root", "222222222222"},
		{"arn:aws:iam::222222222222:role/jenkins-agent-vpcs-spoke", "222222222222"},
		{"arn:aws-cn:iam::222222222222:role/x", "222222222222"},
		{"arn:aws:sts::222222222222:assumed-role/jenkins-agent-vpcs-spoke/onboard", "222222222222"},
		{"arn:aws:lambda:eu-west-1:111111111111:function:jenkins-agent-vpcs-reconcile", "111111111111"},
		{"arn:aws:lambda:eu-west-1:111111111111:function:jenkins-agent-vpcs-reconcile:live", "111111111111"},
		{"*", ""},
		{"", ""},
		{"222222222222", ""},
		{"arn:aws:iam::root", ""},
		{"arn:aws:iam::22222222222:root", ""},
		{"arn:aws:s3:::bucket", ""},
		{"urn:aws:iam::222222222222:root", ""},
	}
	for _, tt := range tests {
		if got := arn.AccountOf(tt.in); got != tt.want {
			t.Errorf("AccountOf(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIsAccountID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"222222222222", true},
		{"000000000001", true},
		{"22222222222", false},
		{"2222222222222", false},
		{"", false},
		{"2222-2222-2222", false},
		{" 222222222222", false},
		{"222222222222\n", false},
		{"２２２２２２２２２２２２", false},
	}
	for _, tt := range tests {
		if got := arn.IsAccountID(tt.in); got != tt.want {
			t.Errorf("IsAccountID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// Partitions follow the AWS SDK's partition table's Region patterns.
func TestPartition(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1": "aws", "eu-west-1": "aws", "il-central-1": "aws", "cn-north-1": "aws-cn", "cn-northwest-1": "aws-cn",
		"us-gov-west-1": "aws-us-gov", "us-iso-east-1": "aws-iso", "us-isob-east-1": "aws-iso-b", "us-isof-south-1": "aws-iso-f",
		"eu-isoe-west-1": "aws-iso-e", "eusc-de-east-1": "aws-eusc",
	} {
		if got := arn.Partition(region); got != want {
			t.Errorf("Partition(%s) = %s, want %s", region, got, want)
		}
	}
}
