package sealer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/shared"
)

// The seal path is a pipeline of three stages that overlap:
//
//  1. The run loop (one goroutine, which alone touches the Kafka session)
//     polls records into the batcher and hands each closed batch to the
//     sealing stage, at most Config.MaxInFlight at a time.
//  2. The sealing stage (one goroutine) prepares a batch's records in
//     parallel, chains them in order, writes the objects and their
//     checkpoints to S3, and hands back the entries to publish.
//  3. The run loop publishes what came back, and commits the offsets of
//     exactly those records, in one Kafka transaction (several batches per
//     transaction when they are ready together).
//
// So S3 writes of batch n+1 proceed while batch n is published, and an
// offset is committed only after its object and a checkpoint covering it
// are durable. Objects are written one after the other in seq order.

// sealJob is one closed batch for the sealing stage.
type sealJob struct {
	records []*kgo.Record
	// upTo is the offset of the job's last record.
	upTo int64
}

// sealedJob is the sealing stage's answer for one job.
type sealedJob struct {
	refs []*sealedRef
	upTo int64
	err  error
}

// ErrFenced means the transactional producer's epoch was raised under
// this session: another sealer with the same transactional id took over,
// or the broker, started again after a crash with a transaction open,
// aborted it. The session ends and Run starts a new one as a standby
// (it rejoins the group, and initialises the producer only if it is
// assigned the partition again).
var ErrFenced = errors.New("sealer fenced: another sealer took over or the broker aborted its transaction")

// errRenew ends a session whose partition was assigned again after it was
// taken: Run starts a new one (Sealer.renew).
var errRenew = errors.New("the partition is assigned again: a new session")

// fenced reports a transactional producer whose epoch was raised under
// it: a new session may seal again. Not a refused transactional id
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED): it was counted here when a
// fence stopped the sealer, but a fenced sealer now starts a new session,
// and the refusal, wrapped in ErrFenced where permanent does not see it,
// made the sealer start one every 30 s for ever, sealing nothing, with
// /readyz ready (TestAttack34bTransactionalIDRefusedStopsTheSealer).
func fenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.FencedInstanceID)
}

// stage is the sealing stage for one session of the run loop: three
// goroutines in a row, so that reading the next batch, writing its object
// and writing the previous object's checkpoint overlap:
//
//	prepare: PrepareRecord over the batch's records, in parallel
//	write:   chain in order and PUT the objects, one after the other
//	sign:    PUT the checkpoints, one after the other, then hand back
//
// A failure stops the stages after it for every later job (each reports
// the error), so nothing is written past a gap.
type stage struct {
	jobs     chan sealJob
	results  chan sealedJob
	inflight int
	done     chan struct{}
}

type preparedJob struct {
	job      sealJob
	prepared []*shared.Entry
	err      error
}

type writtenJob struct {
	refs []*sealedRef
	cps  []checkpointTask
	upTo int64
	err  error
}

func (s *Sealer) startStage(ctx context.Context) *stage {
	st := &stage{jobs: make(chan sealJob, s.cfg.MaxInFlight), results: make(chan sealedJob, s.cfg.MaxInFlight), done: make(chan struct{})}
	toWrite := make(chan preparedJob, 1)
	toSign := make(chan writtenJob, 1)
	go func() {
		defer close(toWrite)
		for job := range st.jobs {
			prepared, err := s.prepare(job.records)
			toWrite <- preparedJob{job: job, prepared: prepared, err: err}
		}
	}()
	go func() {
		defer close(toSign)
		var failed error
		for pj := range toWrite {
			w := writtenJob{upTo: pj.job.upTo, err: errors.Join(failed, pj.err)}
			if w.err == nil {
				w.refs, w.cps, w.err = s.write(ctx, pj.job.records, pj.prepared)
			}
			if w.err != nil && failed == nil {
				failed = w.err
			}
			toSign <- w
		}
	}()
	go func() {
		defer close(st.done)
		var failed error
		for w := range toSign {
			err := errors.Join(failed, w.err)
			if err == nil {
				err = s.checkpoint(ctx, w.cps)
			}
			if err != nil && failed == nil {
				failed = err
			}
			st.results <- sealedJob{refs: w.refs, upTo: w.upTo, err: err}
		}
	}()
	return st
}

