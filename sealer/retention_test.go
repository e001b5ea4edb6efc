package sealer

import (
	"context"
	"testing"
	"time"

	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// A sealer restarted with a shorter --retention locked its next objects
// until an earlier date than the objects before them. Once the first of
// those ended, an honest chain held an object past its retention after
// objects still under theirs, which aegis verify fails, with --pruned too
// (FORMAT.md 6.1: what pruning leaves past its retention is a run from
// the start), for as long as the old retention outlasts the new: up to
// six years for 7y shortened to 1y. The sealer now never locks an object
// or checkpoint until earlier than the newest checkpoint it recovered
// (or wrote), so the chain's retain-until dates never go back; a
// shorter retention takes effect once the old dates are passed.
func TestShorterRetentionNeverLocksLessThanTheChainBefore(t *testing.T) {
	ctx := context.Background()
	s, store, clock := unitSealer(t)
	seal := func(from int) {
		st := s.startStage(ctx)
		st.jobs <- sealJob{records: records(from, 2, clock.t), upTo: int64(from + 1)}
		if r := <-st.results; r.err != nil {
			t.Fatal(r.err)
		}
		st.stop()
	}
	seal(0)
	// Restarted a day later with a retention of a day.
	clock.advance(24 * time.Hour)
	s.cfg.Retention = MinRetention
	s.setHead(shared.Head{})
	if _, err := s.recoverHead(ctx); err != nil {
		t.Fatal(err)
	}
	seal(2)
	seal(4)
	// Three days on: the objects sealed after the restart are past a
	// day's retention, the first one still under its seven years.
	now := clock.t.Add(3 * 24 * time.Hour)
	for _, pruned := range []bool{false, true} {
		if _, err := replayer.Verify(ctx, replayer.Config{S3: store, Bucket: "audit", Chain: "unit", VerifierKey: s.cfg.VerifierKey, Pruned: pruned,
			Now: func() time.Time { return now }}); err != nil {
			t.Fatalf("verify (pruned %v) of an honest chain whose sealer's retention was shortened: %v", pruned, err)
		}
	}
}

// Whoever may write to the bucket may also extend a version's retention
// (PutObjectRetention): extended on the newest checkpoint to a century,
// it must not lock everything the sealer seals next for as long. The
// floor is taken no further than the longer of --retention and the
// default (seven years) from now.
func TestRetainFloorIsCappedWhenTheNewestCheckpointWasExtended(t *testing.T) {
	ctx := context.Background()
	s, store, clock := unitSealer(t)
	cpKey := shared.CheckpointKey("audit", "unit", 0) // the genesis's, the newest
	vs := store.Versions("audit", cpKey)
	store.ExtendRetention("audit", cpKey, vs[0].ID, clock.t.AddDate(100, 0, 0))
	s.cfg.Retention = MinRetention
	s.setHead(shared.Head{})
	if _, err := s.recoverHead(ctx); err != nil {
		t.Fatal(err)
	}
	st := s.startStage(ctx)
	st.jobs <- sealJob{records: records(0, 2, clock.t), upTo: 1}
	if r := <-st.results; r.err != nil {
		t.Fatal(r.err)
	}
	st.stop()
	limit := clock.t.Add(defaultRetention)
	for key := range store.Objects("audit") {
		if key == cpKey {
			continue
		}
		if v := store.Versions("audit", key); v[0].RetainUntil.After(limit) {
			t.Fatalf("%s locked until %v, past the cap %v", key, v[0].RetainUntil, limit)
		} else if !v[0].RetainUntil.After(clock.t.Add(MinRetention)) {
			t.Fatalf("%s locked until %v: the floor (capped at %v) was not applied", key, v[0].RetainUntil, limit)
		}
	}
}
