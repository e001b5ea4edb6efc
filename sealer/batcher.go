package sealer

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// batcher collects polled records into the next batch to seal. A batch
// closes when it holds maxRecords records or maxBytes bytes, when its
// first record has waited maxAge, or, when traffic is light, as soon as the
// consumer has caught up and nothing else is being sealed: under load
// batches fill to their limits, and a lone record is sealed at once.
type batcher struct {
	maxRecords, maxBytes int
	maxAge               time.Duration
	now                  func() time.Time

	records []*kgo.Record
	bytes   int
	started time.Time
}

// recordOverhead is what a record adds to an object beyond its value: the
// entry's own members, roughly.
const recordOverhead = 512

func newBatcher(maxRecords, maxBytes int, maxAge time.Duration, now func() time.Time) *batcher {
	return &batcher{maxRecords: maxRecords, maxBytes: maxBytes, maxAge: maxAge, now: now}
}

// add appends r.
func (b *batcher) add(r *kgo.Record) {
	if len(b.records) == 0 {
		b.started = b.now()
	}
	b.records = append(b.records, r)
	b.bytes += len(r.Value) + recordOverhead
}

// len is the number of records held.
func (b *batcher) len() int { return len(b.records) }

// full reports a batch at its count or size limit.
func (b *batcher) full() bool {
	return len(b.records) >= b.maxRecords || b.bytes >= b.maxBytes
}

// due reports a batch that must close now: full, old enough, or idle (the
// consumer caught up and nothing in flight).
func (b *batcher) due(idle bool) bool {
	if len(b.records) == 0 {
		return false
	}
	return b.full() || idle || b.now().Sub(b.started) >= b.maxAge
}

// wait is how long the poll may wait before the batch is due by age
// (longest when empty).
func (b *batcher) wait(longest time.Duration) time.Duration {
	if len(b.records) == 0 {
		return longest
	}
	return min(longest, max(b.started.Add(b.maxAge).Sub(b.now()), time.Millisecond))
}

// take returns the batch and starts a new one.
func (b *batcher) take() []*kgo.Record {
	out := b.records
	b.records, b.bytes = nil, 0
	return out
}
