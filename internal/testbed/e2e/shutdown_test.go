package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/aegisai/audit/internal/testbed/pipeline"
)

// A sealer told to stop drains in the order intake, flush, seal, commit,
// close, and leaves nothing sealed but uncommitted.
func TestSealerShutdownOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	core, logs := observer.New(zap.InfoLevel)
	p, err := pipeline.Start(ctx, stack, pipeline.Config{Indexers: -1, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 300, 0, 10, 5, time.Now())
	publish(t, p, w.Events)
	if err := p.WaitFor(ctx, func() bool { return p.Sealer.Stats().Sealed > 0 }); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil { // under way: some batches sealed, maybe some not
		t.Fatal(err)
	}
	want := []string{"1/5 intake stopped", "2/5 flushed", "3/5 sealed", "4/5 committed", "5/5 closed", "sealer session ended"}
	var got []string
	for _, e := range logs.All() {
		for _, w := range want {
			if strings.HasPrefix(e.Message, w) {
				got = append(got, w)
			}
		}
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("shutdown steps logged: %q, want %q", got, want)
	}
	if n := p.Sealer.Uncommitted(); n != 0 {
		t.Fatalf("%d entries sealed but not committed after a clean shutdown", n)
	}
	if st := p.Sealer.Stats(); st.Committed != st.Sealed {
		t.Fatalf("sealed %d, committed %d", st.Sealed, st.Committed)
	}
}

// Issue 17: an indexer says when it runs (its group, topic and table) and
// when it stops cleanly, as the sealer, ingest and query do.
func TestIndexerLogsStartAndStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	core, logs := observer.New(zap.InfoLevel)
	p, err := pipeline.Start(ctx, stack, pipeline.Config{Indexers: 1, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, p, pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 5, 0, 2, 7, time.Now()).Events)
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	running := logs.FilterMessage("indexer running").All()
	if len(running) != 1 {
		t.Fatalf("%d 'indexer running' lines, want 1", len(running))
	}
	fields := running[0].ContextMap()
	if fields["table"] != p.Cfg.Table || fields["topic"] != p.Cfg.SealedTopic || fields["group"] == "" {
		t.Fatalf("indexer running with %v; want the table %s, the topic %s and a group", fields, p.Cfg.Table, p.Cfg.SealedTopic)
	}
	if n := logs.FilterMessage("indexer stopped").Len(); n != 1 {
		t.Fatalf("%d 'indexer stopped' lines after a clean stop, want 1", n)
	}
}
