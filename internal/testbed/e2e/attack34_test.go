package e2e

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/internal/testbed/pipeline"
)

// runIndexer runs an indexer of p's group until the returned stop is
// called; its metrics go to reg, and its log is returned.
func runIndexer(t *testing.T, p *pipeline.Pipeline, name string, reg prometheus.Registerer) (stop func(), logs *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(core)
	ix, err := indexer.New(context.Background(), indexer.Config{
		Metrics: reg, Brokers: stack.Brokers, SealedTopic: p.Cfg.SealedTopic, Group: p.IndexerGroup(),
		DynamoDB: p.DynamoDB, Table: p.Cfg.Table, Logger: log.Named(name), SessionTimeout: 6 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ix.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("indexer %s: %v", name, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop, logs
}

// indexedRecords reads aegis_indexer_records_total from reg.
func indexedRecords(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "aegis_indexer_records_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// An indexer that is given partitions (another indexer left, or was killed
// and its session expired) while a refused batch of the sealed topic waits
// to be passed over must go on from their commits. Before 2026-12-01's
// redesign of PassedOver, it set each gained partition to the log's start: its
// committed offset is not known to franz-go until the group's OffsetFetch
// answers, and PassedOver takes "no commit known" for "no commit" (the
// indexer's From(p, 0)). franz-go applies a SetOffsets made during the
// OffsetFetch in place of the fetched commit ("takes highest
// preference"), so the partition is read again from offset 0, every
// record indexed again, and its committed offset moved back to 0 by the
// next commit. Here the OffsetFetch is held for a moment (kfake's
// control hook) so that the bombs' refusal lands in that window; on a
// real broker the window is the OffsetFetch's round trip, which a flood
// of bombs (the reader polls after every one) hits at every rebalance.
// The attacker (a writer of the sealed topic) gains a re-index of whole
// partitions at every rebalance: the index falls behind by the topic's
// length, and its committed offsets go back.
func TestAttack34APartitionGainedWhileABombIsPendingIsReadFromTheStart(t *testing.T) {
	stack.NeedsInProcessKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1})
	<-p.Sealer.Ready()
	regA := prometheus.NewRegistry()
	_, logsA := runIndexer(t, p, "a", regA)
	stopB, _ := runIndexer(t, p, "b", nil)

	const decisions = 300
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, decisions, 0, 20, 34, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitHead(ctx, decisions); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(mustClient(t))
	before, err := adm.FetchOffsets(ctx, p.IndexerGroup())
	if err != nil {
		t.Fatal(err)
	}
	indexedBefore := indexedRecords(t, regA)

	// Hold the group's next OffsetFetch (the survivor's, for the
	// partitions it gains) until released.
	release := make(chan struct{})
	var held atomic.Bool
	group := p.IndexerGroup()
	stack.Kafka.ControlKey(int16(kmsg.OffsetFetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		stack.Kafka.KeepControl()
		r := req.(*kmsg.OffsetFetchRequest)
		ours := r.Group == group
		for _, g := range r.Groups {
			ours = ours || g.Group == group
		}
		if ours && held.CompareAndSwap(false, true) {
			stack.Kafka.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	stopB()
	if err := p.WaitFor(ctx, held.Load); err != nil {
		t.Fatal(err)
	}
	// A bomb on every partition: the survivor's kept partitions refuse
	// theirs while its gained partitions' offsets are being fetched.
	bomb, _ := bombBatch(t, 1<<20, zstd.SpeedBestCompression)
	produceBatch(ctx, t, p.Cfg.SealedTopic, bomb, true)
	if err := p.WaitFor(ctx, func() bool {
		return logsA.FilterMessageSnippet("passed over a record batch").Len() > 0
	}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // any re-reading under way shows in the count
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	again := indexedRecords(t, regA) - indexedBefore
	after, err := adm.FetchOffsets(ctx, p.IndexerGroup())
	if err != nil {
		t.Fatal(err)
	}
	before.Each(func(o kadm.OffsetResponse) {
		a, _ := after.Lookup(o.Topic, o.Partition)
		t.Logf("partition %d: committed %d before the rebalance, %d after", o.Partition, o.At, a.At)
	})
	// Every record was indexed and committed before B left: the bombs
	// are all there is to read.
	if again > 0 {
		t.Fatalf("the surviving indexer indexed %v records again after the rebalance (0 were left to index): "+
			"a partition it gained was read from the log's start", again)
	}
}
