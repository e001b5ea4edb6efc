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

// The next key's first checkpoint bounds a retired key's retirement
// (FORMAT.md 7.4 (b)), so a thief who deletes the retiring checkpoint
// once its retention has ended and puts its bytes back after a twin is
// refused. But retiredAt reads the next key's checkpoints through their
// current version: a delete marker, which anyone with write access may
// put over a checkpoint still under its retention, hid each of them, the
// bound fell away, and the retirement was dated by the thief's put-back
// again: prove took the twin.
func TestReadersDateARetirementByTheNextKeysCheckpointUnderADeleteMarker(t *testing.T) {
	ctx := context.Background()
	store, keyset, retired := rotatedChainSigned(t, false)
	retiring := shared.CheckpointKey("audit", "mem", 5)
	sealedRetiring := store.Objects("audit")[retiring]
	store.Remove("audit", retiring) // its version deleted: its retention has ended
	store.Later(2 * archive.RetiredClockSkew)
	twin := putForgedSeq1(t, store, retired, time.Date(2026, 11, 6, 8, 0, 0, 0, time.UTC))
	store.PutVersion("audit", retiring, sealedRetiring)
	// Markers over the next key's checkpoints, whose versions stay locked.
	store.Delete("audit", shared.CheckpointKey("audit", "mem", 7))
	store.Delete("audit", shared.CheckpointKey("audit", "mem", 9))
	cfg := replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset}
	if _, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: twin, Line: 1}}); !errors.Is(err, replayer.ErrRetiredRewrite) {
		t.Fatalf("prove of the twin, the next key's checkpoints under delete markers: %v (d0 %s), want it refused", err, rep.Action)
	}
}
