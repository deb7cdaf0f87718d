package ssmsim

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/localaws/awsproto"
)

// Service is SSM Parameter Store, per account and Region.
type Service struct {
	clock awsproto.Clock
	mu    sync.RWMutex
	// params maps "<acct>/<region>" to parameters by name.
	params map[string]map[string]*parameter
	// advanced counts each scope's advanced-tier parameters (the quotas
	// are per tier).
	advanced map[string]int
}

type parameter struct {
	name, typ, value, tier, description, dataType string
	version                                       int64
	modified                                      time.Time
	tags                                          map[string]string
}

const (
	standardValueLimit = 4096
	advancedValueLimit = 8192
	// Parameters per account and Region: 10,000 standard, 100,000
	// advanced ("Systems Manager service quotas", AWS General Reference).
	parametersPerScope         = 10000
	advancedParametersPerScope = 100000
)

// New returns an empty Parameter Store that reads the time from c.
func New(c awsproto.Clock) *Service {
	return &Service{clock: c, params: map[string]map[string]*parameter{}, advanced: map[string]int{}}
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type putParameterInput struct {
	Name           string
	Value          *string
	Type           string
	Overwrite      bool
	Tier           string
	Description    string
	DataType       string
	Tags           []tag
	KeyID          string `json:"KeyId"`
	AllowedPattern string
}

var paramNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.\-/]+$`)

// checkName applies Parameter Store's naming rules.
func checkName(name string) *awsproto.Error {
	if name == "" || len(name) > 2048 {
		return awsproto.Errorf("ValidationException", "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must have length between 1 and 2048", name)
	}
	trimmed := strings.TrimPrefix(name, "/")
	low := strings.ToLower(trimmed)
	if strings.HasPrefix(low, "aws") || strings.HasPrefix(low, "ssm") {
		// As AWS answers (and moto reproduces): a path under /aws is
		// reserved (AccessDenied); any other aws/ssm prefix is invalid.
		isPath := strings.Count(name, "/") > 1
		if isPath && strings.HasPrefix(strings.ToLower(name), "/aws") {
			return &awsproto.Error{Code: "AccessDeniedException", Message: "No access to reserved parameter name: " + name + ".", Status: 400}
		}
		if !isPath {
			return awsproto.Errorf("ValidationException", "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).")
		}
		return awsproto.Errorf("ValidationException", "Parameter name: can't be prefixed with \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_")
	}
	if !paramNameRE.MatchString(name) || strings.Contains(name, "//") || strings.HasSuffix(name, "/") {
		return awsproto.Errorf("ValidationException", "Parameter name: it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_")
	}
	if strings.Contains(trimmed, "/") && !strings.HasPrefix(name, "/") {
		return awsproto.Errorf("ValidationException", "Parameter name must be a fully qualified name.")
	}
	if levels(name) > 15 {
		return &awsproto.Error{Code: "HierarchyLevelLimitExceededException", Message: "A hierarchy can have a maximum of 15 levels. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html", Status: 400}
	}
	return nil
}

func levels(name string) int {
	t := strings.Trim(name, "/")
	if t == "" {
		return 0
	}
	return strings.Count(t, "/") + 1
}

func scopeKey(account, region string) string { return account + "/" + region }

func parameterARN(account, region, name string) string {
	return "arn:aws:ssm:" + region + ":" + account + ":parameter/" + strings.TrimPrefix(name, "/")
}

// nameOf accepts a parameter name or its ARN (as SSM does).
func nameOf(s string) string {
	if strings.HasPrefix(s, "arn:aws:ssm:") {
		if i := strings.Index(s, ":parameter/"); i >= 0 {
			n := s[i+len(":parameter"):]
			if strings.Count(n, "/") == 1 {
				return n[1:]
			}
			return n
		}
	}
	return s
}

func (p *Service) put(account, region string, in putParameterInput) (*parameter, *awsproto.Error) {
	tier, err := checkPut(in)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	scope := p.params[scopeKey(account, region)]
	if scope == nil {
		scope = map[string]*parameter{}
		p.params[scopeKey(account, region)] = scope
	}
	now := p.clock.Now()
	sk := scopeKey(account, region)
	if old := scope[in.Name]; old != nil {
		was := old.tier
		par, err := overwrite(old, in, tier, now)
		if err == nil && was != "Advanced" && par.tier == "Advanced" {
			p.advanced[sk]++
		}
		return par, err
	}
	if in.Type == "" {
		return nil, awsproto.Errorf("ValidationException", "A parameter type is required when you create a parameter.")
	}
	if tier == "Standard" && len(scope)-p.advanced[sk] >= parametersPerScope {
		// "When this process causes you to exceed the 10,000 parameter
		// quota in the standard tier, Intelligent-Tiering automatically
		// upgrades you to the advanced parameter tier" ("Specifying a
		// default parameter tier", Systems Manager user guide); a call that
		// asks for Standard is refused.
		if in.Tier != "Intelligent-Tiering" {
			return nil, awsproto.Errorf("ParameterLimitExceeded", "You have reached the maximum number of parameters for your account. Please delete some parameters and try again.")
		}
		tier = "Advanced"
	}
	if tier == "Advanced" {
		if p.advanced[sk] >= advancedParametersPerScope {
			return nil, awsproto.Errorf("ParameterLimitExceeded", "You have reached the maximum number of parameters for your account. Please delete some parameters and try again.")
		}
		p.advanced[sk]++
	}
	np := &parameter{name: in.Name, typ: in.Type, value: *in.Value, tier: tier, description: in.Description,
		dataType: cmp.Or(in.DataType, "text"), version: 1, modified: now, tags: map[string]string{}}
	for _, t := range in.Tags {
		np.tags[t.Key] = t.Value
	}
	scope[in.Name] = np
	return np, nil
}

// checkPut validates a PutParameter call on its own, before the parameter
// it names is looked at, and returns the tier the value is stored in.
func checkPut(in putParameterInput) (tier string, _ *awsproto.Error) {
	if err := checkName(in.Name); err != nil {
		return "", err
	}
	if in.Value == nil {
		return "", awsproto.Errorf("ValidationException", "1 validation error detected: Value null at 'value' failed to satisfy constraint: Member must not be null")
	}
	if *in.Value == "" {
		return "", awsproto.Errorf("ValidationException", "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1.")
	}
	switch in.Type {
	case "", "String", "StringList", "SecureString":
	default:
		return "", awsproto.Errorf("ValidationException", "1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]", in.Type)
	}
	tier, err := putTier(in)
	if err != nil {
		return "", err
	}
	if tier == "Standard" && len(*in.Value) > standardValueLimit {
		return "", awsproto.Errorf("ValidationException", "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html")
	}
	if len(*in.Value) > advancedValueLimit {
		return "", awsproto.Errorf("ValidationException", "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length less than or equal to 8192")
	}
	if len(in.Tags) > 0 && in.Overwrite {
		return "", awsproto.Errorf("ValidationException", "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
	}
	if err := checkAllowedPattern(in); err != nil {
		return "", err
	}
	if in.DataType != "" && in.DataType != "text" && in.DataType != "aws:ec2:image" && in.DataType != "aws:ssm:integration" {
		return "", awsproto.Errorf("ValidationException", "The following data type is not supported: %s (Data type names are all lowercase.)", in.DataType)
	}
	return tier, nil
}

// putTier is the tier a PutParameter call asks for: Intelligent-Tiering
// picks Standard unless the value needs Advanced.
func putTier(in putParameterInput) (string, *awsproto.Error) {
	switch in.Tier {
	case "", "Standard":
		return "Standard", nil
	case "Advanced":
		return "Advanced", nil
	case "Intelligent-Tiering":
		if len(*in.Value) > standardValueLimit {
			return "Advanced", nil
		}
		return "Standard", nil
	}
	return "", awsproto.Errorf("ValidationException", "1 validation error detected: Value '%s' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]", in.Tier)
}

// checkAllowedPattern checks the value against the call's AllowedPattern,
// when it has one.
func checkAllowedPattern(in putParameterInput) *awsproto.Error {
	if in.AllowedPattern == "" {
		return nil
	}
	re, err := regexp.Compile(in.AllowedPattern)
	if err != nil {
		return awsproto.Errorf("InvalidAllowedPatternException", "The allowed pattern is not a valid regular expression.")
	}
	if !re.MatchString(*in.Value) {
		return awsproto.Errorf("ParameterPatternMismatchException", "Parameter value, cannot be validated against allowedPattern: %s", in.AllowedPattern)
	}
	return nil
}

// overwrite puts a new value into an existing parameter, when the call
// allows it; an advanced parameter stays advanced.
func overwrite(old *parameter, in putParameterInput, tier string, now time.Time) (*parameter, *awsproto.Error) {
	if !in.Overwrite {
		return nil, &awsproto.Error{Code: "ParameterAlreadyExists", Message: "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.", Status: 400}
	}
	if old.tier == "Advanced" && in.Tier == "Standard" {
		return nil, awsproto.Errorf("ValidationException", "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.")
	}
	if in.Type != "" {
		old.typ = in.Type
	}
	if old.tier == "Advanced" {
		tier = "Advanced"
	}
	if in.Description != "" {
		old.description = in.Description
	}
	old.value, old.tier, old.modified = *in.Value, tier, now
	old.version++
	return old, nil
}

// wireParameter is the Parameter shape of GetParameter(s) responses.
type wireParameter struct {
	Name             string
	Type             string
	Value            string
	Version          int64
	LastModifiedDate float64
	ARN              string
	DataType         string
	Selector         string `json:",omitempty"`
}

func (p *parameter) wire(account, region string, decrypt bool, selector string) wireParameter {
	v := p.value
	if p.typ == "SecureString" && !decrypt {
		v = base64.StdEncoding.EncodeToString([]byte("localaws-kms:" + p.value))
	}
	return wireParameter{Name: p.name, Type: p.typ, Value: v, Version: p.version,
		LastModifiedDate: float64(p.modified.UnixMilli()) / 1000, ARN: parameterARN(account, region, p.name),
		DataType: p.dataType, Selector: selector}
}

func (p *Service) lookup(account, region, ref string) (*parameter, string, bool) {
	name, selector := nameOf(ref), ""
	if i := strings.LastIndex(name, ":"); i > 0 {
		name, selector = name[:i], name[i:]
	}
	par := p.params[scopeKey(account, region)][name]
	if par == nil {
		return nil, "", false
	}
	if selector != "" {
		// Only the current version can be selected: history is not kept.
		v, err := strconv.ParseInt(selector[1:], 10, 64)
		if err != nil || v != par.version {
			return nil, "", false
		}
	}
	return par, selector, true
}

// Handle serves one SSM call (JSON 1.1 body) and returns the response body.
func (p *Service) Handle(call *awsproto.Call) ([]byte, error) {
	decode := call.DecodeJSON
	switch call.Action {
	case "PutParameter":
		return p.putParameter(call, decode)
	case "GetParameter":
		return p.getParameter(call, decode)
	case "GetParameters":
		return p.getParameters(call, decode)
	case "GetParametersByPath":
		return p.getByPath(call, decode)
	case "DeleteParameter":
		return p.deleteParameter(call, decode)
	case "DeleteParameters":
		return p.deleteParameters(call, decode)
	case "AddTagsToResource", "RemoveTagsFromResource", "ListTagsForResource":
		return p.tags(call, decode)
	case "DescribeParameters":
		return p.describe(call, decode)
	}
	return nil, awsproto.Errorf("UnknownOperationException", "Operation %s is not supported by localaws SSM.", call.Action)
}

// putParameter creates or overwrites a parameter.
func (p *Service) putParameter(call *awsproto.Call, decode func(any) *awsproto.Error) ([]byte, error) {
	acct, region := call.Account, call.Region
	var in putParameterInput
	if err := decode(&in); err != nil {
		return nil, err
	}
	par, err := p.put(acct, region, in)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"Version": par.version, "Tier": par.tier})
}

// getParameter reads one parameter, or one version of it.
func (p *Service) getParameter(call *awsproto.Call, decode func(any) *awsproto.Error) ([]byte, error) {
	acct, region := call.Account, call.Region
	var in struct {
		Name           string
		WithDecryption bool
	}
	if err := decode(&in); err != nil {
		return nil, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	par, sel, ok := p.lookup(acct, region, in.Name)
	if !ok {
		return nil, awsproto.Errorf("ParameterNotFound", "Parameter %s not found.", in.Name)
	}
	return json.Marshal(map[string]any{"Parameter": par.wire(acct, region, in.WithDecryption, sel)})
}

// getParameters reads up to ten parameters; those not found are listed, not refused.
func (p *Service) getParameters(call *awsproto.Call, decode func(any) *awsproto.Error) ([]byte, error) {
	acct, region := call.Account, call.Region
	var in struct {
		Names          []string
		WithDecryption bool
	}
	if err := decode(&in); err != nil {
		return nil, err
	}
	if len(in.Names) < 1 || len(in.Names) > 10 {
		return nil, awsproto.Errorf("ValidationException", "1 validation error detected: Value '[%s]' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1", strings.Join(in.Names, ", "))
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	found, invalid := []wireParameter{}, []string{}
	seen := map[string]bool{}
	for _, n := range in.Names {
		if seen[n] {
			continue
		}
		seen[n] = true
		if par, sel, ok := p.lookup(acct, region, n); ok {
			found = append(found, par.wire(acct, region, in.WithDecryption, sel))
		} else {
			invalid = append(invalid, n)
		}
	}
	return json.Marshal(map[string]any{"Parameters": found, "InvalidParameters": invalid})
}

// deleteParameter deletes one parameter.
func (p *Service) deleteParameter(call *awsproto.Call, decode func(any) *awsproto.Error) ([]byte, error) {
	acct, region := call.Account, call.Region
	var in struct{ Name string }
	if err := decode(&in); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	scope := p.params[scopeKey(acct, region)]
	if scope[in.Name] == nil {
		return nil, awsproto.Errorf("ParameterNotFound", "Parameter %s not found.", in.Name)
	}
	p.remove(scopeKey(acct, region), scope, in.Name)
	return []byte("{}"), nil
}

// remove deletes a parameter of a scope, keeping the tier counts.
func (p *Service) remove(sk string, scope map[string]*parameter, name string) {
	if scope[name].tier == "Advanced" {
		p.advanced[sk]--
	}
	delete(scope, name)
}

// deleteParameters deletes up to ten parameters; those not found are listed, not refused.
func (p *Service) deleteParameters(call *awsproto.Call, decode func(any) *awsproto.Error) ([]byte, error) {
	acct, region := call.Account, call.Region
	var in struct{ Names []string }
	if err := decode(&in); err != nil {
		return nil, err
	}
	if len(in.Names) < 1 || len(in.Names) > 10 {
		return nil, awsproto.Errorf("ValidationException", "1 validation error detected: Value '[%s]' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1", strings.Join(in.Names, ", "))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	scope := p.params[scopeKey(acct, region)]
	deleted, invalid := []string{}, []string{}
	for _, n := range in.Names {
		if scope[n] != nil {
			p.remove(scopeKey(acct, region), scope, n)
			deleted = append(deleted, n)
		} else {
			invalid = append(invalid, n)
		}
	}
	return json.Marshal(map[string]any{"DeletedParameters": deleted, "InvalidParameters": invalid})
}

func (p *Service) getByPath(call *awsproto.Call, decode func(any) *awsproto.Error) ([]byte, error) {
	var in struct {
		Path           string
		Recursive      bool
		WithDecryption bool
		MaxResults     *int
		NextToken      string
	}
	if err := decode(&in); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(in.Path, "/") {
		return nil, awsproto.Errorf("ValidationException", "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".")
	}
	low := strings.ToLower(strings.TrimPrefix(in.Path, "/"))
	if strings.HasPrefix(low, "aws") || strings.HasPrefix(low, "ssm") {
		return nil, awsproto.Errorf("ValidationException", "The parameter doesn't meet the parameter name requirements. The parameter name must not be prefixed with \"aws\" or \"ssm\" (case-insensitive).")
	}
	if levels(in.Path) > 15 {
		return nil, &awsproto.Error{Code: "HierarchyLevelLimitExceededException", Message: "A hierarchy can have a maximum of 15 levels.", Status: 400}
	}
	limit := 10
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 10 {
			return nil, awsproto.Errorf("ValidationException", "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 10", *in.MaxResults)
		}
		limit = *in.MaxResults
	}
	after := ""
	if in.NextToken != "" {
		a, ok := awsproto.ParsePageToken(in.NextToken)
		if !ok {
			return nil, awsproto.Errorf("ValidationException", "The specified token isn't valid.")
		}
		after = a
	}
	prefix := strings.TrimSuffix(in.Path, "/") + "/"
	p.mu.RLock()
	defer p.mu.RUnlock()
	names := firstNames{n: limit + 1}
	for n := range p.params[scopeKey(call.Account, call.Region)] {
		rest, ok := strings.CutPrefix(n, prefix)
		if !ok || rest == "" || (!in.Recursive && strings.Contains(rest, "/")) {
			continue
		}
		if n > after {
			names.add(n)
		}
	}
	out := map[string]any{}
	page := []wireParameter{}
	for i, n := range names.sorted {
		if i == limit {
			out["NextToken"] = awsproto.PageToken(names.sorted[i-1])
			break
		}
		page = append(page, p.params[scopeKey(call.Account, call.Region)][n].wire(call.Account, call.Region, in.WithDecryption, ""))
	}
	out["Parameters"] = page
	return json.Marshal(out)
}

func (p *Service) tags(call *awsproto.Call, decode func(any) *awsproto.Error) ([]byte, error) {
	var in struct {
		ResourceType string
		ResourceID   string `json:"ResourceId"`
		Tags         []tag
		TagKeys      []string
	}
	if err := decode(&in); err != nil {
		return nil, err
	}
	if in.ResourceType != "Parameter" {
		return nil, awsproto.Errorf("InvalidResourceType", "The resource type is not valid. localaws only tags parameters, not %q.", in.ResourceType)
	}
	if call.Action == "ListTagsForResource" {
		p.mu.RLock()
		defer p.mu.RUnlock()
	} else {
		p.mu.Lock()
		defer p.mu.Unlock()
	}
	par := p.params[scopeKey(call.Account, call.Region)][nameOf(in.ResourceID)]
	if par == nil {
		return nil, awsproto.Errorf("InvalidResourceId", "The resource ID \"%s\" is not valid. Verify the ID and try again.", in.ResourceID)
	}
	switch call.Action {
	case "AddTagsToResource":
		if len(in.Tags) == 0 {
			return nil, awsproto.Errorf("ValidationException", "1 validation error detected: Value '[]' at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1")
		}
		n := len(par.tags)
		for _, t := range in.Tags {
			if _, ok := par.tags[t.Key]; !ok {
				n++
			}
		}
		if n > 50 {
			return nil, awsproto.Errorf("TooManyTagsError", "The Targets parameter includes too many tags. Remove one or more tags and try the command again.")
		}
		for _, t := range in.Tags {
			par.tags[t.Key] = t.Value
		}
		return []byte("{}"), nil
	case "RemoveTagsFromResource":
		for _, k := range in.TagKeys {
			delete(par.tags, k)
		}
		return []byte("{}"), nil
	}
	list := []tag{}
	for k, v := range par.tags {
		list = append(list, tag{k, v})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Key < list[j].Key })
	return json.Marshal(map[string]any{"TagList": list})
}

// describe is DescribeParameters without filters beyond paging.
func (p *Service) describe(call *awsproto.Call, decode func(any) *awsproto.Error) ([]byte, error) {
	var in struct {
		MaxResults       *int
		NextToken        string
		ParameterFilters []struct {
			Key, Option string
			Values      []string
		}
	}
	if err := decode(&in); err != nil {
		return nil, err
	}
	var keep []func(name string) bool
	for _, f := range in.ParameterFilters {
		k, err := describeFilter(f.Key, f.Option, f.Values)
		if err != nil {
			return nil, err
		}
		keep = append(keep, k)
	}
	limit := 50
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 50 {
			return nil, awsproto.Errorf("ValidationException", "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50", *in.MaxResults)
		}
		limit = *in.MaxResults
	}
	after, _ := awsproto.ParsePageToken(in.NextToken)
	p.mu.RLock()
	defer p.mu.RUnlock()
	scope := p.params[scopeKey(call.Account, call.Region)]
	names := firstNames{n: limit + 1}
	for n := range scope {
		if n > after && !slices.ContainsFunc(keep, func(ok func(string) bool) bool { return !ok(n) }) {
			names.add(n)
		}
	}
	type meta struct {
		Name, Type, Tier, DataType, ARN string
		Description                     string `json:",omitempty"`
		Version                         int64
		LastModifiedDate                float64
	}
	out := map[string]any{}
	page := []meta{}
	for i, n := range names.sorted {
		if i == limit {
			out["NextToken"] = awsproto.PageToken(names.sorted[i-1])
			break
		}
		par := scope[n]
		page = append(page, meta{Name: n, Type: par.typ, Tier: par.tier, DataType: par.dataType, ARN: parameterARN(call.Account, call.Region, n),
			Description: par.description, Version: par.version, LastModifiedDate: float64(par.modified.UnixMilli()) / 1000})
	}
	out["Parameters"] = page
	return json.Marshal(out)
}

// describeFilter is the test a DescribeParameters filter puts names to.
// Path (Recursive or OneLevel, the default) and Name (Equals or
// BeginsWith) are the filters modelled; others are refused, not ignored.
func describeFilter(key, option string, values []string) (func(name string) bool, *awsproto.Error) {
	if len(values) == 0 {
		return nil, awsproto.Errorf("InvalidFilterValue", "The filter %s has no values.", key)
	}
	switch {
	case key == "Path" && (option == "" || option == "OneLevel" || option == "Recursive"):
		return pathFilter(values, option == "Recursive"), nil
	case key == "Name" && (option == "" || option == "Equals" || option == "BeginsWith"):
		return nameFilter(values, option == "BeginsWith"), nil
	case key == "Path" || key == "Name":
		return nil, awsproto.Errorf("InvalidFilterOption", "The filter option %q is not valid for key %s.", option, key)
	}
	return nil, awsproto.Errorf("InvalidFilterKey", "localaws models the Path and Name filters of DescribeParameters, not %q.", key)
}

// pathFilter keeps the names under one of the paths: directly under it,
// or at any depth when recursive.
func pathFilter(paths []string, recursive bool) func(name string) bool {
	return func(name string) bool {
		for _, v := range paths {
			rest, ok := strings.CutPrefix(name, strings.TrimSuffix(v, "/")+"/")
			if ok && rest != "" && (recursive || !strings.Contains(rest, "/")) {
				return true
			}
		}
		return false
	}
}

// nameFilter keeps the names equal to one of names or, when begins, that
// begin with one of them.
func nameFilter(names []string, begins bool) func(name string) bool {
	return func(name string) bool {
		for _, v := range names {
			if name == v || (begins && strings.HasPrefix(name, v)) {
				return true
			}
		}
		return false
	}
}

// Seed creates or overwrites a parameter, as the topology format seeds
// it: the type defaults to String.
func (p *Service) Seed(account, region, name, typ, value string) error {
	if _, err := p.put(account, region, putParameterInput{Name: name, Value: &value, Type: cmp.Or(typ, "String"), Overwrite: true}); err != nil {
		return err
	}
	return nil
}

// Parameter returns a parameter's current value, for tests and the runner.
func (p *Service) Parameter(account, region, name string) (value string, version int64, ok bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	par := p.params[scopeKey(account, region)][name]
	if par == nil {
		return "", 0, false
	}
	return par.value, par.version, true
}

// firstNames keeps the n smallest names it is given, in order: a page and
// whether another follows, without sorting every name of the account and
// Region for each page (paging 100,000 parameters, the advanced tier's
// ceiling, would sort them 10,000 times).
type firstNames struct {
	n      int
	sorted []string
}

func (f *firstNames) add(name string) {
	if len(f.sorted) == f.n && name >= f.sorted[f.n-1] {
		return
	}
	i, _ := slices.BinarySearch(f.sorted, name)
	f.sorted = slices.Insert(f.sorted, i, name)
	if len(f.sorted) > f.n {
		f.sorted = f.sorted[:f.n]
	}
}
