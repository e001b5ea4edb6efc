package producer

import (
	"context"
	"testing"
	"time"

	"github.com/aegisai/audit/shared"
)

// A service shuts its producer down from a PublishAsync callback (on a
// fatal answer, say). Close runs on the Kafka client's goroutine that
// runs every callback: its Flush waits for the event whose callback is
// running (counted once the callback returns), and then it closes the
// client from the client's own callback goroutine. Close must return.
func TestAttack33bCloseFromACallbackReturns(t *testing.T) {
	c := testBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan time.Duration, 1)
	d := shared.Decision{DecisionID: "d1", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}
	if err := p.PublishAsync(ctx, p.NewDecision(d), func(*shared.Receipt, error) {
		start := time.Now()
		p.Close()
		closed <- time.Since(start)
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case took := <-closed:
		t.Logf("Close from a callback took %s", took)
	case <-time.After(15 * time.Second):
		t.Fatal("Close called from a PublishAsync callback has not returned after 15 s")
	}
}

// A Govern call and Close from another goroutine while a PublishAsync
// callback blocks (the documented misuse): Close waits for the Govern call,
// which waits at most Timeout; Close returns.
func TestAttack33bCloseWhileACallbackBlocksAndGovernWaits(t *testing.T) {
	c := testBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod", Timeout: time.Second, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	d := shared.Decision{DecisionID: "d1", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}
	if err := p.PublishAsync(ctx, p.NewDecision(d), func(*shared.Receipt, error) { <-release }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	outc := make(chan Outcome, 1)
	go func() {
		outc <- p.Govern(ctx, shared.Decision{DecisionID: "d2", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}, Policy{})
	}()
	time.Sleep(100 * time.Millisecond)
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	out := <-outc
	t.Logf("Govern: audited %v spooled %v err %v spoolErr %v", out.Audited, out.Spooled, out.Err, out.SpoolErr)
	if !out.Audited && !out.Spooled {
		t.Errorf("Govern during Close: neither audited nor spooled")
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("Close has not returned")
	}
}
