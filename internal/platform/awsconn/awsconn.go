// Package awsconn builds the AWS SDK clients for S3 and DynamoDB the way
// every AWS tool does: region, credentials (environment, shared config and
// credentials files with profiles, SSO, web identity, container and
// instance roles, session tokens included) and retries come from the SDK's
// default chain (config.LoadDefaultConfig). A Config only overrides what
// it sets, one Config per service, so S3 and DynamoDB can use different
// accounts, profiles or keys.
//
// Against a local server (Endpoint set) S3 uses path-style addressing,
// DynamoDB skips response checksum validation (local servers do not send
// the checksums AWS does), and the region falls back to us-east-1 when the
// chain names none. Against AWS a missing region is an error at start
// that names the settings, instead of a failure at the first request.
package awsconn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
)

// LocalRegion is the region used against a local endpoint when none is
// configured.
const LocalRegion = "us-east-1"

// Config overrides the SDK's default configuration for one service. Every
// zero field leaves the default chain's value in place.
type Config struct {
	// Service names the service in errors ("s3", "dynamodb"); Setting is
	// the prefix of the settings that fill this Config ("--s3-"), also for
	// errors. Both are optional.
	Service, Setting string
	// Endpoint is the service's base URL (http://127.0.0.1:9000, a MinIO,
	// a VPC endpoint). Empty: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL
	// or the profile's endpoint_url, else AWS.
	Endpoint string
	// Region overrides AWS_REGION and the profile's region.
	Region string
	// Profile selects a shared config profile instead of AWS_PROFILE.
	Profile string
	// AccessKeyID, SecretAccessKey and SessionToken are static credentials
	// that replace the default chain's (all three or the first two).
	AccessKeyID, SecretAccessKey, SessionToken string
	// MaxAttempts overrides AWS_MAX_ATTEMPTS and the profile's
	// max_attempts (the SDK's default is 3).
	MaxAttempts int
}

// ErrNoRegion is returned when neither the Config nor the default chain
// names a region for AWS.
var ErrNoRegion = errors.New("no AWS region")

func (c Config) validate() error {
	var errs []error
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		errs = append(errs, fmt.Errorf("%saccess-key-id and the secret access key must be set together", c.Setting))
	}
	if c.SessionToken != "" && c.AccessKeyID == "" {
		errs = append(errs, fmt.Errorf("a %s session token needs %saccess-key-id and the secret access key", c.Service, c.Setting))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("%smax-attempts %d: must not be negative", c.Setting, c.MaxAttempts))
	}
	return errors.Join(errs...)
}

// Load returns the SDK configuration of the service: the default chain
// with c's overrides.
func (c Config) Load(ctx context.Context) (aws.Config, error) {
	if err := c.validate(); err != nil {
		return aws.Config{}, err
	}
	// The SDK's own logger writes free-form warnings to stderr (with no
	// credentials: "falling back to IMDSv1" before the request fails);
	// every failure reaches the caller as an error, which names the
	// settings, so the warnings go nowhere.
	opts := []func(*config.LoadOptions) error{config.WithLogger(logging.Nop{})}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	if c.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)))
	}
	if c.MaxAttempts > 0 {
		opts = append(opts, config.WithRetryMaxAttempts(c.MaxAttempts))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, fmt.Errorf("load AWS config for %s: %w", c.Service, err)
	}
	if cfg.Region == "" {
		if c.Endpoint == "" && cfg.BaseEndpoint == nil {
			return cfg, fmt.Errorf("%s: %w: set AWS_REGION, a profile's region or %sregion", c.Service, ErrNoRegion, c.Setting)
		}
		cfg.Region = LocalRegion
	}
	return cfg, nil
}

// local reports whether the client talks to an endpoint other than AWS's.
func (c Config) local(cfg aws.Config) bool { return c.Endpoint != "" || cfg.BaseEndpoint != nil }

// S3 returns an S3 client. Against a configured endpoint it uses path-style
// addressing. Response checksums are validated only when asked for, so a
// verifier reads tampered bytes and names the broken line itself.
func S3(ctx context.Context, c Config) (*s3.Client, error) {
	if c.Service == "" {
		c.Service = "s3"
	}
	cfg, err := c.Load(ctx)
	if err != nil {
		return nil, err
	}
	cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	cfg.HTTPClient = keepIdle(cfg.HTTPClient, S3IdleConns)
	local := c.local(cfg)
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.UsePathStyle = o.UsePathStyle || local
	}), nil
}

// S3IdleConns is how many idle connections the S3 client keeps to its
// endpoint. The SDK's default, 10, is below the requests a verification
// makes at once (two per object or checkpoint in flight, and the listing):
// each request beyond it opened a connection and closed it after one
// request, CPU on both ends.
const S3IdleConns = 64

// ResponseTimeout is how long a request waits for the answer's headers
// once it is sent. A server that takes the connection and never answers
// (hung, paused, behind a proxy that lost its upstream) fails the attempt
// with a timeout, which the SDK retries and the readers report as an
// outage (exit 4, "could not check"; the query service's 503). The SDK
// sets none: before, aegis verify, get --verify, prove, discover,
// index status and the query service's lookups and proofs waited for such
// a server for ever (found by an outside trial freezing versitygw and
// dynalite with SIGSTOP, 2026-12-01), while the sealer and the indexer,
// which bound each call themselves, retried. It bounds the wait for the
// headers only: a body is read for as long as it comes.
var ResponseTimeout = 30 * time.Second

// keepIdle raises the idle connections an SDK-built HTTP client keeps per
// host to at least n, and bounds the wait for an answer's headers to
// ResponseTimeout (a client the caller configured is left alone).
func keepIdle(c aws.HTTPClient, n int) aws.HTTPClient {
	hc, ok := c.(*awshttp.BuildableClient)
	if !ok {
		return c
	}
	return hc.WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = max(t.MaxIdleConns, n)
		t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, n)
		if t.ResponseHeaderTimeout == 0 {
			t.ResponseHeaderTimeout = ResponseTimeout
		}
	})
}

// DynamoIdleConns is how many idle connections the DynamoDB client keeps
// to its endpoint. The SDK's default, 10, is below the calls an indexer
// makes at once (Workers per partition batch, several partitions): each
// call beyond it opened a new connection and closed it after one request.
const DynamoIdleConns = 128

// DynamoDB returns a DynamoDB client.
func DynamoDB(ctx context.Context, c Config) (*dynamodb.Client, error) {
	if c.Service == "" {
		c.Service = "dynamodb"
	}
	cfg, err := c.Load(ctx)
	if err != nil {
		return nil, err
	}
	cfg.HTTPClient = keepIdle(cfg.HTTPClient, DynamoIdleConns)
	local := c.local(cfg)
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.DisableValidateResponseChecksum = o.DisableValidateResponseChecksum || local
	}), nil
}
