package jcasc

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/arn"
	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/tunnel"
)

// Tag keys a team puts on its VPC (next to the opt-in tag) to choose its
// agents. A tag that is absent takes the generator's default (a flag of
// `agentvpcs jcasc`). Only the opt-in tag key triggers the onboard rule
// (template.yaml, changed-tag-keys), so editing these changes nothing
// until the next generation.
const (
	TagCluster = "jenkins-agents:cluster" // ECS cluster name, or its ARN in the VPC's account and Region
	TagLabel   = "jenkins-agents:label"   // Jenkins label(s), space-separated
	TagImage   = "jenkins-agents:image"   // agent container image
	TagCPU     = "jenkins-agents:cpu"     // task CPU units
	TagMemory  = "jenkins-agents:memory"  // task memory (MiB), the template's memoryReservation
)

// TagKeys are the keys above, in the order the README lists them.
var TagKeys = []string{TagCluster, TagLabel, TagImage, TagCPU, TagMemory}

// Team is what a team chooses for its agents, from its VPC's tags or the
// defaults.
type Team struct {
	Cluster string
	Label   string
	Image   string
	CPU     int
	Memory  int
}

// Settings are the generator's inputs that are not per agent VPC.
type Settings struct {
	// ParameterPrefix is where the hub publishes (PARAMETER_PREFIX, no
	// trailing slash).
	ParameterPrefix string
	// SSMPrefix is the controller's CASC_SSM_PREFIX: the secret-ssm plugin
	// reads `${key}` as the parameter SSMPrefix+key, so a reference is a
	// parameter name with SSMPrefix cut off.
	SSMPrefix string
	// Defaults apply where a VPC has no tag.
	Defaults Team
	// JenkinsURL is the controller URL for agent VPCs with no published
	// jenkins-url parameter (the endpoint service does not forward the
	// HTTP port); empty leaves jenkinsUrl out and the plugin uses Jenkins'
	// own URL.
	JenkinsURL string
	// CredentialsID is the cloud's credentialsId; empty uses the
	// controller's own AWS credentials.
	CredentialsID string
	// ECSRoleName, when set, is a role in each member account that the
	// controller assumes to run tasks there (the cloud's assumedRoleArn):
	// ECS runs a task only in the cluster's own account.
	ECSRoleName string
	// LaunchType is the templates' launchType (FARGATE, EC2, EXTERNAL).
	LaunchType string
}

// AgentVPC is one published agent VPC, with its tags.
type AgentVPC struct {
	Document tunnel.Document
	// JenkinsURLPublished says a jenkins-url parameter is published.
	JenkinsURLPublished bool
	Tags                map[string]string
}

// Skipped is an agent VPC left out of the file, and why.
type Skipped struct {
	Account, VPC, Reason string
}

func (s Skipped) String() string { return s.Account + "/" + s.VPC + ": " + s.Reason }

// File is the generated configuration: only `jenkins: clouds:`. Jenkins'
// default merge strategy appends sequences of several files
// (configuration-as-code-plugin, ErrorOnConflictMergeStrategy.java), so
// this file can sit beside the rest of the configuration in the
// CASC_JENKINS_CONFIG directory and its clouds add to any defined there.
type File struct {
	Jenkins struct {
		Clouds []Cloud `yaml:"clouds"`
	} `yaml:"jenkins"`
}

// Cloud is one entry of `clouds:`.
type Cloud struct {
	ECS ECSCloud `yaml:"ecs"`
}

// ECSCloud carries ECSCloud's constructor parameters (name, credentialsId,
// assumedRoleArn, cluster) and setters (regionName, tunnel, jenkinsUrl,
// templates).
type ECSCloud struct {
	Name           string         `yaml:"name"`
	CredentialsID  string         `yaml:"credentialsId"`
	AssumedRoleArn string         `yaml:"assumedRoleArn,omitempty"`
	Cluster        string         `yaml:"cluster"`
	RegionName     string         `yaml:"regionName"`
	Tunnel         string         `yaml:"tunnel"`
	JenkinsURL     string         `yaml:"jenkinsUrl,omitempty"`
	Templates      []TaskTemplate `yaml:"templates"`
}

// TaskTemplate carries ECSTaskTemplate's constructor parameters. The
// plugin names a task definition family cloud name + "-" + templateName
// (ECSService.fullQualifiedTemplateName), so one templateName serves
// every cloud. For FARGATE the plugin itself uses awsvpc and defaults the
// operating system family and CPU architecture to LINUX and X86_64.
type TaskTemplate struct {
	TemplateName      string `yaml:"templateName"`
	Label             string `yaml:"label"`
	Image             string `yaml:"image"`
	LaunchType        string `yaml:"launchType"`
	NetworkMode       string `yaml:"networkMode"`
	AssignPublicIP    bool   `yaml:"assignPublicIp"`
	Subnets           string `yaml:"subnets"`
	SecurityGroups    string `yaml:"securityGroups"`
	CPU               int    `yaml:"cpu"`
	MemoryReservation int    `yaml:"memoryReservation"`
}

