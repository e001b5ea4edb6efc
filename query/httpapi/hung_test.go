package httpapi_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegisai/audit/internal/platform/awsconn"
	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/query/httpapi"
	"github.com/aegisai/audit/replayer"
)

// hungServer takes connections and never answers: an S3 frozen with
// SIGSTOP, or a proxy that lost its upstream.
func hungServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// A proof whose S3 never answers is a 503 "unavailable" within the
// service's deadline, and one whose caller hangs up is never a 409
// proof_failed: nothing was checked either way. Before (an outside trial
// freezing versitygw, 2026-12-01), the proof went on past the minute aegis
// query gives an answer to be written, so the caller got a closed
// connection, and a caller that gave up first was logged and counted as a
// 409 proof_failed, as a chain found wrong is.
func TestAProofFromAHungS3IsUnavailableNotAVerdict(t *testing.T) {
	f := setup(t)
	s3c, err := awsconn.S3(context.Background(), awsconn.Config{Endpoint: hungServer(t), AccessKeyID: localstack.AccessKey, SecretAccessKey: localstack.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := httpauth.Parse(strings.NewReader(fmt.Sprintf("prod %s %s read\n", prodToken, f.p.Cfg.Chain)), "tokens")
	svc, err := httpapi.New(httpapi.Config{
		Reader: f.p.Reader, Tokens: tokens, Chain: f.p.Cfg.Chain, VerifierKey: f.p.Cfg.VerifierKey, Deadline: 2 * time.Second,
		Evidence: &query.Evidence{Config: replayer.ProveConfig{S3: s3c, Bucket: f.p.Cfg.Bucket, Chain: f.p.Cfg.Chain, VerifierKey: f.p.Cfg.VerifierKey}},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/decisions/" + url.PathEscape(f.good) + "/proof"

	t.Run("deadline", func(t *testing.T) {
		srv := httptest.NewServer(svc.Handler())
		defer srv.Close()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+prodToken)
		start := time.Now()
		resp, err := (&http.Client{Timeout: 25 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("proof from a hung S3: no answer after %s: %v; want 503 within the 2 s deadline", time.Since(start).Round(time.Millisecond), err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("proof from a hung S3: %d after %s; want 503 with Retry-After", resp.StatusCode, time.Since(start))
		}
	})

	t.Run("caller hangs up", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, "GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+prodToken)
		rec := httptest.NewRecorder()
		svc.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "proof_failed") {
			t.Fatalf("proof whose caller hung up while S3 hung: %d %s; want 503 unavailable, not a verdict", rec.Code, rec.Body)
		}
	})
}
