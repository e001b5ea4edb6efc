package sealer

import (
	"context"
	"testing"

	"github.com/aegisai/audit/shared"
)

// A chain idle since a hand-over, with files that do not verify at the
// checkpoint keys after it (anyone with write access to the bucket can
// put them), restarts from the hand-over's checkpoint: the search for the
// next key's checkpoint that dates the retirement passes over any number
// of them. One that gave up after 64 and took the retirement as unknown
// refused the hand-over's checkpoint, and the sealer could not start.
func TestStartAfterAHandOverPassesOverFilesAtLaterCheckpointKeys(t *testing.T) {
	h := handedOver(t)
	store, cfg, sealed := h.store, h.cfg, h.s.Head()
	for seq := uint64(5); seq < 80; seq++ {
		store.PutVersion("audit", shared.CheckpointKey("audit", "unit", seq), []byte("junk"))
	}
	restarted, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.recoverHead(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := restarted.Head(); got != sealed {
		t.Fatalf("restarted at %+v, want the hand-over %+v", got, sealed)
	}
}
