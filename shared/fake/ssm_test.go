package fake_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/jenkins-agent-vpcs/jenkins-agent-vpcs/shared/fake"
)

func TestPutParameterRules(t *testing.T) {
	deep := "/" + strings.Repeat("l/", 14) + "leaf" // 15 levels
	tests := []struct {
		name string
		in   ssm.PutParameterInput
		code string
	}{
		{"plain", ssm.PutParameterInput{Name: aws.String("/jenkins/a/tunnel"), Value: aws.String("v")}, ""},
		{"15 levels", ssm.PutParameterInput{Name: aws.String(deep), Value: aws.String("v")}, ""},
		{"16 levels", ssm.PutParameterInput{Name: aws.String(deep + "/x"), Value: aws.String("v")}, "HierarchyLevelLimitExceededException"},
		{"bad character", ssm.PutParameterInput{Name: aws.String("/jenkins/a b"), Value: aws.String("v")}, "ValidationException"},
		{"aws prefix", ssm.PutParameterInput{Name: aws.String("/AWS/x"), Value: aws.String("v")}, "ValidationException"},
		{"ssm prefix", ssm.PutParameterInput{Name: aws.String("ssm-x"), Value: aws.String("v")}, "ValidationException"},
		{"hierarchy without leading slash", ssm.PutParameterInput{Name: aws.String("jenkins/x"), Value: aws.String("v")}, "ValidationException"},
		{"empty value", ssm.PutParameterInput{Name: aws.String("/jenkins/x"), Value: aws.String("")}, "ValidationException"},
		{"4096 bytes", ssm.PutParameterInput{Name: aws.String("/jenkins/x"), Value: aws.String(strings.Repeat("x", 4096))}, ""},
		{"4097 bytes", ssm.PutParameterInput{Name: aws.String("/jenkins/x"), Value: aws.String(strings.Repeat("x", 4097))}, "ValidationException"},
		{"4097 bytes advanced", ssm.PutParameterInput{Name: aws.String("/jenkins/x"), Value: aws.String(strings.Repeat("x", 4097)), Tier: types.ParameterTierAdvanced}, ""},
		{"existing without overwrite", ssm.PutParameterInput{Name: aws.String("/jenkins/existing"), Value: aws.String("v")}, "ParameterAlreadyExists"},
		{"existing with overwrite", ssm.PutParameterInput{Name: aws.String("/jenkins/existing"), Value: aws.String("v"), Overwrite: aws.Bool(true)}, ""},
		{"tags with overwrite", ssm.PutParameterInput{Name: aws.String("/jenkins/new"), Value: aws.String("v"), Overwrite: aws.Bool(true), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}, "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := fake.NewWorld(fake.Options{})
			api := w.SSM(hub)
			if _, err := api.PutParameter(t.Context(), &ssm.PutParameterInput{Name: aws.String("/jenkins/existing"), Value: aws.String("old")}); err != nil {
				t.Fatal(err)
			}
			_, err := api.PutParameter(t.Context(), &tt.in)
			if code(err) != tt.code {
				t.Fatalf("error %v, want %q", err, tt.code)
			}
			_, stored := w.Parameter(hub, *tt.in.Name)
			if want := tt.code == "" || *tt.in.Name == "/jenkins/existing"; stored != want {
				t.Errorf("stored = %v, want %v", stored, want)
			}
		})
	}
}

