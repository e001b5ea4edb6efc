// Package producer is the library services use to record decisions and
// overrides. A call returns only after the event is durable in Kafka (acks
// from all in-sync replicas, idempotent producer) or with an error wrapping
// ErrAuditUnavailable within the configured deadline. Invalid events are
// refused before anything is published.
package producer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kzap"
	"go.uber.org/zap"

	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/shared"
)

// ErrAuditUnavailable means the event could not be made durable: the caller
// must not treat the decision as recorded.
var ErrAuditUnavailable = errors.New("audit log unavailable")

// Config configures a Producer.
type Config struct {
	// Brokers are the Kafka seed brokers (required).
	Brokers []string
	// Topic is the decisions topic. Default "decisions".
	Topic string
	// Environment is the chain events are recorded in (required).
	Environment string
	// Timeout bounds each Log call when ctx has no earlier deadline.
	// Default 10s.
	Timeout time.Duration
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
	// Now is the clock for OccurredAt. Default time.Now.
	Now func() time.Time
}

// Producer publishes audit events. It is safe for concurrent use.
type Producer struct {
	cfg Config
	cl  *kgo.Client
}

// New connects to Kafka and makes sure the decisions topic exists with one
// partition.
func New(ctx context.Context, cfg Config) (*Producer, error) {
	if len(cfg.Brokers) == 0 || cfg.Environment == "" {
		return nil, errors.New("producer config: Brokers and Environment are required")
	}
	if cfg.Topic == "" {
		cfg.Topic = "decisions"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(max(cfg.Timeout, time.Second)), // franz-go refuses less; ctx enforces Timeout
		kgo.ProducerLinger(time.Millisecond),
		kgo.WithLogger(kzap.New(cfg.Logger, kzap.Level(kgo.LogLevelWarn))),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	if err := topics.EnsureSingle(ctx, cl, cfg.Topic); err != nil {
		cl.Close()
		return nil, fmt.Errorf("%w: %v", ErrAuditUnavailable, err)
	}
	return &Producer{cfg: cfg, cl: cl}, nil
}

// Close flushes nothing further and releases the client.
func (p *Producer) Close() { p.cl.Close() }

// NewDecision returns the envelope of d with a new event id and the current
// time. Publishing the same envelope again (after a timeout, say) is
// idempotent: the index treats one event id with the same bytes as one
// event, however often it is sealed.
func (p *Producer) NewDecision(d shared.Decision) *shared.Envelope {
	return &shared.Envelope{Type: shared.TypeDecision, EventID: uuid.NewString(), Environment: p.cfg.Environment,
		OccurredAt: p.cfg.Now().UTC(), Decision: &d}
}

// NewOverride returns the envelope of o with a new event id and the current
// time (see NewDecision).
func (p *Producer) NewOverride(o shared.Override) *shared.Envelope {
	return &shared.Envelope{Type: shared.TypeOverride, EventID: uuid.NewString(), Environment: p.cfg.Environment,
		OccurredAt: p.cfg.Now().UTC(), Override: &o}
}

// LogDecision records d as a new event and returns its event id once it is
// durable. On error the event id is returned too: to retry without
// recording the decision twice, build the envelope once with NewDecision
// and Publish it again.
func (p *Producer) LogDecision(ctx context.Context, d shared.Decision) (string, error) {
	e := p.NewDecision(d)
	return e.EventID, p.Publish(ctx, e)
}

// LogOverride records o as a new event (see LogDecision).
func (p *Producer) LogOverride(ctx context.Context, o shared.Override) (string, error) {
	e := p.NewOverride(o)
	return e.EventID, p.Publish(ctx, e)
}

// Publish validates and records events, returning when all are durable. The
// events of one call are written in order, each as its canonical JSON. An
// event is checked against every rule the sealer applies (docs/FORMAT.md
// sections 3 and 4) and refused with a *shared.FieldError naming the field
// before anything is published; OccurredAt is written in UTC.
func (p *Producer) Publish(ctx context.Context, events ...*shared.Envelope) error {
	recs := make([]*kgo.Record, len(events))
	for i, e := range events {
		if e.Environment != p.cfg.Environment {
			return fmt.Errorf("%w: environment %q, this producer records %q", shared.ErrInvalidEvent, e.Environment, p.cfg.Environment)
		}
		utc := *e
		utc.OccurredAt = e.OccurredAt.UTC()
		value, err := utc.Record()
		if err != nil {
			return err
		}
		recs[i] = &kgo.Record{Key: []byte(e.EventID), Value: value}
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	// Wait for the acks, but never past the deadline: an idempotent producer
	// cannot fail a record that is in flight, so a hung broker would
	// otherwise hold the caller indefinitely.
	results := make(chan error, len(recs))
	for _, r := range recs {
		p.cl.Produce(ctx, r, func(_ *kgo.Record, err error) { results <- err })
	}
	for range recs {
		select {
		case err := <-results:
			if err != nil {
				return fmt.Errorf("%w: publish %d events: %v", ErrAuditUnavailable, len(recs), err)
			}
		case <-ctx.Done():
			return fmt.Errorf("%w: %d events not confirmed durable within %s (they may still be recorded): %v",
				ErrAuditUnavailable, len(recs), p.cfg.Timeout, ctx.Err())
		}
	}
	return nil
}
