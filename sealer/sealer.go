// Package sealer consumes the single-partition decisions topic in order,
// hash-chains every record into an Entry, writes batches to S3 under Object
// Lock, signs a checkpoint, and then, in one Kafka transaction, publishes the
// sealed entries and commits the consumer offset.
//
// Invariants:
//   - S3 is the source of truth: the chain head is recovered from the latest
//     signed checkpoint (seq, hash, Kafka offset) on every start, every
//     (re)assignment of the partition and every failed transaction, never
//     from memory.
//   - Every record read is sealed exactly once in the chain: valid events as
//     EVENT entries, anything else as INVALID entries. Nothing is skipped.
//   - An offset is committed only after the object holding its entry and the
//     checkpoint covering it are durable in S3, and exactly the offsets of
//     the records published are committed (not every record polled).
//   - Objects are written one after the other in seq order, and their
//     checkpoints too; the S3 writes of the next batches overlap the
//     transaction of the previous ones (pipeline.go), at most MaxInFlight.
//   - A batch key is derived from its first entry and written with
//     If-None-Match, so a second (zombie) sealer cannot fork the chain: on a
//     collision the existing object is adopted only if every line is what
//     this sealer seals from the same records, and the sealer stops with
//     ErrChainForked otherwise.
//   - Takeover (takeover.go): every sealer of a chain shares the
//     transactional id, so the one that takes over fences a zombie and
//     aborts its open transaction; a restarted sealer removes its dead
//     predecessor's group member and is assigned the partition at once; a
//     standby takes over after SessionTimeout, or at once after a SIGTERM.
//   - A transaction that fails is retried after recovering from S3 in
//     process; a sealer fenced (ErrFenced) starts a new session as a
//     standby; the sealer stops only when S3 holds something it must not
//     sign over, or Kafka something it must not seal.
package sealer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/platform/kafkaconn"
	"github.com/aegisai/audit/internal/platform/retry"
	"github.com/aegisai/audit/internal/platform/topics"
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

// ErrTopicLost means the decisions topic no longer holds the records the
// chain has sealed: it ends before the sealed head's offset, or the record
// at a sealed offset is not the one sealed there. The topic was recreated
// or Kafka lost its data. Its offsets start over, and the chain's cannot
// (docs/FORMAT.md section 6: offsets rise), so sealing on would take new
// records for sealed ones and drop them; the sealer stops instead.
var ErrTopicLost = fmt.Errorf("%w: the decisions topic lost the records the chain has sealed", ErrInconsistent)

// ErrTopicChanged means the sealer reads another topic (or partition)
// than the one the chain's records were read from. A chain is sealed from
// one (docs/FORMAT.md section 6: every non-genesis entry was read from the
// same topic and partition), so an entry sealed from another would break
// it for good; the sealer stops instead.
var ErrTopicChanged = fmt.Errorf("%w: the sealer reads another topic than the one the chain was sealed from", ErrInconsistent)

// ErrCommitPastHead means the sealer's group committed an offset past
// records the chain does not hold: they were consumed and sealed into a
// bucket the chain has lost since (one restored from an older backup),
// and sealing on from the commit would leave those acknowledged records
// unsealed for good, without a word. The sealer stops instead; README
// ("When things fail") says how to seal them again.
var ErrCommitPastHead = fmt.Errorf("%w: the sealer's group committed records the chain does not hold", ErrInconsistent)

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
	cfg   Config
	keys  *keyState
	store *archive.Store
	log   *zap.Logger
	m     *metrics

	mu   sync.Mutex
	head shared.Head
	// topicEnd is where the decisions topic ended (committed records)
	// at the last fetch that said, -1 before one: the lag metric is
	// topicEnd past the head, set again whenever either moves.
	topicEnd int64
	// topicEndAt is when topicEnd was last set (watchTopicEnd).
	topicEndAt time.Time

	// pending (written under mu, by the Run goroutine only) holds entries sealed in S3 whose offsets are not committed yet,
	// by Kafka offset: records polled again after an aborted transaction or
	// a restart are republished from here, never sealed twice.
	pending map[int64]*sealedRef
	// resetAt is where the group starts reading when it has no committed
	// offset (-1: the topic's start); recover sets it.
	resetAt int64
	// floor (-1: none; recover sets it): records at or below the head and
	// below it are sealed, but their entries were not loaded to publish
	// again (committed already, checkpoints this sealer does not take,
	// objects it cannot read, or records before the chain's first): write
	// passes over them.
	floor int64
	// pub is publish's buffers (Run goroutine only).
	pub publishBuffers

	sealed, objects, adopted, invalid, committed atomic.Int64

	// retainFloor (Unix nanoseconds, 0: none) is the latest retain-until
	// date of the chain known to this sealer: the newest checkpoint's
	// when it recovered the head, then each one it wrote. No object or
	// checkpoint is locked until earlier (put), so the chain's dates
	// never go back when --retention is shortened.
	retainFloor atomic.Int64
	// recoveredFloor and recoveredAt (Unix nanoseconds, 0: not yet) are
	// retainFloor and the clock when the head was last recovered from S3:
	// what an object a sealer before this one wrote (stored before then)
	// is judged by when adopted (lockedAsSealed). The checkpoints this
	// sealer writes after raise retainFloor to its own dates, which an
	// object written before them cannot have known.
	recoveredFloor, recoveredAt atomic.Int64

	// reassigned is set when the group assigns the partition (again).
	reassigned atomic.Bool
	// lost is set when the group takes the partition from this session;
	// renew when it then assigns it again: the session starts over with
	// new clients, whose transactional producer is then the newest
	// (another sealer that sealed meanwhile bumped the epoch this one's
	// client holds, and its first transaction was fenced: it exited and
	// left the chain without a sealer, found by an outside trial).
	lost, renew atomic.Bool
	// owns is set while the group assigns this sealer the partition (a
	// standby's is not): only then does watchTopicEnd list the topic's end.
	owns atomic.Bool
	// initErr is the error of initialising the transactional producer when
	// the partition was assigned (nil when it worked).
	initErr   atomic.Pointer[error]
	admin     *kgo.Client
	ready     chan struct{}
	readyOnce sync.Once
	health    health
}

