package producer

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/shared"
)

// PublishAsync validates e and hands it to the Kafka client; done is called
// once, from a producer goroutine, with the Durable-mode receipt or an error
// wrapping ErrAuditUnavailable (franz-go fails a record that could not be
// delivered within Config.Timeout; one already sent to a broker that then
// hangs fails when its connection does). Events are written in the order
// PublishAsync is called.
//
// At most Config.MaxInFlight events wait for their acks at once: beyond
// that PublishAsync blocks until one is confirmed (back-pressure) or ctx
// ends. It returns an error, and done is not called, when e is invalid
// (nothing is published), when ctx ends while it waits, or after Close.
func (p *Producer) PublishAsync(ctx context.Context, e *shared.Envelope, done func(*shared.Receipt, error)) error {
	value, err := p.value(e)
	if err != nil {
		p.m.invalid.Inc()
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
	p.async.Add(1)
	receipt := &shared.Receipt{EventID: e.EventID, DecisionID: e.DecisionID(), Durability: shared.DurabilityDurable}
	// The record is not tied to ctx: once handed over it is delivered or
	// fails within the delivery timeout, and done always runs.
	p.cl.Produce(context.Background(), &kgo.Record{Key: []byte(e.EventID), Value: value}, func(_ *kgo.Record, err error) {
		defer p.async.Done()
		<-p.window
		if err != nil {
			p.m.failed.Inc()
			done(receipt, fmt.Errorf("%w: %v", ErrAuditUnavailable, err))
			return
		}
		p.m.durable.Inc()
		done(receipt, nil)
	})
	return nil
}
