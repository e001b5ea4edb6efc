package replayer_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/internal/platform/awsconn"
	"github.com/aegisai/audit/replayer"
)

// An object key from the index or a receipt that is not one of the
// chain's keys is refused before S3 is asked: a key S3 cannot serve (a
// NUL in it) was answered 500 and reported as an outage ("could not
// check"), where a forged answer must fail (found by an attack).
func TestProveRefusesAForgedObjectKeyBeforeAskingS3(t *testing.T) {
	ctx := context.Background()
	asked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		asked++
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	s3c, err := awsconn.S3(ctx, awsconn.Config{Endpoint: srv.URL, Region: "us-east-1", AccessKeyID: "k", SecretAccessKey: "s", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, vkey, err := note.GenerateKey(rand.Reader, "k")
	if err != nil {
		t.Fatal(err)
	}
	cfg := replayer.ProveConfig{S3: s3c, Bucket: "b", Prefix: "audit", Chain: "prod", VerifierKey: vkey}
	for _, key := range []string{
		"audit/year=2026/month=11/day=29/env=prod/\x00.jsonl",
		"audit/year=2026/month=11/day=29/env=other/00000000000000000001.jsonl",
		"../../etc/passwd",
	} {
		_, _, err := replayer.Prove(ctx, cfg, "d1", []replayer.EntryRef{{Seq: 1, Object: key, Line: 1}})
		if err == nil || awsconn.Unavailable(err) || !strings.Contains(err.Error(), "is not an object key of chain prod") {
			t.Errorf("%q: %v (unavailable: %v)", key, err, awsconn.Unavailable(err))
		}
	}
	if asked != 0 {
		t.Fatalf("S3 was asked %d times for keys that are not the chain's", asked)
	}
}
