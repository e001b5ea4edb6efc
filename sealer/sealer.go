// Package sealer consumes the single-partition decisions topic in order,
// hash-chains every record into an Entry, writes batches to S3 under Object
// Lock, signs a checkpoint, and then, in one Kafka transaction, publishes the
// sealed entries and commits the consumer offset.
//
// Invariants:
//   - S3 is the source of truth: the chain head is recovered from the latest
//     signed checkpoint and its batch on every start, never from memory.
//   - Every record read is sealed exactly once in the chain: valid events as
//     EVENT entries, anything else as INVALID entries. Nothing is skipped.
//   - An offset is committed only after the object holding its entry and the
//     checkpoint covering it are durable in S3.
//   - A batch key is derived from its first entry and written with
//     If-None-Match, so a second (zombie) sealer cannot fork the chain: on a
//     collision the existing object is adopted if it extends the head, and
//     the sealer stops with ErrChainForked if it does not.
package sealer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kzap"
	"go.uber.org/zap"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/retry"
	"github.com/aegisai/audit/internal/topics"
	"github.com/aegisai/audit/shared"
)

// S3API is the part of the S3 client the sealer uses.
type S3API = archive.S3API

// ErrChainForked means S3 holds an object at the next batch key that does not
// extend this sealer's head: another writer diverged. The sealer stops.
var ErrChainForked = errors.New("chain forked in S3")

// ErrInconsistent means Kafka and S3 disagree in a way recovery cannot mend
// (a record below the sealed head whose entry is not found in S3).
var ErrInconsistent = errors.New("kafka and S3 are inconsistent")

// Stats are counters since New.
type Stats struct {
	// Sealed counts entries this process sealed (adopted ones included).
	Sealed int64
	// Objects counts batch objects written or adopted.
	Objects int64
	// Adopted counts batch objects written by another sealer and adopted.
	Adopted int64
	// Invalid counts INVALID entries sealed.
	Invalid int64
	// Committed counts records whose offsets were committed.
	Committed int64
}

// Sealer seals one chain. Use New, then Run.
type Sealer struct {
	cfg      Config
	signer   note.Signer
	verifier shared.VerifierKey
	store    *archive.Store
	log      *zap.Logger
	m        *metrics

	mu   sync.Mutex
	head shared.Head

	// pending (written under mu, by the Run goroutine only) holds entries sealed in S3 whose offsets are not committed yet,
	// by Kafka offset: records polled again after an aborted transaction or
	// a restart are republished from here, never sealed twice.
	pending map[int64]*sealedRef

	sealed, objects, adopted, invalid, committed atomic.Int64

	// reassigned is set when the group assigns the partition (again).
	reassigned atomic.Bool
	admin      *kgo.Client
	ready      chan struct{}
	readyOnce  sync.Once
}

// Ready is closed once Run has recovered the head from S3: from then on
// Head is the chain's head.
func (s *Sealer) Ready() <-chan struct{} { return s.ready }

// recover sets the head and the uncommitted entries from S3 and the group's
// committed offset, as on a fresh start.
func (s *Sealer) recover(ctx context.Context, admin *kgo.Client) error {
	s.mu.Lock()
	s.pending = map[int64]*sealedRef{}
	s.mu.Unlock()
	cps, err := s.recoverHead(ctx)
	if err != nil {
		return err
	}
	if len(cps) > 0 {
		err = s.loadUncommitted(ctx, admin, cps)
	}
	s.mu.Lock()
	s.m.uncommitted.Set(float64(len(s.pending)))
	s.mu.Unlock()
	return err
}

// New validates cfg and returns a Sealer. It does no I/O.
func New(ctx context.Context, cfg Config) (*Sealer, error) {
	signer, verifier, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	return &Sealer{
		cfg: cfg, signer: signer, verifier: verifier,
		store:   &archive.Store{S3: cfg.S3, Bucket: cfg.Bucket, Prefix: cfg.Prefix},
		log:     cfg.Logger.With(zap.String("chain", cfg.Chain)),
		m:       newMetrics(cfg.Metrics, cfg.Chain),
		pending: map[int64]*sealedRef{},
		ready:   make(chan struct{}),
	}, nil
}