// stop waits for the jobs in flight and discards their entries: they are
// durable in S3 and in pending, and the records will be polled again.
func (st *stage) stop() error {
	close(st.jobs)
	var errs []error
	for ; st.inflight > 0; st.inflight-- {
		if r := <-st.results; r.err != nil {
			errs = append(errs, r.err)
		}
	}
	<-st.done
	return errors.Join(errs...)
}

// run is the run loop.
func (s *Sealer) run(ctx context.Context, sess *kgo.GroupTransactSession) error {
	// The sealing stage keeps going through shutdown, until the loop says.
	stageCtx, cancelStage := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStage()
	st := s.startStage(stageCtx)
	b := newBatcher(s.cfg.BatchMaxRecords, s.cfg.BatchMaxBytes, s.cfg.BatchMaxAge, s.cfg.Now)
	lastPolled := int64(-1)
	var ready []sealedJob
	backoff := 100 * time.Millisecond
	unreadable := unreadableBatches{topic: s.cfg.Topic}

	// restart drops what is in flight and recovers from S3, as on a fresh
	// start: after a (re)assignment or a transaction that failed.
	restart := func(why string, cause error) error {
		if err := st.stop(); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		if _, err := sess.End(ctx, kgo.TryAbort); err != nil && !errors.Is(err, context.Canceled) {
			if fenced(err) {
				return fmt.Errorf("%w: %v", ErrFenced, err)
			}
			return fmt.Errorf("rewind after %s: %w", why, err)
		}
		if err := s.recover(ctx, s.admin); err != nil {
			return err
		}
		b.take()
		ready, lastPolled = nil, -1
		st = s.startStage(stageCtx)
		h := s.Head()
		s.log.Info("head recovered from S3 in process", zap.String("after", why), zap.Uint64("head_seq", h.Seq),
			zap.Int64("head_offset", h.Offset), zap.Int("uncommitted", s.Uncommitted()), zap.NamedError("cause", cause))
		return nil
	}

	go s.watchTopicEnd(stageCtx)

	// After shutdown starts, in-flight work and the last transaction get
	// ShutdownTimeout. Kafka and S3 calls use stageCtx, so that a
	// transaction under way when shutdown starts still commits.
	go func() {
		select {
		case <-ctx.Done():
			time.Sleep(s.cfg.ShutdownTimeout)
			cancelStage()
		case <-stageCtx.Done():
		}
	}()
	collect := func(block bool) (sealedJob, bool) {
		if block {
			return <-st.results, true
		}
		select {
		case r := <-st.results:
			return r, true
		default:
			return sealedJob{}, false
		}
	}

	for {
		if ctx.Err() != nil {
			return s.shutdown(stageCtx, sess, st, b, lastPolled, ready)
		}
		// Collect what the sealing stage finished; wait for it when the
		// window is full.
		for st.inflight > 0 {
			r, ok := collect(st.inflight >= s.cfg.MaxInFlight)
			if !ok {
				break
			}
			st.inflight--
			if r.err != nil {
				st.stop()
				if ctx.Err() != nil {
					s.log.Warn("shutdown: a batch was not sealed; it is sealed on the next start", zap.Error(r.err))
					return nil
				}
				return r.err
			}
			ready = append(ready, r)
		}
		if len(ready) > 0 {
			ok, err := s.publish(stageCtx, sess, ready)
			switch {
			case err != nil && fenced(err):
				st.stop()
				return fmt.Errorf("%w: %v", ErrFenced, err)
			case err != nil && ctx.Err() != nil:
				st.stop()
				s.log.Warn("shutdown: sealed entries not committed; they are republished on the next start", zap.Error(err))
				return nil
			case err != nil:
				s.m.txnAborts.Inc()
				s.log.Warn("transaction failed; recovering from S3 in process", zap.Error(err), zap.Duration("backoff", backoff))
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
				}
				backoff = min(2*backoff, 5*time.Second)
				if err := restart("a failed transaction", err); err != nil {
					return err
				}
				continue
			case !ok:
				// Aborted (a rebalance): the session rewound to the
				// committed offsets; the records come back and are
				// republished from pending.
				s.m.txnAborts.Inc()
				s.log.Warn("transaction aborted (rebalance); records will be polled again and republished from S3")
				if err := restart("an aborted transaction", nil); err != nil {
					return err
				}
				continue
			}
			backoff = 100 * time.Millisecond
			ready = nil
		}
		if ctx.Err() != nil {
			continue // to the shutdown
		}

		wait := b.wait(250 * time.Millisecond)
		if st.inflight > 0 {
			wait = min(wait, 20*time.Millisecond)
		}
		pollCtx, cancel := context.WithTimeout(ctx, wait)
		fetches := sess.PollRecords(pollCtx, s.cfg.BatchMaxRecords)
		cancel()
		if perr := s.initErr.Swap(nil); perr != nil {
			st.stop()
			if fenced(*perr) {
				return fmt.Errorf("%w: %v", ErrFenced, *perr)
			}
			return fmt.Errorf("initialise the transactional producer %s: %w", s.cfg.TransactionalID, *perr)
		}
		// Noted before a restart, which drops the poll: franz-go reports
		// an unreadable batch once.
		fetches.EachError(func(t string, p int32, err error) {
			if unreadable.note(t, err) {
				s.log.Warn("a record batch decompresses past what the sealer reads: it is sealed as one invalid entry",
					zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
			}
		})
		if s.renew.Load() {
			st.stop()
			return errRenew
		}
		if s.reassigned.Swap(false) {
			// Another member may have sealed while this one did not own the
			// partition: drop what was polled and recover from S3.
			if err := restart("a partition assignment", nil); err != nil {
				return err
			}
			continue
		}
		var refused error
		fetchFailed := false
		fetches.EachError(func(t string, p int32, err error) {
			if unreadable.is(t, err) {
				return // noted above
			}
			if errors.Is(err, kerr.InvalidSessionTimeout) {
				refused = fmt.Errorf("the brokers refuse the group session timeout %s (their group.min.session.timeout.ms is larger): lower it on the brokers or raise the sealer's session timeout: %w",
					s.cfg.SessionTimeout, err)
			}
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				fetchFailed = true
				if t == "" { // the group's session, not a partition's fetch
					s.health.fail("Kafka", fmt.Errorf("group %s: %w", s.cfg.Group, err))
					s.log.Warn("fetch failed", zap.String("group", s.cfg.Group), zap.Error(err))
				} else {
					s.health.fail("Kafka", fmt.Errorf("fetch %s partition %d: %w", t, p, err))
					s.log.Warn("fetch failed", zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
				}
			}
		})
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.Err == nil && !fetchFailed {
				s.health.ok("Kafka") // a fetch answered
			}
			// Records on the topic not sealed yet: what the broker holds
			// (committed, under read_committed) past the sealed head.
			end := p.HighWatermark
			if p.LastStableOffset >= 0 {
				end = p.LastStableOffset
			}
			if p.Topic == s.cfg.Topic && end >= 0 {
				s.setTopicEnd(end)
			}
		})
		if refused != nil {
			st.stop()
			return refused
		}
		// A chain is sealed from partition 0 alone (FORMAT.md section 6),
		// and the sealer's start refuses a topic of more partitions; but
		// its group consumes every partition of the topic, so one added
		// under it was sealed too, its records chained between partition
		// 0's (offsets going back) and signed: the chain failed
		// verification there for good (TestAttack33APartitionAddedUnderTheSealer).
		// Nothing of a fetch that holds such a record is sealed.
		var stray *kgo.Record
		fetches.EachPartition(func(p kgo.FetchTopicPartition) { // by partition, not record by record
			if stray == nil && len(p.Records) > 0 && (p.Topic != s.cfg.Topic || p.Partition != 0) {
				stray = p.Records[0]
			}
		})
		if stray != nil {
			st.stop()
			err := fmt.Errorf("topic %s has a record at partition %d (offset %d): partitions were added under the sealer, which seals partition 0 alone and no record of the others: %w",
				stray.Topic, stray.Partition, stray.Offset, topics.ErrNotSingle)
			s.log.Error("the decisions topic has more than one partition; stopping without sealing anything of the other partitions", zap.Error(err))
			return err
		}
		polled := 0
		fetches.EachRecord(func(r *kgo.Record) {
			b.add(r)
			lastPolled = max(lastPolled, r.Offset)
			polled++
		})
		if polled > 0 || unreadable.pending == nil {
			// the batch waits until every record before it is polled
		} else if r, err := unreadable.take(ctx, sess.Client(), s.polledUpTo(lastPolled)); err != nil {
			s.health.fail("Kafka", err)
			s.log.Warn("read an unreadable record batch", zap.Error(err))
		} else if r != nil {
			b.add(r)
			lastPolled = max(lastPolled, r.Offset)
			polled++
		}
		// Light traffic (nothing new, nothing in flight) closes a batch at
		// once; under load it fills to its limits.
		if b.due(polled == 0 && st.inflight == 0) && st.inflight < s.cfg.MaxInFlight {
			st.jobs <- sealJob{records: b.take(), upTo: lastPolled}
			st.inflight++
		}
	}
}

