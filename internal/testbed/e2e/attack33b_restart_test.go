package e2e

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// A compression bomb the sealer noted but could not read yet (its raw
// read failed: a broker that did not answer) when a transaction failed
// and the sealer recovered in process. After the restart the consumer
// resumes at the group's commit, before the records sealed but not
// committed, which it must poll again to publish their entries from S3.
// The first poll after the restart came back empty (the fetch took longer
// than the poll's wait), and the sealer read the pending bomb "after" the
// head's offset, not after what it polled: it moved the consumer past the
// bomb, over the records it had not polled again. Their entries are in S3
// but never published: the transaction commits the group past them, they
// are not indexed, and no later start publishes them again.
func TestAttack33bABombPendingAcrossARestartSkipsTheRecordsToRepublish(t *testing.T) {
	stack.NeedsInProcessKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: 1, Sealer: func(c *sealer.Config) {
		c.BatchMaxAge = 100 * time.Millisecond
	}})
	<-p.Sealer.Ready()
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 1, 0, 1, 70, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitHead(ctx, 1); err != nil {
		t.Fatal(err)
	}
	txnID := "aegis-sealer-" + p.Cfg.Chain
	// Phase 1: the sealer's commits fail and its raw reads of the bomb
	// fail. Phase 2 starts at the third refused commit: raw reads pass
	// and the consumer's fetch from the first record to publish again
	// takes 2.5 s, after the restart that follows; the next commit passes.
	var phase, refused atomic.Int32
	phase.Store(1)
	stack.Kafka.ControlKey(int16(kmsg.TxnOffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if phase.Load() == 3 {
			stack.Kafka.DropControl()
			return nil, nil, false
		}
		stack.Kafka.KeepControl()
		r := req.(*kmsg.TxnOffsetCommitRequest)
		if r.TransactionalID != txnID {
			return nil, nil, false
		}
		if refused.Add(1) >= 3 {
			if !phase.CompareAndSwap(1, 2) {
				phase.Store(3)
				return nil, nil, false
			}
		}
		// CONCURRENT_TRANSACTIONS: franz-go aborts, and the sealer
		// recovers in process.
		resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, pt := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = pt.Partition, kerr.ConcurrentTransactions.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	stack.Kafka.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if phase.Load() == 3 {
			stack.Kafka.DropControl()
			return nil, nil, false
		}
		stack.Kafka.KeepControl()
		r := req.(*kmsg.FetchRequest)
		switch ph := phase.Load(); {
		case r.MaxWaitMillis == 0 && ph == 1: // the raw read of the bomb
			resp := r.ResponseKind().(*kmsg.FetchResponse)
			resp.ErrorCode = kerr.UnknownServerError.Code
			return resp, nil, true
		case r.MaxWaitMillis > 0 && ph == 2 && fetchesFrom(r, 1): // the sealer's consumer, rewound to the first record to publish again
			stack.Kafka.SleepControl(func() { time.Sleep(2500 * time.Millisecond) })
		}
		return nil, nil, false
	})
	defer phase.Store(3)
	more := pipeline.NewWorkload(p.Cfg.Chain, "more-"+p.Cfg.Chain, 2, 0, 1, 71, time.Now())
	publish(t, p, more.Events)
	bomb, _ := bombBatch(t, 1<<20, zstd.SpeedDefault)
	produceBatch(ctx, t, p.Cfg.Topic, bomb)
	after := pipeline.NewWorkload(p.Cfg.Chain, "after-"+p.Cfg.Chain, 1, 0, 1, 72, time.Now())
	publish(t, p, after.Events)
	if err := p.WaitFor(ctx, func() bool { return phase.Load() == 3 }); err != nil {
		t.Fatalf("phase %d, %d commits refused: %v", phase.Load(), refused.Load(), err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := p.WaitHead(wctx, 5); err != nil {
		t.Fatalf("head %+v, %d sealed entries never published: %v", p.Sealer.Head(), p.Sealer.Uncommitted(), err)
	}
	for _, d := range append(more.Decisions, after.Decisions...) {
		id := d.Decision.DecisionID
		if err := p.WaitFor(wctx, func() bool { _, err := p.Reader.Decision(ctx, id); return err == nil }); err != nil {
			t.Fatalf("decision %s sealed (head %+v) but never indexed: its entry was not published to the sealed topic: %v", id, p.Sealer.Head(), err)
		}
	}
	chain := readChain(t, p)
	if e := chain[4]; e.Type != shared.EntryInvalid {
		t.Fatalf("seq 4 is %s, want the bomb", e.Type)
	}
}

// fetchesFrom reports whether r fetches some partition from offset.
func fetchesFrom(r *kmsg.FetchRequest, offset int64) bool {
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if p.FetchOffset == offset {
				return true
			}
		}
	}
	return false
}
