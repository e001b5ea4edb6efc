package sealer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/aegisai/audit/internal/platform/kafkaconn"
	"github.com/aegisai/audit/shared"
)

// A record batch of the decisions topic that decompresses past what the
// sealer reads (kafkaconn.BoundedDecompression: a compression bomb, which
// only a producer that bypasses ours writes) cannot be read record by
// record. It is sealed as one INVALID entry, so that the chain goes on
// past it and still holds it (FORMAT.md section 2.3): at the batch's last
// offset, with the batch's first timestamp (its append time on a topic
// that keeps append times), and the batch's bytes as the broker stores
// them (header, CRC and compressed records) as its record. Before, the
// sealer stopped at such a batch for good (franz-go does not fetch the
// partition again), after taking gigabytes to find it too large.

type unreadableKey struct{}

// unreadableReason is the reason of the INVALID entry r stands for, when r
// stands for an unreadable batch.
func unreadableReason(r *kgo.Record) (string, bool) {
	if r.Context == nil {
		return "", false
	}
	reason, ok := r.Context.Value(unreadableKey{}).(string)
	return reason, ok
}

// prepareRecord is shared.PrepareRecordInto for a record the sealer read,
// an unreadable batch's record included. Every reading of a record goes
// through it, so that a batch read again in recovery is the entry sealed.
func (s *Sealer) prepareRecord(slot *shared.EntrySlot, r *kgo.Record) (*shared.Entry, error) {
	e, err := shared.PrepareRecordInto(slot, s.cfg.Chain, source(r), r.Value)
	if err != nil {
		return nil, err
	}
	if reason, ok := unreadableReason(r); ok {
		e.Refuse(r.Value, reason)
	}
	return e, nil
}

// unreadableBatches collects the batches a poll found unreadable, and
// hands each over, as its record, only once every record before it was
// polled: franz-go reports the batch while records of the same fetch
// before it may still wait to be polled, and the sealer seals in offset
// order.
type unreadableBatches struct {
	topic   string
	pending *kgo.ErrDecompressTooLarge
}

// is reports err as one of the topic's unreadable batches.
func (u *unreadableBatches) is(topic string, err error) bool {
	var tl *kgo.ErrDecompressTooLarge
	return topic == u.topic && errors.As(err, &tl)
}

// note keeps err's batch if err is one of the topic's unreadable batches.
func (u *unreadableBatches) note(topic string, err error) bool {
	var tl *kgo.ErrDecompressTooLarge
	if topic != u.topic || !errors.As(err, &tl) {
		return false
	}
	if u.pending == nil || tl.Offset > u.pending.Offset {
		u.pending = tl
	}
	return true
}

// take returns the record of the pending batch once nothing readable lies
// between after (the last offset polled or sealed) and the batch, reading
// the batch from the broker, and moves cl's consumption past it (nil for
// an aborted transaction's batch, which has no record to seal). While
// records lie between (polled records dropped by a restart, say), it
// moves cl back to them; franz-go reports the batch again when it reaches
// it.
func (u *unreadableBatches) take(ctx context.Context, cl *kgo.Client, after int64) (*kgo.Record, error) {
	if u.pending == nil {
		return nil, nil
	}
	tl := u.pending
	r, between, err := readUnreadable(ctx, cl, tl, after+1)
	if err != nil {
		return nil, err
	}
	u.pending = nil
	if between {
		cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{tl.Topic: {tl.Partition: {Epoch: -1, Offset: after + 1}}})
		return nil, nil
	}
	cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{tl.Topic: {tl.Partition: {Epoch: tl.Epoch, Offset: tl.NextOffset}}})
	return r, nil
}