// shutdown drains the sealer in the one order that loses nothing and
// duplicates nothing, each step logged:
//
//  1. intake: no record is polled any more (the run loop stopped polling);
//  2. flush: the open batch is closed and handed to the sealing stage;
//  3. seal: every batch in flight is waited for, until its object and a
//     checkpoint covering it are durable in S3;
//  4. commit: their entries are published and their offsets committed, in
//     one transaction;
//  5. close: the sealing stage stops; Run then closes the Kafka session
//     (leaving the group, so a standby takes over at once) and the admin
//     client.
//
// ctx bounds steps 3 and 4 (Config.ShutdownTimeout). A batch not sealed
// by then is sealed on the next start, and entries sealed but not
// committed are republished from S3 then: nothing is lost either way.
func (s *Sealer) shutdown(ctx context.Context, sess *kgo.GroupTransactSession, st *stage, b *batcher, lastPolled int64, ready []sealedJob) error {
	log := s.log.Named("shutdown")
	log.Info("1/5 intake stopped", zap.Int("open_batch_records", b.len()), zap.Int("batches_in_flight", st.inflight),
		zap.Int("batches_sealed_not_committed", len(ready)))
	flushed := b.len()
	if flushed > 0 {
		st.jobs <- sealJob{records: b.take(), upTo: lastPolled}
		st.inflight++
	}
	log.Info("2/5 flushed the open batch", zap.Int("records", flushed))
	for st.inflight > 0 {
		r := <-st.results
		st.inflight--
		if r.err != nil {
			_ = st.stop()
			log.Warn("a batch was not sealed; it is sealed on the next start", zap.Error(r.err))
			return nil
		}
		ready = append(ready, r)
	}
	h := s.Head()
	log.Info("3/5 sealed: every batch is durable in S3 with its checkpoint", zap.Int("batches", len(ready)), zap.Uint64("head_seq", h.Seq))
	if len(ready) > 0 {
		ok, err := s.publish(ctx, sess, ready)
		switch {
		case err != nil && fenced(err):
			_ = st.stop()
			return fmt.Errorf("%w: %v", ErrFenced, err)
		case err != nil || !ok:
			_ = st.stop()
			log.Warn("sealed entries not committed; they are republished on the next start", zap.Error(err))
			return nil
		}
	}
	log.Info("4/5 committed: entries published and offsets committed", zap.Int("uncommitted", s.Uncommitted()))
	err := st.stop()
	log.Info("5/5 closed the sealing stage; closing the Kafka session and clients", zap.NamedError("stage", err))
	return nil
}