// Topic is the decisions topic the sealer reads (Config.Topic after
// defaults).
func (s *Sealer) Topic() string { return s.cfg.Topic }

// Ready is closed once Run has recovered the head from S3: from then on
// Head is the chain's head.
func (s *Sealer) Ready() <-chan struct{} { return s.ready }

// recover sets the head and the uncommitted entries from S3 and the group's
// committed offset, as on a fresh start.
func (s *Sealer) recover(ctx context.Context, admin *kgo.Client) error {
	s.mu.Lock()
	s.pending = map[int64]*sealedRef{}
	s.mu.Unlock()
	s.resetAt, s.floor = -1, -1
	cps, err := s.recoverHead(ctx)
	if err != nil {
		return err
	}
	if cps != nil {
		err = s.loadUncommitted(ctx, admin, cps)
	}
	s.mu.Lock()
	s.m.uncommitted.Set(float64(len(s.pending)))
	s.mu.Unlock()
	return err
}

// New validates cfg and returns a Sealer. It does no I/O.
func New(ctx context.Context, cfg Config) (*Sealer, error) {
	keys, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	s := &Sealer{
		cfg: cfg, keys: keys,
		store:   &archive.Store{S3: cfg.S3, Bucket: cfg.Bucket, Prefix: cfg.Prefix},
		log:     cfg.Logger.With(zap.String("chain", cfg.Chain)),
		m:       newMetrics(cfg.Metrics, cfg.Chain),
		pending: map[int64]*sealedRef{}, topicEnd: -1,
		ready: make(chan struct{}),
	}
	s.store.Call = s.retry // a listing's pages, one S3 call each (archive.Store.Call)
	s.health.log = s.log
	return s, nil
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
	s.setLag()
	s.mu.Unlock()
	s.m.headSeq.Set(float64(h.Seq))
}

// setTopicEnd records where the decisions topic ends, as a fetch said.
func (s *Sealer) setTopicEnd(end int64) {
	s.mu.Lock()
	s.topicEnd, s.topicEndAt = end, time.Now()
	s.setLag()
	s.mu.Unlock()
}

// topicEndProbe is how long the topic's end may go unread before
// watchTopicEnd asks the brokers for it.
const topicEndProbe = 5 * time.Second

// watchTopicEnd keeps the lag metric true while no fetch answers: with
// MaxInFlight batches waiting on S3 (an outage) the client stops
// fetching, and the lag stayed at the last fetch's count while records
// piled up on the topic, so AegisSealerBacklog could not fire in an
// outage (the operators' outside trial: 4,002 shown, about 30,000
// waiting). Every topicEndProbe without a fetch's end it lists the
// topic's last stable offset (one request), until ctx ends.
//
// Only while the group assigns this sealer the partition: a standby
// fetches nothing and its head is the one it read at its start, so its
// lag grew by every record the active sealer sealed, and
// AegisSealerBacklog (max by chain, both pods) fired on a caught-up chain
// (TestAttack32bStandbyLagIsNotAStaleHeadsBacklog).
func (s *Sealer) watchTopicEnd(ctx context.Context) {
	t := time.NewTicker(topicEndProbe)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		stale := time.Since(s.topicEndAt) >= topicEndProbe
		s.mu.Unlock()
		if !stale || s.admin == nil || !s.owns.Load() {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, min(s.cfg.CallTimeout, topicEndProbe))
		ends, err := kadm.NewClient(s.admin).ListCommittedOffsets(lctx, s.cfg.Topic)
		cancel()
		if err != nil {
			continue // Kafka out of reach: the fetch path reports it
		}
		if o, ok := ends.Lookup(s.cfg.Topic, 0); ok && o.Err == nil && o.Offset >= 0 {
			s.setTopicEnd(o.Offset)
		}
	}
}