// TemplateName is the one task template's name in every cloud.
const TemplateName = "agent"

// Values that come from member accounts (tags) are checked against these
// before they reach the file: configuration-as-code interpolates `${...}`
// in every value (SecretSourceResolver), so a tag must not be able to
// smuggle a reference such as ${readFile:...} into Jenkins. None of the
// patterns admits '$', '{' or '^'.
var (
	// ECS: "Up to 255 letters (uppercase and lowercase), numbers,
	// underscores, and hyphens are allowed" (API_CreateCluster).
	clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	clusterARNRE  = regexp.MustCompile(`^arn:[a-z-]+:ecs:([a-z0-9-]+):([0-9]{12}):cluster/([A-Za-z0-9_-]{1,255})$`)
	// Jenkins label atoms, space-separated; conservative: no operators of
	// label expressions (&&, ||, !, parentheses) and no quoting.
	labelRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)*$`)
	// A container image reference: registry/repository[:tag][@digest].
	imageRE = regexp.MustCompile(`^[a-z0-9][A-Za-z0-9._/:@-]{0,254}$`)
	// What the hub publishes: checked too, as the file is Jenkins' input.
	subnetRE = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	groupRE  = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
	regionRE = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]+)+-[0-9]+$`)
	// A parameter name component the references may hold: no ':' (the
	// first ':' names a configuration-as-code lookup such as readFile:),
	// no '$', '{', '}', '^'.
	referenceRE = regexp.MustCompile(`^[A-Za-z0-9_./-]+$`)
)

// Generate builds the file for the ready agent VPCs, in account then VPC
// order, leaving out (and returning) those it cannot describe correctly:
// a cloud with a guessed cluster or label would run a team's builds in the
// wrong place, which is worse than none.
func Generate(vpcs []AgentVPC, s Settings) (File, []Skipped) {
	var f File
	f.Jenkins.Clouds = []Cloud{} // an empty fleet is `clouds: []`, still valid
	var skipped []Skipped
	sorted := slices.Clone(vpcs)
	slices.SortFunc(sorted, func(a, b AgentVPC) int {
		return strings.Compare(a.Document.Account+"/"+a.Document.VPCID, b.Document.Account+"/"+b.Document.VPCID)
	})
	for _, v := range sorted {
		c, err := cloud(v, s)
		if err != nil {
			skipped = append(skipped, Skipped{Account: v.Document.Account, VPC: v.Document.VPCID, Reason: err.Error()})
			continue
		}
		f.Jenkins.Clouds = append(f.Jenkins.Clouds, Cloud{ECS: c})
	}
	return f, skipped
}

// cloud is one agent VPC's cloud.
func cloud(v AgentVPC, s Settings) (ECSCloud, error) {
	d := v.Document
	if !arn.IsAccountID(d.Account) || !regionRE.MatchString(d.Region) {
		return ECSCloud{}, fmt.Errorf("the document names account %q and Region %q", d.Account, d.Region)
	}
	team, err := teamOf(v, s.Defaults)
	if err != nil {
		return ECSCloud{}, err
	}
	cluster, err := clusterARN(team.Cluster, d.Account, d.Region)
	if err != nil {
		return ECSCloud{}, err
	}
	if len(d.AgentSubnets) == 0 {
		return ECSCloud{}, fmt.Errorf("the document lists no agent subnets")
	}
	for _, sn := range d.AgentSubnets {
		if !subnetRE.MatchString(sn) {
			return ECSCloud{}, fmt.Errorf("the document's agent subnet %q is not a subnet id", sn)
		}
	}
	if !groupRE.MatchString(d.AgentSecurityGroup) {
		return ECSCloud{}, fmt.Errorf("the document's agent security group %q is not a security group id", d.AgentSecurityGroup)
	}
	base := s.ParameterPrefix + "/" + d.Account + "/" + d.VPCID + "/"
	tunnelRef, err := Reference(base+tunnel.TunnelName, s.SSMPrefix)
	if err != nil {
		return ECSCloud{}, err
	}
	c := ECSCloud{
		Name: "agents-" + d.Account + "-" + d.VPCID, CredentialsID: s.CredentialsID,
		Cluster: cluster, RegionName: d.Region, Tunnel: tunnelRef, JenkinsURL: s.JenkinsURL,
		Templates: []TaskTemplate{{
			TemplateName: TemplateName, Label: team.Label, Image: team.Image, LaunchType: s.LaunchType,
			NetworkMode: "awsvpc", AssignPublicIP: false, // the tunnel is private; agents need no public address
			Subnets: strings.Join(d.AgentSubnets, ","), SecurityGroups: d.AgentSecurityGroup,
			CPU: team.CPU, MemoryReservation: team.Memory,
		}},
	}
	if s.ECSRoleName != "" {
		c.AssumedRoleArn = arn.Role(d.Region, d.Account, s.ECSRoleName)
	}
	if v.JenkinsURLPublished {
		if c.JenkinsURL, err = Reference(base+tunnel.JenkinsURLName, s.SSMPrefix); err != nil {
			return ECSCloud{}, err
		}
	}
	return c, nil
}

