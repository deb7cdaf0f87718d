package fake

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// SSM is one account's view of SSM Parameter Store.
type SSM struct{ view }

// SSM returns Parameter Store as acct's root principal.
func (w *World) SSM(acct string) *SSM { return &SSM{w.view(acct, "")} }

// SSMAs returns Parameter Store as principal of acct.
func (w *World) SSMAs(acct, principal string) *SSM { return &SSM{w.view(acct, principal)} }

// Limits of the standard tier that the fake enforces.
const (
	ssmStandardValueBytes = 4096
	ssmAdvancedValueBytes = 8192
	ssmMaxLevels          = 15
	ssmMaxParameters      = 10000
	ssmMaxNameLength      = 1011
)

type parameter struct {
	name, value, typ, description, dataType string
	tier                                    types.ParameterTier
	version                                 int64
	modified                                time.Time
	tags                                    map[string]string
}

// Parameter returns the current value of a parameter, for assertions.
func (w *World) Parameter(acct, name string) (value string, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.account(acct).params[name]
	if p == nil {
		return "", false
	}
	return p.value, true
}

// ParameterNames returns the names of acct's parameters, sorted.
func (w *World) ParameterNames(acct string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return sortedKeys(w.account(acct).params)
}

// ParameterTags returns a parameter's tags, for assertions.
func (w *World) ParameterTags(acct, name string) map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p := w.account(acct).params[name]; p != nil {
		return copyTags(p.tags)
	}
	return nil
}

func validationf(format string, args ...any) error {
	return apiError("ValidationException", format, args...)
}

// validName applies Parameter Store's naming rules.
func validName(name string) error {
	if name == "" {
		return validationf("1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(name) > ssmMaxNameLength {
		return validationf("1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length less than or equal to %d", ssmMaxNameLength)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.-/", r)) {
			return validationf("Parameter name: can't contain the character %q. Only a-zA-Z0-9_.-/ are allowed", r)
		}
	}
	lower := strings.ToLower(strings.TrimPrefix(name, "/"))
	if strings.HasPrefix(lower, "aws") || strings.HasPrefix(lower, "ssm") {
		return validationf("Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).")
	}
	if strings.Contains(name, "/") && (!strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//")) {
		return validationf("Parameter name must be a fully qualified name: a hierarchy starts with / and has no empty level.")
	}
	if levels(name) > ssmMaxLevels {
		return apiError("HierarchyLevelLimitExceededException", "A hierarchy can have a maximum of %d levels.", ssmMaxLevels)
	}
	return nil
}

func levels(name string) int {
	return len(strings.Split(strings.Trim(name, "/"), "/"))
}

func (s *SSM) arn(name string) string {
	return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", s.w.region, s.account, strings.TrimPrefix(name, "/"))
}

func (s *SSM) out(p *parameter, decrypt bool) types.Parameter {
	v := p.value
	if p.typ == string(types.ParameterTypeSecureString) && !decrypt {
		v = base64.StdEncoding.EncodeToString([]byte("fake-kms-ciphertext:" + p.value))
	}
	return types.Parameter{
		Name: aws.String(p.name), Value: aws.String(v), Type: types.ParameterType(p.typ), Version: p.version,
		LastModifiedDate: aws.Time(p.modified), ARN: aws.String(s.arn(p.name)), DataType: aws.String(p.dataType),
	}
}

