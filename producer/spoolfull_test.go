package producer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aegisai/audit/shared"
)

// A spool whose cursor cannot be saved (its disk full: the operators'
// outside trial filled a tmpfs under aegis ingest's --spool-dir) still
// publishes each record once. Before, the replay round failed after
// publishing its 500 records, and the next round, a second later, sent the
// same 500 again: 8 rounds sealed 4,000 entries for 500 escalations, for
// as long as the disk stayed full, each a duplicate in the write-once chain.
func TestASpoolWhoseCursorCannotBeSavedPublishesEachRecordOnce(t *testing.T) {
	defer func(d time.Duration) { spoolRetry = d }(spoolRetry)
	spoolRetry = 20 * time.Millisecond
	c := testBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	dir := t.TempDir()
	s, err := openSpool(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	const n = 700 // more than a round's 500
	at := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	for i := range n {
		body := fmt.Sprintf(`{"environment":"prod","decision":{"decision_id":"d-%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`, i)
		ev, err := ParseEvent([]byte(body), shared.Defaults{Type: shared.TypeDecision, EventID: fmt.Sprintf("ev-%d", i), OccurredAt: at})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.append([][]byte{ev.record}); err != nil {
			t.Fatal(err)
		}
	}
	s.close()
	// The cursor cannot be written, as on a full disk (a directory where
	// its temporary file goes: refused even to root).
	if err := os.Mkdir(filepath.Join(dir, "cursor.tmp"), 0o700); err != nil {
		t.Fatal(err)
	}

	p, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod", Topic: "t", SpoolDir: dir, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.spool.records() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * spoolRetry) // rounds enough to send them again
	p.Close()

	rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
	defer rcancel()
	got := topicRecords(rctx, t, c, "t", 10*n)
	seen := map[string]int{}
	for _, r := range got {
		seen[string(r.Key)]++
	}
	if len(got) != n || len(seen) != n {
		t.Fatalf("%d records published for %d spooled (%d distinct): want each once", len(got), n, len(seen))
	}
}
