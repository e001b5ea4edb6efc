package producer

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/aegisai/audit/shared"
)

// Flush returns once the events handed over before it are confirmed, while
// other goroutines go on publishing. Before, it waited for a moment with no
// async event in flight at all, which steady traffic never gives: against
// the real stack, a Flush returned after 2 s for an event confirmed in
// 17 ms, and one bounded by a deadline failed with "async events
// unconfirmed" though every event before it was confirmed (outside trial
// h1).
func TestFlushDoesNotWaitForEventsHandedOverAfterIt(t *testing.T) {
	c := testBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Each produce answer takes 20 ms: with an event handed over every
	// millisecond, some are always in flight.
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		time.Sleep(20 * time.Millisecond)
		return nil, nil, false
	})
	d := func(id string) *shared.Envelope {
		return p.NewDecision(shared.Decision{DecisionID: id, Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"})
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			if err := p.PublishAsync(ctx, d(fmt.Sprintf("other-%d", i)), func(*shared.Receipt, error) {}); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()
	time.Sleep(100 * time.Millisecond)

	var mine atomic.Bool
	if err := p.PublishAsync(ctx, d("mine"), func(_ *shared.Receipt, err error) { mine.Store(err == nil) }); err != nil {
		t.Fatal(err)
	}
	fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
	defer fcancel()
	if err := p.Flush(fctx); err != nil {
		t.Fatalf("Flush under steady traffic: %v", err)
	}
	if !mine.Load() {
		t.Fatal("Flush returned before the event handed over before it was confirmed")
	}
}
