package awsconn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// An S3 that cannot be reached, or answers 503, is unavailable; one that
// answers 404 or 403 answered (its answer is checked as any other).
func TestUnavailableTellsOutagesFromAnswers(t *testing.T) {
	ctx := context.Background()
	get := func(endpoint string) error {
		c, err := S3(ctx, Config{Endpoint: endpoint, Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s", MaxAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
		return fmt.Errorf("read the chain: %w", err)
	}
	status := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, c := range []struct {
		name     string
		endpoint string
		want     bool
	}{
		{"connection refused", closed.URL, true},
		{"503", status(http.StatusServiceUnavailable), true},
		{"500", status(http.StatusInternalServerError), true},
		{"429", status(http.StatusTooManyRequests), true},
		{"404", status(http.StatusNotFound), false},
		{"403", status(http.StatusForbidden), false},
	} {
		err := get(c.endpoint)
		if err == nil || Unavailable(err) != c.want {
			t.Errorf("%s: Unavailable(%v) = %v, want %v", c.name, err, Unavailable(err), c.want)
		}
	}
	if Unavailable(nil) || Unavailable(errors.New("section 5: the hash differs")) {
		t.Error("a verification failure taken for an outage")
	}
	if _, err := os.Open("/no/such/key/file"); Unavailable(fmt.Errorf("--verifier-key-file: %w", err)) {
		t.Error("a missing file taken for an outage")
	}
	// No credentials anywhere: the SDK's instance-metadata try fails to
	// connect, which is a setup to mend, not an outage.
	t.Setenv("HOME", t.TempDir())
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", closed.URL)
	c, err := S3(ctx, Config{Endpoint: status(http.StatusOK), Region: "us-east-1", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k")})
	if err == nil || Unavailable(err) {
		t.Errorf("no credentials: Unavailable(%v) = %v, want false", err, Unavailable(err))
	}
}