// publish produces the entries of ready jobs and commits the offsets up
// to the last of them, in one transaction. It reports whether it
// committed.
// publishBuffers are publish's buffers, kept from one transaction to the
// next (publish runs on the Run goroutine only): a transaction's records
// take a few MiB, which allocated anew each time cost the sealer about 2%
// of its CPU in allocation and zeroing under load.
type publishBuffers struct {
	buf  []byte
	vals []kgo.Record
	recs []*kgo.Record
}

// take returns the buffers emptied, grown to hold size bytes and n records.
func (p *publishBuffers) take(size, n int) ([]byte, []kgo.Record, []*kgo.Record) {
	if cap(p.buf) < size {
		p.buf = make([]byte, 0, size)
	}
	if cap(p.vals) < n {
		p.vals, p.recs = make([]kgo.Record, 0, n), make([]*kgo.Record, 0, n)
	}
	return p.buf[:0], p.vals[:0], p.recs[:0]
}

// keep takes the buffers back for the next transaction, clearing the
// records so that they hold on to nothing.
func (p *publishBuffers) keep(buf []byte, vals []kgo.Record, recs []*kgo.Record) {
	clear(vals)
	clear(recs)
	p.buf, p.vals, p.recs = buf[:0], vals[:0], recs[:0]
}

