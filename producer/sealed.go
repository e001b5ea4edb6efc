package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/aegisai/audit/internal/platform/kafkaconn"
	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/shared"
)

// sealedPartitions is the partition count the sealed topic is created
// with when a Sealed call finds it missing (the sealer's default).
const sealedPartitions = 6

// sealWatch reads the sealed topic (read committed: only entries whose
// object and checkpoint are durable in S3) for the events Sealed-mode
// calls wait for. It starts with the first Sealed call, at the topic's end
// offsets listed before that call publishes, so no entry it waits for can
// be missed. Records whose key (the decision id) no call waits for are
// skipped without being decoded.
type sealWatch struct {
	p *Producer

	mu      sync.Mutex
	cl      *kgo.Client
	cancel  context.CancelFunc
	done    chan struct{}
	waiters map[string][]*waiter // by event id
	keys    map[string]int       // decision ids (record keys) waited for
	// unreadable passes over batches of the sealed topic past the
	// decompression bounds; it learns of them from the client's log too.
	unreadable kafkaconn.PassedOver
}

// waiter is one Sealed call waiting for its event's entry.
type waiter struct {
	value []byte // the canonical record published
	got   chan *shared.Receipt
}

func newSealWatch(p *Producer) *sealWatch {
	return &sealWatch{p: p, waiters: map[string][]*waiter{}, keys: map[string]int{}}
}

// start connects the watcher once.
func (w *sealWatch) start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cl != nil {
		return nil
	}
	cfg := w.p.cfg
	admin, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, cfg.Kafka...)...)
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := topics.Ensure(ctx, admin, cfg.SealedTopic, sealedPartitions); err != nil {
		return err
	}
	ends, err := kadm.NewClient(admin).ListEndOffsets(ctx, cfg.SealedTopic)
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", cfg.SealedTopic, err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("end offsets of %s: %w", cfg.SealedTopic, err)
	}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		from[o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.SealedTopic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100 * time.Millisecond),
		// After cfg.Kafka, so that none of its options lifts the
		// decompression bounds or hides franz-go's stops from the
		// passing over of unreadable batches (its logger).
	}, slices.Concat(cfg.Kafka, kafkaconn.BoundedDecompression(0),
		[]kgo.Opt{kgo.WithLogger(w.unreadable.Logger(kafkaconn.Logger(cfg.Logger)))})...)...)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	w.cl, w.cancel, w.done = cl, cancel, make(chan struct{})
	go w.run(runCtx)
	return nil
}

func (w *sealWatch) run(ctx context.Context) {
	defer close(w.done)
	// A batch that decompresses past the bounds is not the sealer's (only
	// a writer who bypasses the ACLs writes one): passed over, so that the
	// calls waiting on its partition are still answered.
	unreadable := &w.unreadable
	for ctx.Err() == nil {
		pollCtx, cancelPoll := unreadable.PollContext(ctx)
		fetches := w.cl.PollFetches(pollCtx)
		cancelPoll()
		fetches.EachError(func(t string, p int32, err error) {
			if ctx.Err() == nil && !unreadable.Note(err) && !errors.Is(err, context.DeadlineExceeded) {
				w.p.cfg.Logger.Warn("reading the sealed topic for Sealed-mode calls", zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
			}
		})
		fetches.EachRecord(w.offer)
		for _, tl := range unreadable.Pass(w.cl, fetches) {
			w.p.cfg.Logger.Warn("passed over a record batch of the sealed topic that decompresses past what is read (the sealer never writes one)",
				zap.String("topic", tl.Topic), zap.Int32("partition", tl.Partition), zap.Int64("from_offset", tl.Offset), zap.Int64("to_offset", tl.NextOffset-1))
		}
	}
}

// offer hands a sealed-topic record to the calls waiting for it. The record
// is hostile input: it must decode, its line must verify, belong to this
// producer's chain and hold exactly the bytes the call published.
func (w *sealWatch) offer(rec *kgo.Record) {
	w.mu.Lock()
	wanted := w.keys[string(rec.Key)] > 0
	w.mu.Unlock()
	if !wanted {
		return
	}
	var sr shared.SealedRecord
	if err := json.Unmarshal(rec.Value, &sr); err != nil {
		return
	}
	e, err := shared.ParseLine(sr.Entry)
	if err != nil || e.Type != shared.EntryEvent || e.Chain != w.p.cfg.Environment {
		return
	}
	receipt := shared.SealedReceipt(e, &sr)
	w.mu.Lock()
	defer w.mu.Unlock()
	ws := w.waiters[receipt.EventID]
	kept := ws[:0]
	for _, wt := range ws {
		if bytes.Equal(e.Event, wt.value) {
			wt.got <- receipt // buffered, one receipt per waiter
			if w.keys[receipt.DecisionID]--; w.keys[receipt.DecisionID] <= 0 {
				delete(w.keys, receipt.DecisionID)
			}
		} else {
			kept = append(kept, wt)
		}
	}
	if len(kept) < len(ws) && len(kept) > 0 {
		w.p.cfg.Logger.Warn("an entry sealed with this event id holds other bytes than the call published", zap.String("event_id", receipt.EventID))
	}
	if len(kept) == 0 {
		delete(w.waiters, receipt.EventID)
	} else {
		w.waiters[receipt.EventID] = kept
	}
}

func (w *sealWatch) register(id eventKey, value []byte) *waiter {
	wt := &waiter{value: value, got: make(chan *shared.Receipt, 1)}
	w.mu.Lock()
	w.waiters[id.event] = append(w.waiters[id.event], wt)
	w.keys[id.decision]++
	w.mu.Unlock()
	return wt
}

// unregister forgets a waiter that gave up (a receipt delivered already
// removed it).
func (w *sealWatch) unregister(id eventKey, wt *waiter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ws := w.waiters[id.event]
	for i, x := range ws {
		if x == wt {
			w.waiters[id.event] = append(ws[:i:i], ws[i+1:]...)
			if len(w.waiters[id.event]) == 0 {
				delete(w.waiters, id.event)
			}
			if w.keys[id.decision]--; w.keys[id.decision] <= 0 {
				delete(w.keys, id.decision)
			}
			return
		}
	}
}

func (w *sealWatch) close() {
	w.mu.Lock()
	cl, cancel, done := w.cl, w.cancel, w.done
	w.mu.Unlock()
	if cl == nil {
		return
	}
	cancel()
	<-done
	cl.Close()
}

// publishSealed publishes value, the checked record of the event id
// names, and waits for its sealed entry.
func (p *Producer) publishSealed(ctx context.Context, id eventKey, value []byte) (*shared.Receipt, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.SealTimeout)
	defer cancel()
	if err := p.watch.start(ctx); err != nil {
		// Not published: a failed event, as one Kafka did not take (the
		// caller's 503 went uncounted: an outside trial).
		p.m.failed.Inc()
		return nil, fmt.Errorf("%w: watch the sealed topic: %v", ErrAuditUnavailable, err)
	}
	wt := p.watch.register(id, value)
	defer p.watch.unregister(id, wt)
	if err := p.produce(ctx, []*kgo.Record{{Key: []byte(id.event), Value: value}}); err != nil {
		return nil, err
	}
	select {
	case r := <-wt.got:
		p.m.sealed.Inc()
		return r, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: event %s after %s: %v", ErrNotSealed, id.event, p.cfg.SealTimeout, ctx.Err())
	}
}
