package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

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