func (s *Sealer) publish(ctx context.Context, sess *kgo.GroupTransactSession, ready []sealedJob) (bool, error) {
	// The records' keys and values are encoded into one buffer (capped
	// slices of it) and the records are one array: a transaction of
	// thousands of records costs a few allocations, not thousands.
	n, size := 0, 0
	upTo := int64(-1)
	for _, r := range ready {
		for _, ref := range r.refs {
			size += len(ref.key) + ref.rec.EncodedSizeHint()
		}
		n += len(r.refs)
		upTo = max(upTo, r.upTo)
	}
	buf, vals, recs := s.pub.take(size, n)
	for _, r := range ready {
		for _, ref := range r.refs {
			start := len(buf)
			buf = append(buf, ref.key...)
			mid := len(buf)
			buf = ref.rec.AppendEncode(buf)
			vals = append(vals, kgo.Record{Topic: s.cfg.SealedTopic, Key: buf[start:mid:mid], Value: buf[mid:len(buf):len(buf)]})
			recs = append(recs, &vals[len(vals)-1])
		}
	}
	if err := sess.Begin(); err != nil {
		return false, fmt.Errorf("begin transaction: %w", err)
	}
	if err := sess.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		if _, aerr := sess.End(ctx, kgo.TryAbort); aerr != nil {
			return false, errors.Join(fmt.Errorf("publish sealed entries: %w", err), aerr)
		}
		return false, fmt.Errorf("publish sealed entries: %w", err)
	}
	// Every record was produced: the client holds none of them any more,
	// so their memory serves the next transaction. (After a failure the
	// buffers are dropped, in case a cancelled record is still being sent.)
	s.pub.keep(buf, vals, recs)
	// Commit exactly the records sealed and published, not every record
	// polled: the session would commit the latter.
	commitCtx := kgo.PreTxnCommitFnContext(ctx, func(req *kmsg.TxnOffsetCommitRequest) error {
		for i := range req.Topics {
			if req.Topics[i].Topic != s.cfg.Topic {
				continue
			}
			for j := range req.Topics[i].Partitions {
				if req.Topics[i].Partitions[j].Partition == 0 {
					req.Topics[i].Partitions[j].Offset = upTo + 1
				}
			}
		}
		return nil
	})
	ok, err := sess.End(commitCtx, kgo.TryCommit)
	if err != nil {
		return false, fmt.Errorf("commit transaction: %w", err)
	}
	if !ok {
		return false, nil
	}
	s.mu.Lock()
	for off := range s.pending {
		if off <= upTo {
			delete(s.pending, off)
		}
	}
	s.m.uncommitted.Set(float64(len(s.pending)))
	s.mu.Unlock()
	s.committed.Add(int64(len(recs)))
	return true, nil
}

// polledUpTo is the offset up to which the consumer has polled what it
// must, for an unreadable batch to be taken after it: the last offset
// polled, or, before the first poll of a (re)start, the offset before the
// lowest sealed entry to publish again (the consumer resumes at the
// group's commit, and polls those records again) or else the head's.
// Before, it was the head's offset whatever was polled: a batch noted
// before a restart in process and taken at an empty first poll after it
// moved the consumer past the sealed records it had not polled again, and
// their entries were never published, nor indexed
// (TestAttack33bABombPendingAcrossARestartSkipsTheRecordsToRepublish).
func (s *Sealer) polledUpTo(lastPolled int64) int64 {
	if lastPolled >= 0 {
		return lastPolled
	}
	after := s.Head().Offset
	s.mu.Lock()
	defer s.mu.Unlock()
	for offset := range s.pending {
		after = min(after, offset-1)
	}
	return after
}
