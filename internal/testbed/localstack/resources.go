package localstack

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/aegisai/audit/internal/platform/awsconn"
)

// S3Config and DynamoConfig are client configs for the stack's servers.
func (s *Stack) S3Config() awsconn.Config {
	return awsconn.Config{Endpoint: s.S3Endpoint, AccessKey: AccessKey, SecretKey: SecretKey}
}

// DynamoConfig is the client config of the stack's DynamoDB.
func (s *Stack) DynamoConfig() awsconn.Config {
	return awsconn.Config{Endpoint: s.DynamoEndpoint, AccessKey: AccessKey, SecretKey: SecretKey}
}

// S3 returns a client of the stack's S3.
func (s *Stack) S3(ctx context.Context) (*s3.Client, error) { return awsconn.S3(ctx, s.S3Config()) }

// DynamoDB returns a client of the stack's DynamoDB.
func (s *Stack) DynamoDB(ctx context.Context) (*dynamodb.Client, error) {
	return awsconn.DynamoDB(ctx, s.DynamoConfig())
}

// CreateLockedBucket creates bucket with Object Lock enabled (which turns on
// versioning), unless it exists.
func CreateLockedBucket(ctx context.Context, cl *s3.Client, bucket string) error {
	_, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket), ObjectLockEnabledForBucket: aws.Bool(true)})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}
