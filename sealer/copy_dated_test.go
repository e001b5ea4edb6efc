package sealer

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
)

// A sealer started on a copy of its bucket made after a key hand-over
// (every version dated by the copy, the retiring checkpoint copied first)
// reads the retired key's older checkpoints as refused by their dates
// alone. They are no forgery: it warns and does not count them as bad
// checkpoints (the AegisForgedCheckpoint alert). A retired key's
// checkpoint written over a sealed one on the sealer's own bucket still
// counts. The refusal reaches the report with the checkpoint it refused
// (it went through a side map by key before).
func TestASealerOnACopyDoesNotCountTheRetiredRangeAsForged(t *testing.T) {
	ctx := context.Background()
	h := handedOver(t)
	st := h.s.startStage(ctx)
	st.jobs <- sealJob{records: records(4, 3, h.at.Add(time.Minute)), upTo: 6}
	if r := <-st.results; r.err != nil {
		t.Fatal(r.err)
	}
	st.stop()
	sealed := h.s.Head()
	genesisCp := shared.CheckpointKey("audit", "unit", 0)
	retiring := shared.CheckpointKey("audit", "unit", 4)
	if _, ok := h.store.Objects("audit")[genesisCp]; !ok {
		t.Fatalf("no checkpoint at %s", genesisCp)
	}

	walk := func(t *testing.T, store *s3mem.S3) (bad float64, warned []string) {
		t.Helper()
		core, logs := observer.New(zap.WarnLevel)
		cfg := h.cfg
		cfg.S3, cfg.Logger = store, zap.New(core)
		s, err := New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		cps, err := s.recoverHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Head(); got != sealed {
			t.Fatalf("started at seq %d %s, want the sealed head seq %d %s", got.Seq, got.Hash, sealed.Seq, sealed.Hash)
		}
		for i := 0; ; i++ {
			_, ok, err := cps.at(ctx, i)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
		}
		for _, e := range logs.All() {
			if strings.Contains(e.Message, "retired key's checkpoint stored after") {
				warned = append(warned, e.ContextMap()["key"].(string))
			}
		}
		var m dto.Metric
		if err := s.m.badCheckpoints.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue(), warned
	}

	t.Run("copy", func(t *testing.T) {
		c := s3mem.New("audit")
		c.AddBucket("clock", false)
		c.PutVersion("clock", "tick", nil) // the copy's clock starts now...
		c.Later(time.Hour)                 // ...and copies an hour later
		objects := h.store.Objects("audit")
		c.PutVersion("audit", retiring, objects[retiring])
		c.Later(2 * archive.RetiredGrace)
		keys := make([]string, 0, len(objects))
		for k := range objects {
			if k != retiring {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			c.PutVersion("audit", k, objects[k])
		}
		bad, warned := walk(t, c)
		if bad != 0 {
			t.Errorf("%v bad checkpoints on the copy, want 0 (the retired range's are genuine)", bad)
		}
		if !slices.Contains(warned, genesisCp) {
			t.Errorf("warned of %v, want the retired range's checkpoint %s named", warned, genesisCp)
		}
	})

	t.Run("forged on the sealer's bucket", func(t *testing.T) {
		// A checkpoint signed by the retired key at a key of its range
		// that holds none, written after the retirement: what its thief
		// can write.
		retired, err := shared.NewSigner(h.oldS)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := h.s.keys.open(h.store.Objects("audit")[genesisCp])
		if err != nil {
			t.Fatal(err)
		}
		cp.Seq, cp.Offset = 2, 1
		msg, err := cp.Sign(retired)
		if err != nil {
			t.Fatal(err)
		}
		forged := shared.CheckpointKey("audit", "unit", 2)
		h.store.Later(2 * archive.RetiredGrace)
		h.store.PutVersion("audit", forged, msg)
		bad, warned := walk(t, h.store)
		if bad != 1 || len(warned) != 0 {
			t.Errorf("%v bad checkpoints and warnings %v; want the retired key's checkpoint at %s counted as bad, no copy warning", bad, warned, forged)
		}
	})
}
