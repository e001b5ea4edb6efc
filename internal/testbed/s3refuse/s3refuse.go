// Package s3refuse puts a proxy in front of a test S3 server that answers
// a GET or HEAD of one key's current version as AWS answers a version it
// will not give: 403 with an error code (InvalidObjectState for a version
// in an archive storage class, AccessDenied for one encrypted under a KMS
// key the reader may not use). Versions asked by id pass through, as
// everything else does.
package s3refuse

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/platform/awsconn"
)

// Client returns an S3 client of endpoint (with the credentials given)
// through such a proxy for key, answering code and message.
func Client(t testing.TB, endpoint, accessKey, secretKey, key, code, message string) archive.S3API {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	px := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.HasSuffix(r.URL.Path, "/"+key) && !r.URL.Query().Has("versionId") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>r</RequestId></Error>`, code, message)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(px.Close)
	s3c, err := awsconn.S3(context.Background(), awsconn.Config{Endpoint: px.URL, Region: "us-east-1", AccessKeyID: accessKey, SecretAccessKey: secretKey, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return s3c
}

// Archived is the answer of AWS to a GET of a version in DEEP_ARCHIVE.
var Archived = [2]string{"InvalidObjectState", "The operation is not valid for the object's storage class"}

// ForeignKMS is the answer to a GET of a version encrypted under a KMS key
// the reader may not use.
var ForeignKMS = [2]string{"AccessDenied", "User: arn:aws:iam::1:user/q is not authorized to perform: kms:Decrypt"}
