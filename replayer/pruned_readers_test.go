package replayer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// Discover (and so rebuild and index check, which read through the same
// code) on a chain whose oldest objects were deleted after their
// retention (FORMAT.md section 6.1). Before, any range failed: "no such
// chain" without the genesis, or the deleted object before the first one
// reported missing. Asked to (Pruned), the object whose predecessor is
// gone is where the chain starts when no checkpoint of a lower seq
// remains; a gap with anything older left is still refused.
func TestDiscoverAPrunedChain(t *testing.T) {
	ctx := context.Background()
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		keepCp    bool // the checkpoint of the seq before the start stays
		from      int  // the range's first day (of 0 to 2)
		hole      bool // the second object deleted, the first left: not pruning
		pruned    bool
		want      string // "" succeeds
		wantStart uint64
	}{
		{"not asked: no genesis", false, 0, false, false, "has no genesis object", 0},
		{"not asked: the hint", true, 1, false, false, "--pruned", 0},
		{"the checkpoint before the start deleted too", false, 0, false, true, "", 4},
		{"the checkpoint before the start kept", true, 0, false, true, "", 4},
		{"a range after the start", true, 1, false, true, "", 0},
		{"a hole with older objects left", true, 0, true, true, "not pruning", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, vkey := memObjects(t, []int{0, 0, 1, 2}, 3, decisionRecord) // seqs 1-3, 4-6 on day 0, 7-9, 10-12
			objects := func() map[uint64]string {
				keys := map[uint64]string{}
				for k := range store.Objects("audit") {
					if info, err := shared.ParseBatchKey("audit", k); err == nil {
						keys[info.FirstSeq] = k
					}
				}
				return keys
			}()
			if tc.hole {
				store.Remove("audit", objects[4])
				store.Remove("audit", shared.CheckpointKey("audit", "mem", 6))
			} else {
				store.Remove("audit", shared.GenesisKey("audit", "mem"))
				store.Remove("audit", shared.CheckpointKey("audit", "mem", 0))
				store.Remove("audit", objects[1])
				if !tc.keepCp {
					store.Remove("audit", shared.CheckpointKey("audit", "mem", 3))
				}
			}
			var seqs []uint64
			rep, err := replayer.Discover(ctx, replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
				From: day.AddDate(0, 0, tc.from), To: day.AddDate(0, 0, 3), Pruned: tc.pruned},
				func(f replayer.Found) error { seqs = append(seqs, f.Entry.Seq); return nil })
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%v (found %v), want a failure saying %q", err, seqs, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			first := uint64(4)
			if tc.from == 1 {
				first = 7
			}
			if len(seqs) != int(13-first) || seqs[0] != first || seqs[len(seqs)-1] != 12 {
				t.Fatalf("found seqs %v, want %d to 12", seqs, first)
			}
			if rep.StartSeq != tc.wantStart || (tc.wantStart != 0) != (rep.StartObject == objects[4]) {
				t.Fatalf("start %d in %q, want %d", rep.StartSeq, rep.StartObject, tc.wantStart)
			}
		})
	}
}

// A reader asked to accept a pruned chain still refuses one that has no
// checkpoint that verifies: a misspelt chain name, not a pruned chain.
func TestDiscoverPrunedNeedsACheckpoint(t *testing.T) {
	store, vkey := memObjects(t, []int{0}, 3, decisionRecord)
	_, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "nosuch", VerifierKey: vkey,
		From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Pruned: true},
		func(replayer.Found) error { return nil })
	if !errors.Is(err, replayer.ErrNoChain) || !strings.Contains(err.Error(), "no checkpoint that verifies") {
		t.Fatalf("%v, want no such chain", err)
	}
}

// A chain being pruned holds, at any time, oldest objects past their
// retention that pruning has not deleted yet, some of them under a
// lifecycle rule's delete marker. Discover (so rebuild and index check)
// failed on each ("object lock retention ended"), so a whole-chain
// rebuild of a chain pruned by a lifecycle rule never passed. With
// Pruned they are read and counted (FORMAT.md 6.1); without it they fail
// as before.
func TestDiscoverReadsPastRetentionWhenPruned(t *testing.T) {
	v := vectorNamed(t, "accept-log") // genesis 0, objects 1-3 (2026-11-27) and 4-6 (11-28), checkpoints 0, 3, 6
	now := time.Date(2033, 11, 28, 12, 0, 0, 0, time.UTC)
	genesis, first := shared.GenesisKey("audit", "prod"), "audit/year=2026/month=11/day=27/env=prod/00000000000000000001.jsonl"
	cp0, cp3 := shared.CheckpointKey("audit", "prod", 0), shared.CheckpointKey("audit", "prod", 3)
	discover := func(pruned bool, marked ...string) (replayer.DiscoverReport, []uint64, error) {
		store := lockedLog(t, v, now, bySuffix(map[string]objLock{genesis: pastRetain, first: pastRetain, cp0: pastRetain, cp3: pastRetain}))
		for _, k := range marked {
			store.Delete("audit", k)
		}
		var seqs []uint64
		rep, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "prod", VerifierKey: v.VerifierKey,
			From: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), Pruned: pruned, Now: func() time.Time { return now }},
			func(f replayer.Found) error { seqs = append(seqs, f.Entry.Seq); return nil })
		return rep, seqs, err
	}
	if _, _, err := discover(false); err == nil || !strings.Contains(err.Error(), "retention ended") {
		t.Fatalf("not asked: %v, want the ended retention named", err)
	}
	for _, marked := range [][]string{nil, {genesis, first, cp0}} {
		rep, seqs, err := discover(true, marked...)
		if err != nil || len(seqs) != 6 || seqs[0] != 1 || rep.PastRetention != 1 {
			t.Fatalf("pruned, %v under markers: %v, found %v, %d past retention; want seqs 1 to 6, 1 past retention", marked, err, seqs, rep.PastRetention)
		}
	}
}

