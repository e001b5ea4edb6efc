package sealer

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
)

// A start reads the sealed version of a checkpoint among the oldest
// archive.MaxOlderVersions versions of its key: the sealer writes each
// key first. But S3 dates a multipart upload's object by when the upload
// was begun, and lists it by that date among the key's versions: a bucket
// writer who begins more uploads than that at the key of a checkpoint to
// come, completes them once the sealer wrote it, and puts a delete marker
// over it, pushed the sealer's version out of those read, and the start
// took the checkpoint before as the head (and signed a fork the next day,
// as TestAHiddenHeadIsNotForkedTheNextDay shows). A multipart upload's
// object is never the sealer's (it writes with one PUT each): those are
// not counted.
func TestMultipartUploadsBegunAheadDoNotPushTheSealedCheckpointOut(t *testing.T) {
	if testing.Short() {
		t.Skip("10,001 uploads")
	}
	s, store, clock := unitSealer(t)
	st := s.startStage(context.Background())
	seal := func(recs []*kgo.Record) {
		st.jobs <- sealJob{records: recs, upTo: recs[len(recs)-1].Offset}
		if r := <-st.results; r.err != nil {
			t.Fatal(r.err)
		}
	}
	seal(records(0, 5, clock.t))
	key := shared.CheckpointKey("audit", "unit", 8) // the next checkpoint's
	uploads := make([]*s3mem.Upload, archive.MaxOlderVersions+1)
	for i := range uploads {
		uploads[i] = store.BeginMultipart("audit", key)
	}
	seal(records(5, 3, clock.t))
	st.stop()
	want := s.Head()
	for _, u := range uploads {
		u.Complete([]byte("not a checkpoint\n"))
	}
	store.Delete("audit", key)
	s2, err := New(context.Background(), s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.recoverHead(context.Background()); err != nil || s2.Head() != want {
		t.Fatalf("head at seq %d (err %v), want %d", s2.Head().Seq, err, want.Seq)
	}
}
