package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// Attack 33 (a hostile producer on the decisions topic) on the readers of
// part of a chain: Kafka timestamps are the producer's to choose.

// A hostile producer dates its records where it likes: between the
// events of today it sends records of the year 9999, of 0000-01-01, of
// yesterday (the time going back over midnight) and out of range (clamped
// to the bounds), each making an object of its own in a far day folder.
// The readers of part of a chain see today's objects not follow one
// another: discover of today and index check (and rebuild --only-missing)
// of today's range must still find every event of today, signed, and
// the whole chain must verify and check clean. Index check of today's
// range called every item of the far records (seqs between today's)
// "extra: S3 holds no entry with this item", and rebuild --only-missing
// of that range deleted them: the next check of the whole chain finds
// them missing. Any entry of another day between a range's entries does
// it, a legitimate producer's whose clock is off too; and within a day
// with --from not at midnight, any entry dated before --from between
// entries after it (two producers' clocks a little apart).
func TestAttack33IndexCheckOfARangeCallsEntriesFiledElsewhereExtra(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: 1})
	<-p.Sealer.Ready()
	chain := p.Cfg.Chain
	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	const y9999, yMax, y0000, yNeg = 253402300799999, 1 << 57, -62167219200000, -1 << 57
	far := []int64{y9999, y0000, today.Add(-time.Hour).UnixMilli(), yMax, yNeg, 0, -1}
	var recs []rawRecord
	var want []string
	for i := range 2 * len(far) {
		if i%2 == 0 {
			id := fmt.Sprint("today-", i)
			want = append(want, "dec-"+id)
			recs = append(recs, rawRecord{strings.Replace(decisionRecord(chain, id, `{}`), `"decision_id":"`+id, `"decision_id":"dec-`+id, 1),
				max(today.UnixMilli(), now.UnixMilli()-int64(2*len(far)-i))})
			continue
		}
		id := fmt.Sprint("far-", i)
		recs = append(recs, rawRecord{decisionRecord(chain, id, `{}`), far[i/2]})
	}
	for _, r := range recs {
		publishAt(t, p.Cfg.Topic, r)
	}
	if err := p.WaitHead(ctx, uint64(len(recs))); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	_, err := replayer.Discover(ctx, replayer.DiscoverConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: chain, VerifierKey: p.Cfg.VerifierKey,
		From: today, To: today.Add(24 * time.Hour)}, func(f replayer.Found) error {
		if !f.Signed {
			return fmt.Errorf("seq %d not signed", f.Entry.Seq)
		}
		got = append(got, f.Entry.DecisionID())
		return nil
	})
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("discover of today: %v, %v; want %v", got, err, want)
	}
	ix := &indexer.Index{DB: p.DynamoDB, Table: p.Cfg.Table}
	for _, r := range []struct{ from, to time.Time }{{}, {today, today.Add(24 * time.Hour)}} {
		rep, err := replayer.Check(ctx, replayer.RebuildConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: chain, VerifierKey: p.Cfg.VerifierKey,
			Index: ix, From: r.from, To: r.to, TempDir: t.TempDir()})
		if err != nil || rep.DifferenceCount() != 0 {
			t.Errorf("index check of [%s, %s): %d differences %v, %v", r.from, r.to, rep.DifferenceCount(), rep.Differences, err)
		}
	}
	for _, id := range want {
		if _, err := p.Reader.Decision(ctx, id); err != nil {
			t.Fatalf("decision %s: %v", id, err)
		}
	}
	mend := replayer.RebuildConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: chain, VerifierKey: p.Cfg.VerifierKey,
		Index: ix, From: today, To: today.Add(24 * time.Hour), OnlyMissing: true, TempDir: t.TempDir()}
	if _, err := replayer.Rebuild(ctx, mend); err != nil {
		t.Fatal(err)
	}
	rep, err := replayer.Check(ctx, replayer.RebuildConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: chain, VerifierKey: p.Cfg.VerifierKey,
		Index: ix, TempDir: t.TempDir()})
	if err != nil || rep.DifferenceCount() != 0 {
		t.Fatalf("after rebuild --only-missing of today, index check of the chain: %d differences %v, %v", rep.DifferenceCount(), rep.Differences, err)
	}
}

// The same within one day: two producers' clocks a little apart put an
// entry dated 08:59:59.999 between entries dated 09:00 and after, and
// index check from 09:00 calls its item extra; rebuild --only-missing from
// 09:00 deletes it.
func TestAttack33IndexCheckFromMidDayCallsAnEarlierEntryBetweenItsOwnExtra(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: 1})
	<-p.Sealer.Ready()
	chain := p.Cfg.Chain
	from := time.Now().UTC().Truncate(24 * time.Hour).Add(9 * time.Hour)
	var recs []rawRecord
	for i, at := range []time.Duration{0, -time.Millisecond, time.Millisecond} {
		recs = append(recs, rawRecord{decisionRecord(chain, fmt.Sprint("d", i), `{}`), from.Add(at).UnixMilli()})
	}
	publishAt(t, p.Cfg.Topic, recs...)
	if err := p.WaitHead(ctx, uint64(len(recs))); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	ix := &indexer.Index{DB: p.DynamoDB, Table: p.Cfg.Table}
	rep, err := replayer.Check(ctx, replayer.RebuildConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: chain, VerifierKey: p.Cfg.VerifierKey,
		Index: ix, From: from, To: from.Add(time.Hour), TempDir: t.TempDir()})
	if err != nil || rep.DifferenceCount() != 0 {
		t.Fatalf("index check from %s: %d differences %v, %v", from, rep.DifferenceCount(), rep.Differences, err)
	}
}

// Decisions a hostile producer dated in the years 9999 and 0000 and in
// 1970, between today's: each is indexed, and a bundle of it is proved
// from S3 and verifies, as today's do.
func TestAttack33DecisionsDatedFarAwayAreProved(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: 1})
	<-p.Sealer.Ready()
	chain := p.Cfg.Chain
	now := time.Now().UnixMilli()
	stamps := []int64{now, 253402300799999, now, -62167219200000, now, 0, now}
	var recs []rawRecord
	var ids []string
	for i, ms := range stamps {
		id := fmt.Sprint("d", i)
		ids = append(ids, id)
		recs = append(recs, rawRecord{decisionRecord(chain, id, `{}`), ms})
	}
	for _, r := range recs {
		publishAt(t, p.Cfg.Topic, r)
	}
	if err := p.WaitHead(ctx, uint64(len(recs))); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	trusted, err := shared.ParseKeyset(p.Cfg.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		h, err := p.Reader.Decision(ctx, id)
		if err != nil {
			t.Fatalf("decision %s: %v", id, err)
		}
		bundle, _, err := replayer.Prove(ctx, replayer.ProveConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: chain, VerifierKey: p.Cfg.VerifierKey},
			id, []replayer.EntryRef{{Seq: h.Proof.Seq, Object: h.Proof.Object, Line: h.Proof.Line}})
		if err != nil {
			t.Fatalf("prove %s (%s): %v", id, h.Proof.Object, err)
		}
		if rep, err := shared.VerifyBundle(bundle, trusted); err != nil || rep.DecisionID != id {
			t.Fatalf("bundle of %s: %+v, %v", id, rep, err)
		}
	}
}
