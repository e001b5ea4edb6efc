package main

import (
	"os"

	"github.com/spf13/pflag"

	"github.com/aegisai/audit/internal/platform/awsconn"
)

// envSetting is a setting read only from the environment: a secret, which
// a flag would show to every user of the host in the process list.
type envSetting struct {
	Name, Usage string
	// Group is the settings group whose commands read it (see roleSettings).
	Group string
}

// secretSettings are the environment-only settings; docs/CONFIG.md lists
// them with the flags.
var secretSettings = []envSetting{
	{Name: "AEGIS_S3_SECRET_ACCESS_KEY", Group: "s3", Usage: "secret access key for S3, with --s3-access-key-id"},
	{Name: "AEGIS_S3_SESSION_TOKEN", Group: "s3", Usage: "session token of temporary S3 credentials, with --s3-access-key-id"},
	{Name: "AEGIS_DYNAMODB_SECRET_ACCESS_KEY", Group: "dynamodb", Usage: "secret access key for DynamoDB, with --dynamodb-access-key-id"},
	{Name: "AEGIS_DYNAMODB_SESSION_TOKEN", Group: "dynamodb", Usage: "session token of temporary DynamoDB credentials, with --dynamodb-access-key-id"},
}

// awsFlags registers the overrides of one service's AWS configuration:
// --<svc>-endpoint, -region, -profile, -access-key-id and -max-attempts.
// Anything not set comes from the AWS SDK's default chain (AWS_REGION,
// AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_SESSION_TOKEN, ~/.aws/config, roles).
func awsFlags(fs *pflag.FlagSet, c *awsconn.Config, svc, title string) {
	c.Service, c.Setting = svc, "--"+svc+"-"
	example := "a MinIO or versitygw server"
	if svc == "dynamodb" {
		example = "DynamoDB Local or dynalite"
	}
	fs.StringVar(&c.Endpoint, svc+"-endpoint", "", title+" endpoint URL, e.g. "+example+" (empty: AWS, or AWS_ENDPOINT_URL)")
	fs.StringVar(&c.Region, svc+"-region", "", title+" region (empty: AWS_REGION or the profile's; us-east-1 against an endpoint)")
	fs.StringVar(&c.Profile, svc+"-profile", "", title+" shared config profile (empty: AWS_PROFILE or default)")
	fs.StringVar(&c.AccessKeyID, svc+"-access-key-id", "", title+" access key id; its secret comes from AEGIS_"+envName(svc)+"_SECRET_ACCESS_KEY (empty: the AWS default credential chain)")
	fs.IntVar(&c.MaxAttempts, svc+"-max-attempts", 0, title+" attempts per call, retries included (0: AWS_MAX_ATTEMPTS or the SDK's 3)")
}

// awsSecrets fills the secrets of one service's configuration from the
// environment.
func awsSecrets(c *awsconn.Config) {
	c.SecretAccessKey = os.Getenv("AEGIS_" + envName(c.Service) + "_SECRET_ACCESS_KEY")
	c.SessionToken = os.Getenv("AEGIS_" + envName(c.Service) + "_SESSION_TOKEN")
}
