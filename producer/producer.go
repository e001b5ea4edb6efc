// Package producer is the library services use to record decisions and
// overrides.
//
//   - Durable mode (the default): a call returns once the event is
//     acknowledged by every in-sync Kafka replica (idempotent producer), or
//     with an error wrapping ErrAuditUnavailable within the deadline.
//   - Sealed mode (WithDurability(Sealed)): a call returns once the event is
//     sealed in S3 under a signed checkpoint, with a shared.Receipt that
//     replayer.VerifyReceipt (`aegis verify-receipt`) checks against S3.
//   - Async (PublishAsync): high-volume callers hand events over and get
//     the result in a callback; at most Config.MaxInFlight events are
//     unconfirmed at once, and PublishAsync blocks (back-pressure) beyond.
//     Flush waits for them; Close flushes.
//   - Govern: the fail-safe rule. A decision that could not be audited is
//     not returned as made: the caller gets the policy's fail-safe action,
//     and the escalation is recorded from a local spool once the broker is
//     back (govern.go, spool.go).
//
// Invalid events are refused before anything is published, with every
// broken field named (shared.FieldErrorsOf). That check, under the
// sealer's own rules, is most of what the producer costs beyond Kafka: a
// few µs of CPU per event on the caller's goroutine, two to three times
// what franz-go spends producing the bytes (README, "Measured here").
//
// An event keeps its event id across the producer's own retries, and a
// caller retries across calls or processes by logging the same envelope
// (NewDecision, NewOverride, then Log) again: the index treats one event
// id with the same bytes as one event.
package producer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/aegisai/audit/internal/platform/kafkaconn"
	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/shared"
)

// ErrAuditUnavailable means the event could not be made durable (or, in
// Sealed mode, was not sealed in time): the caller must not treat the
// decision as recorded.
var ErrAuditUnavailable = errors.New("audit log unavailable")

// ErrNotSealed wraps ErrAuditUnavailable for a Sealed-mode call whose
// event is durable in Kafka but was not sealed within the deadline: it
// will be sealed when the sealer catches up, but the caller has no
// receipt.
var ErrNotSealed = fmt.Errorf("%w: durable in Kafka but not sealed in time", ErrAuditUnavailable)

// ErrClosed is returned by calls after Close. It wraps ErrAuditUnavailable:
// the event is not recorded, and a caller that applies its fail-safe on
// ErrAuditUnavailable applies it then too (it did not wrap it: an outside
// trial).
var ErrClosed = fmt.Errorf("%w: producer closed", ErrAuditUnavailable)

// Config configures a Producer.
type Config struct {
	// Brokers are the Kafka seed brokers (required).
	Brokers []string
	// Environment is the chain events are recorded in (required).
	Environment string
	// Topic is the decisions topic. Default: the chain's own,
	// topics.Decisions(Environment).
	Topic string
	// SealedTopic is the sealed topic Sealed-mode calls watch. Default
	// "sealed".
	SealedTopic string
	// Timeout bounds each Durable call when ctx has no earlier deadline.
	// Default 10s; New refuses one below a millisecond.
	Timeout time.Duration
	// SealTimeout bounds each Sealed call. Default 30s; New refuses one
	// below a millisecond.
	SealTimeout time.Duration
	// MaxInFlight bounds the async events not yet confirmed. Default 10,000.
	MaxInFlight int
	// SpoolDir holds the escalations Govern could not publish, replayed in
	// order when the broker is back. Empty: escalations are not recorded
	// when Kafka is down (they are still returned and counted). New
	// refuses a SpoolDir whose waiting records are of another chain.
	SpoolDir string
	// SpoolMaxBytes bounds the spool. Default 64 MiB.
	SpoolMaxBytes int64
	// Metrics registers the producer's metrics (nil: none). A producer
	// made again with the same registry (after Close) counts on in the
	// collectors registered by the one before.
	Metrics prometheus.Registerer
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
	// Now is the clock for OccurredAt. Default time.Now.
	Now func() time.Time
	// Kafka adds client options (TLS, SASL) to every Kafka client.
	Kafka []kgo.Opt
	// RecordedBy, optional, is sealed as the recorded_by of every event
	// this producer records without one (Log, PublishAsync, Govern,
	// LogEvent, escalations): whom this service records for, as it states
	// it (its name, or its Kafka principal). An id (docs/FORMAT.md
	// section 4).
	RecordedBy string
}

