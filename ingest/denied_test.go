package ingest

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/aegisai/audit/internal/platform/httpauth"
)

// A refused request is logged as a warning with the caller's address and,
// when known, the token's name: a wrong token, a reader's token and a
// token of another environment; never the token itself.
func TestRefusalsAreLogged(t *testing.T) {
	tok, err := httpauth.Parse(strings.NewReader(tokenFile), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	s, err := New(Config{Recorders: map[string]Recorder{"prod": &fakeRecorder{}}, Tokens: tok, MaxBodyBytes: 4096, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	for token, want := range map[string]string{"prod-token-0123456788": "", "read-token-0123456789": "auditor", "dev-token-01234567890": "svc-dev"} {
		req := httptest.NewRequest("POST", "/v1/decisions", strings.NewReader(goodDecision))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		if w.Code != 401 && w.Code != 403 {
			t.Fatalf("%s: %d", token, w.Code)
		}
		all := logs.TakeAll()
		if len(all) != 1 || all[0].Message != "request refused" {
			t.Fatalf("%s: logs %v", token, all)
		}
		m := all[0].ContextMap()
		if strings.Contains(fmt.Sprint(m), token) || m["remote"] == "" || (want != "" && m["token"] != want) || (want == "" && m["token"] != nil) {
			t.Fatalf("%s: logged %v, want token name %q", token, m, want)
		}
	}
}