// Head returns the current chain head (sealed in S3).
func (s *Sealer) Head() shared.Head {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head
}

func (s *Sealer) setHead(h shared.Head) {
	s.mu.Lock()
	s.head = h
	s.mu.Unlock()
	s.m.headSeq.Set(float64(h.Seq))
}

// Uncommitted is how many sealed entries wait for their Kafka commit.
func (s *Sealer) Uncommitted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Stats returns the counters.
func (s *Sealer) Stats() Stats {
	return Stats{Sealed: s.sealed.Load(), Objects: s.objects.Load(), Adopted: s.adopted.Load(),
		Invalid: s.invalid.Load(), Committed: s.committed.Load()}
}

// Run recovers the head from S3 and seals until ctx is done. On shutdown it
// stops polling, seals and commits what it holds, and returns nil; it returns
// an error only when it cannot go on safely.
func (s *Sealer) Run(ctx context.Context) error {
	opts := []kgo.Opt{
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.WithLogger(kzap.New(s.log, kzap.Level(kgo.LogLevelWarn))),
	}
	admin, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka admin client: %w", err)
	}
	defer admin.Close()
	if err := topics.EnsureSingle(ctx, admin, s.cfg.Topic); err != nil {
		return err
	}
	if _, err := topics.Ensure(ctx, admin, s.cfg.SealedTopic, s.cfg.SealedPartitions); err != nil {
		return err
	}
	if err := s.checkBucket(ctx); err != nil {
		return err
	}
	if err := s.recover(ctx, admin); err != nil {
		return err
	}
	s.reassigned.Store(false)
	sess, err := kgo.NewGroupTransactSession(append(opts,
		// Another group member may have sealed while this one did not own
		// the partition: recover from S3 whenever it is assigned again.
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { s.reassigned.Store(true) }),
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(s.cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.TransactionalID(s.cfg.TransactionalID),
		kgo.TransactionTimeout(s.cfg.TransactionTimeout),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.DefaultProduceTopic(s.cfg.SealedTopic),
	)...)
	if err != nil {
		return fmt.Errorf("kafka transact session: %w", err)
	}
	defer sess.Close()
	s.admin = admin
	s.readyOnce.Do(func() { close(s.ready) })
	h := s.Head()
	s.log.Info("sealer running", zap.Uint64("head_seq", h.Seq), zap.Stringer("head_hash", h.Hash),
		zap.Int64("head_offset", h.Offset), zap.Int("uncommitted", len(s.pending)))
	return s.loop(ctx, sess)
}

// batch is what one transaction covers: records to seal and entries to
// republish.
type batch struct {
	records   []*kgo.Record
	bytes     int
	started   time.Time
	republish []*sealedRef
	maxPolled int64
}

func (b *batch) empty() bool { return len(b.records) == 0 && len(b.republish) == 0 }

