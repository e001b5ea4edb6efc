package archive

import (
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// s3Error is an error as the SDK returns S3's answer with status and code.
func s3Error(status int, code string) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err: &smithy.GenericAPIError{Code: code}}}}
}

// A version S3 will not give is an answer about the object; a refusal of
// the caller's credentials (an expired session token, say) is not, and is
// asked again once they are refreshed.
func TestUnreadableIsAboutTheObject(t *testing.T) {
	for _, c := range []struct {
		status int
		code   string
		want   bool
	}{
		{403, "InvalidObjectState", true},
		{403, "AccessDenied", true}, // a version under a KMS key the reader may not use
		{400, "ExpiredToken", false},
		{403, "InvalidAccessKeyId", false},
		{403, "SignatureDoesNotMatch", false},
		{404, "NoSuchKey", false},
		{429, "SlowDown", false},
		{503, "ServiceUnavailable", false},
	} {
		if got := unreadable(s3Error(c.status, c.code)); got != c.want {
			t.Errorf("%d %s: unreadable %v, want %v", c.status, c.code, got, c.want)
		}
	}
}