// Producer publishes audit events. It is safe for concurrent use.
type Producer struct {
	cfg    Config
	cl     *kgo.Client
	m      *metrics
	window chan struct{} // one token per async event in flight
	// handed counts the async events handed to the client, confirmed
	// those whose callback has run: the client runs the callbacks of the
	// one partition in the order the events were handed over, so Flush
	// waits for confirmed to reach handed as it was when Flush was
	// called (flushers), not for a moment with nothing in flight, which
	// never came under steady traffic.
	handed, confirmed atomic.Uint64
	flushing          atomic.Int32 // len(flushers), read without flushMu
	flushMu           sync.Mutex
	flushers          []*flusher
	// asyncPromise is asyncDone as a func value, made once.
	asyncPromise func(*kgo.Record, error)
	// outcomes carries each async event's outcome, in the client's
	// order, from the client's promise goroutine to the one goroutine
	// that runs the callbacks (confirm): a callback then holds back only
	// the callbacks after it, never the client's confirmations of
	// LogDecision's and Govern's records or the spool's replay. Each
	// event waiting in it holds a window token, so a send never blocks.
	outcomes      chan *asyncEvent
	confirmerDone chan struct{} // closed when confirm has returned
	watch         *sealWatch
	spool         *spool
	replayNow     chan struct{} // wakes the spool's replay (behindSpool)
	stop          context.CancelFunc
	bg            sync.WaitGroup

	// unchecked holds why the decisions topic is not checked yet (nil once
	// it is).
	unchecked atomic.Pointer[error]
	late      lateOutcomes
	// settling counts the calls given up on whose late outcomes are not
	// kept yet: ProduceSync returns in its own goroutine, after the
	// client's Flush may have returned, so the spool waits for them
	// (replayOnce) before it asks late whether a record went out.
	settling atomic.Int64

	mu     sync.RWMutex
	closed bool
	// calls counts the calls in flight (Govern, Log, LogEvent, Publish,
	// EscalateEvent), which Close waits for before it closes the client
	// and the spool; added to only while not closed (enter).
	calls sync.WaitGroup
}

// enter counts a call in flight and reports whether it did: not once the
// producer is closed (the call then fails with ErrClosed).
func (p *Producer) enter() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return false
	}
	p.calls.Add(1)
	return true
}

// checkTopic checks the decisions topic until it passes or ctx ends.
func (p *Producer) checkTopic(ctx context.Context) {
	defer p.bg.Done()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		cctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		err := topics.EnsureSingle(cctx, p.cl, p.cfg.Topic)
		cancel()
		if err == nil {
			p.unchecked.Store(nil)
			p.cfg.Logger.Info("the decisions topic is checked; calls go through", zap.String("topic", p.cfg.Topic))
			return
		}
		if ctx.Err() == nil {
			p.unchecked.Store(&err)
		}
	}
}

// Ready reports whether calls can go through: nil once the decisions
// topic is checked (one partition), else why not.
func (p *Producer) Ready() error {
	if err := p.unchecked.Load(); err != nil {
		return fmt.Errorf("decisions topic %s not checked yet: %w", p.cfg.Topic, *err)
	}
	return nil
}

