package httpapi_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/query/httpapi"
	"github.com/aegisai/audit/replayer"
)

// countingS3 counts the GETs in flight and keeps the most seen at once.
type countingS3 struct {
	archive.S3API
	now, most atomic.Int64
}

func (c *countingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for m := c.most.Load(); n > m && !c.most.CompareAndSwap(m, n); m = c.most.Load() {
	}
	time.Sleep(20 * time.Millisecond) // long enough for the others to pile up
	return c.S3API.GetObject(ctx, in, opts...)
}

// Proofs are built MaxProofs at a time, the others waiting their turn:
// each holds an object read from S3 (up to 64 MiB), so a token holder's
// parallel requests cannot hold them all at once (security review). All
// are answered.
func TestProofsAreBuiltAFewAtATime(t *testing.T) {
	f := setup(t)
	tokens, err := httpauth.Parse(strings.NewReader(fmt.Sprintf("prod %s %s read\n", prodToken, f.p.Cfg.Chain)), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	s3c := &countingS3{S3API: f.p.S3}
	svc, err := httpapi.New(httpapi.Config{Reader: f.p.Reader, Tokens: tokens, Chain: f.p.Cfg.Chain, VerifierKey: f.p.Cfg.VerifierKey, MaxProofs: 1,
		Evidence: &query.Evidence{Config: replayer.ProveConfig{S3: s3c, Bucket: f.p.Cfg.Bucket, Chain: f.p.Cfg.Chain, VerifierKey: f.p.Cfg.VerifierKey}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	var wg sync.WaitGroup
	codes := make([]int, 6)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = call(t, "GET", srv.URL+"/v1/decisions/"+url.PathEscape(f.good)+"/proof", prodToken).status
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("proof %d: %d", i, c)
		}
	}
	if got := s3c.most.Load(); got != 1 {
		t.Fatalf("%d GETs at once with one proof slot, want 1", got)
	}
}
