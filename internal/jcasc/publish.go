package jcasc

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/pace"
)

// ParameterStore is what Publish calls.
type ParameterStore interface {
	GetParametersByPath(ctx context.Context, in *ssm.GetParametersByPathInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, optFns ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	DeleteParameters(ctx context.Context, in *ssm.DeleteParametersInput, optFns ...func(*ssm.Options)) (*ssm.DeleteParametersOutput, error)
}

var _ ParameterStore = (*ssm.Client)(nil)

// standardValueLimit is the standard tier's value limit: "Standard
// parameters have a value limit of 4 KB. Advanced parameters have a value
// limit of 8 KB" (the SSM API model, PutParameterInput.Value).
const standardValueLimit = 4096

// Publication writes the file to Parameter Store as one parameter per
// cloud, each a complete configuration-as-code file of one cloud, under
// Path: `<Path>/<cloud name>`.
//
// One parameter for the whole file would not do: a cloud is about 700
// bytes, so the standard tier's 4 KB holds five clouds and the advanced
// tier's 8 KB (charged, and never back to standard) about eleven. One
// cloud always fits the standard tier, and a reader that writes each value
// to its own file in the CASC_JENKINS_CONFIG directory gets the same
// clouds, since configuration-as-code appends the lists of several files.
// Path must lie outside the agent VPCs' prefix, whose first level the
// reconciler reads as account ids.
type Publication struct {
	SSM  ParameterStore
	Path string // no trailing slash
	// Pace, when set, is waited on before every write (PutParameter is
	// slow: about 3 per second per account).
	Pace *pace.Bucket
}

// Publish makes the parameters under Path the file's clouds: writes
// those that differ, deletes those of clouds that are gone. It returns
// the names written and deleted.
func (p Publication) Publish(ctx context.Context, f File) (wrote, deleted []string, err error) {
	want := map[string]string{}
	for _, c := range f.Jenkins.Clouds {
		var one File
		one.Jenkins.Clouds = []Cloud{c}
		b, err := one.YAML()
		if err != nil {
			return nil, nil, err
		}
		if len(b) > standardValueLimit {
			return nil, nil, fmt.Errorf("cloud %s is %d bytes, over the standard tier's %d", c.ECS.Name, len(b), standardValueLimit)
		}
		want[p.Path+"/"+c.ECS.Name] = string(b)
	}
	have, err := p.stored(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if have[name] == want[name] {
			continue
		}
		if err := p.Pace.Wait(ctx); err != nil {
			return wrote, nil, err
		}
		if _, err := p.SSM.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(want[name]),
			Type: ssmtypes.ParameterTypeString, Tier: ssmtypes.ParameterTierStandard, Overwrite: aws.Bool(true),
			Description: aws.String("jenkins-agent-vpcs: one generated JCasC cloud (agentvpcs jcasc -publish)")}); err != nil {
			return wrote, nil, fmt.Errorf("writing parameter %s, %w", name, err)
		}
		wrote = append(wrote, name)
	}
	var gone []string
	for name := range have {
		if _, ok := want[name]; !ok {
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	for start := 0; start < len(gone); start += 10 { // DeleteParameters takes at most 10 names
		batch := gone[start:min(start+10, len(gone))]
		if err := p.Pace.Wait(ctx); err != nil {
			return wrote, deleted, err
		}
		out, err := p.SSM.DeleteParameters(ctx, &ssm.DeleteParametersInput{Names: batch})
		if err != nil {
			return wrote, deleted, fmt.Errorf("deleting parameters %v, %w", batch, err)
		}
		deleted = append(deleted, out.DeletedParameters...)
	}
	return wrote, deleted, nil
}

// stored is the parameters directly under Path, by name.
func (p Publication) stored(ctx context.Context) (map[string]string, error) {
	have := map[string]string{}
	pages := ssm.NewGetParametersByPathPaginator(p.SSM, &ssm.GetParametersByPathInput{Path: aws.String(p.Path), MaxResults: aws.Int32(10)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the parameters under %s, %w", p.Path, err)
		}
		for _, prm := range page.Parameters {
			have[aws.ToString(prm.Name)] = aws.ToString(prm.Value)
		}
	}
	return have, nil
}

// CheckPublicationPath refuses a path inside the agent VPCs' prefix.
func CheckPublicationPath(path, parameterPrefix string) error {
	if path == parameterPrefix || strings.HasPrefix(path, parameterPrefix+"/") {
		return fmt.Errorf("publication path %s is inside %s, where the reconciler reads every first level as an account", path, parameterPrefix)
	}
	if !strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/") || strings.Contains(path, "//") {
		return fmt.Errorf("publication path %q is not a parameter path such as /jenkins-agent-vpcs-jcasc", path)
	}
	return nil
}
