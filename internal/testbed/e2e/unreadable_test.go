package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/platform/awsconn"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
)

// As TestSealerSealsOnOverARewrittenNewestObject, but the version written
// over the newest sealed object is one the sealer cannot GET: put with
// StorageClass=DEEP_ARCHIVE (AWS answers its GET 403 InvalidObjectState)
// or SSE-KMS under the writer's own key (403 AccessDenied). s3:PutObject is
// all it takes; the version is locked (default retention) like the others.
// The proxy answers as AWS does for such a current version. The sealer
// reads the sealed version under it and starts; before, it retried the
// GET for good and never became ready (found by an attack).
func TestSealerStartsOverAnUnreadableVersion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var scfg sealer.Config
	p := startPipeline(t, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 10; scfg = *c }})
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 40, 0, 5, 6, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitHead(ctx, uint64(len(w.Events))); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	refs, err := (&archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}).Batches(ctx, p.Cfg.Chain)
	if err != nil {
		t.Fatal(err)
	}
	victim := refs[len(refs)-1].Key
	putVersion(t, p, victim, []byte("{\"archived\":true}\n"), true)
	target, _ := url.Parse(stack.S3Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	px := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.HasSuffix(r.URL.Path, "/"+victim) && !r.URL.Query().Has("versionId") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidObjectState</Code><Message>The operation is not valid for the object's storage class</Message><StorageClass>DEEP_ARCHIVE</StorageClass></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer px.Close()
	s3c, err := awsconn.S3(ctx, awsconn.Config{Endpoint: px.URL, Region: "us-east-1", AccessKeyID: localstack.AccessKey, SecretAccessKey: localstack.SecretKey, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	scfg.S3 = s3c
	reg := prometheus.NewRegistry()
	scfg.Metrics = reg
	scfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	s, err := sealer.New(ctx, scfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	defer func() { stop(); <-done }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("the sealer stopped on a version it cannot read over the sealed %s: %v", victim, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("the sealer did not start within 30 s with an unreadable version over the sealed %s", victim)
	}
	if n, found, err := pipeline.MetricValue(reg, "aegis_sealer_rewritten_keys_total", ""); err != nil || !found || n != 1 {
		t.Fatalf("aegis_sealer_rewritten_keys_total %v (found %v, %v), want 1: the key read under its unreadable version", n, found, err)
	}
}