// readUnreadable reads the partition's batches from offset from on, as the
// broker stores them, and returns the record that stands for the batch tl
// names (nil when a read-committed consumer reads none of it: an aborted
// transaction's), or between when a batch of records a read-committed
// consumer reads lies before it.
func readUnreadable(ctx context.Context, cl *kgo.Client, tl *kgo.ErrDecompressTooLarge, from int64) (_ *kgo.Record, between bool, _ error) {
	from = min(from, tl.Offset)
	fail := func(err error) (*kgo.Record, bool, error) {
		return nil, false, fmt.Errorf("read the batch of offsets %d to %d of topic %s, which decompresses past what the sealer reads: %w",
			tl.Offset, tl.NextOffset-1, tl.Topic, err)
	}
	details, err := kadm.NewClient(cl).ListTopics(ctx, tl.Topic)
	if err != nil {
		return fail(err)
	}
	td, ok := details[tl.Topic]
	if !ok || td.Err != nil {
		return fail(fmt.Errorf("topic metadata: %v", td.Err))
	}
	pd, ok := td.Partitions[tl.Partition]
	if !ok || pd.Err != nil || pd.Leader < 0 {
		return fail(fmt.Errorf("partition %d has no leader", tl.Partition))
	}
	// The partition is read from `from` batch by batch, in as many fetches
	// as it takes: a fetch answers at most 1 MiB, and the batches before
	// the one asked for (aborted transactions, control batches) may hold
	// more. Before, one fetch of one byte was read, which a broker answers
	// with one batch: a commit marker or aborted records before the batch
	// failed its reading on every poll, for good, or sent the consumer
	// back to them for ever (TestAttack33bATransactionCommittedRightBeforeABombStopsTheSealer,
	// TestAttack33bAMebibyteOfAbortedRecordsBeforeABombStopsTheSealer).
	var b kmsg.RecordBatch
	var raw []byte
	aborts := false
	for at := from; ; {
		fetched := at
		batches, aborted, err := fetchRaw(ctx, cl, tl, td.ID, pd.Leader, at)
		if err != nil {
			return fail(err)
		}
		var size int
		found, read := false, 0
		for {
			if len(batches) < 12 {
				break
			}
			if err := b.ReadFrom(batches); err != nil {
				if read > 0 {
					break // a batch cut at the fetch's size: fetched again from it
				}
				return fail(err)
			}
			size = 12 + int(b.Length)
			if size > len(batches) {
				if read > 0 {
					break
				}
				return fail(errors.New("the broker answered a batch cut short"))
			}
			if b.FirstOffset >= tl.Offset {
				found, aborts = true, !aborted.readable(&b)
				raw = batches[:size:size]
				break
			}
			read++
			last := b.FirstOffset + int64(b.LastOffsetDelta)
			if aborted.readable(&b) && last >= at {
				return nil, true, nil
			}
			at = max(at, last+1)
			batches = batches[size:]
		}
		if found {
			break
		}
		if read == 0 || at == fetched {
			return fail(errors.New("the broker answered no such batch"))
		}
	}
	if b.FirstOffset != tl.Offset || b.FirstOffset+int64(b.LastOffsetDelta)+1 != tl.NextOffset {
		return fail(fmt.Errorf("the broker answered the batch of offsets %d to %d", b.FirstOffset, b.FirstOffset+int64(b.LastOffsetDelta)))
	}
	if aborts {
		// Of an aborted transaction (or a control batch): no record a
		// read-committed consumer reads, nothing to seal. franz-go
		// decompresses a batch before it looks whether it is aborted,
		// and such a bomb was sealed (TestAttack33bAnAbortedBombIsNotSealed).
		return nil, false, nil
	}
	ts := b.FirstTimestamp
	if b.Attributes&0x08 != 0 { // the topic keeps append times
		ts = b.MaxTimestamp
	}
	reason := fmt.Sprintf("the record batch of offsets %d to %d (%d records, %s) decompresses past what the sealer reads (%d times its compressed size, at most %d bytes): this entry holds the batch as the broker stores it",
		tl.Offset, tl.NextOffset-1, b.NumRecords, codecName(b.Attributes), kafkaconn.MaxDecompressionRatio, kafkaconn.DefaultMaxBatchBytes)
	// Told from its bytes, so that a reading in recovery seals the same.
	if kafkaconn.Corrupt(b.Records, kgo.CompressionCodecType(b.Attributes&0x07)) {
		reason = fmt.Sprintf("the record batch of offsets %d to %d (%d records, %s) does not decompress (corrupt, or of an unknown codec): this entry holds the batch as the broker stores it",
			tl.Offset, tl.NextOffset-1, b.NumRecords, codecName(b.Attributes))
	}
	return &kgo.Record{
		Topic: tl.Topic, Partition: tl.Partition, Offset: tl.NextOffset - 1, Timestamp: time.UnixMilli(ts),
		Value:   raw,
		Context: context.WithValue(context.Background(), unreadableKey{}, reason),
	}, false, nil
}

func codecName(attrs int16) string {
	switch attrs & 0x07 {
	case 1:
		return "gzip"
	case 2:
		return "snappy"
	case 3:
		return "lz4"
	case 4:
		return "zstd"
	}
	return fmt.Sprintf("codec %d", attrs&0x07)
}

// fetchRaw fetches the partition of tl from offset at, as a read-committed
// consumer does, without decompressing anything: the batches as the broker
// stores them and its aborted transactions.
func fetchRaw(ctx context.Context, cl *kgo.Client, tl *kgo.ErrDecompressTooLarge, id [16]byte, leader int32, at int64) ([]byte, abortedTxns, error) {
	req := kmsg.NewPtrFetchRequest()
	// MaxBytes past PartitionMaxBytes: a fetch of MaxBytes 1 answers one
	// batch, and kfake then leaves the aborted transactions out.
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 2<<20
	req.IsolationLevel = 1 // read committed, as the sealer reads
	req.SessionEpoch = -1  // no fetch session
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = tl.Topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = tl.Partition, at, 1<<20
	rp.CurrentLeaderEpoch, rp.LogStartOffset = -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
	if err != nil {
		return nil, nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, nil, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, nil, errors.New("the broker answered another partition")
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, nil, err
	}
	aborted := abortedTxns{}
	for _, a := range p.AbortedTransactions {
		aborted[a.ProducerID] = append(aborted[a.ProducerID], a.FirstOffset)
	}
	for _, firsts := range aborted {
		slices.Sort(firsts)
	}
	return p.RecordBatches, aborted, nil
}

// abortedTxns holds, by producer id, the first offsets of the producer's
// aborted transactions a fetch answered, in order.
type abortedTxns map[int64][]int64

// readable reports whether a read-committed consumer reads records of b,
// the batches given in offset order: not a control batch, and not of an
// aborted transaction. A producer's aborted transaction runs from its
// first offset to the producer's next control batch (its abort marker).
// Before, one aborted transaction was kept per producer (the last), and
// a batch of an earlier one was taken for records to read, which made
// the sealer move back to them for ever
// (TestAttack33bTwoAbortedTransactionsBeforeABombStopTheSealer).
func (a abortedTxns) readable(b *kmsg.RecordBatch) bool {
	firsts := a[b.ProducerID]
	in := len(firsts) > 0 && firsts[0] <= b.FirstOffset
	if b.Attributes&0x20 != 0 { // a control batch: its marker ends the transaction
		if in {
			a[b.ProducerID] = firsts[1:]
		}
		return false
	}
	return !(b.Attributes&0x10 != 0 && in)
}
