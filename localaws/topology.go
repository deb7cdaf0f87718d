package localaws

import (
	"encoding/json"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	iampolicy "github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/iam"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/stssim"
)

// Topology is the world a server starts with: accounts, their roles, VPCs,
// buses and parameters, the hub's endpoint service and the organization.
// It reads from YAML or JSON (see testdata/topology.yaml) or is built in Go.
// Any 12-digit access key id works as an account whether or not the
// topology names it; the topology adds what is in the account.
type Topology struct {
	// Region is the default for entries that name none (default us-east-1).
	Region       string        `json:"region,omitempty" yaml:"region,omitempty"`
	Organization *Organization `json:"organization,omitempty" yaml:"organization,omitempty"`
	Accounts     []Account     `json:"accounts,omitempty" yaml:"accounts,omitempty"`
}

// Organization is what aws:PrincipalOrgID conditions check against.
type Organization struct {
	ID string `json:"id" yaml:"id"`
	// Accounts are the members; empty means every account of the topology.
	Accounts []string `json:"accounts,omitempty" yaml:"accounts,omitempty"`
}

// Account is one AWS account and what it holds.
type Account struct {
	ID               string            `json:"id" yaml:"id"`
	Name             string            `json:"name,omitempty" yaml:"name,omitempty"`
	Roles            []Role            `json:"roles,omitempty" yaml:"roles,omitempty"`
	VPCs             []VPC             `json:"vpcs,omitempty" yaml:"vpcs,omitempty"`
	EndpointServices []EndpointService `json:"endpointServices,omitempty" yaml:"endpointServices,omitempty"`
	EventBuses       []EventBus        `json:"eventBuses,omitempty" yaml:"eventBuses,omitempty"`
	Topics           []Topic           `json:"topics,omitempty" yaml:"topics,omitempty"`
	Parameters       []Parameter       `json:"parameters,omitempty" yaml:"parameters,omitempty"`
	Queues           []Queue           `json:"queues,omitempty" yaml:"queues,omitempty"`
}

// Role is an IAM role that AssumeRole can issue credentials for.
type Role struct {
	Name  string `json:"name" yaml:"name"`
	Trust Trust  `json:"trust" yaml:"trust"`
	// MaxSessionDuration in seconds (3600 when zero, at most 43200).
	MaxSessionDuration int `json:"maxSessionDuration,omitempty" yaml:"maxSessionDuration,omitempty"`
	// Policies are the role's inline identity policies: what its sessions
	// may do (see README "IAM evaluation"). A role without policies may do
	// nothing unless the server relaxes IAM.
	Policies []RolePolicy `json:"policies,omitempty" yaml:"policies,omitempty"`
}

// RolePolicy is one inline policy of a role.
type RolePolicy struct {
	Name string `json:"name" yaml:"name"`
	// Document is the IAM policy document: a YAML/JSON mapping, or a
	// string holding the JSON.
	Document PolicyDocument `json:"document" yaml:"document"`
}

// PolicyDocument is an IAM policy document as JSON.
type PolicyDocument []byte

// UnmarshalYAML accepts the document as a mapping or as a JSON string.
func (d *PolicyDocument) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*d = PolicyDocument(n.Value)
		return nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("policy document, %w", err)
	}
	*d = b
	return nil
}

// MarshalJSON writes the document as JSON (not as a byte string).
func (d PolicyDocument) MarshalJSON() ([]byte, error) {
	if len(d) == 0 {
		return []byte("null"), nil
	}
	return []byte(d), nil
}

// UnmarshalJSON keeps the document's JSON, or the JSON a string holds.
func (d *PolicyDocument) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*d = PolicyDocument(s)
		return nil
	}
	*d = append(PolicyDocument(nil), b...)
	return nil
}

// Trust is a role's trust policy, reduced to what the product uses.
type Trust struct {
	// Principals are ARNs allowed to assume the role: an account root
	// (arn:aws:iam::<acct>:root, or just the 12-digit id) trusts every
	// principal of that account; a role ARN trusts sessions of that role;
	// "*" trusts anyone. Service principals (lambda.amazonaws.com) are
	// recorded but only Server.RoleCredentials acts as a service.
	Principals []string `json:"principals" yaml:"principals"`
	// ExternalID, when set, must be passed as sts:ExternalId.
	ExternalID string `json:"externalId,omitempty" yaml:"externalId,omitempty"`
	// OrganizationID, when set, requires the caller's account to be a
	// member of that organization (aws:PrincipalOrgID).
	OrganizationID string `json:"organizationId,omitempty" yaml:"organizationId,omitempty"`
}