// New makes a producer: it connects to Kafka and makes sure the decisions
// topic exists with one partition (within Config.Timeout), failing on a
// topic of more. A broker out of reach is no error here: New returns, the
// check goes on in the background, and calls fail with ErrAuditUnavailable
// (Govern escalates) until it passes; Ready says why meanwhile. With a
// SpoolDir it opens the spool and starts replaying it.
func New(ctx context.Context, cfg Config) (*Producer, error) {
	if len(cfg.Brokers) == 0 || cfg.Environment == "" {
		return nil, errors.New("producer config: Brokers and Environment are required")
	}
	if !shared.ValidIdentifier(cfg.Environment) {
		return nil, fmt.Errorf("producer config: Environment %q is not a valid chain id (1 to 128 of A-Z a-z 0-9 . _ -)", cfg.Environment)
	}
	if err := shared.CheckID("RecordedBy", cfg.RecordedBy); cfg.RecordedBy != "" && err != nil {
		return nil, fmt.Errorf("producer config: %w", err)
	}
	// A Timeout of 5 (nanoseconds, meant as seconds) or below zero made
	// every call fail and the topic check never pass: New succeeded and
	// Govern escalated every decision, for good.
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"Timeout", cfg.Timeout}, {"SealTimeout", cfg.SealTimeout}} {
		if t.d != 0 && t.d < time.Millisecond {
			return nil, fmt.Errorf("producer config: %s %v is below a millisecond: no call could succeed (a time.Duration counts nanoseconds: write 10 * time.Second; 0 is the default)", t.name, t.d)
		}
	}
	if cfg.Topic == "" {
		cfg.Topic = topics.Decisions(cfg.Environment)
	}
	if cfg.SealedTopic == "" {
		cfg.SealedTopic = "sealed"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.SealTimeout == 0 {
		cfg.SealTimeout = 30 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 10_000
	}
	if cfg.SpoolMaxBytes <= 0 {
		cfg.SpoolMaxBytes = 64 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// The spool first: a spool that cannot be used fails New before
	// anything runs (opened after the topic check, its failure left that
	// check's goroutine polling a closed client for good, and came only
	// after Timeout when the broker was out of reach).
	var sp *spool
	if cfg.SpoolDir != "" {
		var err error
		if sp, err = openSpool(cfg.SpoolDir, cfg.SpoolMaxBytes); err != nil {
			return nil, err
		}
		// The spool's records are published to this producer's topic:
		// another chain's would be sealed there as invalid entries, and
		// taken out of the spool (a service restarted with another
		// Environment and the same SpoolDir lost them so).
		if err := sp.checkEnvironment(cfg.Environment); err != nil {
			sp.close()
			return nil, err
		}
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		// Every record to partition 0, the one the sealer seals: the topic
		// is checked to have one at the start, and partitions added
		// later took records by their keys that no sealer ever sealed
		// (TestRecordsGoToPartitionZeroWhateverTheTopicGrewTo).
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(max(cfg.Timeout, time.Second)), // franz-go refuses less; ctx enforces Timeout
		kgo.ProducerLinger(time.Millisecond),
		kgo.MaxBufferedRecords(cfg.MaxInFlight + 1000),
		kgo.WithLogger(kafkaconn.Logger(cfg.Logger)),
	}, cfg.Kafka...)...)
	if err != nil {
		if sp != nil {
			sp.close()
		}
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	p := &Producer{cfg: cfg, cl: cl, m: newMetrics(cfg.Metrics, cfg.Environment), window: make(chan struct{}, cfg.MaxInFlight), spool: sp,
		replayNow: make(chan struct{}, 1), outcomes: make(chan *asyncEvent, cfg.MaxInFlight), confirmerDone: make(chan struct{})}
	p.asyncPromise = p.asyncDone
	go p.confirm()
	p.watch = newSealWatch(p)
	bg, stop := context.WithCancel(context.Background())
	p.stop = stop
	// Nothing is published before the decisions topic is known to have
	// one partition. A broker that is down now is not an error: the
	// producer keeps checking, and calls fail with ErrAuditUnavailable
	// (Govern escalates) until it is back.
	checkCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	err = topics.EnsureSingle(checkCtx, cl, cfg.Topic)
	cancel()
	switch {
	case errors.Is(err, topics.ErrNotSingle):
		stop()
		cl.Close()
		if sp != nil {
			sp.close()
		}
		return nil, err
	case err != nil:
		// A copy: New's err is set again below, and Ready said "not
		// checked yet: %!w(<nil>)" (seen while testing this session).
		why := err
		p.unchecked.Store(&why)
		cfg.Logger.Warn("the decisions topic cannot be checked now; calls fail until it can", zap.String("topic", cfg.Topic), zap.Error(err))
		p.bg.Add(1)
		go p.checkTopic(bg)
	}
	if sp != nil {
		p.m.spooled.Set(float64(sp.records()))
		p.bg.Add(1)
		go p.replaySpool(bg)
	}
	return p, nil
}