func (s *SSM) PutParameter(ctx context.Context, in *ssm.PutParameterInput, optFns ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	return call(s.view, ctx, "ssm", "PutParameter", func(a *account) (*ssm.PutParameterOutput, error) {
		name := aws.ToString(in.Name)
		if err := validName(name); err != nil {
			return nil, err
		}
		if in.Value == nil || *in.Value == "" {
			return nil, validationf("1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1")
		}
		tier := in.Tier
		if tier == "" || tier == types.ParameterTierIntelligentTiering {
			tier = types.ParameterTierStandard
			if len(*in.Value) > ssmStandardValueBytes && in.Tier == types.ParameterTierIntelligentTiering {
				tier = types.ParameterTierAdvanced
			}
		}
		limit := ssmStandardValueBytes
		if tier == types.ParameterTierAdvanced {
			limit = ssmAdvancedValueBytes
		}
		if len(*in.Value) > limit {
			return nil, validationf("%s tier parameters support a maximum parameter value of %d characters.", tier, limit)
		}
		switch in.Type {
		case "", types.ParameterTypeString, types.ParameterTypeStringList, types.ParameterTypeSecureString:
		default:
			return nil, validationf("1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]", in.Type)
		}
		overwrite := aws.ToBool(in.Overwrite)
		if overwrite && len(in.Tags) > 0 {
			return nil, validationf("Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
		}
		now := s.w.clock.Now()
		p := a.params[name]
		if p != nil {
			if !overwrite {
				return nil, apiError("ParameterAlreadyExists", "The parameter already exists. To overwrite this request, set the overwrite option in the request to true.")
			}
			if in.Type != "" && string(in.Type) != p.typ {
				// AWS lets a String become a StringList and back, but not a SecureString.
				if in.Type == types.ParameterTypeSecureString || p.typ == string(types.ParameterTypeSecureString) {
					return nil, apiError("HierarchyTypeMismatchException", "The parameter type can't be changed to or from SecureString.")
				}
				p.typ = string(in.Type)
			}
			p.value, p.version, p.modified, p.tier = *in.Value, p.version+1, now, tier
			if in.Description != nil {
				p.description = *in.Description
			}
			return &ssm.PutParameterOutput{Version: p.version, Tier: p.tier}, nil
		}
		if len(a.params) >= ssmMaxParameters && tier == types.ParameterTierStandard {
			return nil, apiError("ParameterLimitExceeded", "You have exceeded the number of parameters for this AWS account. Delete one or more parameters and try again.")
		}
		tags := map[string]string{}
		for _, t := range in.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		typ := string(in.Type)
		if typ == "" {
			typ = string(types.ParameterTypeString)
		}
		dataType := aws.ToString(in.DataType)
		if dataType == "" {
			dataType = "text"
		}
		a.params[name] = &parameter{
			name: name, value: *in.Value, typ: typ, description: aws.ToString(in.Description), dataType: dataType,
			tier: tier, version: 1, modified: now, tags: tags,
		}
		return &ssm.PutParameterOutput{Version: 1, Tier: tier}, nil
	})
}

func (s *SSM) GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return call(s.view, ctx, "ssm", "GetParameter", func(a *account) (*ssm.GetParameterOutput, error) {
		name := aws.ToString(in.Name)
		if name == "" {
			return nil, validationf("1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1")
		}
		p := a.params[name]
		if p == nil {
			return nil, apiError("ParameterNotFound", "Parameter %s not found.", name)
		}
		out := s.out(p, aws.ToBool(in.WithDecryption))
		return &ssm.GetParameterOutput{Parameter: &out}, nil
	})
}

func (s *SSM) GetParameters(ctx context.Context, in *ssm.GetParametersInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersOutput, error) {
	return call(s.view, ctx, "ssm", "GetParameters", func(a *account) (*ssm.GetParametersOutput, error) {
		if len(in.Names) == 0 || len(in.Names) > 10 {
			return nil, validationf("1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1")
		}
		out := &ssm.GetParametersOutput{Parameters: []types.Parameter{}, InvalidParameters: []string{}}
		for _, name := range in.Names {
			if p := a.params[name]; p != nil {
				out.Parameters = append(out.Parameters, s.out(p, aws.ToBool(in.WithDecryption)))
			} else if !slices.Contains(out.InvalidParameters, name) {
				out.InvalidParameters = append(out.InvalidParameters, name)
			}
		}
		return out, nil
	})
}

