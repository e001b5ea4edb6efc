package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// Attack on the streamed readers: anyone who can write to the bucket, but
// holds no signing key, files a one-line object under the next day's
// folder at the first seq of a sealed batch (its first entry, moved a day
// on and hashed again): it links to the checkpoint before that batch, and
// no checkpoint signs it. aegis verify refuses the chain (two objects hold
// that seq). Discover and rebuild must refuse it too, not take it for the
// newest object not signed yet while checkpoints sign seqs past it; and a
// rebuild resumed after the batch before must not skip the sealed batch
// for it, reporting success with that batch never indexed.
func TestForgedTwinOfASealedBatchIsRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, refs := sealedChain(t)
	st := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	twin := refs[2] // a sealed batch, with batches signed after it
	obj, err := st.Get(ctx, twin.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := shared.SplitLines(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	e, err := shared.ParseLine(lines[0])
	if err != nil {
		t.Fatal(err)
	}
	src := *e.Source
	src.Timestamp = src.Timestamp.AddDate(0, 0, 1)
	e.Source = &src
	if e.Hash, err = e.ComputeHash(); err != nil {
		t.Fatal(err)
	}
	line, err := e.Line()
	if err != nil {
		t.Fatal(err)
	}
	forged := shared.BatchKey("audit", e)
	putVersion(t, p, forged, append(line, '\n'), true)

	var f *replayer.Failure
	_, err = p.Verify(ctx)
	if !errors.As(err, &f) {
		t.Fatalf("aegis verify: %v, want a failure", err)
	}
	t.Logf("aegis verify: %v", err)

	day := shared.FileDate(src.Timestamp).AddDate(0, 0, -1)
	dcfg := replayer.DiscoverConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
		From: day, To: day.AddDate(0, 0, 2)}
	var forgedFound int
	rep, err := replayer.Discover(ctx, dcfg, func(fd replayer.Found) error {
		if fd.Object == forged {
			forgedFound++
		}
		return nil
	})
	if !errors.As(err, &f) || !errors.Is(err, shared.ErrChainBroken) {
		t.Errorf("discover: %v (%+v, %d entries of %s passed on), want the chain broken", err, rep, forgedFound, forged)
	}

	table := p.Cfg.Table + "-twin"
	if err := layout.EnsureTable(ctx, p.DynamoDB, table); err != nil {
		t.Fatal(err)
	}
	ix := &indexer.Index{DB: p.DynamoDB, Table: table}
	rcfg := replayer.RebuildConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey, Index: ix}
	if rrep, err := replayer.Rebuild(ctx, rcfg); !errors.As(err, &f) || !errors.Is(err, shared.ErrChainBroken) {
		t.Errorf("rebuild: %v (%+v), want the chain broken", err, rrep)
	}
	// As if a rebuild had been killed having indexed up to the batch
	// before the twin.
	if err := ix.SetRebuildDone(ctx, p.Cfg.Chain, "all", twin.FirstSeq-1); err != nil {
		t.Fatal(err)
	}
	if rrep, err := replayer.Rebuild(ctx, rcfg); !errors.As(err, &f) || !errors.Is(err, shared.ErrChainBroken) {
		t.Errorf("resumed rebuild: %v (%+v), want the chain broken", err, rrep)
	}
}