// Close flushes the async events in flight (for at most Timeout), waits
// for the calls in flight (each bounded by Timeout, or SealTimeout in
// Sealed mode), so that a Govern call's escalation is spooled, stops
// replaying the spool (what is left stays on disk for the next start) and
// releases the clients. Calls after Close fail with ErrClosed.
func (p *Producer) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		p.cfg.Logger.Warn("closing with async events unconfirmed", zap.Error(err))
	}
	// Before, the client and the spool were closed under the calls in
	// flight: a Govern call's record failed ("client closed") and its
	// escalation could not be spooled ("file already closed"), so the
	// caller applied the fail-safe action and nothing recorded it.
	p.calls.Wait()
	p.stop()
	p.bg.Wait()
	p.watch.close()
	p.cl.Close()
	// Every record's promise has run: what is left is callbacks. One
	// that never returns must not hold Close for ever.
	go func() { p.outcomes <- nil }()
	select {
	case <-p.confirmerDone:
	case <-time.After(p.cfg.Timeout):
		p.cfg.Logger.Warn("closing while a PublishAsync callback has not returned")
	}
	if p.spool != nil {
		// Said at shutdown: an operator stopping a service with the
		// broker down was told nothing of what it kept (an outside trial).
		if n := p.spool.records(); n > 0 {
			p.cfg.Logger.Warn("closing with escalation records in the spool; they are published, in order, at the next start with this spool directory",
				zap.Int("records", n), zap.String("spool_dir", p.spool.dir))
		}
		p.spool.close()
	}
}

// Flush waits until every async event handed over so far is confirmed (its
// callback has run) or ctx ends. Events handed over meanwhile, by other
// goroutines, are not waited for.
func (p *Producer) Flush(ctx context.Context) error {
	target := p.handed.Load()
	if p.confirmed.Load() >= target {
		return nil
	}
	f := &flusher{target: target, done: make(chan struct{})}
	p.flushMu.Lock()
	p.flushers = append(p.flushers, f)
	p.flushing.Add(1)
	p.flushMu.Unlock()
	// Confirmed before the flusher was seen by asyncDone: not missed,
	// since asyncDone counts before it looks for flushers.
	p.wakeFlushers(p.confirmed.Load())
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		p.flushMu.Lock()
		for i, x := range p.flushers {
			if x == f {
				p.flushers = append(p.flushers[:i:i], p.flushers[i+1:]...)
				p.flushing.Add(-1)
				break
			}
		}
		p.flushMu.Unlock()
		return fmt.Errorf("flush: %d async events unconfirmed: %w", target-min(target, p.confirmed.Load()), ctx.Err())
	}
}

// A flusher is a Flush call waiting for confirmed to reach its target.
type flusher struct {
	target uint64
	done   chan struct{}
}

// wakeFlushers releases the Flush calls whose events are all confirmed.
func (p *Producer) wakeFlushers(confirmed uint64) {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	kept := p.flushers[:0]
	for _, f := range p.flushers {
		if confirmed >= f.target {
			close(f.done)
			p.flushing.Add(-1)
		} else {
			kept = append(kept, f)
		}
	}
	clear(p.flushers[len(kept):])
	p.flushers = kept
}

// Durability is how far a call waits.
type Durability int

const (
	// Durable returns once every in-sync Kafka replica has the event.
	Durable Durability = iota
	// Sealed returns once the event is sealed in S3 under a signed
	// checkpoint, with its receipt.
	Sealed
)

// String is the durability's name, as ParseDurability reads it and
// receipts and ingest's ?durability= spell it ("durable", "sealed").
func (d Durability) String() string {
	if d == Sealed {
		return shared.DurabilitySealed
	}
	return shared.DurabilityDurable
}

// ParseDurability reads "durable" or "sealed".
func ParseDurability(s string) (Durability, error) {
	switch s {
	case shared.DurabilityDurable:
		return Durable, nil
	case shared.DurabilitySealed:
		return Sealed, nil
	}
	return Durable, fmt.Errorf("durability %q: want %q or %q", s, shared.DurabilityDurable, shared.DurabilitySealed)
}

// Option sets a per-call choice.
type Option func(*callOptions)

type callOptions struct {
	eventID    string
	durability Durability
}

// WithEventID sets the event id (default: a new UUID). Publishing the same
// event again with the same id and content is one event to the index; the
// content includes occurred_at, which LogDecision and LogOverride set anew
// at each call, so retry with Log of one envelope.
func WithEventID(id string) Option { return func(o *callOptions) { o.eventID = id } }

// WithDurability chooses Durable (default) or Sealed.
func WithDurability(d Durability) Option { return func(o *callOptions) { o.durability = d } }

