package producer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/shared"
)

// A service restarted with another Environment and the same SpoolDir must
// not publish the escalations spooled for the first chain: they go to the
// new chain's topic, are sealed there as invalid entries ("environment
// "prod" does not belong to chain ...") and are taken out of the spool,
// so the first chain never records them (outside trial h1, 2026-12-01).
func TestASpoolOfAnotherChainIsNotPublished(t *testing.T) {
	c := testBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"environment":"prod","decision":{"decision_id":"d-1","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`
	ev, err := ParseEvent([]byte(body), shared.Defaults{Type: shared.TypeDecision, EventID: "ev-1", OccurredAt: time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.append([][]byte{ev.record}); err != nil {
		t.Fatal(err)
	}
	s.close()

	p, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "staging", SpoolDir: dir, Timeout: 5 * time.Second})
	if err == nil {
		time.Sleep(3 * spoolRetry) // a replay round or more
		p.Close()
		t.Fatal("a producer of chain staging took a spool of chain prod's escalations")
	}
	if !strings.Contains(err.Error(), `chain "prod"`) || !strings.Contains(err.Error(), `chain "staging"`) {
		t.Errorf("error %q: want both chains named", err)
	}
	// The records are still there, for a producer of their chain.
	p, err = New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod", SpoolDir: dir, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := topicRecords(ctx, t, c, "aegis.decisions.prod", 1); len(got) != 1 || string(got[0].Value) != string(ev.record) {
		t.Fatalf("chain prod's topic holds %d records, want the spooled decision", len(got))
	}
}
