package producer

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap/zaptest"

	"github.com/aegisai/audit/shared"
)

// spoolDuringSlowBroker makes a producer whose broker answers produce
// requests 500 ms late until back is set, and has Govern spool one
// escalation (decision and CHALLENGE) meanwhile.
func spoolDuringSlowBroker(ctx context.Context, t *testing.T, timeout time.Duration) (*Producer, *atomic.Bool) {
	t.Helper()
	c := testBroker(t)
	p, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod", SpoolDir: t.TempDir(), Timeout: timeout, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var back atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if back.Load() {
			return nil, nil, false
		}
		c.KeepControl()
		time.Sleep(500 * time.Millisecond)
		return nil, nil, false
	})
	return p, &back
}

// A call after Close while escalations wait in the spool (the broker was
// away at shutdown) must fail at once with ErrClosed, as producer.go's
// Close promises ("Calls after Close fail with ErrClosed"). behindSpool
// runs before the closed check: the call waited the whole Timeout for a
// replay that Close had stopped, and failed as "spooled escalations are
// not published yet", not ErrClosed.
func TestAttack33cACallAfterCloseWithASpoolFailsAtOnceWithErrClosed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, _ := spoolDuringSlowBroker(ctx, t, 3*time.Second)
	p.stop() // the replay stops, as in Close, so that nothing drains the spool
	p.bg.Wait()
	// The broker stays slow: Govern gives up and spools.
	gctx, gcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	d := shared.Decision{DecisionID: "d1", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}
	out := p.Govern(gctx, d, Policy{})
	gcancel()
	if !out.Spooled || p.spool.records() == 0 {
		t.Fatalf("Govern: spooled %v (%v, %v), %d records in the spool", out.Spooled, out.Err, out.SpoolErr, p.spool.records())
	}
	p.Close()
	start := time.Now()
	_, err := p.LogDecision(ctx, shared.Decision{DecisionID: "d2", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"})
	took := time.Since(start)
	if !errors.Is(err, ErrClosed) || took > time.Second {
		t.Fatalf("LogDecision after Close took %s and returned %v; want ErrClosed at once", took.Round(time.Millisecond), err)
	}
}