// DurabilityOf is the durability a call's options choose (for wrappers
// and fakes of the producer).
func DurabilityOf(opts ...Option) Durability { return options(opts).durability }

func options(opts []Option) callOptions {
	var o callOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

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

// LogDecision records d as a new event and returns its receipt once it is
// durable (or sealed, with WithDurability(Sealed)). Each call is a new
// event at a new time: to retry without recording the decision twice,
// build its envelope once (NewDecision) and Log that envelope again. A
// second LogDecision WithEventID of the first receipt's id has another
// occurred_at, so the index records it as a conflicting event of that id
// (an event-id-reused anomaly), not as the same event.
func (p *Producer) LogDecision(ctx context.Context, d shared.Decision, opts ...Option) (*shared.Receipt, error) {
	return p.Log(ctx, p.NewDecision(d), opts...)
}

// LogOverride records o as a new event (see LogDecision).
func (p *Producer) LogOverride(ctx context.Context, o shared.Override, opts ...Option) (*shared.Receipt, error) {
	return p.Log(ctx, p.NewOverride(o), opts...)
}

// Log records one envelope with the call's options (a WithEventID replaces
// its event id) and returns its receipt. With an error the receipt still
// names the event (its id, to retry with), and its Durability is what was
// reached: "durable" for a Sealed call Kafka took but that was not sealed
// in time (ErrNotSealed), "" otherwise (it said the durability asked for,
// which a caller could read as reached: an outside trial).
func (p *Producer) Log(ctx context.Context, e *shared.Envelope, opts ...Option) (*shared.Receipt, error) {
	if p.enter() {
		defer p.calls.Done()
	}
	o := options(opts)
	if o.eventID != "" {
		cp := *e
		cp.EventID = o.eventID
		e = &cp
	}
	r := &shared.Receipt{EventID: e.EventID, DecisionID: e.DecisionID()} // Durability: what logRecord reaches
	value, err := p.value(e)
	if err != nil {
		p.m.invalid.Inc()
		return r, err
	}
	return p.logRecord(ctx, eventKey{event: e.EventID, decision: e.DecisionID()}, value, o.durability, r)
}

// eventKey names an event's record: its event id (the decisions topic's
// record key) and its decision id (the sealed topic's).
type eventKey struct{ event, decision string }

// logRecord publishes value, the checked record of the event id names,
// and returns r once it is durable, or the receipt of its entry once it
// is sealed.
func (p *Producer) logRecord(ctx context.Context, id eventKey, value []byte, d Durability, r *shared.Receipt) (*shared.Receipt, error) {
	if err := p.behindSpool(ctx); err != nil {
		return r, err
	}
	if d != Sealed {
		err := p.produce(ctx, []*kgo.Record{{Key: []byte(id.event), Value: value}})
		if err == nil {
			r.Durability = shared.DurabilityDurable
		}
		return r, err
	}
	sealed, err := p.publishSealed(ctx, id, value)
	if errors.Is(err, ErrNotSealed) {
		r.Durability = shared.DurabilityDurable // Kafka took it (Log)
	}
	if err != nil {
		return r, err
	}
	return sealed, nil
}

// Publish validates and records events, returning when all are durable. The
// events of one call are written in order, each as its canonical JSON. An
// event is checked against every rule the sealer applies (docs/FORMAT.md
// sections 3 and 4) and refused with a *shared.FieldError naming the field
// (shared.FieldErrorsOf lists them all) before anything is published;
// OccurredAt is written in UTC.
func (p *Producer) Publish(ctx context.Context, events ...*shared.Envelope) error {
	if p.enter() {
		defer p.calls.Done()
	}
	recs, err := p.records(events)
	if err != nil {
		return err
	}
	if err := p.behindSpool(ctx); err != nil {
		return err
	}
	return p.produce(ctx, recs)
}

// records validates events and returns their Kafka records.
func (p *Producer) records(events []*shared.Envelope) ([]*kgo.Record, error) {
	recs := make([]*kgo.Record, len(events))
	for i, e := range events {
		value, err := p.value(e)
		if err != nil {
			p.m.invalid.Inc()
			return nil, err
		}
		recs[i] = &kgo.Record{Key: []byte(e.EventID), Value: value}
	}
	return recs, nil
}

// value is the canonical record of e, checked like the sealer checks it.
func (p *Producer) value(e *shared.Envelope) ([]byte, error) {
	if e.Environment != p.cfg.Environment {
		return nil, &shared.FieldError{Field: "environment", Reason: fmt.Sprintf("is %q, this producer records %q", e.Environment, p.cfg.Environment)}
	}
	by := e.RecordedBy == "" && p.cfg.RecordedBy != ""
	if e.OccurredAt.Location() == time.UTC && !by {
		return e.Record()
	}
	cp := *e
	cp.OccurredAt = e.OccurredAt.UTC()
	if by {
		cp.RecordedBy = p.cfg.RecordedBy
	}
	return cp.Record()
}

// produce publishes records and waits for their acks, but never past the
// deadline: an idempotent producer cannot fail a record once a request
// holding it was sent, so a broker that hangs or goes away would otherwise
// hold the caller indefinitely. Such a record stays in the client and is
// delivered when the broker is back (the call reported it as not
// confirmed); its late outcome is kept (late) so that the spool does not
// publish it a second time.
//
// The records go out at once through ProduceSync, which skips the
// client's linger (kept for PublishAsync's batches): a synchronous caller
// waiting a linger for records that will never join its own would pay it
// on every call (about 1 ms at the median, measured by log_decision_p99).
// ProduceSync itself waits without a deadline, so it runs in a goroutine
// of its own, which outlives the call only when the call gave up.
func (p *Producer) produce(ctx context.Context, recs []*kgo.Record) error {
	p.mu.RLock()
	closed := p.closed
	p.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if err := p.Ready(); err != nil {
		p.m.failed.Add(float64(len(recs)))
		return fmt.Errorf("%w: %v", ErrAuditUnavailable, err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	call := &syncProduce{done: make(chan error, 1)}
	go call.run(ctx, p, recs)
	var err error
	select {
	case err = <-call.done:
	case <-ctx.Done():
		p.settling.Add(1) // before the caller can spool what it gave up on
		if call.state.CompareAndSwap(callWaiting, callGaveUp) {
			p.m.failed.Add(float64(len(recs)))
			return fmt.Errorf("%w: %d events not confirmed durable within %s (the client may still deliver them when the broker answers): %v",
				ErrAuditUnavailable, len(recs), p.cfg.Timeout, ctx.Err())
		}
		p.settling.Add(-1)
		err = <-call.done // the results came first
	}
	if err != nil {
		p.m.failed.Add(float64(len(recs)))
		return fmt.Errorf("%w: publish %d events: %v", ErrAuditUnavailable, len(recs), err)
	}
	p.m.durable.Add(float64(len(recs)))
	return nil
}

// A syncProduce is one produce call's wait for its records. Its state
// decides, once, whether the caller takes the results or has given up on
// them, in which case they are kept as late outcomes.
type syncProduce struct {
	state atomic.Int32
	done  chan error
}

const (
	callWaiting int32 = iota
	callAnswered
	callGaveUp
)

func (c *syncProduce) run(ctx context.Context, p *Producer, recs []*kgo.Record) {
	results := p.cl.ProduceSync(ctx, recs...)
	if c.state.CompareAndSwap(callWaiting, callAnswered) {
		c.done <- results.FirstErr()
		return
	}
	for _, r := range results {
		p.late.record(string(r.Record.Key), r.Err == nil)
	}
	p.settling.Add(-1)
}

// lateOutcomes remembers, by event id, whether records a call gave up on
// were delivered after all (a promise that fired after the caller's
// deadline). Entries are dropped when the spool consults them, or after
// an hour.
type lateOutcomes struct {
	mu sync.Mutex
	m  map[string]lateOutcome
}

type lateOutcome struct {
	delivered bool
	at        time.Time
}

func (l *lateOutcomes) record(eventID string, delivered bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]lateOutcome{}
	}
	now := time.Now()
	if len(l.m) > 100_000 {
		for id, o := range l.m {
			if now.Sub(o.at) > time.Hour {
				delete(l.m, id)
			}
		}
	}
	l.m[eventID] = lateOutcome{delivered: delivered, at: now}
}

// delivered reports (and forgets) whether the client delivered eventID
// after its call gave up on it.
func (l *lateOutcomes) delivered(eventID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	o, ok := l.m[eventID]
	delete(l.m, eventID)
	return ok && o.delivered
}
