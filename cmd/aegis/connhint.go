package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/spf13/cobra"

	"github.com/aegisai/audit/internal/platform/awsconn"
)

// withConnectionHint puts before a failure to reach S3, DynamoDB or Kafka,
// or to find or use AWS credentials, the settings that decide it (the
// endpoint flag and its variable, the credential settings), keeping the
// SDK's or client's own text after it. An error that is none of these, or
// already names the settings, is returned as it is.
func (c *common) withConnectionHint(cmd *cobra.Command, err error) error {
	if err == nil || cmd == nil {
		return err
	}
	var op *smithy.OperationError
	if errors.As(err, &op) {
		var svc awsconn.Config
		switch op.Service() {
		case "S3":
			svc = c.s3
		case "DynamoDB":
			svc = c.dynamo
			var nf *dynamotypes.ResourceNotFoundException
			if errors.As(err, &nf) && !strings.Contains(err.Error(), "--table") {
				return fmt.Errorf("table %s not found at %s (check --table (AEGIS_TABLE) and --dynamodb-endpoint (AEGIS_DYNAMODB_ENDPOINT)): %w",
					c.table, endpointName(c.dynamo), err)
			}
		default:
			return err
		}
		return awsHint(svc, op.Service(), err)
	}
	// A dial that failed is Kafka's only in a command that reads the
	// brokers (aegis health dials the URL it is given) and outside an HTTP
	// request.
	var ne *net.OpError
	var ue *url.Error
	brokers := cmd.Flags().Lookup("brokers")
	if errors.As(err, &ne) && ne.Op == "dial" && !errors.As(err, &ue) && brokers != nil && reads(cmd, brokers) &&
		!strings.Contains(err.Error(), "check --brokers") {
		return fmt.Errorf("kafka %v could not be reached (check --brokers (AEGIS_BROKERS), --kafka-tls-* and --kafka-sasl-*): %w", c.brokers, err)
	}
	return err
}

// awsHint names the settings of one AWS service's failure: its endpoint
// when it could not be reached, its credentials when none were found or
// the service refused them.
func awsHint(c awsconn.Config, title string, err error) error {
	var api smithy.APIError
	var send *smithyhttp.RequestSendError
	endpoint := endpointName(c)
	credentials := fmt.Sprintf("set %[1]saccess-key-id (AEGIS_%[2]s_ACCESS_KEY_ID) with AEGIS_%[2]s_SECRET_ACCESS_KEY, or %[1]sprofile (AEGIS_%[2]s_PROFILE), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an instance or task role",
		c.Setting, envName(c.Service))
	switch {
	case awsconn.NoCredentials(err):
		// The SDK's credential chain found nothing; its last try was the
		// instance metadata service, which is what its text talks about.
		return fmt.Errorf("%s: no AWS credentials found (%s): %w", title, credentials, err)
	case errors.As(err, &send):
		return fmt.Errorf("%s could not be reached at %s (check %sendpoint (AEGIS_%s_ENDPOINT)): %w", title, endpoint, c.Setting, envName(c.Service), err)
	case errors.As(err, &api) && refusedCredentials(api.ErrorCode()):
		return fmt.Errorf("%s at %s refused the credentials (%s): %w", title, endpoint, credentials, err)
	case errors.As(err, &api) && api.ErrorCode() == "AccessDenied":
		// Wrong keys (some servers, versitygw among them, answer them so)
		// or a policy that does not allow the call.
		return fmt.Errorf("%s at %s denied access: check the credentials (%s) and that their policy allows this role (docs/SECURITY.md section 4): %w",
			title, endpoint, credentials, err)
	}
	return err
}

// endpointName names c's endpoint in a message.
func endpointName(c awsconn.Config) string {
	if c.Endpoint == "" {
		return "AWS (or AWS_ENDPOINT_URL)"
	}
	return c.Endpoint
}

// refusedCredentials reports the error codes with which S3 and DynamoDB
// refuse a key or its signature.
func refusedCredentials(code string) bool {
	switch code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "UnrecognizedClientException", "InvalidSignatureException",
		"InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException":
		return true
	}
	return false
}
