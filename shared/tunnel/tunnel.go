package tunnel

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/awserr"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/pace"
)

// SSM is the part of Parameter Store the product uses.
type SSM interface {
	GetParameters(ctx context.Context, in *ssm.GetParametersInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
	GetParametersByPath(ctx context.Context, in *ssm.GetParametersByPathInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, optFns ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	DeleteParameters(ctx context.Context, in *ssm.DeleteParametersInput, optFns ...func(*ssm.Options)) (*ssm.DeleteParametersOutput, error)
	DescribeParameters(ctx context.Context, in *ssm.DescribeParametersInput, optFns ...func(*ssm.Options)) (*ssm.DescribeParametersOutput, error)
}

// Parameter leaf names. The jenkins-url parameter exists only when the
// endpoint service forwards the HTTP port: JCasC cannot pick a field out
// of the JSON document, so what a cloud definition reads is published
// plain.
const (
	TunnelName     = "tunnel"
	DocumentName   = "document"
	JenkinsURLName = "jenkins-url"
)

// Document is everything a Jenkins cloud definition needs for one agent
// VPC. Field order is fixed, so equal documents are equal strings.
type Document struct {
	Account            string   `json:"account"`
	Region             string   `json:"region"`
	VPCID              string   `json:"vpcId"`
	EndpointID         string   `json:"endpointId"`
	EndpointState      string   `json:"endpointState"`
	Status             string   `json:"status"`
	Tunnel             string   `json:"tunnel"`
	JenkinsURL         string   `json:"jenkinsUrl,omitempty"`
	AgentSubnets       []string `json:"agentSubnets"`
	AgentSecurityGroup string   `json:"agentSecurityGroup"`
	ServiceName        string   `json:"serviceName"`
}

// Tunnel is the host:port the agents' -tunnel option takes.
func Tunnel(host string, port int) string { return host + ":" + strconv.Itoa(port) }

// JenkinsURL is the controller URL through the endpoint, when the service
// forwards the HTTP port; "" otherwise.
func JenkinsURL(host string, httpPort int) string {
	if httpPort == 0 || host == "" {
		return ""
	}
	return "http://" + host + ":" + strconv.Itoa(httpPort) + "/"
}

// Store is the parameters under a prefix.
type Store struct {
	SSM    SSM
	Prefix string // no trailing slash
	// Retries of a write that another writer collided with (TooManyUpdates).
	Backoff time.Duration
	// Pace, when set, is waited on before every PutParameter (about 3 per
	// second per account and Region by default). Deletes do not wait on it:
	// DeleteParameters is not that quota, and a lease given back late (a
	// release stuck behind a rollout's share of the rate) leaves every
	// other invocation of the VPC waiting until the lease expires.
	Pace *pace.Bucket
	// ReadPace, when set, is waited on before every read (reads share
	// about 40 TPS per account by default).
	ReadPace *pace.Bucket
	// Tier is the Parameter Store tier of what the store writes:
	// Intelligent-Tiering or Advanced; empty or Standard name no tier, so
	// the account's default tier applies (Standard, unless the account
	// changed it: "Specifying a default parameter tier", Systems Manager
	// user guide).
	Tier string
}

// tier is the PutParameter tier of the store's writes ("" names none).
func (s Store) tier() ssmtypes.ParameterTier {
	if s.Tier == string(ssmtypes.ParameterTierStandard) {
		return ""
	}
	return ssmtypes.ParameterTier(s.Tier)
}

// Path is the parameter path of one agent VPC.
func (s Store) Path(account, vpc string) string { return s.Prefix + "/" + account + "/" + vpc }

// Values are the two parameter values of a document.
func Values(d Document) (tunnel, document string, err error) {
	b, err := json.Marshal(d)
	if err != nil {
		return "", "", fmt.Errorf("encoding the document of %s, %w", d.VPCID, err)
	}
	return d.Tunnel, string(b), nil
}

// Publish writes the parameters of an agent VPC, each only when it
// differs from what is stored, and removes a jenkins-url parameter that
// is no longer wanted. It returns the names it wrote or removed.
func (s Store) Publish(ctx context.Context, d Document) ([]string, error) {
	tunnel, doc, err := Values(d)
	if err != nil {
		return nil, err
	}
	base := s.Path(d.Account, d.VPCID)
	names := []string{base + "/" + TunnelName, base + "/" + DocumentName, base + "/" + JenkinsURLName}
	want := map[string]string{names[0]: tunnel, names[1]: doc, names[2]: d.JenkinsURL}
	have, err := s.get(ctx, names...)
	if err != nil {
		return nil, err
	}
	var wrote []string
	for _, name := range names {
		switch {
		case have[name] == want[name]:
		case want[name] == "":
			if _, err := s.Delete(ctx, name); err != nil {
				return wrote, err
			}
			wrote = append(wrote, name)
		default:
			if err := s.put(ctx, name, want[name]); err != nil {
				return wrote, err
			}
			wrote = append(wrote, name)
		}
	}
	return wrote, nil
}

// put writes one parameter (overwriting), retrying briefly when a
// concurrent writer of the same name collides.
func (s Store) put(ctx context.Context, name, value string) error {
	backoff := s.Backoff
	if backoff == 0 {
		backoff = 200 * time.Millisecond
	}
	for attempt := 0; ; attempt++ {
		if err := s.Pace.Wait(ctx); err != nil {
			return err
		}
		_, err := s.SSM.PutParameter(ctx, &ssm.PutParameterInput{
			Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeString,
			Overwrite: aws.Bool(true), Description: aws.String("jenkins-agent-vpcs (managed; do not edit)"), Tier: s.tier(),
		})
		if err == nil {
			return nil
		}
		if awserr.Code(err) != "TooManyUpdates" || attempt >= 3 {
			return fmt.Errorf("writing parameter %s, %w", name, err)
		}
		if err := pace.Sleep(ctx, backoff<<attempt); err != nil {
			return err
		}
	}
}

func (s Store) get(ctx context.Context, names ...string) (map[string]string, error) {
	if err := s.ReadPace.Wait(ctx); err != nil {
		return nil, err
	}
	out, err := s.SSM.GetParameters(ctx, &ssm.GetParametersInput{Names: names})
	if err != nil {
		return nil, fmt.Errorf("reading parameters %v, %w", names, err)
	}
	have := map[string]string{}
	for _, p := range out.Parameters {
		have[aws.ToString(p.Name)] = aws.ToString(p.Value)
	}
	return have, nil
}

// Remove deletes the parameters of an agent VPC, reading first so that
// removing what is already gone writes nothing.
func (s Store) Remove(ctx context.Context, account, vpc string) ([]string, error) {
	base := s.Path(account, vpc)
	have, err := s.get(ctx, base+"/"+TunnelName, base+"/"+DocumentName, base+"/"+JenkinsURLName)
	if err != nil || len(have) == 0 {
		return nil, err
	}
	names := make([]string, 0, len(have))
	for name := range have {
		names = append(names, name)
	}
	slices.Sort(names)
	return s.Delete(ctx, names...)
}

// Delete deletes parameters by name (at most 10 per call, as the API
// allows) and returns those that existed.
func (s Store) Delete(ctx context.Context, names ...string) ([]string, error) {
	var deleted []string
	for start := 0; start < len(names); start += 10 {
		batch := names[start:min(start+10, len(names))]
		out, err := s.SSM.DeleteParameters(ctx, &ssm.DeleteParametersInput{Names: batch})
		if err != nil {
			return deleted, fmt.Errorf("deleting parameters %v, %w", batch, err)
		}
		deleted = append(deleted, out.DeletedParameters...)
	}
	return deleted, nil
}

// Published is one agent VPC's stored parameters.
type Published struct {
	Account    string
	VPCID      string
	Tunnel     string
	Document   string
	JenkinsURL string
	Names      []string // every parameter stored under the VPC's path
	Modified   time.Time
}

// List reads every published agent VPC under the prefix, or only one
// account's when account is not empty (paged, 10 per page as the API
// allows).
func (s Store) List(ctx context.Context, account string) (map[string]*Published, error) {
	path := s.Prefix
	if account != "" {
		path += "/" + account
	}
	out := map[string]*Published{}
	err := s.eachParameter(ctx, path, func(prm ssmtypes.Parameter) {
		name := aws.ToString(prm.Name)
		rest := strings.Split(strings.TrimPrefix(name, s.Prefix+"/"), "/")
		if len(rest) < 2 || len(rest) == 3 && rest[2] == LeaseName {
			return // a lease is not published; see TakeLease
		}
		key := rest[0] + "/" + rest[1]
		pub := out[key]
		if pub == nil {
			pub = &Published{Account: rest[0], VPCID: rest[1]}
			out[key] = pub
		}
		pub.Names = append(pub.Names, name)
		if t := aws.ToTime(prm.LastModifiedDate); t.After(pub.Modified) {
			pub.Modified = t
		}
		if len(rest) == 3 {
			switch rest[2] {
			case TunnelName:
				pub.Tunnel = aws.ToString(prm.Value)
			case DocumentName:
				pub.Document = aws.ToString(prm.Value)
			case JenkinsURLName:
				pub.JenkinsURL = aws.ToString(prm.Value)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Accounts lists the accounts that have parameters under the prefix. It
// reads names only (DescribeParameters, 50 a page), so the reconciler can
// find accounts that only the parameters remember.
func (s Store) Accounts(ctx context.Context) ([]string, error) {
	set := map[string]bool{}
	p := ssm.NewDescribeParametersPaginator(s.SSM, &ssm.DescribeParametersInput{MaxResults: aws.Int32(50),
		ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Path"), Option: aws.String("Recursive"), Values: []string{s.Prefix}}}})
	for p.HasMorePages() {
		if err := s.ReadPace.Wait(ctx); err != nil {
			return nil, err
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the accounts under %s, %w", s.Prefix, err)
		}
		for _, prm := range page.Parameters {
			account, _, _ := strings.Cut(strings.TrimPrefix(aws.ToString(prm.Name), s.Prefix+"/"), "/")
			set[account] = true
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// VPCs lists the VPCs of one account that have a parameter under the
// prefix, published or a lease: agent VPCs, or VPCs being onboarded.
func (s Store) VPCs(ctx context.Context, account string) ([]string, error) {
	path := s.Prefix + "/" + account
	set := map[string]bool{}
	err := s.eachParameter(ctx, path, func(prm ssmtypes.Parameter) {
		if vpc, _, ok := strings.Cut(strings.TrimPrefix(aws.ToString(prm.Name), path+"/"), "/"); ok {
			set[vpc] = true
		}
	})
	return slices.Sorted(maps.Keys(set)), err
}

// eachParameter calls fn with every parameter under path, paged (10 a
// page, as the API allows) and paced as reads are.
func (s Store) eachParameter(ctx context.Context, path string, fn func(ssmtypes.Parameter)) error {
	p := ssm.NewGetParametersByPathPaginator(s.SSM, &ssm.GetParametersByPathInput{Path: aws.String(path), Recursive: aws.Bool(true)})
	for p.HasMorePages() {
		if err := s.ReadPace.Wait(ctx); err != nil {
			return err
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing parameters under %s, %w", path, err)
		}
		for _, prm := range page.Parameters {
			fn(prm)
		}
	}
	return nil
}