// VPC is a VPC with its subnets.
type VPC struct {
	ID      string            `json:"id,omitempty" yaml:"id,omitempty"`
	Region  string            `json:"region,omitempty" yaml:"region,omitempty"`
	CIDR    string            `json:"cidr,omitempty" yaml:"cidr,omitempty"` // default 10.0.0.0/16
	Tags    map[string]string `json:"tags,omitempty" yaml:"tags,omitempty"`
	Subnets []Subnet          `json:"subnets,omitempty" yaml:"subnets,omitempty"`
}

// Subnet is a subnet in one Availability Zone, named (eu-west-1a).
type Subnet struct {
	ID   string            `json:"id,omitempty" yaml:"id,omitempty"`
	AZ   string            `json:"az" yaml:"az"`
	CIDR string            `json:"cidr,omitempty" yaml:"cidr,omitempty"` // default: the n-th /24 of the VPC
	Tags map[string]string `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// EndpointService is a VPC endpoint service (PrivateLink) in its account.
type EndpointService struct {
	ID                 string `json:"id,omitempty" yaml:"id,omitempty"`
	Name               string `json:"name,omitempty" yaml:"name,omitempty"`
	Region             string `json:"region,omitempty" yaml:"region,omitempty"`
	AcceptanceRequired bool   `json:"acceptanceRequired" yaml:"acceptanceRequired"`
	// AZs are Availability Zone names (eu-west-1a) or ids (euw1-az1).
	AZs                  []string `json:"azs,omitempty" yaml:"azs,omitempty"`
	AllowedPrincipals    []string `json:"allowedPrincipals,omitempty" yaml:"allowedPrincipals,omitempty"`
	NotificationTopicARN string   `json:"notificationTopicArn,omitempty" yaml:"notificationTopicArn,omitempty"`
	Ports                []int    `json:"ports,omitempty" yaml:"ports,omitempty"`
	// SupportedRegions are the other Regions whose consumers may create
	// endpoints to it with ServiceRegion (cross-Region PrivateLink).
	SupportedRegions []string `json:"supportedRegions,omitempty" yaml:"supportedRegions,omitempty"`
}

// EventBus is a custom event bus (every account has "default").
type EventBus struct {
	Name   string `json:"name" yaml:"name"`
	Region string `json:"region,omitempty" yaml:"region,omitempty"`
}

// Topic is an SNS topic's access policy. Topics exist here only as ARNs
// (arn:aws:sns:<region>:<account>:<name>) that AWS services publish to and
// Go code subscribes to (Server.SubscribeTopic); the policy decides whether
// a service's message is delivered at all: the endpoint service's
// notifications need a statement allowing vpce.amazonaws.com sns:Publish
// (see README "IAM evaluation"). A topic without a policy refuses them.
type Topic struct {
	Name   string         `json:"name" yaml:"name"`
	Region string         `json:"region,omitempty" yaml:"region,omitempty"`
	Policy PolicyDocument `json:"policy,omitempty" yaml:"policy,omitempty"`
}

// Queue is an SQS standard queue present from the start, with its
// attributes as CreateQueue takes them (VisibilityTimeout, RedrivePolicy,
// Policy, ...). A queue whose RedrivePolicy names another is created after
// it.
type Queue struct {
	Name       string            `json:"name" yaml:"name"`
	Region     string            `json:"region,omitempty" yaml:"region,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty" yaml:"attributes,omitempty"`
}

// Parameter is an SSM parameter present from the start.
type Parameter struct {
	Name   string `json:"name" yaml:"name"`
	Region string `json:"region,omitempty" yaml:"region,omitempty"`
	Type   string `json:"type,omitempty" yaml:"type,omitempty"` // default String
	Value  string `json:"value" yaml:"value"`
}

// LoadTopology reads a topology from a YAML or JSON file.
func LoadTopology(path string) (*Topology, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading topology, %w", err)
	}
	return ParseTopology(b)
}

// ParseTopology decodes YAML or JSON (JSON is YAML).
func ParseTopology(b []byte) (*Topology, error) {
	var t Topology
	if err := yaml.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("decoding topology, %w", err)
	}
	for _, a := range t.Accounts {
		if !isAccountID(a.ID) {
			return nil, fmt.Errorf("decoding topology: account id %q is not 12 digits", a.ID)
		}
		for _, tp := range a.Topics {
			if len(tp.Policy) == 0 {
				continue
			}
			if _, err := iampolicy.ParsePolicy("topic/"+tp.Name, tp.Policy); err != nil {
				return nil, fmt.Errorf("decoding topology: topic %s in %s, %w", tp.Name, a.ID, err)
			}
		}
		for _, r := range a.Roles {
			for _, p := range r.Policies {
				if _, err := iampolicy.ParsePolicy(r.Name+"/"+p.Name, p.Document); err != nil {
					return nil, fmt.Errorf("decoding topology: role %s in %s, %w", r.Name, a.ID, err)
				}
			}
		}
	}
	return &t, nil
}

func isAccountID(s string) bool { return stssim.IsAccountID(s) }
