package awsconn

import (
	"context"
	"errors"
	"net"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// Unavailable reports whether err says that S3 or DynamoDB could not be
// asked, not what it answered: the server could not be reached or timed
// out, or answered with a server error (5xx) or throttling (429) through
// all the SDK's attempts. Nothing was read, so nothing was checked:
// readers say "could not check" for it, never "does not verify" (before,
// an S3 outage made aegis verify, get --verify and the proof endpoint
// answer as they do for a tampered chain: found by the operators' trial).
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	// No credentials found: the SDK's last try, the instance metadata
	// service, fails to connect off EC2, which is a setup to mend, not an
	// outage to wait out (found by an attack).
	if NoCredentials(err) {
		return false
	}
	var op *net.OpError // not net.Error: a file's *fs.PathError has its methods too
	var dns *net.DNSError
	if errors.As(err, &op) || errors.As(err, &dns) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var re *awshttp.ResponseError // status 0: no answer, a send that failed
	if errors.As(err, &re) {
		code := re.HTTPStatusCode()
		return code == 0 || code >= 500 || code == 429
	}
	return false
}

// NoCredentials reports whether err says the SDK's credential chain found
// no credentials at all (its text, "get identity: get credentials": the
// SDK wraps that failure in no type of its own).
func NoCredentials(err error) bool {
	return err != nil && strings.Contains(err.Error(), "get identity: get credentials")
}

// Refused reports whether S3 or DynamoDB answered that the caller's
// credentials or policy do not let it do what it asked (by the answer's
// error code: a 403 of another kind, such as InvalidObjectState for a
// version in an archive storage class, is an answer about the object):
// nothing was read, so nothing was checked, and it lasts until someone
// mends the caller's access.
func Refused(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		return credentialCodes[api.ErrorCode()] || policyCodes[api.ErrorCode()]
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == 401
}

// BadCredentials reports whether S3 or DynamoDB refused the caller's
// credentials themselves (unknown, expired, a bad signature), whatever
// was asked: an answer about the caller, never about what it asked for.
func BadCredentials(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && credentialCodes[api.ErrorCode()]
}

// credentialCodes are the error codes of a caller's credentials refused,
// whatever the status (versitygw answers an unknown access key 404).
var credentialCodes = map[string]bool{"InvalidAccessKeyId": true, "SignatureDoesNotMatch": true, "ExpiredToken": true,
	"InvalidToken": true, "UnrecognizedClientException": true, "InvalidSignatureException": true, "XAdminUserNotFound": true}

// policyCodes are those of a request the caller's policy denies (a HEAD's
// 403 has no body, and the SDK names it Forbidden).
var policyCodes = map[string]bool{"AccessDenied": true, "Forbidden": true, "AccessDeniedException": true}
