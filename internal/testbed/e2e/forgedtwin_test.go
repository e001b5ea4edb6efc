package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// Attack on the streamed readers: anyone who can write to the bucket, but
// holds no signing key, files a one-line object under another day's folder
// at the first seq of a sealed batch (its first entry, moved a day and
// hashed again): it links to the checkpoint before that batch, and no
// checkpoint signs it. aegis verify refuses the chain (two objects hold
// that seq). Discover and rebuild must refuse it too, not take it for the
// newest object not signed yet while checkpoints sign seqs past it.
//
// A rebuild resumed after a kill must refuse it as a full rebuild does,
// wherever the kill left it: before the sealed batch, after it, or at the
// chain's end. Before, a resumed rebuild skipped the objects done by their
// keys' first seqs alone, unread, and reported success without naming the
// planted object: filed a day before the batch (merged before it), the
// twin was skipped for the batch after a kill before the batch; filed
// either side, both were skipped after a kill past the batch.
//
// The same holds for an object planted at a seq inside a sealed batch (its
// line 4, moved a day back): no checkpoint signs the seq before it, and a
// resumed rebuild skipped it unread as well.
func TestForgedTwinOfASealedBatchIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		days, line int
	}{
		{"twin filed a day after", 1, 0},
		{"twin filed a day before", -1, 0},
		{"object at the batch's fourth seq filed a day before", -1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forgedTwinIsRefused(t, tc.days, tc.line)
		})
	}
}

// forgedTwinIsRefused files a one-line object holding line (0-based) of a
// sealed batch, moved days and hashed again, and checks every reader
// refuses it.
func forgedTwinIsRefused(t *testing.T, days, line int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, refs := sealedChain(t)
	head, err := p.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	batch, after := refs[2], refs[3] // a sealed batch, with batches signed after it
	obj, err := st.Get(ctx, batch.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := shared.SplitLines(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	e, err := shared.ParseLine(lines[line])
	if err != nil {
		t.Fatal(err)
	}
	sealedDay := shared.FileDate(e.Source.Timestamp)
	src := *e.Source
	src.Timestamp = src.Timestamp.AddDate(0, 0, days)
	e.Source = &src
	if e.Hash, err = e.ComputeHash(); err != nil {
		t.Fatal(err)
	}
	body, err := e.Line()
	if err != nil {
		t.Fatal(err)
	}
	forged := shared.BatchKey("audit", e)
	putVersion(t, p, forged, append(body, '\n'), true)

	var f *replayer.Failure
	_, err = p.Verify(ctx)
	if !errors.As(err, &f) {
		t.Fatalf("aegis verify: %v, want a failure", err)
	}
	t.Logf("aegis verify: %v", err)

	day := sealedDay
	if days < 0 {
		day = shared.FileDate(src.Timestamp)
	}
	dcfg := replayer.DiscoverConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
		From: day, To: day.AddDate(0, 0, 2)}
	var forgedFound int
	rep, err := replayer.Discover(ctx, dcfg, func(fd replayer.Found) error {
		if fd.Object == forged {
			forgedFound++
		}
		return nil
	})
	if !errors.As(err, &f) || !errors.Is(err, shared.ErrChainBroken) || f.Key != forged {
		t.Errorf("discover: %v (%+v, %d entries of %s passed on), want the chain broken at %s", err, rep, forgedFound, forged, forged)
	}

	table := p.Cfg.Table + "-twin"
	if err := layout.EnsureTable(ctx, p.DynamoDB, table); err != nil {
		t.Fatal(err)
	}
	ix := &indexer.Index{DB: p.DynamoDB, Table: table}
	rcfg := replayer.RebuildConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey, Index: ix}
	_, err = replayer.Rebuild(ctx, rcfg)
	var full *replayer.Failure
	if !errors.As(err, &full) || !errors.Is(err, shared.ErrChainBroken) || full.Key != forged || full.Line != 1 {
		t.Fatalf("rebuild: %v, want the chain broken at %s line 1", err, forged)
	}
	t.Logf("rebuild: %v", err)
	for _, kill := range []struct {
		name string
		done uint64
	}{
		{"killed before the sealed batch", batch.FirstSeq - 1},
		{"killed after the sealed batch", after.FirstSeq - 1},
		{"killed at the chain's end", head.Head.Seq},
	} {
		// What a rebuild killed having finished seq done leaves.
		if err := ix.SetRebuildDone(ctx, p.Cfg.Chain, "all", kill.done); err != nil {
			t.Fatal(err)
		}
		rrep, err := replayer.Rebuild(ctx, rcfg)
		if !errors.As(err, &f) || f.Key != full.Key || f.Line != full.Line || f.Reason != full.Reason || !errors.Is(err, shared.ErrChainBroken) {
			t.Errorf("rebuild resumed after seq %d (%s): %v (%+v)\nwant what the full rebuild found: %v", kill.done, kill.name, err, rrep, full)
		}
	}
	for k, item := range tableItems(t, p.DynamoDB, table) {
		if strings.Contains(item, forged) {
			t.Errorf("item %s points at the planted object: %s", k, item)
		}
	}
}
