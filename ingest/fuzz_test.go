package ingest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/shared"
)

// FuzzIngestBody: any body a caller with a prod token sends is answered
// with a documented status (never a 5xx or a panic), and what is answered
// 201 is exactly one event, of the route's type, of an environment the
// token may write, that the sealer seals as an EVENT, not an INVALID entry.
func FuzzIngestBody(f *testing.F) {
	f.Add("/v1/decisions", goodDecision)
	f.Add("/v1/overrides", `{"environment":"prod","override":{"decision_id":"d1","reviewer_id":"r","new_action":"BLOCK","reason":"x"}}`)
	f.Add("/v1/decisions", `{"environment":"dev","decision":{}}`)
	f.Add("/v1/decisions", `{"type":"override","environment":"prod","event_id":"e","occurred_at":"2026-11-27T10:00:00Z"}`)
	f.Add("/v1/decisions", strings.Replace(goodDecision, `"DE"`, `1e400`, 1))
	f.Add("/v1/decisions", strings.Replace(goodDecision, `"environment":"prod"`, `"environment":"prod","environment":"dev"`, 1))
	tok, err := httpauth.Parse(strings.NewReader(tokenFile), "tokens")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path, body string) {
		if path != "/v1/decisions" && path != "/v1/overrides" {
			return
		}
		prod, dev := &fakeRecorder{}, &fakeRecorder{}
		s, err := New(Config{Recorders: map[string]Recorder{"prod": prod, "dev": dev}, Tokens: tok, MaxBodyBytes: 4096})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer prod-token-0123456789")
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		switch w.Code {
		case http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge:
			if len(prod.got)+len(dev.got) != 0 {
				t.Fatalf("answered %d but recorded an event", w.Code)
			}
			return
		case http.StatusCreated:
		default:
			t.Fatalf("answered %d: %s", w.Code, w.Body)
		}
		if len(dev.got) != 0 || len(prod.got) != 1 {
			t.Fatalf("a prod token's 201 recorded %d prod and %d dev events", len(prod.got), len(dev.got))
		}
		env := prod.got[0]
		want := shared.TypeDecision
		if path == "/v1/overrides" {
			want = shared.TypeOverride
		}
		var created Created
		if err := json.Unmarshal(w.Body.Bytes(), &created); err != nil || created.EventID != env.EventID {
			t.Fatalf("201 body %s for event %s (%v)", w.Body, env.EventID, err)
		}
		var encoded bytes.Buffer
		if json.NewEncoder(&encoded).Encode(created); !bytes.Equal(w.Body.Bytes(), encoded.Bytes()) {
			t.Fatalf("201 body\n%s\nis not what encoding/json writes for it\n%s", w.Body, encoded.Bytes())
		}
		if env.Type != want || env.Environment != "prod" {
			t.Fatalf("%s recorded a %s of %q", path, env.Type, env.Environment)
		}
		record, err := env.Record()
		if err != nil {
			t.Fatalf("recorded an event that does not encode: %v", err)
		}
		now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		e, err := shared.SealRecord(shared.Head{Chain: "prod", Offset: -1}, shared.Source{Topic: "decisions", Timestamp: now}, record, now)
		if err != nil {
			t.Fatalf("ingest accepted %q, which the sealer cannot seal: %v", body, err)
		}
		if e.Type != shared.EntryEvent || !bytes.Equal(e.Event, record) {
			var why string
			if e.Invalid != nil {
				why = e.Invalid.Reason
			}
			t.Fatalf("ingest accepted %q, which the sealer seals as %s (%s)", body, e.Type, why)
		}
	})
}
