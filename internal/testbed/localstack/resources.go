package localstack

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/aegisai/audit/internal/platform/awsconn"
)

// setCredentials gives the stack's own servers' static credentials to its
// clients.
func (s *Stack) setCredentials() {
	s.s3 = awsconn.Config{AccessKeyID: AccessKey, SecretAccessKey: SecretKey}
	s.dynamo = awsconn.Config{AccessKeyID: DynamoAccessKey, SecretAccessKey: DynamoSecretKey}
}

// S3Config is the client config of the stack's S3.
func (s *Stack) S3Config() awsconn.Config {
	c := s.s3
	c.Endpoint = s.S3Endpoint
	return c
}

// DynamoConfig is the client config of the stack's DynamoDB.
func (s *Stack) DynamoConfig() awsconn.Config {
	c := s.dynamo
	c.Endpoint = s.DynamoEndpoint
	return c
}

// S3 returns a client of the stack's S3.
func (s *Stack) S3(ctx context.Context) (*s3.Client, error) { return awsconn.S3(ctx, s.S3Config()) }

// DynamoDB returns a client of the stack's DynamoDB.
func (s *Stack) DynamoDB(ctx context.Context) (*dynamodb.Client, error) {
	return awsconn.DynamoDB(ctx, s.DynamoConfig())
}

// Env is the environment that points an aegis process at the stack: its
// brokers, endpoints and each service's credentials (AEGIS_<FLAG> and the
// environment-only secrets). Settings the stack leaves to the AWS default
// chain are left out, so the process inherits them.
func (s *Stack) Env() []string {
	env := []string{"AEGIS_BROKERS=" + strings.Join(s.Brokers, ",")}
	add := func(name, v string) {
		if v != "" {
			env = append(env, name+"="+v)
		}
	}
	for _, svc := range []struct {
		name string
		c    awsconn.Config
	}{{"S3", s.S3Config()}, {"DYNAMODB", s.DynamoConfig()}} {
		add("AEGIS_"+svc.name+"_ENDPOINT", svc.c.Endpoint)
		add("AEGIS_"+svc.name+"_REGION", svc.c.Region)
		add("AEGIS_"+svc.name+"_ACCESS_KEY_ID", svc.c.AccessKeyID)
		add("AEGIS_"+svc.name+"_SECRET_ACCESS_KEY", svc.c.SecretAccessKey)
		add("AEGIS_"+svc.name+"_SESSION_TOKEN", svc.c.SessionToken)
	}
	return env
}

// Bucket returns a bucket name unique in this run, with the stack's
// bucket prefix.
func (s *Stack) Bucket(prefix string) string { return s.BucketPrefix + Name(prefix) }

// CreateLockedBucket creates bucket with Object Lock enabled (which turns on
// versioning), unless it exists.
func CreateLockedBucket(ctx context.Context, cl *s3.Client, bucket string) error {
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket), ObjectLockEnabledForBucket: aws.Bool(true)}
	if r := cl.Options().Region; r != awsconn.LocalRegion {
		// AWS creates a bucket outside us-east-1 only when told where.
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(r)}
	}
	_, err := cl.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}
