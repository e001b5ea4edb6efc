package producer

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/aegisai/audit/shared"
)

func callbackDecision(id string) shared.Decision {
	return shared.Decision{DecisionID: id, Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}
}

// A PublishAsync callback that publishes a follow-up event (a retry, or
// the next step of a flow) while escalations wait in the spool. The
// spool's replay waits for the Kafka client to be done with every record
// first; the callbacks ran on the client's goroutine, so the replay
// waited for this one, which waited for the replay: the follow-up failed
// after Timeout with the broker up (found by an attack on the spool's
// ordering, 2026-12-01).
func TestACallbackThatPublishesAgainIsNotHeldBehindTheSpool(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const timeout = 3 * time.Second
	p, back := spoolDuringSlowBroker(ctx, t, timeout)
	defer p.Close()
	type result struct {
		err  error
		took time.Duration
	}
	follow := make(chan result, 1)
	if err := p.PublishAsync(ctx, p.NewDecision(callbackDecision("d0")), func(_ *shared.Receipt, err error) {
		start := time.Now()
		ferr := p.PublishAsync(context.Background(), p.NewDecision(callbackDecision("d0-next")), nil)
		follow <- result{ferr, time.Since(start)}
	}); err != nil {
		t.Fatal(err)
	}
	// Govern gives up while d0's request is held, and spools.
	gctx, gcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	out := p.Govern(gctx, callbackDecision("d1"), Policy{})
	gcancel()
	if !out.Spooled {
		t.Fatalf("Govern: spooled %v (%v, %v)", out.Spooled, out.Err, out.SpoolErr)
	}
	back.Store(true)
	r := <-follow
	if r.err != nil || r.took > timeout/2 {
		t.Fatalf("PublishAsync from a callback, the broker up: took %s, returned %v; want it handed over once the spool is published", r.took.Round(time.Millisecond), r.err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// A callback that takes long (it writes to a slow sink) holds back the
// callbacks after it, and Flush, but not the confirmations of
// synchronous calls: LogDecision succeeds and Govern does not escalate.
// Before, every confirmation ran on the goroutine the callback held, and
// both failed after Timeout with the broker up.
func TestASlowCallbackDoesNotHoldBackSynchronousCalls(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := testBroker(t)
	const timeout = 2 * time.Second
	p, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod", Timeout: timeout, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	started, release := make(chan struct{}), make(chan struct{})
	var order []string
	if err := p.PublishAsync(ctx, p.NewDecision(callbackDecision("slow")), func(*shared.Receipt, error) {
		close(started)
		<-release
		order = append(order, "slow")
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.PublishAsync(ctx, p.NewDecision(callbackDecision("next")), func(_ *shared.Receipt, err error) {
		order = append(order, "next")
	}); err != nil {
		t.Fatal(err)
	}
	<-started
	if _, err := p.LogDecision(ctx, callbackDecision("sync")); err != nil {
		t.Fatalf("LogDecision while a callback runs: %v", err)
	}
	if out := p.Govern(ctx, callbackDecision("governed"), Policy{}); !out.Audited || out.Escalated {
		t.Fatalf("Govern while a callback runs: audited %v, escalated %v: %v", out.Audited, out.Escalated, out.Err)
	}
	fctx, fcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err = p.Flush(fctx)
	fcancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush while a callback runs: %v, want it to wait for the callback", err)
	}
	close(release)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(order) != 2 || order[0] != "slow" || order[1] != "next" {
		t.Fatalf("callbacks ran as %v, want slow then next", order)
	}
}
