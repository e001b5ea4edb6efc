package producer

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/shared"
)

// PublishAsync validates e and hands it to the Kafka client; done is called
// once, from the producer's callback goroutine, with the Durable-mode
// receipt or an error wrapping ErrAuditUnavailable (franz-go fails a record
// that could not be delivered within Config.Timeout; one already sent to a
// broker that then hangs fails when its connection does). Events are
// written in the order PublishAsync is called, and their callbacks run in
// that order, one at a time.
//
// At most Config.MaxInFlight events wait for their acks or their callbacks
// at once: beyond that PublishAsync blocks until one is confirmed
// (back-pressure) or ctx ends. It returns an error, and done is not called,
// when e is invalid (nothing is published), when ctx ends while it waits,
// or after Close. While escalations wait in the spool, it waits for them to
// be published first, as every call does (within Config.Timeout).
// A nil done is no callback (the outcome is counted in the metrics
// alone), as franz-go's nil promise.
//
// A done that takes long holds back the callbacks after it, Flush, and,
// once MaxInFlight events wait behind it, PublishAsync; it does not hold
// back LogDecision, Govern or the spool's replay, which are confirmed on
// the Kafka client's goroutine. A done may publish again (PublishAsync,
// Log, Govern); with MaxInFlight events waiting behind it, such a call
// waits for room that only done's return makes, until its ctx ends.
func (p *Producer) PublishAsync(ctx context.Context, e *shared.Envelope, done func(*shared.Receipt, error)) error {
	value, err := p.value(e)
	if err != nil {
		p.m.invalid.Inc()
		return err
	}
	if err := p.behindSpool(ctx); err != nil {
		return err
	}
	select {
	case p.window <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for room among %d events in flight: %w", ErrAuditUnavailable, p.cfg.MaxInFlight, ctx.Err())
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		<-p.window
		return ErrClosed
	}
	if err := p.Ready(); err != nil {
		<-p.window
		return fmt.Errorf("%w: %v", ErrAuditUnavailable, err)
	}
	p.handed.Add(1)
	ev := &asyncEvent{Context: context.Background(), done: done,
		receipt: shared.Receipt{EventID: e.EventID, DecisionID: e.DecisionID(), Durability: shared.DurabilityDurable}}
	ev.rec = kgo.Record{Key: []byte(e.EventID), Value: value, Context: ev}
	p.cl.Produce(context.Background(), &ev.rec, p.asyncPromise)
	return nil
}

// An asyncEvent is one PublishAsync call in flight: its record, its
// receipt and its callback in one allocation. It is also the record's
// context, which is how the producer's one promise function finds it
// again (a closure per event cost two allocations). As a context it is
// context.Background: the record is not tied to the caller's ctx; once
// handed over it is delivered or fails within the delivery timeout, and
// done always runs.
type asyncEvent struct {
	context.Context
	rec     kgo.Record
	receipt shared.Receipt
	done    func(*shared.Receipt, error)
	err     error // the outcome, nil when acknowledged
}

// asyncDone is the promise of every async record (p.asyncPromise): it
// hands the outcome to confirm, on the client's goroutine.
func (p *Producer) asyncDone(r *kgo.Record, err error) {
	ev := r.Context.(*asyncEvent)
	ev.rec.Key, ev.rec.Value = nil, nil // the receipt may be kept long after
	if err != nil {
		p.m.failed.Inc()
		ev.err = fmt.Errorf("%w: %v", ErrAuditUnavailable, err)
	} else {
		p.m.durable.Inc()
	}
	p.outcomes <- ev
}

// confirm runs the callbacks of the async events, in the client's order,
// until it reads nil (Close). Before, they ran on the client's goroutine:
// a slow callback held back the confirmations of LogDecision's and
// Govern's records (which then failed, and escalated), and one that
// published again while escalations waited in the spool held the spool's
// replay, which waits for the client, until it failed after
// Config.Timeout (TestACallbackThatPublishesAgainIsNotHeldBehindTheSpool).
func (p *Producer) confirm() {
	defer close(p.confirmerDone)
	for ev := range p.outcomes {
		if ev == nil {
			return
		}
		<-p.window
		if ev.done != nil { // a nil callback crashed the process, on the client's goroutine
			ev.done(&ev.receipt, ev.err)
		}
		// Counted once done has run (Flush's promise), and before the
		// flushers are looked for (Flush registers, then reads it).
		if c := p.confirmed.Add(1); p.flushing.Load() > 0 {
			p.wakeFlushers(c)
		}
	}
}
