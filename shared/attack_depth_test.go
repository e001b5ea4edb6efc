package shared

import (
	"strings"
	"testing"
	"time"
)

// The deepest record the ingest API completes is sealed as an EVENT and its
// line verifies.
func TestAttackDeepestCompletedRecordSeals(t *testing.T) {
	d := Defaults{Type: TypeDecision, EventID: "e", OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var deepest []byte
	for n := 0; n < MaxDepth+2; n++ {
		body := strings.Replace(completeSeeds[0], `"DE"`, strings.Repeat("[", n)+strings.Repeat("]", n), 1)
		if _, rec, err := CompleteRecord([]byte(body), d); err == nil {
			deepest = rec
		}
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e, err := SealRecord(Head{Chain: "bench", Hash: ZeroHash}, Source{Topic: "t", Timestamp: at}, deepest, at)
	if err != nil || e.Type != EntryEvent {
		t.Fatalf("sealed as %v (%v): %+v", e.Type, err, e.Invalid)
	}
	l, _ := e.Line()
	if _, err := ParseLine(l); err != nil {
		t.Fatalf("line of the deepest record: %v", err)
	}
}