func (s *Sealer) loop(ctx context.Context, sess *kgo.GroupTransactSession) error {
	b := &batch{maxPolled: -1}
	for {
		if ctx.Err() != nil {
			return s.drain(sess, b)
		}
		wait := 250 * time.Millisecond
		if len(b.records) > 0 {
			wait = max(time.Until(b.started.Add(s.cfg.BatchMaxAge)), time.Millisecond)
		}
		pollCtx, cancel := context.WithTimeout(ctx, wait)
		fetches := sess.PollRecords(pollCtx, s.cfg.BatchMaxRecords)
		cancel()
		if s.reassigned.Swap(false) {
			// The partition was (re)assigned: another member may have sealed
			// meanwhile. Drop what was polled, rewind to the committed offset
			// (aborting the open transaction), and recover from S3.
			b = &batch{maxPolled: -1}
			if _, err := sess.End(ctx, kgo.TryAbort); err != nil {
				return fmt.Errorf("rewind after assignment: %w", err)
			}
			if err := s.recover(ctx, s.admin); err != nil {
				return err
			}
			h := s.Head()
			s.log.Info("partition assigned: head recovered from S3", zap.Uint64("head_seq", h.Seq), zap.Int64("head_offset", h.Offset))
			continue
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				s.log.Warn("fetch failed", zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
			}
		})
		var bad error
		head := s.Head()
		fetches.EachRecord(func(r *kgo.Record) {
			b.maxPolled = max(b.maxPolled, r.Offset)
			if r.Offset <= head.Offset {
				ref, ok := s.pending[r.Offset]
				if !ok {
					bad = fmt.Errorf("%w: offset %d is below the sealed head (offset %d) but its entry is not among the uncommitted ones", ErrInconsistent, r.Offset, head.Offset)
				}
				b.republish = append(b.republish, ref)
				return
			}
			if len(b.records) == 0 {
				b.started = s.cfg.Now()
			}
			b.records = append(b.records, r)
			b.bytes += len(r.Value) + 512
		})
		if bad != nil {
			return bad
		}
		full := len(b.records) >= s.cfg.BatchMaxRecords || b.bytes >= s.cfg.BatchMaxBytes ||
			(len(b.records) > 0 && s.cfg.Now().Sub(b.started) >= s.cfg.BatchMaxAge)
		if full || (len(b.records) == 0 && len(b.republish) > 0) {
			if err := s.commit(ctx, sess, b); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			b = &batch{maxPolled: -1}
		}
	}
}

// drain seals and commits what was polled before shutdown, with its own
// deadline since ctx is done. What it cannot commit is not lost: the offsets
// stay uncommitted and the next start picks them up.
func (s *Sealer) drain(sess *kgo.GroupTransactSession, b *batch) error {
	if b.empty() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.commit(ctx, sess, b); err != nil {
		s.log.Warn("shutdown: batch not committed; it will be resumed on the next start", zap.Error(err))
	}
	return nil
}

// commit seals b's records into S3, checkpoints, and publishes and commits in
// one transaction.
func (s *Sealer) commit(ctx context.Context, sess *kgo.GroupTransactSession, b *batch) error {
	publish := b.republish
	if len(b.records) > 0 {
		refs, err := s.seal(ctx, b.records, b.maxPolled)
		if err != nil {
			return err
		}
		publish = append(publish, refs...)
	}
	if err := sess.Begin(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	recs := make([]*kgo.Record, 0, len(publish))
	for _, ref := range publish {
		r, err := s.sealedRecord(ref)
		if err != nil {
			return err
		}
		recs = append(recs, r)
	}
	if err := sess.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		s.m.txnAborts.Inc()
		s.log.Warn("publish sealed entries failed; aborting transaction", zap.Error(err))
		if _, err := sess.End(ctx, kgo.TryAbort); err != nil {
			return fmt.Errorf("abort transaction: %w", err)
		}
		return nil
	}
	ok, err := sess.End(ctx, kgo.TryCommit)
	if err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	if !ok {
		s.m.txnAborts.Inc()
		s.log.Warn("transaction aborted (rebalance); records will be polled again and republished from S3")
		return nil
	}
	s.mu.Lock()
	for off := range s.pending {
		if off <= b.maxPolled {
			delete(s.pending, off)
		}
	}
	s.m.uncommitted.Set(float64(len(s.pending)))
	s.mu.Unlock()
	s.committed.Add(int64(len(publish)))
	return nil
}

// sealedRef is a sealed entry waiting to be published, with its record key
// on the sealed topic (the decision id, or the chain id for entries that
// are not about a decision).
type sealedRef struct {
	rec *shared.SealedRecord
	key string
}

func newSealedRef(e *shared.Entry, rec *shared.SealedRecord) *sealedRef {
	key := e.DecisionID()
	if key == "" {
		key = e.Chain
	}
	return &sealedRef{rec: rec, key: key}
}

func (s *Sealer) sealedRecord(ref *sealedRef) (*kgo.Record, error) {
	value, err := jsonMarshal(ref.rec)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: s.cfg.SealedTopic, Key: []byte(ref.key), Value: value}, nil
}

