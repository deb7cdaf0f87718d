package ssmsim

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

func TestPutParameterRules(t *testing.T) {
	url := startServer(t)
	c := ssm.NewFromConfig(awsConfig(url, hub, "x", ""))
	put := func(name, value string, overwrite bool, tags ...types.Tag) (*ssm.PutParameterOutput, error) {
		return c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value), Type: types.ParameterTypeString, Overwrite: aws.Bool(overwrite), Tags: tags})
	}
	out, err := put("/jav/222222222222/vpc-1/tunnel", "host:50000", false, types.Tag{Key: aws.String("managed-by"), Value: aws.String("jav")})
	if err != nil {
		t.Fatal(err)
	}
	if out.Version != 1 || out.Tier != types.ParameterTierStandard {
		t.Fatalf("put = version %d tier %s", out.Version, out.Tier)
	}
	_, err = put("/jav/222222222222/vpc-1/tunnel", "other:50000", false)
	wantCode(t, err, "ParameterAlreadyExists")
	if out, err = put("/jav/222222222222/vpc-1/tunnel", "other:50000", true); err != nil || out.Version != 2 {
		t.Fatalf("overwrite = %v, %v", out, err)
	}
	_, err = put("/jav/x", "v", true, types.Tag{Key: aws.String("k"), Value: aws.String("v")})
	wantCode(t, err, "ValidationException")

	deep := "/" + strings.Repeat("l/", 15) + "leaf"
	_, err = put(deep, "v", false)
	wantCode(t, err, "HierarchyLevelLimitExceededException")
	if _, err := put("/"+strings.Repeat("l/", 14)+"leaf", "v", false); err != nil {
		t.Fatalf("15 levels refused: %v", err)
	}
	_, err = put("/aws/x", "v", false)
	wantCode(t, err, "AccessDeniedException")
	_, err = put("/x", "", false)
	wantCode(t, err, "ValidationException")
	for _, bad := range []string{"aws-thing", "/SSM/x", "ssm", "a/b", "/a b", "/a$", "/a/"} {
		_, err = put(bad, "v", false)
		wantCode(t, err, "ValidationException")
	}
	_, err = put("/big", strings.Repeat("x", 4097), false)
	wantCode(t, err, "ValidationException")
	if _, err := put("/big", strings.Repeat("x", 4096), false); err != nil {
		t.Fatalf("4096 bytes refused: %v", err)
	}
	adv, err := c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String("/bigger"), Value: aws.String(strings.Repeat("x", 5000)), Type: types.ParameterTypeString, Tier: types.ParameterTierAdvanced})
	if err != nil || adv.Tier != types.ParameterTierAdvanced {
		t.Fatalf("advanced = %v, %v", adv, err)
	}
	_, err = c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String("/untyped"), Value: aws.String("v")})
	wantCode(t, err, "ValidationException")

	tags, err := c.ListTagsForResource(ctx(t), &ssm.ListTagsForResourceInput{ResourceType: types.ResourceTypeForTaggingParameter, ResourceId: aws.String("/jav/222222222222/vpc-1/tunnel")})
	if err != nil || len(tags.TagList) != 1 || *tags.TagList[0].Key != "managed-by" {
		t.Fatalf("tags = %v, %v", tags, err)
	}
	if _, err := c.AddTagsToResource(ctx(t), &ssm.AddTagsToResourceInput{ResourceType: types.ResourceTypeForTaggingParameter, ResourceId: aws.String("/jav/222222222222/vpc-1/tunnel"),
		Tags: []types.Tag{{Key: aws.String("vpc"), Value: aws.String("vpc-1")}}}); err != nil {
		t.Fatal(err)
	}
	tags, _ = c.ListTagsForResource(ctx(t), &ssm.ListTagsForResourceInput{ResourceType: types.ResourceTypeForTaggingParameter, ResourceId: aws.String("/jav/222222222222/vpc-1/tunnel")})
	if len(tags.TagList) != 2 {
		t.Fatalf("tags after add = %v", tags.TagList)
	}
	_, err = c.AddTagsToResource(ctx(t), &ssm.AddTagsToResourceInput{ResourceType: types.ResourceTypeForTaggingParameter, ResourceId: aws.String("/missing"),
		Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}})
	wantCode(t, err, "InvalidResourceId")
}