// Prove of an entry whose object has no version left (a pruned chain's
// index still pointing at it) says the object is gone and what to run
// (ErrObjectGone); before, it said S3's bare "object not found". An object
// under a delete marker is still read from its sealed version.
func TestProveOfAnEntryWhoseObjectIsGone(t *testing.T) {
	store, vkey := memObjects(t, []int{0, 0, 1}, 3, decisionRecord) // seqs 1-3, 4-6, 7-9
	var first string
	for k := range store.Objects("audit") {
		if info, err := shared.ParseBatchKey("audit", k); err == nil && info.FirstSeq == 1 {
			first = k
		}
	}
	prove := func() error {
		_, _, err := replayer.Prove(context.Background(), replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey},
			"d0", []replayer.EntryRef{{Seq: 1, Object: first, Line: 1}})
		return err
	}
	store.Delete("audit", first)
	if err := prove(); err != nil {
		t.Fatalf("under a delete marker: %v, want the sealed version proved", err)
	}
	// An object past S3's signed head (seq 9) was never there: named so,
	// not gone (an outside trial read it as pruned).
	past := strings.Replace(first, "00000000000000000001.jsonl", "00000000000000000020.jsonl", 1)
	_, _, err := replayer.Prove(context.Background(), replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey},
		"d0", []replayer.EntryRef{{Seq: 20, Object: past, Line: 1}})
	if err == nil || errors.Is(err, replayer.ErrObjectGone) || !strings.Contains(err.Error(), "is past S3's signed head (seq 9)") {
		t.Fatalf("an object past the head: %v, want it named past S3's signed head", err)
	}
	store.Remove("audit", first)
	// The genesis is still there: no pruning took the object (an outside
	// trial read the pruning told first as the likely cause).
	if err := prove(); !errors.Is(err, replayer.ErrObjectGone) || !strings.Contains(err.Error(), first) ||
		!strings.Contains(err.Error(), "removed from the storage, where S3's Object Lock cannot remove it") || strings.Contains(err.Error(), "pruned chain") {
		t.Fatalf("every version gone, the genesis kept: %v, want ErrObjectGone naming %s as removed, not pruned", err, first)
	}
	// Pruned: the genesis's object and checkpoint went first.
	for k := range store.Objects("audit") {
		if info, err := shared.ParseBatchKey("audit", k); err == nil && info.FirstSeq == 0 {
			store.Remove("audit", k)
		}
	}
	store.Remove("audit", shared.CheckpointKey("audit", "mem", 0))
	if err := prove(); !errors.Is(err, replayer.ErrObjectGone) || !strings.Contains(err.Error(), first) || !strings.Contains(err.Error(), "--pruned") {
		t.Fatalf("every version gone, the chain pruned: %v, want ErrObjectGone naming %s and --pruned", err, first)
	}
}

// aegis index status reads S3's head with SignedHead. Someone with write
// access to the bucket hid the newest checkpoints from it with a delete
// marker or a garbage version over each: it answered an older head, and
// the index's lag looked smaller than it was. The sealed versions count,
// as for every reader; a file at a checkpoint key past the head that no
// trusted key signs for its seq counts for nothing.
func TestSignedHeadSeesPastMarkersAndVersionsWrittenOver(t *testing.T) {
	store, vkey := memObjects(t, []int{0, 0, 1, 1}, 3, decisionRecord) // checkpoints at 0, 3, 6, 9, 12
	head := func() uint64 {
		t.Helper()
		cp, err := replayer.SignedHead(context.Background(), store, "audit", "", "mem", vkey)
		if err != nil {
			t.Fatal(err)
		}
		return cp.Seq
	}
	if got := head(); got != 12 {
		t.Fatalf("head %d, want 12", got)
	}
	store.PutVersion("audit", shared.CheckpointKey("audit", "mem", 15), []byte("not a checkpoint\n"))
	store.PutVersion("audit", shared.CheckpointKey("audit", "mem", 12), []byte("garbage over the head\n"))
	store.Delete("audit", shared.CheckpointKey("audit", "mem", 9))
	if got := head(); got != 12 {
		t.Fatalf("with garbage over the head, a marker below it and junk past it: head %d, want 12", got)
	}
	store.Delete("audit", shared.CheckpointKey("audit", "mem", 12))
	if got := head(); got != 12 {
		t.Fatalf("with the head under a delete marker: head %d, want 12", got)
	}
	for _, seq := range []uint64{0, 3, 6, 15} {
		store.Delete("audit", shared.CheckpointKey("audit", "mem", seq))
	}
	if got := head(); got != 12 {
		t.Fatalf("with every checkpoint key under a delete marker: head %d, want 12", got)
	}
}
