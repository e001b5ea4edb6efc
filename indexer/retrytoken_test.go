package indexer_test

import (
	"context"
	"testing"
	"time"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/shared"
)

// ingest's documented retry ("503: retry with the same event_id") sent
// after the caller's token was rotated (a new line, a new name: the token
// file refuses one name twice) differs from the first record in
// recorded_by alone: it is one event sealed twice (duplicate-event, the
// first one indexed), not an event id reused, and index check finds
// nothing to mend. An attack (2026-11-30) found it seen as a reuse, two
// entries at one item key, which index check reported for good.
func TestARetryUnderAnotherTokenIsOneEvent(t *testing.T) {
	ctx := context.Background()
	ix, rd := newIndex(t)
	var seen []indexer.Anomaly
	ix.OnAnomaly = func(a indexer.Anomaly) { seen = append(seen, a) }
	body := `{"event_id":"e-rot-1","occurred_at":"2026-11-30T10:00:00Z","environment":"prod","decision":{"decision_id":"d-rot","action":"BLOCK","confidence_score":0.8,"policy_version":"p","user_id":"u-rot","session_id":"s"}}`
	var raws []string
	for _, token := range []string{"svc-2026a", "svc-2026b"} { // first attempt (503), retry after rotation
		_, rec, err := shared.CompleteRecord([]byte(body), shared.Defaults{Type: shared.TypeDecision, EventID: "unused", OccurredAt: time.Now(), RecordedBy: "token:" + token})
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, string(rec))
	}
	recs := sealed(t, raws...)
	for _, r := range recs {
		if err := ix.Apply(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range entriesOf(t, recs) { // what aegis index check reads
		dup, err := ix.Expected(ctx, s.Entry)
		diff, err2 := ix.Compare(ctx, s.Entry, s.Record)
		if err != nil || err2 != nil {
			t.Fatal(err, err2)
		}
		if !dup && diff != nil {
			t.Errorf("index check of seq %d: %s %s (a difference no rebuild can remove: two entries, one item key)", s.Entry.Seq, diff.Kind, diff.Detail)
		}
	}
	d, err := rd.Decision(ctx, "d-rot")
	if err != nil {
		t.Fatal(err)
	}
	kinds := []indexer.AnomalyKind{}
	for _, a := range seen {
		kinds = append(kinds, a.Kind)
	}
	t.Logf("anomalies %v; decision recorded_by %q, conflicting %d", kinds, d.RecordedBy, len(d.Conflicting))
	if len(seen) != 1 || seen[0].Kind != indexer.AnomalyDuplicateEvent || len(d.Conflicting) != 0 {
		t.Errorf("a retry with the same event_id and body: anomalies %v, %d conflicting decisions; want one duplicate-event, none conflicting", kinds, len(d.Conflicting))
	}
}
