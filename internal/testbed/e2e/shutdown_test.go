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