func TestGetAndDeleteParameters(t *testing.T) {
	url := startServer(t)
	c := ssm.NewFromConfig(awsConfig(url, hub, "x", ""))
	for _, n := range []string{"/a/1", "/a/2", "/a/b/3"} {
		if _, err := c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String(n), Value: aws.String("v" + n), Type: types.ParameterTypeString}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String("/a/secret"), Value: aws.String("s3cret"), Type: types.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/a/1")})
	if err != nil || *got.Parameter.Value != "v/a/1" || got.Parameter.Version != 1 || *got.Parameter.ARN != "arn:aws:ssm:"+region+":"+hub+":parameter/a/1" || got.Parameter.LastModifiedDate == nil {
		t.Fatalf("get = %+v, %v", got, err)
	}
	sec, _ := c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/a/secret")})
	dec, _ := c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/a/secret"), WithDecryption: aws.Bool(true)})
	if *sec.Parameter.Value == "s3cret" || *dec.Parameter.Value != "s3cret" {
		t.Fatalf("secure string = %q / %q", *sec.Parameter.Value, *dec.Parameter.Value)
	}
	_, err = c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/nope")})
	wantCode(t, err, "ParameterNotFound")
	// Another account sees nothing.
	_, err = ssm.NewFromConfig(awsConfig(url, member, "x", "")).GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/a/1")})
	wantCode(t, err, "ParameterNotFound")

	many, err := c.GetParameters(ctx(t), &ssm.GetParametersInput{Names: []string{"/a/1", "/nope", "/a/b/3"}})
	if err != nil || len(many.Parameters) != 2 || len(many.InvalidParameters) != 1 || many.InvalidParameters[0] != "/nope" {
		t.Fatalf("get parameters = %+v, %v", many, err)
	}
	_, err = c.GetParameters(ctx(t), &ssm.GetParametersInput{Names: strings.Split("1,2,3,4,5,6,7,8,9,10,11", ",")})
	wantCode(t, err, "ValidationException")

	del, err := c.DeleteParameters(ctx(t), &ssm.DeleteParametersInput{Names: []string{"/a/2", "/nope"}})
	if err != nil || len(del.DeletedParameters) != 1 || len(del.InvalidParameters) != 1 {
		t.Fatalf("delete parameters = %+v, %v", del, err)
	}
	if _, err := c.DeleteParameter(ctx(t), &ssm.DeleteParameterInput{Name: aws.String("/a/1")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteParameter(ctx(t), &ssm.DeleteParameterInput{Name: aws.String("/a/1")})
	wantCode(t, err, "ParameterNotFound")
}

func TestGetParametersByPathPages(t *testing.T) {
	url := startServer(t)
	c := ssm.NewFromConfig(awsConfig(url, hub, "x", ""))
	for i := range 23 {
		if _, err := c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String(fmt.Sprintf("/jav/%s/vpc-%02d/tunnel", member, i)), Value: aws.String("t"), Type: types.ParameterTypeString}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String("/jav/top"), Value: aws.String("t"), Type: types.ParameterTypeString}); err != nil {
		t.Fatal(err)
	}

	var names []string
	pages := 0
	p := ssm.NewGetParametersByPathPaginator(c, &ssm.GetParametersByPathInput{Path: aws.String("/jav"), Recursive: aws.Bool(true), MaxResults: aws.Int32(10)})
	for p.HasMorePages() && pages < 10 {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, par := range page.Parameters {
			names = append(names, *par.Name)
		}
	}
	if len(names) != 24 || pages != 3 {
		t.Fatalf("recursive: %d names in %d pages", len(names), pages)
	}
	// Pages follow one another in name order, each name once.
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != 24 {
		t.Fatalf("recursive: pages not in name order or repeating: %v", names)
	}
	one, err := c.GetParametersByPath(ctx(t), &ssm.GetParametersByPathInput{Path: aws.String("/jav/")})
	if err != nil || len(one.Parameters) != 1 || *one.Parameters[0].Name != "/jav/top" || one.NextToken != nil {
		t.Fatalf("one level = %+v, %v", one, err)
	}
	_, err = c.GetParametersByPath(ctx(t), &ssm.GetParametersByPathInput{Path: aws.String("/jav"), MaxResults: aws.Int32(11)})
	wantCode(t, err, "ValidationException")
	_, err = c.GetParametersByPath(ctx(t), &ssm.GetParametersByPathInput{Path: aws.String("jav")})
	wantCode(t, err, "ValidationException")
}

func TestDescribeParametersFilters(t *testing.T) {
	url := startServer(t)
	c := ssm.NewFromConfig(awsConfig(url, hub, "x", ""))
	for i := range 60 {
		if _, err := c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String(fmt.Sprintf("/jav/%s/vpc-%02d/tunnel", member, i)), Value: aws.String("t"), Type: types.ParameterTypeString}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String("/other/x"), Value: aws.String("t"), Type: types.ParameterTypeString}); err != nil {
		t.Fatal(err)
	}
	path := func(option string) []types.ParameterStringFilter {
		return []types.ParameterStringFilter{{Key: aws.String("Path"), Option: aws.String(option), Values: []string{"/jav"}}}
	}
	n, pages := 0, 0
	p := ssm.NewDescribeParametersPaginator(c, &ssm.DescribeParametersInput{ParameterFilters: path("Recursive")})
	for p.HasMorePages() && pages < 10 {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		n += len(page.Parameters)
	}
	if n != 60 || pages != 2 {
		t.Fatalf("recursive: %d parameters in %d pages, want 60 in 2", n, pages)
	}
	one, err := c.DescribeParameters(ctx(t), &ssm.DescribeParametersInput{ParameterFilters: path("OneLevel")})
	if err != nil || len(one.Parameters) != 0 {
		t.Fatalf("one level = %+v, %v", one, err)
	}
	byName, err := c.DescribeParameters(ctx(t), &ssm.DescribeParametersInput{ParameterFilters: []types.ParameterStringFilter{
		{Key: aws.String("Name"), Option: aws.String("BeginsWith"), Values: []string{"/other"}}}})
	if err != nil || len(byName.Parameters) != 1 {
		t.Fatalf("by name = %+v, %v", byName, err)
	}
	_, err = c.DescribeParameters(ctx(t), &ssm.DescribeParametersInput{ParameterFilters: []types.ParameterStringFilter{
		{Key: aws.String("KeyId"), Values: []string{"alias/x"}}}})
	wantCode(t, err, "InvalidFilterKey")
}
