package sealer

import (
	"context"
	"testing"

	"github.com/aegisai/audit/shared"
)

// Keys under a delete marker are read since a start lists checkpoint keys
// by version (TestStartSeesCheckpointsUnderDeleteMarkers). A file that
// does not verify, with a marker over it, at a checkpoint key past the
// head (a PUT and a DELETE, by anyone with write access to the bucket)
// then failed every start and takeover ("object not found"), for as long
// as the marker stood: the read of a key under a marker none of whose
// versions verifies was taken for a failure, not for a checkpoint that
// does not verify.
func TestAFileUnderAMarkerPastTheHeadIsPassedOver(t *testing.T) {
	for _, at := range []uint64{11, 1 << 40} {
		s, store, _ := sealed3(t)
		want := s.Head()
		key := shared.CheckpointKey("audit", "unit", at)
		store.PutVersion("audit", key, []byte("not a checkpoint\n"))
		store.Delete("audit", key)
		s2, err := New(context.Background(), s.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s2.recoverHead(context.Background()); err != nil || s2.Head() != want {
			t.Fatalf("file under a marker at seq %d: head at seq %d (err %v), want %d", at, s2.Head().Seq, err, want.Seq)
		}
	}
}
