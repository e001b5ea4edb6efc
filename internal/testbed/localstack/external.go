package localstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/internal/platform/awsconn"
)

// ExternalSetting is one environment variable of AEGIS_STACK=external.
type ExternalSetting struct{ Name, Usage string }

// ExternalSettings are read by AEGIS_STACK=external; the README lists them.
var ExternalSettings = []ExternalSetting{
	{"AEGIS_TEST_BROKERS", "Kafka bootstrap list, comma-separated (required); plaintext, no SASL"},
	{"AEGIS_TEST_S3_ENDPOINT", "S3 endpoint URL (empty: AWS)"},
	{"AEGIS_TEST_BUCKET_PREFIX", "prefix of every bucket the tests create (they create many, each with Object Lock)"},
	{"AEGIS_TEST_DYNAMODB_ENDPOINT", "DynamoDB endpoint URL (empty: AWS)"},
	{"AEGIS_TEST_S3_ACCESS_KEY_ID, AEGIS_TEST_S3_SECRET_ACCESS_KEY, AEGIS_TEST_S3_SESSION_TOKEN", "S3 credentials (empty: the AWS default chain: AWS_ACCESS_KEY_ID, AWS_PROFILE, ...)"},
	{"AEGIS_TEST_DYNAMODB_ACCESS_KEY_ID, AEGIS_TEST_DYNAMODB_SECRET_ACCESS_KEY, AEGIS_TEST_DYNAMODB_SESSION_TOKEN", "DynamoDB credentials (empty: the AWS default chain)"},
	{"AEGIS_TEST_S3_DATA_DIR", "optional: the data directory of a versitygw posix backend on this host, for the one test that edits an object's bytes on the server's disk"},
}

// startExternal describes servers that already run, from the environment
// (ExternalSettings), and checks that each one answers, so that a wrong
// setting fails at start with its name rather than in every test.
func startExternal(ctx context.Context) (*Stack, error) {
	s := &Stack{
		S3Endpoint:     os.Getenv("AEGIS_TEST_S3_ENDPOINT"),
		DynamoEndpoint: os.Getenv("AEGIS_TEST_DYNAMODB_ENDPOINT"),
		BucketPrefix:   os.Getenv("AEGIS_TEST_BUCKET_PREFIX"),
		S3DataDir:      os.Getenv("AEGIS_TEST_S3_DATA_DIR"),
	}
	for _, b := range strings.Split(os.Getenv("AEGIS_TEST_BROKERS"), ",") {
		if b = strings.TrimSpace(b); b != "" {
			s.Brokers = append(s.Brokers, b)
		}
	}
	if len(s.Brokers) == 0 {
		return nil, errors.New("AEGIS_STACK=external: AEGIS_TEST_BROKERS (the Kafka bootstrap list) is required")
	}
	s.KafkaAddr = s.Brokers[0]
	creds := func(svc string) awsconn.Config {
		return awsconn.Config{
			Service: strings.ToLower(svc), Setting: "AEGIS_TEST_" + svc + "_",
			AccessKeyID:     os.Getenv("AEGIS_TEST_" + svc + "_ACCESS_KEY_ID"),
			SecretAccessKey: os.Getenv("AEGIS_TEST_" + svc + "_SECRET_ACCESS_KEY"),
			SessionToken:    os.Getenv("AEGIS_TEST_" + svc + "_SESSION_TOKEN"),
		}
	}
	s.s3, s.dynamo = creds("S3"), creds("DYNAMODB")

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Brokers...))
	if err != nil {
		return nil, fmt.Errorf("AEGIS_TEST_BROKERS %v: %w", s.Brokers, err)
	}
	err = cl.Ping(ctx)
	cl.Close()
	if err != nil {
		return nil, fmt.Errorf("AEGIS_TEST_BROKERS %v: no broker answers: %w", s.Brokers, err)
	}
	s3c, err := s.S3(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s3c.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		return nil, fmt.Errorf("AEGIS_TEST_S3_ENDPOINT %q: %w", s.S3Endpoint, err)
	}
	db, err := s.DynamoDB(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := db.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		return nil, fmt.Errorf("AEGIS_TEST_DYNAMODB_ENDPOINT %q: %w", s.DynamoEndpoint, err)
	}
	if s.S3DataDir != "" {
		if _, err := os.Stat(s.S3DataDir); err != nil {
			return nil, fmt.Errorf("AEGIS_TEST_S3_DATA_DIR: %w", err)
		}
	}
	return s, nil
}