// seal chains records onto the head and writes them as batch objects. It
// returns the entries for the records polled (offset <= maxPolled).
func (s *Sealer) seal(ctx context.Context, records []*kgo.Record, maxPolled int64) ([]*sealedRef, error) {
	var out []*sealedRef
	for len(records) > 0 {
		head := s.Head()
		entries := make([]*shared.Entry, 0, len(records))
		lines := make([][]byte, 0, len(records))
		// An object holds the records of one UTC day (its key's date), so
		// that discovery by date reads only that day's objects.
		day := shared.FileDate(recordTime(records[0]))
		for _, r := range records {
			if shared.FileDate(recordTime(r)) != day {
				break
			}
			e, err := shared.SealRecord(head, source(r), r.Value, s.cfg.Now())
			if err != nil {
				return nil, err
			}
			line, err := e.Line()
			if err != nil {
				return nil, err
			}
			head = head.Next(e)
			entries, lines = append(entries, e), append(lines, line)
		}
		start := time.Now()
		key, version, entries, lines, err := s.writeBatch(ctx, entries, lines, records[:len(entries)])
		if err != nil {
			return nil, err
		}
		if err := s.writeCheckpoint(ctx, entries, entries[len(entries)-1].Source.Offset, key); err != nil {
			return nil, err
		}
		s.m.sealSeconds.Observe(time.Since(start).Seconds())
		s.m.batchEntries.Observe(float64(len(entries)))
		newHead := s.Head()
		refs := make([]*sealedRef, len(entries))
		for i, e := range entries {
			newHead = newHead.Next(e)
			refs[i] = newSealedRef(e, &shared.SealedRecord{Object: key, VersionID: version, Line: i + 1, Entry: lines[i]})
			if e.Source.Offset <= maxPolled {
				out = append(out, refs[i])
			}
			if e.Type == shared.EntryInvalid {
				s.invalid.Add(1)
			}
			s.m.entries.WithLabelValues(string(e.Type)).Inc()
		}
		s.mu.Lock()
		for i, e := range entries {
			s.pending[e.Source.Offset] = refs[i]
		}
		s.m.uncommitted.Set(float64(len(s.pending)))
		s.mu.Unlock()
		s.setHead(newHead)
		s.sealed.Add(int64(len(entries)))
		s.objects.Add(1)
		for len(records) > 0 && records[0].Offset <= newHead.Offset {
			records = records[1:]
		}
	}
	return out, nil
}

// writeBatch writes entries, sealed from records, as one object. If the
// key is taken by an object that holds exactly the entries this sealer
// seals from the same records (a zombie sealer racing on them), that
// object's entries are adopted and returned instead; anything else stops
// the sealer with ErrChainForked.
func (s *Sealer) writeBatch(ctx context.Context, entries []*shared.Entry, lines [][]byte, records []*kgo.Record) (string, string, []*shared.Entry, [][]byte, error) {
	key := shared.BatchKey(s.cfg.Prefix, entries[0])
	body := joinLines(lines)
	start := s.cfg.Now()
	version, err := s.put(ctx, key, body)
	if err == nil {
		s.m.batches.WithLabelValues("written").Inc()
		s.log.Debug("batch sealed", zap.String("key", key), zap.Int("entries", len(entries)),
			zap.Int("bytes", len(body)), zap.Duration("latency", s.cfg.Now().Sub(start)))
		return key, version, entries, lines, nil
	}
	if !errors.Is(err, archive.ErrExists) {
		return "", "", nil, nil, err
	}
	obj, err := s.get(ctx, key)
	if err != nil {
		return "", "", nil, nil, err
	}
	if bytes.Equal(obj.Body, body) { // ours: an earlier attempt's response was lost
		s.m.batches.WithLabelValues("written").Inc()
		return key, obj.VersionID, entries, lines, nil
	}
	theirs, theirLines, err := s.adopt(ctx, key, obj.Body, records)
	if err != nil {
		return "", "", nil, nil, err
	}
	s.adopted.Add(1)
	s.m.batches.WithLabelValues("adopted").Inc()
	s.log.Warn("batch key taken by another sealer; checked every entry against the records and adopted its object", zap.String("key", key),
		zap.Uint64("first_seq", theirs[0].Seq), zap.Int("entries", len(theirs)))
	return key, obj.VersionID, theirs, theirLines, nil
}

