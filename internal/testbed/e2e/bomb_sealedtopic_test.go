package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/producer"
)

// A writer of the sealed topic who bypasses the ACLs writes compression
// bombs into each of its partitions: the indexer passes over them and
// indexes what follows, and a Sealed-mode producer gets its receipt.
// Before, franz-go decompressed each (up to 1 GiB) and then fetched the
// partition no more: every decision sealed after it there went unindexed,
// and every Sealed-mode call whose entry went there failed.
func TestACompressionBombOnTheSealedTopicDoesNotStopTheIndexer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: 1})
	<-p.Sealer.Ready()
	prod, err := p.Producer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	huge, _ := bombBatch(t, 1100<<20, zstd.SpeedFastest)
	small, _ := bombBatch(t, 100<<20, zstd.SpeedBestCompression)
	produceBatch(ctx, t, p.Cfg.SealedTopic, huge, true)
	produceBatch(ctx, t, p.Cfg.SealedTopic, small, true)
	// Few decisions: some partition may hold nothing after its bombs, and
	// must still be caught up (committed past them).
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 4, 0, 2, 25, time.Now())
	publish(t, p, w.Events[:len(w.Events)-1])
	// A Sealed-mode call reads the sealed topic past the bombs too.
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	last := w.Events[len(w.Events)-1]
	if _, err := prod.Log(sctx, last, producer.WithDurability(producer.Sealed)); err != nil {
		t.Fatalf("a Sealed-mode call after bombs on every partition of the sealed topic: %v", err)
	}
	if err := p.WaitHead(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		adm := kadm.NewClient(mustClient(t))
		ends, _ := adm.ListEndOffsets(context.Background(), p.Cfg.SealedTopic)
		committed, _ := adm.FetchOffsets(context.Background(), p.IndexerGroup())
		ends.Each(func(e kadm.ListedOffset) {
			c, _ := committed.Lookup(e.Topic, e.Partition)
			t.Logf("partition %d: end %d, committed %d", e.Partition, e.Offset, c.At)
		})
		t.Fatalf("the indexer did not index and commit past the bombs: %v", err)
	}
	for _, d := range w.Decisions {
		if _, err := p.Reader.Decision(ctx, d.Decision.DecisionID); err != nil {
			t.Fatalf("decision %s sealed after the bombs: %v", d.Decision.DecisionID, err)
		}
	}
}
