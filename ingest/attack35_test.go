package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/shared"
)

// TestAttack35TheOccurredAtOfA503IsTheOneSealed: a 503 tells the caller to
// retry "with the same event_id and occurred_at (the 503 gives both)", so
// that the event is recorded once (README, "Other languages: aegis
// ingest"; openapi.yaml, Problem.occurred_at: "retry with it and
// event_id"). The record sealed keeps the caller's occurred_at as written,
// and a time with trailing zeros is what JavaScript's toISOString
// ("…T10:00:00.000Z") and Java's Instant ("…T10:00:00.120Z") write. The
// 503 gave the time written again by Go ("…T10:00:00Z", "…00.12Z"): a
// caller retrying with what the 503 gave sent another event under the
// same event id, which the indexer keeps as a second, conflicting
// decision with an event-id-reused anomaly (its content digest differs),
// and which a Sealed-mode retry is not "recorded as a duplicate of" as the
// 503 says. What an attacker gains: nothing of their own; an honest
// client doing what the answer says fills the trail with the decision
// twice, as if its id had been reused, during every Kafka outage.
func TestAttack35TheOccurredAtOfA503IsTheOneSealed(t *testing.T) {
	rec := &fakeRecorder{}
	h := newService(t, rec).Handler()
	c := newContract(t)
	for _, tc := range []struct{ name, at, query string }{
		{"JavaScript's toISOString", "2026-12-01T10:00:00.000Z", ""},
		{"Java's Instant", "2026-12-01T10:00:00.120Z", ""},
		{"nanoseconds with trailing zeros, Sealed mode", "2026-12-01T10:00:00.123456700Z", "?durability=sealed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec.err = fmt.Errorf("%w: broker gone", producer.ErrAuditUnavailable)
			if tc.query != "" {
				rec.err = fmt.Errorf("%w: event e after 30s", producer.ErrNotSealed)
			}
			body := strings.Replace(goodDecision, `{`, fmt.Sprintf(`{"event_id":"e-35","occurred_at":%q,`, tc.at), 1)
			w := c.do(t, h, post("/v1/decisions"+tc.query, "prod-token-0123456789", "application/json", body), true)
			var p Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != 503 {
				t.Fatalf("Kafka down: %d %s", w.Code, w.Body)
			}
			// The retry the 503 asks for, and the records sealed for both
			// (what producer.ParseEvent makes of a body).
			retry := strings.Replace(goodDecision, `{`, fmt.Sprintf(`{"event_id":%q,"occurred_at":%q,`, p.EventID, p.OccurredAt), 1)
			d := shared.Defaults{Type: shared.TypeDecision, EventID: "unused", OccurredAt: time.Now().UTC(), RecordedBy: RecordedBy("svc-prod")}
			_, first, err := shared.CompleteRecord([]byte(body), d)
			if err != nil {
				t.Fatal(err)
			}
			_, again, err := shared.CompleteRecord([]byte(retry), d)
			if err != nil {
				t.Fatal(err)
			}
			if p.OccurredAt != tc.at || !bytes.Equal(first, again) {
				t.Errorf("the caller sent occurred_at %q; the 503 says to retry with %q: the retry is another event under event id %q:\n sealed  %s\n retried %s",
					tc.at, p.OccurredAt, p.EventID, first, again)
			}
		})
	}
}

// TestAttack35TheLastTokenTakenOutOfTheFileIsRefused: "a token taken out
// of it is refused from then on" (README, "Other languages: aegis
// ingest"; docs/SECURITY.md section on secrets: "a token is revoked by
// taking it out"; README, "When things fail", an ingest token leaked:
// "take its line out of the token file"). A service with one producer has
// one line; taking it out leaves a file of no tokens, which Watch took for
// a file that does not parse ("no tokens"): the leaked token stayed in
// force, with an error in the log, and the attacker holding it went on
// recording decisions and overriding them. The same for a line commented
// out. What the attacker gains: a revocation that does not happen.
func TestAttack35TheLastTokenTakenOutOfTheFileIsRefused(t *testing.T) {
	for _, after := range []string{"", "# leaked 2026-12-01: revoked\n# svc-prod  prod-token-0123456789 prod record\n"} {
		path := filepath.Join(t.TempDir(), "tokens")
		if err := os.WriteFile(path, []byte("svc-prod  prod-token-0123456789 prod record\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		tok, err := httpauth.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		core, logs := observer.New(zap.InfoLevel)
		go tok.Watch(ctx, path, 10*time.Millisecond, zap.New(core), nil)
		s, err := New(Config{Recorders: map[string]Recorder{"prod": &fakeRecorder{}}, Tokens: tok})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		send := func() int {
			req, _ := http.NewRequest("POST", srv.URL+"/v1/decisions", strings.NewReader(goodDecision))
			req.Header.Set("Authorization", "Bearer prod-token-0123456789")
			req.Header.Set("Content-Type", "application/json")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if code := send(); code != 201 {
			t.Fatalf("before the revocation: %d", code)
		}
		if err := os.WriteFile(path, []byte(after), 0o600); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(3 * time.Second)
		code := send()
		for code != 401 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			code = send()
		}
		if code != 401 {
			var logged []string
			for _, e := range logs.All() {
				logged = append(logged, fmt.Sprintf("%s %v", e.Message, e.ContextMap()["error"]))
			}
			t.Errorf("the token file's only line taken out (file now %q): the revoked token is still answered %d after 3 s; log: %q", after, code, logged)
		}
	}
}