// teamOf is the VPC's tags over the defaults, each checked.
func teamOf(v AgentVPC, def Team) (Team, error) {
	t := def
	tag := func(key string) (string, bool) { val, ok := v.Tags[key]; return strings.TrimSpace(val), ok }
	if val, ok := tag(TagCluster); ok {
		t.Cluster = val
	}
	if val, ok := tag(TagLabel); ok {
		t.Label = val
	}
	if val, ok := tag(TagImage); ok {
		t.Image = val
	}
	for _, n := range []struct {
		key string
		to  *int
	}{{TagCPU, &t.CPU}, {TagMemory, &t.Memory}} {
		if val, ok := tag(n.key); ok {
			i, err := strconv.Atoi(val)
			if err != nil || i <= 0 {
				return Team{}, fmt.Errorf("tag %s is %q, want a positive whole number", n.key, val)
			}
			*n.to = i
		}
	}
	switch {
	case t.Cluster == "":
		return Team{}, fmt.Errorf("no ECS cluster: tag the VPC %s or give a default", TagCluster)
	case !labelRE.MatchString(t.Label):
		return Team{}, fmt.Errorf("label %q (tag %s or the default) is not space-separated label names", t.Label, TagLabel)
	case !imageRE.MatchString(t.Image):
		return Team{}, fmt.Errorf("image %q (tag %s or the default) is not an image reference", t.Image, TagImage)
	case t.CPU <= 0 || t.Memory <= 0:
		return Team{}, fmt.Errorf("cpu %d and memory %d must be positive (tags %s, %s or the defaults)", t.CPU, t.Memory, TagCPU, TagMemory)
	}
	return t, nil
}

// clusterARN is the cluster as an ARN in the VPC's own account and
// Region: a tag names a cluster of its own account, never another's, so
// one team cannot point Jenkins at another team's cluster.
func clusterARN(cluster, account, region string) (string, error) {
	if m := clusterARNRE.FindStringSubmatch(cluster); m != nil {
		if m[1] != region || m[2] != account {
			return "", fmt.Errorf("cluster %s is not in the VPC's account %s and Region %s", cluster, account, region)
		}
		return cluster, nil
	}
	if !clusterNameRE.MatchString(cluster) {
		return "", fmt.Errorf("cluster %q (tag %s or the default) is neither an ECS cluster name nor its ARN", cluster, TagCluster)
	}
	return "arn:" + arn.Partition(region) + ":ecs:" + region + ":" + account + ":cluster/" + cluster, nil
}

// Reference is how the file names a parameter: `${key}` where the
// secret-ssm plugin reads key as the parameter ssmPrefix+key
// (configuration-as-code-secret-ssm-plugin, AwsSsmSecretSource.reveal:
// GetParameter(CASC_SSM_PREFIX + key), WithDecryption, the key taken
// as is, slashes included). Parameter Store names are hierarchies of '/'
// so a key with '/' is an ordinary name; it must hold no ':' (which would
// make configuration-as-code read the part before it as a lookup name).
func Reference(parameter, ssmPrefix string) (string, error) {
	key, ok := strings.CutPrefix(parameter, ssmPrefix)
	if !ok || key == "" {
		return "", fmt.Errorf("parameter %s is not under the controller's CASC_SSM_PREFIX %q", parameter, ssmPrefix)
	}
	if !referenceRE.MatchString(key) {
		return "", fmt.Errorf("parameter %s cannot be referred to as ${%s}", parameter, key)
	}
	return "${" + key + "}", nil
}

// YAML is the file as YAML, two-space indented.
func (f File) YAML() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("encoding the clouds, %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding the clouds, %w", err)
	}
	return b.Bytes(), nil
}
