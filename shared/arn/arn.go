package arn

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	awsarn "github.com/aws/aws-sdk-go-v2/aws/arn"
)

var (
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	// The product has always read partitions as "aws" followed by
	// lowercase letters and hyphens (aws, aws-cn, aws-us-gov, aws-iso-b).
	partitionRE = regexp.MustCompile(`^aws[a-z-]*$`)
	regionRE    = regexp.MustCompile(`^[a-z0-9-]+$`)
	vpcIDRE     = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	// An IAM role's path and name: the path's characters and the name's,
	// up to the 512 characters IAM allows a path.
	rolePathNameRE = regexp.MustCompile(`^[\w+=,.@/-]{1,512}$`)
)

// IsAccountID reports whether s is an AWS account id: twelve digits,
// leading zeros kept.
func IsAccountID(s string) bool { return accountRE.MatchString(s) }

// Partition is the ARN partition of a Region, by the Region name
// patterns of the AWS SDK's partition table (aws-sdk-go-v2,
// internal/endpoints/awsrulesfn/partitions.json): China's Regions (cn-) are
// in aws-cn, GovCloud's (us-gov-) in aws-us-gov, the isolated Regions in
// aws-iso, aws-iso-b, aws-iso-e and aws-iso-f, the European Sovereign
// Cloud's (eusc-) in aws-eusc, and every other Region in aws.
func Partition(region string) string {
	for _, p := range partitionPrefixes {
		if strings.HasPrefix(region, p.prefix) {
			return p.partition
		}
	}
	return "aws"
}

var partitionPrefixes = []struct{ prefix, partition string }{
	{"cn-", "aws-cn"},
	{"us-gov-", "aws-us-gov"},
	{"us-isob-", "aws-iso-b"},
	{"us-isof-", "aws-iso-f"},
	{"us-iso-", "aws-iso"},
	{"eu-isoe-", "aws-iso-e"},
	{"eusc-", "aws-eusc"},
}

// Role is the ARN of the IAM role name in account, in the partition of
// region (IAM is global within a partition, so the ARN has no Region).
func Role(region, account, name string) string {
	return awsarn.ARN{Partition: Partition(region), Service: "iam", AccountID: account, Resource: "role/" + name}.String()
}

// Root is the ARN of account's root principal, which stands for every
// principal of the account in a policy or an endpoint service's allowed
// principals.
func Root(region, account string) string {
	return awsarn.ARN{Partition: Partition(region), Service: "iam", AccountID: account, Resource: "root"}.String()
}

// VPC is the ARN of the VPC vpcID of account in region, as tag events
// name it in their resources.
func VPC(region, account, vpcID string) string {
	return awsarn.ARN{Partition: Partition(region), Service: "ec2", Region: region, AccountID: account, Resource: "vpc/" + vpcID}.String()
}

// EventBus is the ARN of the event bus name of account in region.
// PutEvents takes it in EventBusName to reach a bus of another account.
func EventBus(region, account, name string) string {
	return awsarn.ARN{Partition: Partition(region), Service: "events", Region: region, AccountID: account, Resource: "event-bus/" + name}.String()
}

// AccountOf returns the account of an ARN (a principal, an assumed-role
// user, a function), or "" when s is not an ARN with an account id ("*",
// an account root given as a bare id, a malformed string).
func AccountOf(s string) string {
	a, err := awsarn.Parse(s)
	if err != nil || !IsAccountID(a.AccountID) {
		return ""
	}
	return a.AccountID
}

// ParseVPC reads a VPC ARN, arn:<partition>:ec2:<region>:<account>:vpc/<vpc-id>.
func ParseVPC(s string) (region, account, vpcID string, err error) {
	a, err := parse(s, "ec2")
	if err != nil {
		return "", "", "", fmt.Errorf("%q is not a VPC ARN: %w", s, err)
	}
	id, ok := strings.CutPrefix(a.Resource, "vpc/")
	switch {
	case !regionRE.MatchString(a.Region):
		return "", "", "", fmt.Errorf("%q is not a VPC ARN: region %q is not a Region", s, a.Region)
	case !ok || !vpcIDRE.MatchString(id):
		return "", "", "", fmt.Errorf("%q is not a VPC ARN: resource %q is not vpc/<vpc-id>", s, a.Resource)
	case a.Partition != Partition(a.Region):
		return "", "", "", fmt.Errorf("%q is not a VPC ARN: Region %s is in partition %s, not %s", s, a.Region, Partition(a.Region), a.Partition)
	}
	return a.Region, a.AccountID, id, nil
}

// ParseRole reads an IAM role ARN, arn:<partition>:iam::<account>:role/<path><name>.
// name keeps the role's path, as the ARN does.
func ParseRole(s string) (account, name string, err error) {
	a, err := parse(s, "iam")
	if err != nil {
		return "", "", fmt.Errorf("%q is not an IAM role ARN: %w", s, err)
	}
	n, ok := strings.CutPrefix(a.Resource, "role/")
	switch {
	case a.Region != "":
		return "", "", fmt.Errorf("%q is not an IAM role ARN: IAM ARNs have no Region, it has %q", s, a.Region)
	case !ok || !rolePathNameRE.MatchString(n):
		return "", "", fmt.Errorf("%q is not an IAM role ARN: resource %q is not role/<name>", s, a.Resource)
	}
	return a.AccountID, n, nil
}

// parse splits s and checks the fields every ARN the product reads shares:
// the partition, the service and a twelve-digit account.
func parse(s, service string) (awsarn.ARN, error) {
	a, err := awsarn.Parse(s)
	switch {
	case err != nil:
		return awsarn.ARN{}, errors.New("it does not have the six fields of an ARN")
	case !partitionRE.MatchString(a.Partition):
		return awsarn.ARN{}, fmt.Errorf("partition %q is not aws or aws-<name>", a.Partition)
	case a.Service != service:
		return awsarn.ARN{}, fmt.Errorf("service %q is not %s", a.Service, service)
	case !IsAccountID(a.AccountID):
		return awsarn.ARN{}, fmt.Errorf("account %q is not a 12-digit account id", a.AccountID)
	}
	return a, nil
}
