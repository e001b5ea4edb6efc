package e2e

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/internal/testbed/pipeline"
)

// decompressed counts what a client's fetches decompress.
type decompressed struct{ bytes atomic.Int64 }

func (d *decompressed) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	d.bytes.Add(int64(m.UncompressedBytes))
}

// abortedTail writes n record batches of one record each to partition 0
// of topic in a transaction it aborts: each batch is about 90 KB of zstd
// that decompresses to 15 MiB, under both of the readers' bounds.
func abortedTail(ctx context.Context, t *testing.T, topic string, n int) {
	t.Helper()
	w, err := kgo.NewClient(kgo.SeedBrokers(stack.Brokers...), kgo.TransactionalID(topic+"-aborter"), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.ZstdCompression()),
		kgo.ProducerBatchMaxBytes(32<<20), kgo.MaxBufferedBytes(256<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	val := make([]byte, 15<<20)
	_, _ = rand.Read(val[:80<<10])
	if err := w.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := w.ProduceSync(ctx, &kgo.Record{Value: val, Partition: 0}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
}

// An idle indexer must not read the sealed topic again. Before
// 2026-12-01's redesign of PassedOver, one that had once moved past a
// refused batch (or lost a partition in a rebalance) set every partition
// it knew back to the offset after the last record it polled every 5 s
// (an idle resume). What follows that record and is not one, an aborted
// transaction, is then fetched and decompressed again every 5 s, for as
// long as the partition stays idle. A writer of the sealed topic who
// aborts a transaction of 100 batches that each decompress to 15 MiB
// (about 9 MB on the topic), after one bomb, makes every indexer
// decompressed 1.5 GB every 5 s for good (and every Sealed-mode producer's
// watch of the topic alike); with about 1,500 such batches (here 10 ms
// each) a pass through them outlasts the 5 s and a partition's next
// record is reached only once records elsewhere keep the indexer from
// being idle for 5 s.
func TestAttack34AnIdleIndexerReadsAnAbortedTailAgainEvery5s(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1})
	<-p.Sealer.Ready()
	var read decompressed
	core, logs := observer.New(zap.InfoLevel)
	ix, err := indexer.New(ctx, indexer.Config{Brokers: stack.Brokers, SealedTopic: p.Cfg.SealedTopic, Group: p.IndexerGroup(),
		DynamoDB: p.DynamoDB, Table: p.Cfg.Table, Logger: zap.New(core), KafkaOptions: []kgo.Opt{kgo.WithHooks(&read)}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ix.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	bomb, _ := bombBatch(t, 1<<20, zstd.SpeedBestCompression)
	produceBatch(ctx, t, p.Cfg.SealedTopic, bomb)
	if err := p.WaitFor(ctx, func() bool { return logs.FilterMessageSnippet("passed over a record batch").Len() > 0 }); err != nil {
		t.Fatal(err)
	}
	const batches = 100
	abortedTail(ctx, t, p.Cfg.SealedTopic, batches)
	tail := int64(batches) * 15 << 20
	if err := p.WaitFor(ctx, func() bool { return read.bytes.Load() >= tail }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	// Read once. Nothing is written from now on.
	from := read.bytes.Load()
	time.Sleep(16 * time.Second)
	again := read.bytes.Load() - from
	t.Logf("decompressed in 16 s of idleness: %d MiB", again>>20)
	if again > 15<<20 {
		t.Fatalf("an idle indexer decompressed %d MiB in 16 s with nothing new on the topic: the aborted tail of %d MiB was read %.1f more times",
			again>>20, tail>>20, float64(again)/float64(tail))
	}
}