// writeCheckpoint signs and stores the checkpoint of the object at key
// holding entries, whose last one was read at Kafka offset (-1 for
// genesis). A checkpoint already at its key must sign the same head, object
// and root, or the chain forked.
func (s *Sealer) writeCheckpoint(ctx context.Context, entries []*shared.Entry, offset int64, key string) error {
	last := entries[len(entries)-1]
	cp := shared.Checkpoint{Chain: last.Chain, Seq: last.Seq, Hash: last.Hash, Offset: offset, Object: key,
		Root: shared.ObjectRoot(entries), Time: s.cfg.Now()}
	msg, err := cp.Sign(s.signer)
	if err != nil {
		return err
	}
	cpKey := shared.CheckpointKey(s.cfg.Prefix, last.Chain, last.Seq)
	_, err = s.put(ctx, cpKey, msg)
	if errors.Is(err, archive.ErrExists) {
		theirs, rerr := s.readCheckpoint(ctx, cpKey)
		if rerr != nil && !errors.Is(rerr, shared.ErrBadCheckpoint) {
			return rerr
		}
		if rerr != nil || theirs.Hash != cp.Hash || theirs.Offset != cp.Offset || theirs.Object != cp.Object || theirs.Root != cp.Root {
			return s.forked(cpKey, fmt.Errorf("%w: checkpoint %s does not sign seq %d hash %s in %s: %v", ErrChainForked, cpKey, last.Seq, last.Hash, key, rerr))
		}
		return nil
	}
	return err
}

// checkBucket checks the bucket's Object Lock, retrying while S3 is
// unreachable like any other S3 call; a missing or unlocked bucket stops
// the sealer with a message saying what to do.
func (s *Sealer) checkBucket(ctx context.Context) error {
	return s.retry(ctx, "check bucket "+s.cfg.Bucket, func(ctx context.Context) error {
		return s.store.CheckBucket(ctx, s.cfg.CreateBucket)
	})
}

// put stores body at key, retrying transient failures with backoff until ctx
// is done. ErrExists is returned at once.
func (s *Sealer) put(ctx context.Context, key string, body []byte) (string, error) {
	var version string
	err := s.retry(ctx, "put "+key, func(ctx context.Context) error {
		var err error
		version, err = s.store.Put(ctx, key, body, s.cfg.Now().Add(s.cfg.Retention))
		return err
	})
	return version, err
}

func (s *Sealer) get(ctx context.Context, key string) (*archive.Object, error) {
	var obj *archive.Object
	err := s.retry(ctx, "get "+key, func(ctx context.Context) error {
		var err error
		obj, err = s.store.Get(ctx, key, "")
		return err
	})
	return obj, err
}

// retry runs fn until it succeeds, fails with a final error (ErrExists,
// ErrNotFound), or ctx is done. Each call gets CallTimeout.
func (s *Sealer) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	err := retry.Policy{
		Timeout: s.cfg.CallTimeout, Initial: 100 * time.Millisecond, Max: 5 * time.Second,
		Final: func(err error) bool {
			return errors.Is(err, archive.ErrExists) || errors.Is(err, archive.ErrNotFound) ||
				errors.Is(err, archive.ErrNoBucket) || errors.Is(err, archive.ErrNotLocked) || errors.Is(err, archive.ErrAccessDenied)
		},
		OnRetry: func(attempt int, wait time.Duration, err error) {
			s.m.s3Retries.Inc()
			s.log.Warn("S3 call failed (server unreachable or erroring); retrying", zap.String("endpoint_call", what), zap.Int("attempt", attempt),
				zap.Duration("backoff", wait), zap.Error(err))
		},
	}.Do(ctx, fn)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return err
}

func joinLines(lines [][]byte) []byte {
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}
