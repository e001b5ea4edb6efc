package replayer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// A retired key's checkpoint counts for a reader of part of a chain only
// in versions stored no later than the first version of the checkpoint
// of the key's last seq (FORMAT.md 7.4): the sealer wrote that one last
// with the key, so a thief of the key after its retirement cannot pass.
// But that checkpoint is under Object Lock only until its retention
// ends; once it has (and then everything the retired key signed is past
// its own: a pruned chain's readers read such objects with Pruned), its
// version may be deleted, and the thief who puts its bytes back makes
// the first version of that key their own, stored when they like: their
// twin of a sealed batch, at a key of its own with a checkpoint at a seq
// that had none, written before it, passes discover (and prove) as
// signed. aegis verify still refuses it (two objects hold seq 1). The
// next key's first checkpoint, which the thief cannot sign, now bounds
// the retirement by its signed time (and the sealer's clock skew): the
// thief, acting long after the hand-over, is refused.
func TestReadersRefuseARetiredKeysTwinAfterTheRetiringCheckpointIsPutBack(t *testing.T) {
	store, keyset, retired := rotatedChainSigned(t, false)
	now := time.Now().Add(48 * time.Hour) // every version's retention (a day) has ended
	retiring := shared.CheckpointKey("audit", "mem", 5)
	sealedRetiring := store.Objects("audit")[retiring]
	store.Remove("audit", retiring) // its version deleted: its retention has ended
	day := time.Date(2026, 11, 6, 8, 0, 0, 0, time.UTC)
	store.Later(2 * archive.RetiredClockSkew) // the thief acts long after the hand-over
	twin := putForgedSeq1(t, store, retired, day)
	store.PutVersion("audit", retiring, sealedRetiring) // the same bytes, put back after the twin

	got, err := discoverD0(store, keyset, day, replayer.DiscoverConfig{Pruned: true, Now: func() time.Time { return now }})
	if !errors.Is(err, replayer.ErrRetiredRewrite) || len(got) != 0 {
		t.Fatalf("discover of the twin's day (%s): %v, d0 found as %v, want the twin refused", twin, err, got)
	}
}

// Without the checkpoint of the retired range's last seq (deleted once
// its retention ended), the readers of part of a chain took none of the
// retired key's checkpoints ("of unknown age"), the sealer's included.
// The next key's first checkpoint dates the retirement now: the sealed
// decision proves, a twin the thief writes later is refused.
func TestReadersDateARetirementByTheNextKeysCheckpoint(t *testing.T) {
	ctx := context.Background()
	store, keyset, retired := rotatedChainSigned(t, false)
	store.Remove("audit", shared.CheckpointKey("audit", "mem", 5))
	sealedKey := shared.BatchKey("audit", &shared.Entry{Type: shared.EntryEvent, Chain: "mem", Seq: 1,
		Source: &shared.Source{Timestamp: time.Date(2026, 11, 4, 8, 0, 0, 0, time.UTC)}})
	cfg := replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset}
	if _, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: sealedKey, Line: 1}}); err != nil || rep.Action != shared.ActionAllow {
		t.Fatalf("prove of the sealed d0 without the retiring checkpoint: %v, %s", err, rep.Action)
	}
	store.Later(2 * archive.RetiredClockSkew)
	twin := putForgedSeq1(t, store, retired, time.Date(2026, 11, 6, 8, 0, 0, 0, time.UTC))
	if _, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: twin, Line: 1}}); !errors.Is(err, replayer.ErrRetiredRewrite) {
		t.Fatalf("prove of the twin: %v (d0 %s), want it refused", err, rep.Action)
	}
}