func TestParameterVersionsDatesAndTags(t *testing.T) {
	clock := fake.NewClock(epoch)
	w := fake.NewWorld(fake.Options{Clock: clock})
	api := w.SSM(hub)
	name := "/jenkins/222222222222/vpc-1/tunnel"
	out, err := api.PutParameter(t.Context(), &ssm.PutParameterInput{Name: &name, Value: aws.String("a:50000"), Tags: []types.Tag{{Key: aws.String("managed-by"), Value: aws.String("x")}}})
	if err != nil || out.Version != 1 || out.Tier != types.ParameterTierStandard {
		t.Fatalf("create: %v %+v", err, out)
	}
	clock.Advance(time.Minute)
	out, err = api.PutParameter(t.Context(), &ssm.PutParameterInput{Name: &name, Value: aws.String("a:50000"), Overwrite: aws.Bool(true)})
	if err != nil || out.Version != 2 {
		t.Fatalf("overwrite with the same value still makes a version: %v %+v", err, out)
	}
	got, err := api.GetParameter(t.Context(), &ssm.GetParameterInput{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	p := got.Parameter
	if *p.Value != "a:50000" || p.Version != 2 || !p.LastModifiedDate.Equal(epoch.Add(time.Minute)) || p.Type != types.ParameterTypeString {
		t.Errorf("parameter %+v", p)
	}
	if *p.ARN != "arn:aws:ssm:us-east-1:"+hub+":parameter/jenkins/222222222222/vpc-1/tunnel" {
		t.Errorf("ARN %s", *p.ARN)
	}
	if tags := w.ParameterTags(hub, name); tags["managed-by"] != "x" {
		t.Errorf("tags %v", tags)
	}
	if _, err := api.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/nope")}); code(err) != "ParameterNotFound" {
		t.Errorf("missing: %v", err)
	}
	// Parameters are per account.
	if _, err := w.SSM(spoke).GetParameter(t.Context(), &ssm.GetParameterInput{Name: &name}); code(err) != "ParameterNotFound" {
		t.Errorf("other account: %v", err)
	}
}

func TestGetParametersAndDeletes(t *testing.T) {
	w := fake.NewWorld(fake.Options{})
	api := w.SSM(hub)
	for _, n := range []string{"/j/a", "/j/b", "/j/c"} {
		if _, err := api.PutParameter(t.Context(), &ssm.PutParameterInput{Name: aws.String(n), Value: aws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := api.GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"/j/a", "/j/x", "/j/c"}})
	if err != nil || len(out.Parameters) != 2 || !slices.Equal(out.InvalidParameters, []string{"/j/x"}) {
		t.Errorf("GetParameters: %v %+v", err, out)
	}
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = "/j/a"
	}
	if _, err := api.GetParameters(t.Context(), &ssm.GetParametersInput{Names: eleven}); code(err) != "ValidationException" {
		t.Errorf("11 names: %v", err)
	}
	del, err := api.DeleteParameters(t.Context(), &ssm.DeleteParametersInput{Names: []string{"/j/a", "/j/x"}})
	if err != nil || !slices.Equal(del.DeletedParameters, []string{"/j/a"}) || !slices.Equal(del.InvalidParameters, []string{"/j/x"}) {
		t.Errorf("DeleteParameters: %v %+v", err, del)
	}
	if _, err := api.DeleteParameter(t.Context(), &ssm.DeleteParameterInput{Name: aws.String("/j/b")}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.DeleteParameter(t.Context(), &ssm.DeleteParameterInput{Name: aws.String("/j/b")}); code(err) != "ParameterNotFound" {
		t.Errorf("second delete: %v", err)
	}
	if names := w.ParameterNames(hub); !slices.Equal(names, []string{"/j/c"}) {
		t.Errorf("left %v", names)
	}
}

func TestGetParametersByPath(t *testing.T) {
	w := fake.NewWorld(fake.Options{})
	api := w.SSM(hub)
	var deep []string
	for i := range 13 {
		n := "/jenkins/" + spoke + "/vpc-" + string(rune('a'+i)) + "/tunnel"
		deep = append(deep, n)
		if _, err := api.PutParameter(t.Context(), &ssm.PutParameterInput{Name: aws.String(n), Value: aws.String("v")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"/jenkins/top", "/jenkinsx/a", "/jenkins"} {
		if _, err := api.PutParameter(t.Context(), &ssm.PutParameterInput{Name: aws.String(n), Value: aws.String("v")}); err != nil {
			t.Fatal(err)
		}
	}
	all := func(in *ssm.GetParametersByPathInput) ([]string, int) {
		var names []string
		pages := 0
		p := ssm.NewGetParametersByPathPaginator(api, in)
		for p.HasMorePages() {
			out, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, par := range out.Parameters {
				names = append(names, *par.Name)
			}
		}
		return names, pages
	}
	names, pages := all(&ssm.GetParametersByPathInput{Path: aws.String("/jenkins"), Recursive: aws.Bool(true)})
	want := append(slices.Clone(deep), "/jenkins/top")
	slices.Sort(want)
	if pages != 2 || !slices.Equal(names, want) {
		t.Errorf("recursive: %d pages %v", pages, names)
	}
	names, _ = all(&ssm.GetParametersByPathInput{Path: aws.String("/jenkins/")})
	if !slices.Equal(names, []string{"/jenkins/top"}) {
		t.Errorf("one level: %v", names)
	}
	names, pages = all(&ssm.GetParametersByPathInput{Path: aws.String("/jenkins/" + spoke), Recursive: aws.Bool(true), MaxResults: aws.Int32(5)})
	if pages != 3 || len(names) != 13 {
		t.Errorf("MaxResults 5: %d pages, %d names", pages, len(names))
	}
	if _, err := api.GetParametersByPath(t.Context(), &ssm.GetParametersByPathInput{Path: aws.String("/jenkins"), MaxResults: aws.Int32(11)}); code(err) != "ValidationException" {
		t.Errorf("MaxResults 11: %v", err)
	}
	if _, err := api.GetParametersByPath(t.Context(), &ssm.GetParametersByPathInput{Path: aws.String("jenkins")}); code(err) != "ValidationException" {
		t.Errorf("relative path: %v", err)
	}
	if _, err := api.GetParametersByPath(t.Context(), &ssm.GetParametersByPathInput{Path: aws.String("/jenkins"), NextToken: aws.String("junk!")}); code(err) != "InvalidNextToken" {
		t.Errorf("bad token: %v", err)
	}
}

func TestDescribeParametersByPath(t *testing.T) {
	w := fake.NewWorld(fake.Options{})
	s := w.SSM("111111111111")
	ctx := context.Background()
	for i := range 120 {
		name := fmt.Sprintf("/p/%012d/vpc-%d/tunnel", 200000000000+i%7, i)
		if _, err := s.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String("v"), Type: "String"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/other/x"), Value: aws.String("v"), Type: "String"}); err != nil {
		t.Fatal(err)
	}
	p := ssm.NewDescribeParametersPaginator(s, &ssm.DescribeParametersInput{ParameterFilters: []types.ParameterStringFilter{
		{Key: aws.String("Path"), Option: aws.String("Recursive"), Values: []string{"/p"}}}})
	n, pages := 0, 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		n += len(page.Parameters)
	}
	if n != 120 || pages != 3 {
		t.Fatalf("got %d parameters in %d pages, want 120 in 3", n, pages)
	}
	oneLevel, err := s.DescribeParameters(ctx, &ssm.DescribeParametersInput{ParameterFilters: []types.ParameterStringFilter{
		{Key: aws.String("Path"), Option: aws.String("OneLevel"), Values: []string{"/p"}}}})
	if err != nil || len(oneLevel.Parameters) != 0 {
		t.Fatalf("one level below /p holds no parameter: %v %v", oneLevel, err)
	}
}
