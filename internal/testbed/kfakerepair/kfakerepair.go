// Package kfakerepair writes the abort markers franz-go's kfake leaves out
// when it starts again after a crash with transactions open, for the local
// brokers (bin/kafka and the embedded stack's).
package kfakerepair

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// cleanMark is the file this broker leaves in its data directory when it
// stops cleanly (SIGTERM, Ctrl-C): a start that does not find it follows a
// crash.
const cleanMark = "aegis-stopped-cleanly"

// An open transaction at a crash is a transaction kfake, started again,
// takes as aborted without writing its abort markers (a clean stop saves
// it instead). A read-committed consumer then skips every batch of that
// producer id that comes in a fetch with the aborted one, until a marker
// that never comes: the indexers lost what the sealer published again
// after the crash (docs/LIMITS.md, "The local stack"). Kafka's
// coordinator writes the markers when it aborts; Repair does,
// before any client can produce.

// Repair starts the cluster of dir on a port of its own, writes
// an abort marker for each aborted transaction that has none, and stops
// it cleanly. It reports what it wrote.
func Repair(dir string, opts []kfake.Opt) (int, error) {
	c, err := kfake.NewCluster(append(opts, kfake.Ports(0), kfake.DataDir(dir))...)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	// No bound on the whole read, which grows with the data directory:
	// each request has its own (call).
	ctx := context.Background()
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(mctx, cl)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("metadata: %w", err)
	}
	written := 0
	for _, t := range meta.Topics {
		if t.Topic == nil {
			continue
		}
		for _, p := range t.Partitions {
			missing, err := unmarkedAborts(ctx, cl, *t.Topic, t.TopicID, p.Partition)
			if err != nil {
				return written, err
			}
			for pid, epoch := range missing {
				if err := writeAbortMarker(ctx, cl, *t.Topic, p.Partition, pid, epoch); err != nil {
					return written, err
				}
				written++
			}
		}
	}
	return written, nil
}

// unmarkedAborts reads a partition from its start, read committed, and
// returns the producer ids (with their epochs) of the aborted
// transactions the broker lists that no abort marker of theirs follows.
func unmarkedAborts(ctx context.Context, cl *kgo.Client, topic string, id [16]byte, partition int32) (map[int64]int16, error) {
	aborted := map[int64]int64{} // producer id: first offset of its aborted transaction
	epochs := map[int64]int16{}
	marked := map[int64]int64{} // producer id: offset of its last control batch
	for offset := int64(0); ; {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 0
		req.MaxBytes = 64 << 20
		req.IsolationLevel = 1 // read committed: the broker lists the aborted transactions
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, id // the name up to version 12, the id after
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 16<<20
		rp.CurrentLeaderEpoch, rp.LastFetchedEpoch, rp.LogStartOffset = -1, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		fctx, cancel := context.WithTimeout(ctx, time.Minute)
		resp, err := req.RequestWith(fctx, cl)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, offset, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return nil, fmt.Errorf("fetch %s/%d at %d: %d topics in the answer", topic, partition, offset, len(resp.Topics))
		}
		fp := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(fp.ErrorCode); err != nil {
			if errors.Is(err, kerr.OffsetOutOfRange) && offset == 0 {
				offset = fp.LogStartOffset
				continue
			}
			return nil, fmt.Errorf("fetch %s/%d at %d: %w", topic, partition, offset, err)
		}
		for _, a := range fp.AbortedTransactions {
			if first, ok := aborted[a.ProducerID]; !ok || a.FirstOffset > first {
				aborted[a.ProducerID] = a.FirstOffset
			}
		}
		next, raw := offset, fp.RecordBatches
		for len(raw) > 0 {
			var b kmsg.RecordBatch
			if err := b.ReadFrom(raw); err != nil {
				break // a batch cut short at the end of the answer
			}
			n := 12 + int(b.Length)
			raw = raw[n:]
			if b.ProducerID >= 0 {
				epochs[b.ProducerID] = b.ProducerEpoch
			}
			if b.Attributes&0x20 != 0 { // a control batch: a commit or abort marker
				marked[b.ProducerID] = b.FirstOffset
			}
			next = b.FirstOffset + int64(b.LastOffsetDelta) + 1
		}
		if next <= offset || next >= fp.HighWatermark {
			break
		}
		offset = next
	}
	missing := map[int64]int16{}
	for pid, first := range aborted {
		if m, ok := marked[pid]; !ok || m < first {
			missing[pid] = epochs[pid]
		}
	}
	return missing, nil
}

// writeAbortMarker writes an abort marker of producer id pid on a partition.
func writeAbortMarker(ctx context.Context, cl *kgo.Client, topic string, partition int32, pid int64, epoch int16) error {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = pid, epoch, false
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{partition}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	resp, err := req.RequestWith(wctx, cl)
	if err != nil {
		return fmt.Errorf("abort marker of producer %d on %s/%d: %w", pid, topic, partition, err)
	}
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return fmt.Errorf("abort marker of producer %d on %s/%d: %w", pid, topic, partition, err)
				}
			}
		}
	}
	return nil
}

// StoppedCleanly reports whether the last run on dir stopped cleanly (or
// there was none), and forgets it: this run has to say so again.
func StoppedCleanly(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		return true // a new data directory
	}
	err = os.Remove(filepath.Join(dir, cleanMark))
	return err == nil
}

// MarkStoppedCleanly leaves the mark a clean stop leaves.
func MarkStoppedCleanly(dir string) error {
	return os.WriteFile(filepath.Join(dir, cleanMark), nil, 0o644)
}
