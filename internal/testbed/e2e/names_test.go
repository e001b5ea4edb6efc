package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/internal/testbed/pipeline"
)

// Two chains on one Kafka cluster, each sealer with its default names:
// each seals only its own chain's events. With a shared default topic each
// would also seal the other's events, as INVALID entries of its own chain.
func TestChainsWithDefaultNamesDoNotCollide(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := startPipeline(t, pipeline.Config{Indexers: -1})
	b := startPipeline(t, pipeline.Config{Indexers: -1})
	for _, p := range []*pipeline.Pipeline{a, b} {
		if p.Cfg.Topic != topics.Decisions(p.Cfg.Chain) {
			t.Fatalf("chain %s reads %s, want its default topic %s", p.Cfg.Chain, p.Cfg.Topic, topics.Decisions(p.Cfg.Chain))
		}
	}
	wa := pipeline.NewWorkload(a.Cfg.Chain, a.Cfg.Chain, 30, 0, 5, 1, time.Now())
	wb := pipeline.NewWorkload(b.Cfg.Chain, b.Cfg.Chain, 20, 0, 5, 2, time.Now())
	// b's events go first: a sealer of chain a that read them would seal
	// them before its own, as INVALID entries.
	publish(t, b, wb.Events)
	publish(t, a, wa.Events)
	for _, c := range []struct {
		p *pipeline.Pipeline
		n int
	}{{a, len(wa.Events)}, {b, len(wb.Events)}} {
		if err := c.p.WaitHead(ctx, uint64(c.n)); err != nil {
			t.Fatal(err)
		}
		rep, err := c.p.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Events != uint64(c.n) || rep.Invalid != 0 || c.p.Sealer.Head().Seq != uint64(c.n) {
			t.Fatalf("chain %s: %d events, %d invalid, head %d; want its own %d events and nothing else",
				c.p.Cfg.Chain, rep.Events, rep.Invalid, c.p.Sealer.Head().Seq, c.n)
		}
	}
}