// setLag sets the lag metric: records on the topic past the sealed head.
// It is set when the head moves too, not only at fetches: a caught-up
// sealer's last fetch held the records it then sealed, and no fetch
// answers while nothing new comes, so a lag read at fetches alone stayed
// at that fetch's count on an idle chain. Callers hold mu.
func (s *Sealer) setLag() {
	if s.topicEnd >= 0 {
		s.m.lag.Set(float64(max(s.topicEnd-(s.head.Offset+1), 0)))
	}
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
//
// A session that fails for a reason that may pass (Kafka unreachable, a
// transaction that cannot be ended, S3 unreachable for longer than a call's
// retries) is started over in process after a backoff: new clients, the
// head recovered from S3. Run returns only when ctx ends (nil) or on an
// error retrying cannot mend (permanent).
func (s *Sealer) Run(ctx context.Context) error {
	wait := time.Second
	var fences []time.Time // the recent fences (ErrFenced)
	for {
		started := time.Now()
		err := s.runSession(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errRenew):
			s.renew.Store(true)
			s.log.Info("the partition is assigned again after it was taken from this sealer: starting a new session, whose transactions fence the sealer that had it")
			continue
		case err == nil || permanent(err):
			return err
		case errors.Is(err, ErrFenced):
			// A new session rejoins the group without removing the
			// member of its own identity (renew): that may be the sealer
			// that fenced it, started with the same identity. It
			// initialises its producer, fencing the other in turn, only
			// if it is assigned the partition. Before, it exited: a broker
			// that crashed with a transaction open, whose restart raised
			// the producer's epoch, left no sealer running
			// (TestAttack34TxnBrokerKilledBeforeTheOffsetCommit).
			// A sealer fenced again and again is not a standby that
			// lost a takeover: another process keeps taking the
			// transactional id (two chains configured with one?), each
			// start fencing the other. Both still seal (each session
			// recovers from S3), so it is said, not stopped on.
			s.m.fenced.Inc()
			fences = append(fences, time.Now())
			for len(fences) > 0 && time.Since(fences[0]) > fenceWindow {
				fences = fences[1:]
			}
			if len(fences) >= manyFences {
				s.log.Error("this sealer was fenced again and again: another process keeps taking its transactional id (is it configured for two chains?)",
					zap.String("transactional_id", s.cfg.TransactionalID), zap.Int("fences", len(fences)), zap.Duration("within", fenceWindow))
			}
			s.renew.Store(true)
		}
		if time.Since(started) > time.Minute {
			wait = time.Second
		}
		s.m.restarts.Inc()
		s.health.fail("session", err)
		s.log.Warn("sealer session failed; starting over in process (clients anew, head from S3)", zap.Duration("backoff", wait), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// A sealer fenced manyFences times within fenceWindow logs an error (Run).
const (
	manyFences  = 3
	fenceWindow = 10 * time.Minute
)

// fetchPartitionBytes is how much of the decisions topic one fetch reads
// (compressed): about 500 records of our producers at once.
const fetchPartitionBytes = 256 << 10

// permanent reports errors Run stops on: starting over cannot mend them.
func permanent(err error) bool {
	for _, target := range []error{ErrChainForked, ErrInconsistent, ErrKeyNotHeld, ErrCopyHidden, topics.ErrNotSingle,
		archive.ErrNoBucket, archive.ErrNotLocked, archive.ErrAccessDenied,
		kerr.InvalidSessionTimeout, kerr.GroupAuthorizationFailed, kerr.TopicAuthorizationFailed,
		kerr.TransactionalIDAuthorizationFailed, kerr.ClusterAuthorizationFailed, kerr.SaslAuthenticationFailed} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// runSession is one session of the sealer: clients, recovery, sealing.
func (s *Sealer) runSession(ctx context.Context) error {
	opts := append(append([]kgo.Opt{
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.WithLogger(kafkaconn.Logger(s.log)),
		kgo.WithHooks(brokerHealth{&s.health}),
	}, slices.Concat(s.cfg.KafkaOptions, kafkaconn.BoundedDecompression(0))...),
		// Last, so that no KafkaOptions' client id can hide this sealer's
		// identity from the next start's eviction of its predecessor (nor
		// lift the decompression bounds, just before).
		kgo.ClientID(s.clientID()))
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
	s.owns.Store(false)
	s.lost.Store(false)
	if !s.renew.Swap(false) {
		// A session renewed left the group itself: a member of this
		// identity now is another process's.
		s.evictPredecessor(ctx, admin)
	}
	sess, err := kgo.NewGroupTransactSession(append(opts,
		kgo.SessionTimeout(s.cfg.SessionTimeout),
		kgo.HeartbeatInterval(max(s.cfg.SessionTimeout/6, 100*time.Millisecond)),
		// Another group member may have sealed while this one did not own
		// the partition: recover from S3 whenever it is assigned again.
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onRevoked),
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(s.cfg.Topic),
		kgo.ConsumeResetOffset(s.resetOffset()),
		kgo.TransactionalID(s.cfg.TransactionalID),
		kgo.TransactionTimeout(s.cfg.TransactionTimeout),
		// franz-go always asks for stable offsets (RequireStableFetchOffsets
		// is a no-op in v1.22.3, ours): a transaction's pending offset commit
		// holds the group's offset fetch until it ends.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond),
		// A fetch of F compressed bytes holds at most 256·F decompressed
		// (kafkaconn.BoundedDecompression): 64 MiB at this F, where
		// franz-go's default 1 MiB allowed 256 MiB, and the client holds a
		// fetch ahead while the sealer seals the one before.
		// Only the partition's bound: kfake (the local stack's broker)
		// leaves a partition's aborted transactions out of a fetch cut by
		// the fetch's whole bound, and franz-go then hands their records
		// over as committed (an attack test sealed one).
		kgo.FetchMaxPartitionBytes(fetchPartitionBytes),
		kgo.DefaultProduceTopic(s.cfg.SealedTopic),
	)...)
	if err != nil {
		return fmt.Errorf("kafka transact session: %w", err)
	}
	s.admin = admin
	s.readyOnce.Do(func() { close(s.ready) })
	s.health.ok("session")
	h := s.Head()
	s.log.Info("sealer running", zap.Uint64("head_seq", h.Seq), zap.Stringer("head_hash", h.Hash),
		zap.Int64("head_offset", h.Offset), zap.Int("uncommitted", len(s.pending)))
	err = s.run(ctx, sess)
	// Leaving the group here lets a standby take the partition at once.
	sess.Close()
	s.log.Info("sealer session ended: Kafka session closed", zap.Error(err))
	return err
}

// resetOffset is where the group starts without a committed offset.
func (s *Sealer) resetOffset() kgo.Offset {
	if s.resetAt < 0 {
		return kgo.NewOffset().AtStart()
	}
	return kgo.NewOffset().At(s.resetAt)
}

// sealedRef is a sealed entry waiting to be published, with its record key
// on the sealed topic (the decision id, or the chain id for entries that
// are not about a decision).
type sealedRef struct {
	rec *shared.SealedRecord
	key string
	// value and at are, for an entry this process sealed from a record
	// it polled, that record's bytes and Kafka time as sealed: a record
	// polled again at its offset is checked against them, cheaply (the
	// consumer polls again what it holds past the last commit). Entries
	// read back from S3 have none and are checked against their line.
	value []byte
	at    time.Time
}

func newSealedRef(e *shared.Entry, rec *shared.SealedRecord) sealedRef {
	key := e.DecisionID()
	if key == "" {
		key = e.Chain
	}
	return sealedRef{rec: rec, key: key}
}

// checkpointTask is an object written whose checkpoint is still to write.
type checkpointTask struct {
	key     string
	entries []*shared.Entry
	started time.Time
}

// write seals one job's records in order, prepared already (prepared[i]
// is records[i] read by PrepareRecord). Records at or below the head were
// sealed already (before a restart, an aborted transaction, or in an
// adopted object): their entries come from pending. The rest are chained
// onto the head and written as batch objects, one per UTC day. It returns
// the entries to publish, in offset order, and the objects whose
// checkpoints the caller must write, in order, before publishing.
func (s *Sealer) write(ctx context.Context, records []*kgo.Record, prepared []*shared.Entry) ([]*sealedRef, []checkpointTask, error) {
	var out []*sealedRef
	var cps []checkpointTask
	for len(records) > 0 {
		head := s.Head()
		// Records sealed already.
		for len(records) > 0 && records[0].Offset <= head.Offset {
			s.mu.Lock()
			ref, ok := s.pending[records[0].Offset]
			s.mu.Unlock()
			if !ok && records[0].Offset < s.floor {
				records, prepared = records[1:], prepared[1:]
				continue
			}
			if !ok {
				return nil, nil, fmt.Errorf("%w: offset %d is below the sealed head (offset %d) but its entry is not among the uncommitted ones",
					ErrInconsistent, records[0].Offset, head.Offset)
			}
			if err := s.sameAsSealed(ref, records[0], prepared[0]); err != nil {
				return nil, nil, err
			}
			out = append(out, ref)
			records, prepared = records[1:], prepared[1:]
		}
		if len(records) == 0 {
			break
		}
		// An object holds the records of one UTC day (its key's date), so
		// that discovery by date reads only that day's objects.
		day := shared.FileDate(recordTime(records[0]))
		n := 0
		for n < len(records) && shared.FileDate(recordTime(records[n])) == day {
			n++
		}
		now := s.cfg.Now()
		entries := make([]*shared.Entry, 0, n)
		lines := make([][]byte, 0, n)
		// The lines are written into the object's body one after the
		// other: no line is copied to make the body.
		size := 0
		for _, p := range prepared[:n] {
			size += p.LineSizeHint(head.Chain) + 1
		}
		body := make([]byte, 0, size)
		// Prepared entries stay as read, should the object be chained
		// again: the object's entries are copies, allocated together.
		copies := make([]shared.Entry, n)
		for k, p := range prepared[:n] {
			e := &copies[k]
			*e = *p
			s.keys.decide(e)
			var line []byte
			var err error
			if body, line, err = head.SealNextAppend(body, e, now); err != nil {
				return nil, nil, err
			}
			body = append(body, '\n')
			entries, lines = append(entries, e), append(lines, line)
			head = head.Next(e)
			if e.Type == shared.EntryKey {
				break // a hand-over ends its object: the retiring key signs it
			}
		}
		n = len(entries)
		start := time.Now()
		key, version, entries, lines, err := s.writeBatch(ctx, entries, lines, body, records[:n])
		if err != nil {
			return nil, nil, err
		}
		cps = append(cps, checkpointTask{key: key, entries: entries, started: start})
		if last := entries[len(entries)-1]; last.Type == shared.EntryKey {
			if _, err := s.keys.handOver(last); err != nil {
				return nil, nil, err
			}
			s.log.Warn("checkpoint key handed over: the retiring key signs this object's checkpoint, the new key every later one",
				zap.Uint64("seq", last.Seq), zap.String("object", key), zap.String("new_key", logKeyLabel(last.Key.VerifierKey)),
				zap.String("keyset", s.keys.keyset().IDs()))
		}
		newHead := s.Head()
		refs := make([]*sealedRef, len(entries))
		// One allocation for the object's records and one for its refs:
		// they live and die together (until the transaction commits).
		recs, refVals := make([]shared.SealedRecord, len(entries)), make([]sealedRef, len(entries))
		byType := map[shared.EntryType]int{}
		for i, e := range entries {
			newHead = newHead.Next(e)
			recs[i] = shared.SealedRecord{Object: key, VersionID: version, Line: i + 1,
				Checkpoint: entries[len(entries)-1].Seq, Entry: lines[i]}
			refVals[i] = newSealedRef(e, &recs[i])
			refs[i] = &refVals[i]
			byType[e.Type]++
		}
		s.invalid.Add(int64(byType[shared.EntryInvalid]))
		for t, n := range byType {
			s.m.entries.WithLabelValues(string(t)).Add(float64(n))
		}
		for i, e := range entries {
			if i < n && records[i].Offset == e.Source.Offset {
				refVals[i].value, refVals[i].at = records[i].Value, e.Source.Timestamp
			}
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
		// The object may cover more records than were polled (an adopted
		// one): the next ones are found at or below the head above.
	}
	return out, cps, nil
}

// checkpoint writes the checkpoints of the objects of tasks, in order.
func (s *Sealer) checkpoint(ctx context.Context, tasks []checkpointTask) error {
	for _, t := range tasks {
		last := t.entries[len(t.entries)-1]
		if err := s.writeCheckpoint(ctx, t.entries, last.Source.Offset, t.key); err != nil {
			return err
		}
		if last.Type == shared.EntryKey {
			s.leaveHandOverNote(ctx, last)
		}
		s.m.sealSeconds.Observe(time.Since(t.started).Seconds())
		s.m.lastSealed.SetToCurrentTime()
		s.m.batchEntries.Observe(float64(len(t.entries)))
	}
	return nil
}

// prepare reads records in parallel (parse, validate, canonicalise: the
// costly part); chaining them stays sequential.
func (s *Sealer) prepare(records []*kgo.Record) ([]*shared.Entry, error) {
	out := make([]*shared.Entry, len(records))
	slots := make([]shared.EntrySlot, len(records)) // one allocation, not one per record
	workers := min(runtime.GOMAXPROCS(0), max(1, len(records)/64))
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(records); i += workers {
				r := records[i]
				if out[i], errs[w] = s.prepareRecord(&slots[i], r); errs[w] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// writeBatch writes entries, sealed from records, as one object. If the
// key is taken by an object that holds exactly the entries this sealer
// seals from the same records (a zombie sealer racing on them), that
// object's entries are adopted and returned instead; anything else stops
// the sealer with ErrChainForked.
func (s *Sealer) writeBatch(ctx context.Context, entries []*shared.Entry, lines [][]byte, body []byte, records []*kgo.Record) (string, string, []*shared.Entry, [][]byte, error) {
	key := shared.BatchKey(s.cfg.Prefix, entries[0])
	start := s.cfg.Now()
	version, first, err := s.putFirst(ctx, key, body, true)
	if err == nil {
		s.m.batches.WithLabelValues("written").Inc()
		s.log.Debug("batch sealed", zap.String("key", key), zap.Int("entries", len(entries)),
			zap.Int("bytes", len(body)), zap.Duration("latency", s.cfg.Now().Sub(start)))
		return key, version, entries, lines, nil
	}
	if !errors.Is(err, archive.ErrExists) {
		return "", "", nil, nil, err
	}
	// The key's first version of one PUT alone counts, the one the
	// conditional PUT let in (putFirst): a sealer killed between an object
	// and its checkpoint leaves the object unsigned for the next to adopt,
	// and a delete marker or a bucket writer's version put over it
	// meanwhile stopped that one, for good, where it was read as current
	// (TestAnUnsignedObjectWrittenOverIsStillAdopted).
	var theirs []*shared.Entry
	var theirLines [][]byte
	obj, err := s.getVersion(ctx, key, first)
	own := err == nil && bytes.Equal(obj.Body, body)
	if err == nil && !own {
		if theirs, theirLines, err = s.adopt(ctx, key, obj.Body, records); err == nil {
			err = s.lockedAsSealed(ctx, key, obj.VersionID)
		}
	}
	if errors.Is(err, archive.ErrTooLarge) { // no sealer writes one
		err = fmt.Errorf("%w: %w", ErrChainForked, err)
	}
	if errors.Is(err, ErrChainForked) {
		return "", "", nil, nil, s.forked(key, err)
	}
	if err != nil {
		return "", "", nil, nil, err
	}
	if own { // ours: an earlier attempt's response was lost
		s.m.batches.WithLabelValues("written").Inc()
		return key, obj.VersionID, entries, lines, nil
	}
	s.adopted.Add(1)
	s.m.batches.WithLabelValues("adopted").Inc()
	s.log.Warn("batch key taken by another sealer; checked every entry against the records and adopted its object", zap.String("key", key),
		zap.Uint64("first_seq", theirs[0].Seq), zap.Int("entries", len(theirs)))
	return key, obj.VersionID, theirs, theirLines, nil
}

// adoptLockSkew is how much earlier than the chain's latest retain-until
// date (retainFloor) an object another sealer wrote may be locked until:
// the sealers' clocks may be that far apart (README: within five minutes
// of S3's).
const adoptLockSkew = 5 * time.Minute

// lockedAsSealed refuses the version of key to adopt unless it is locked
// as a sealer locks what it writes: COMPLIANCE, until no earlier than the
// chain's latest date (less adoptLockSkew), or a day from now when that
// is not known. Whoever reads the topic and the newest checkpoint can put
// the exact next entry at the next batch key before the sealer writes it,
// with a lock of their own: none, GOVERNANCE, a day. Adopted, it was
// signed so, and could be deleted; aegis verify failed the chain on it
// for good (TestAnObjectLockedLessThanTheSealersIsNotAdopted). Refused, it
// stops the sealer as any other object at its next key does.
func (s *Sealer) lockedAsSealed(ctx context.Context, key, versionID string) error {
	obj, err := s.lockedHead(ctx, key, versionID)
	if err != nil {
		return err
	}
	want := s.cfg.Now().Add(MinRetention)
	f := s.retainFloor.Load()
	if at := s.recoveredAt.Load(); at > 0 && !obj.Stored.IsZero() && obj.Stored.Before(time.Unix(0, at)) {
		// Stored before this sealer recovered the head: a sealer before
		// it wrote it (killed after writing two objects and before their
		// checkpoints, the sealing stage overlapping them) and locked it
		// until the chain's latest date then. The checkpoint of the
		// object before it, which this sealer signed since, raised the
		// floor to now + --retention, which a restart more than
		// adoptLockSkew after the crash put out of its reach: the sealer
		// stopped on a fork for good over its own predecessor's object
		// (TestH7TwoUnsignedObjectsAfterALateRestart, outside trial h7).
		f = s.recoveredFloor.Load()
	}
	if f > 0 {
		want = time.Unix(0, f).Add(-adoptLockSkew).UTC()
	}
	if obj.LockMode != types.ObjectLockModeCompliance || obj.RetainUntil.Before(want) {
		return fmt.Errorf("%w: %s version %s is locked %q until %s, where this sealer locks what it seals COMPLIANCE until %s or later",
			ErrChainForked, key, versionID, obj.LockMode, shared.FormatTime(obj.RetainUntil), shared.FormatTime(want))
	}
	return nil
}

// writeCheckpoint signs and stores the checkpoint of the object at key
// holding entries, whose last one was read at Kafka offset (-1 for
// genesis). A checkpoint already at its key must sign the same head, object
// and root, or the chain forked.
func (s *Sealer) writeCheckpoint(ctx context.Context, entries []*shared.Entry, offset int64, key string) error {
	last := entries[len(entries)-1]
	cp := shared.Checkpoint{Chain: last.Chain, Seq: last.Seq, Hash: last.Hash, Offset: offset, Object: key,
		Root: shared.ObjectRoot(entries), Time: s.cfg.Now()}
	signer, err := s.keys.signerFor(last.Seq)
	if err != nil {
		return err
	}
	msg, err := cp.Sign(signer)
	if err != nil {
		return err
	}
	cpKey := shared.CheckpointKey(s.cfg.Prefix, last.Chain, last.Seq)
	_, first, err := s.putFirst(ctx, cpKey, msg, false)
	if errors.Is(err, archive.ErrExists) {
		obj, err := s.getVersion(ctx, cpKey, first) // the key's first version alone counts (putFirst)
		if err != nil {
			return err
		}
		theirs, rerr := s.openCheckpoint(cpKey, obj.Body)
		if rerr != nil && !errors.Is(rerr, shared.ErrBadCheckpoint) {
			return rerr
		}
		if rerr != nil || theirs.Hash != cp.Hash || theirs.Offset != cp.Offset || theirs.Object != cp.Object || theirs.Root != cp.Root {
			why := rerr // wrapped: the first builds' checkpoints are named (shared.ErrFirstBuildsCheckpoint)
			if why == nil {
				why = fmt.Errorf("it signs hash %s in %s (offset %d, root %s)", theirs.Hash, theirs.Object, theirs.Offset, theirs.Root)
			}
			return s.forked(cpKey, fmt.Errorf("%w: checkpoint %s does not sign seq %d hash %s in %s: %w", ErrChainForked, cpKey, last.Seq, last.Hash, key, why))
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
	return s.putWith(ctx, key, body, s.store.Put)
}

// putWith is put with write (archive.Store.Put, or PutOver).
func (s *Sealer) putWith(ctx context.Context, key string, body []byte, write func(context.Context, string, []byte, time.Time) (string, error)) (string, error) {
	var version string
	err := s.retry(ctx, "put "+key, func(ctx context.Context) error {
		var err error
		until := s.retainUntil()
		version, err = write(ctx, key, body, until)
		if err == nil {
			s.raiseRetainFloor(until)
		}
		return err
	})
	return version, err
}

// putFirst stores body at key, a key of the chain, as put does, and past
// delete markers. S3 servers that take a key only delete markers hold as
// taken (versitygw) refuse the conditional PUT there (412), and a marker
// costs nothing: anyone with write access to the bucket can put one at
// the next batch or checkpoint key, which whoever reads the topic and the
// head can name, and the sealer, finding nothing there to adopt or
// compare, failed every session at that key for as long as the marker
// stood (TestDeleteMarkersAheadOfTheSealerDoNotStopIt). Where no version
// of one PUT is at the key, body is written past the markers. Either way
// the key's first version of one PUT counts, as the conditional PUT makes
// it: this sealer's (version), or one written first by a racing sealer,
// by this one before a response was lost, or by anyone else (first, with
// ErrExists), which the caller judges alone: a version written over it
// since, a bucket writer's or a later one of this sealer's, does not
// count (the checkpoint was read as its current version, and a version
// written over it between a lost response and the retry was a fork). The
// plain PUT is not sent again before the key is listed again.
//
// A batch or genesis key (unsigned) may hold an object a killed sealer
// wrote and did not sign, for the next to adopt. A server that answers
// the conditional PUT against the key's current version alone (AWS S3
// documents so) stores it over a delete marker put over that object: the
// sealer signed its own second version where the key's first counts
// (aegis verify reported the key for the retention; once the signing key
// retires, its checkpoint counts only over the first version). So for
// those keys (unsigned true) the key is listed after a stored conditional
// PUT too, one listing request a batch, and a version of one PUT before
// this one is judged as the first
// (TestAMarkerOverAnUnsignedObjectOnACurrentVersionServer).
func (s *Sealer) putFirst(ctx context.Context, key string, body []byte, unsigned bool) (version, first string, err error) {
	version, err = s.put(ctx, key, body)
	if err == nil && unsigned {
		l, err := s.listVersions(ctx, key)
		if err != nil {
			return "", "", err
		}
		if vs := l.Versions(); len(vs) > 0 && vs[0].ID != version {
			s.log.Warn("a key of the chain held a version under a delete marker that the conditional PUT passed over (the server judges the current version alone); the first version is judged",
				zap.String("key", key), zap.String("first", vs[0].ID), zap.String("written", version))
			return "", vs[0].ID, archive.ErrExists
		}
		return version, "", nil
	}
	if !errors.Is(err, archive.ErrExists) {
		return version, "", err
	}
	l, err := s.listVersions(ctx, key)
	if err != nil {
		return "", "", err
	}
	if vs := l.Versions(); len(vs) > 0 {
		return "", vs[0].ID, archive.ErrExists
	}
	// A plain PUT is stored as often as it is sent: one whose response
	// was lost stored a version already, and the retry wrote a second,
	// locked as long, so aegis verify reported the key as written again
	// for years (TestALostResponsePastMarkersWritesTheKeyOnce). The key
	// is listed again before each retry, and a version of one PUT found
	// there is judged as the first, as after a refused conditional PUT.
	sent := false
	err = s.retry(ctx, "put "+key+" past delete markers", func(cctx context.Context) error {
		if sent {
			l, err := s.listVersions(ctx, key)
			if err != nil {
				return err
			}
			if vs := l.Versions(); len(vs) > 0 {
				first = vs[0].ID
				return archive.ErrExists
			}
		}
		sent = true
		until := s.retainUntil()
		var err error
		if version, err = s.store.PutOver(cctx, key, body, until); err == nil {
			s.raiseRetainFloor(until)
		}
		return err
	})
	if err != nil {
		return "", first, err
	}
	if l, err = s.listVersions(ctx, key); err != nil {
		return "", "", err
	}
	vs := l.Versions()
	if len(vs) == 0 {
		return "", "", fmt.Errorf("put %s: version %s, written past delete markers, is not listed", key, version)
	}
	if vs[0].ID != version {
		return "", vs[0].ID, archive.ErrExists
	}
	s.log.Warn("a key of the chain held only delete markers (someone put them there before the sealer wrote it); written past them",
		zap.String("key", key), zap.String("version", version))
	return version, "", nil
}

// lockedHead reads the lock state of one version of key, retried as any
// S3 call.
func (s *Sealer) lockedHead(ctx context.Context, key, versionID string) (*archive.Object, error) {
	var obj *archive.Object
	err := s.retry(ctx, "read the lock of "+key, func(ctx context.Context) error {
		var err error
		obj, err = s.store.LockedHead(ctx, key, versionID)
		return err
	})
	return obj, err
}

// getVersion reads one version of key, retried as any S3 call.
func (s *Sealer) getVersion(ctx context.Context, key, versionID string) (*archive.Object, error) {
	var obj *archive.Object
	what := "get " + key
	if versionID != "" {
		what += " version " + versionID
	}
	err := s.retry(ctx, what, func(ctx context.Context) error {
		var err error
		obj, err = s.store.Get(ctx, key, versionID)
		return err
	})
	return obj, err
}

// retainUntil is the retain-until date of an object or checkpoint written
// now: --retention from now, but never before the chain's latest date
// (retainFloor). With a --retention shorter than before, the objects
// sealed after it would end their retention before older ones, and an
// object past its retention after one under it fails aegis verify, with
// --pruned too (FORMAT.md 6.1: pruning leaves a run from the start), for
// as long as the old retention outlasts the new; the shorter retention
// takes effect once the older dates have passed.
func (s *Sealer) retainUntil() time.Time {
	until := s.cfg.Now().Add(s.cfg.Retention)
	if f := s.retainFloor.Load(); f > until.UnixNano() {
		until = time.Unix(0, f).UTC()
	}
	return until
}

// raiseRetainFloor makes until the chain's latest retain-until date if it
// is later than the one known.
func (s *Sealer) raiseRetainFloor(until time.Time) {
	for {
		f := s.retainFloor.Load()
		if until.UnixNano() <= f || s.retainFloor.CompareAndSwap(f, until.UnixNano()) {
			return
		}
	}
}

// get reads key's current version, retried as any S3 call.
func (s *Sealer) get(ctx context.Context, key string) (*archive.Object, error) {
	return s.getVersion(ctx, key, "")
}

// retry runs fn until it succeeds, fails with a final error (ErrExists,
// ErrNotFound, ErrTooLarge, ...), or ctx is done. Each call gets CallTimeout.
//
// Neither what nor an error it logs, reports (health, /readyz) or returns
// shows the tag of a hand-over's note or copy (hideTags).
func (s *Sealer) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	what = hideTags(what)
	final := func(err error) bool {
		return errors.Is(err, archive.ErrExists) || errors.Is(err, archive.ErrNotFound) ||
			errors.Is(err, archive.ErrNoBucket) || errors.Is(err, archive.ErrNotLocked) || errors.Is(err, archive.ErrAccessDenied) ||
			errors.Is(err, archive.ErrTooLarge) || errors.Is(err, archive.ErrUnreadable)
	}
	err := retry.Policy{
		Timeout: s.cfg.CallTimeout, Initial: 100 * time.Millisecond, Max: 5 * time.Second,
		Final: final,
		OnRetry: func(attempt int, wait time.Duration, err error) {
			err = withTagsHidden(err)
			s.m.s3Retries.Inc()
			s.health.fail("S3", fmt.Errorf("%s: %w", what, err))
			s.log.Warn("S3 call failed (server unreachable or erroring); retrying", zap.String("endpoint_call", what), zap.String("check", s.cfg.S3Settings), zap.Int("attempt", attempt),
				zap.Duration("backoff", wait), zap.Error(err))
		},
	}.Do(ctx, fn)
	err = withTagsHidden(err)
	if err == nil || final(err) { // S3 answered (a 404 is an answer)
		s.health.ok("S3")
	}
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return err
}

func joinLines(lines [][]byte) []byte {
	n := len(lines)
	for _, l := range lines {
		n += len(l)
	}
	buf := make([]byte, 0, n)
	for _, l := range lines {
		buf = append(append(buf, l...), '\n')
	}
	return buf
}
