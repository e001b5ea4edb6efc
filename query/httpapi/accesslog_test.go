package httpapi_test

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/query/httpapi"
	"github.com/aegisai/audit/replayer"
)

// Who read what, and who was refused, from where: each read is logged
// with the token's name, the path and the status, each 401 and 403 as a
// warning; no log holds a token (found by the security review: refusals
// were not logged and reads only at debug, without the caller's address).
func TestReadsAndRefusalsAreLogged(t *testing.T) {
	f := setup(t)
	tokens, err := httpauth.Parse(strings.NewReader(fmt.Sprintf("auditor %s %s read\nsvc %s %s record\n",
		prodToken, f.p.Cfg.Chain, recordToken, f.p.Cfg.Chain)), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	svc, err := httpapi.New(httpapi.Config{Reader: f.p.Reader, Tokens: tokens, Chain: f.p.Cfg.Chain, VerifierKey: f.p.Cfg.VerifierKey, Logger: zap.New(core),
		Evidence: &query.Evidence{Config: replayer.ProveConfig{S3: f.p.S3, Bucket: f.p.Cfg.Bucket, Chain: f.p.Cfg.Chain, VerifierKey: f.p.Cfg.VerifierKey}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	path := "/v1/decisions/" + url.PathEscape(f.good)
	for token, want := range map[string]int{prodToken: 200, recordToken: 403, "no-such-token-0123456789": 401} {
		if r := call(t, "GET", srv.URL+path, token); r.status != want {
			t.Fatalf("token %s: %d %s", token, r.status, r.body)
		}
	}
	var read, refused int
	for _, e := range logs.All() {
		m := e.ContextMap()
		for _, tok := range []string{prodToken, recordToken, "no-such-token-0123456789"} {
			if strings.Contains(fmt.Sprint(m), tok) || strings.Contains(e.Message, tok) {
				t.Fatalf("a log holds a token: %s %v", e.Message, m)
			}
		}
		switch {
		case e.Message == "read" && m["token"] == "auditor" && m["path"] == path && m["status"] == int64(200) && m["remote"] != "":
			read++
		case e.Message == "request refused" && e.Level == zapcore.WarnLevel && m["remote"] != "" && m["path"] == path:
			if m["token"] == "svc" && strings.Contains(fmt.Sprint(m["error"]), "not to read") {
				refused++
			} else if m["token"] == nil && strings.Contains(fmt.Sprint(m["error"]), "unknown bearer token") {
				refused++
			}
		}
	}
	if read != 1 || refused != 2 {
		t.Fatalf("%d reads and %d refusals logged, want 1 and 2: %v", read, refused, logs.All())
	}
}