// GetParametersByPath returns the parameters below Path (one level, or all
// with Recursive), sorted by name, at most 10 per page.
func (s *SSM) GetParametersByPath(ctx context.Context, in *ssm.GetParametersByPathInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error) {
	return call(s.view, ctx, "ssm", "GetParametersByPath", func(a *account) (*ssm.GetParametersByPathOutput, error) {
		path := aws.ToString(in.Path)
		if !strings.HasPrefix(path, "/") {
			return nil, validationf("The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".")
		}
		if path != "/" && levels(path) > ssmMaxLevels {
			return nil, apiError("HierarchyLevelLimitExceededException", "A hierarchy can have a maximum of %d levels.", ssmMaxLevels)
		}
		if len(in.ParameterFilters) > 0 {
			return nil, validationf("fake: ParameterFilters are not modelled")
		}
		prefix := strings.TrimSuffix(path, "/") + "/"
		var found []*parameter
		for _, p := range a.params {
			rest, ok := strings.CutPrefix(p.name, prefix)
			if !ok || rest == "" || (!aws.ToBool(in.Recursive) && strings.Contains(rest, "/")) {
				continue
			}
			found = append(found, p)
		}
		items, next, err := page(found, func(p *parameter) string { return p.name }, in.MaxResults, in.NextToken, ssmPaging)
		if err != nil {
			return nil, err
		}
		out := &ssm.GetParametersByPathOutput{NextToken: next, Parameters: []types.Parameter{}}
		for _, p := range items {
			out.Parameters = append(out.Parameters, s.out(p, aws.ToBool(in.WithDecryption)))
		}
		return out, nil
	})
}

// DescribeParameters lists parameter metadata (no values). Only the Path
// filter (Option Recursive or OneLevel) is modelled; other filters are
// refused rather than ignored.
func (s *SSM) DescribeParameters(ctx context.Context, in *ssm.DescribeParametersInput, optFns ...func(*ssm.Options)) (*ssm.DescribeParametersOutput, error) {
	return call(s.view, ctx, "ssm", "DescribeParameters", func(a *account) (*ssm.DescribeParametersOutput, error) {
		if len(in.Filters) > 0 {
			return nil, validationf("fake: Filters are not modelled; use ParameterFilters")
		}
		prefix, recursive := "/", true
		for _, f := range in.ParameterFilters {
			if aws.ToString(f.Key) != "Path" || len(f.Values) != 1 {
				return nil, validationf("fake: only a Path filter with one value is modelled")
			}
			prefix = strings.TrimSuffix(f.Values[0], "/") + "/"
			recursive = aws.ToString(f.Option) == "Recursive"
		}
		var found []*parameter
		for _, p := range a.params {
			rest, ok := strings.CutPrefix(p.name, prefix)
			if !ok || rest == "" || (!recursive && strings.Contains(rest, "/")) {
				continue
			}
			found = append(found, p)
		}
		items, next, err := page(found, func(p *parameter) string { return p.name }, in.MaxResults, in.NextToken, ssmDescribe)
		if err != nil {
			return nil, err
		}
		out := &ssm.DescribeParametersOutput{NextToken: next, Parameters: []types.ParameterMetadata{}}
		for _, p := range items {
			out.Parameters = append(out.Parameters, types.ParameterMetadata{Name: aws.String(p.name), Type: types.ParameterType(p.typ),
				Version: p.version, LastModifiedDate: aws.Time(p.modified), ARN: aws.String(s.arn(p.name)), DataType: aws.String(p.dataType)})
		}
		return out, nil
	})
}

func (s *SSM) DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, optFns ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error) {
	return call(s.view, ctx, "ssm", "DeleteParameter", func(a *account) (*ssm.DeleteParameterOutput, error) {
		name := aws.ToString(in.Name)
		if a.params[name] == nil {
			return nil, apiError("ParameterNotFound", "Parameter %s not found.", name)
		}
		delete(a.params, name)
		return &ssm.DeleteParameterOutput{}, nil
	})
}

func (s *SSM) DeleteParameters(ctx context.Context, in *ssm.DeleteParametersInput, optFns ...func(*ssm.Options)) (*ssm.DeleteParametersOutput, error) {
	return call(s.view, ctx, "ssm", "DeleteParameters", func(a *account) (*ssm.DeleteParametersOutput, error) {
		if len(in.Names) == 0 || len(in.Names) > 10 {
			return nil, validationf("1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1")
		}
		out := &ssm.DeleteParametersOutput{DeletedParameters: []string{}, InvalidParameters: []string{}}
		for _, name := range in.Names {
			if a.params[name] != nil {
				delete(a.params, name)
				out.DeletedParameters = append(out.DeletedParameters, name)
			} else if !slices.Contains(out.DeletedParameters, name) && !slices.Contains(out.InvalidParameters, name) {
				out.InvalidParameters = append(out.InvalidParameters, name)
			}
		}
		return out, nil
	})
}
