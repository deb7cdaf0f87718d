package function_test

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func createTags(resource, key, value string) *ec2.CreateTagsInput {
	return &ec2.CreateTagsInput{Resources: []string{resource}, Tags: []types.Tag{{Key: aws.String(key), Value: aws.String(value)}}}
}

func deleteTags(resource, key string) *ec2.DeleteTagsInput {
	return &ec2.DeleteTagsInput{Resources: []string{resource}, Tags: []types.Tag{{Key: aws.String(key)}}}
}
