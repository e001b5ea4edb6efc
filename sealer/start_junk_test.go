package sealer

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
)

// sealed3 is a sealer on the in-memory S3 that sealed ten records in three
// jobs (checkpoints at seqs 0, 5, 8 and 10) on the clock's day.
func sealed3(t *testing.T) (*Sealer, *s3mem.S3, *fakeClock) {
	t.Helper()
	s, store, clock := unitSealer(t)
	st := s.startStage(context.Background())
	for _, recs := range [][]*kgo.Record{records(0, 5, clock.t), records(5, 3, clock.t), records(8, 2, clock.t)} {
		st.jobs <- sealJob{records: recs, upTo: recs[len(recs)-1].Offset}
		if r := <-st.results; r.err != nil {
			t.Fatal(r.err)
		}
	}
	st.stop()
	return s, store, clock
}

// A delete marker over the newest checkpoint no longer hides the head
// (TestStartSeesCheckpointsUnderDeleteMarkers), because a start lists by
// version the checkpoint keys past the newest current one. But the newest
// current one is anyone's: a file of a bucket writer at a checkpoint key
// far past the head (it need not verify) makes the version listing start
// past it, and the marker hides the head again. The start took seq 8 as
// the head where 10 was sealed; sealing the next records on a later day
// then signed a second seq 9 (a fork under the trusted key) and left
// seqs 9 and 10 of the sealed chain out of the one it went on with.
func TestStartSeesTheHeadUnderAMarkerPastAFileAheadOfIt(t *testing.T) {
	for _, ahead := range []uint64{11, 1 << 40, shared.MaxSafeInteger} {
		s, store, _ := sealed3(t)
		want := s.Head()
		store.Delete("audit", shared.CheckpointKey("audit", "unit", want.Seq))
		store.PutVersion("audit", shared.CheckpointKey("audit", "unit", ahead), []byte("not a checkpoint\n"))
		s2, err := New(context.Background(), s.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s2.recoverHead(context.Background()); err != nil || s2.Head() != want {
			t.Fatalf("file at seq %d: head at seq %d (err %v), want %d", ahead, s2.Head().Seq, err, want.Seq)
		}
	}
}

// The same, carried on: the next records sealed the day after by the
// sealer that took the older head must not be signed as a second seq 9.
func TestAHiddenHeadIsNotForkedTheNextDay(t *testing.T) {
	s, store, clock := sealed3(t)
	want := s.Head()
	store.Delete("audit", shared.CheckpointKey("audit", "unit", want.Seq))
	store.PutVersion("audit", shared.CheckpointKey("audit", "unit", 1<<40), []byte("not a checkpoint\n"))
	s2, err := New(context.Background(), s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.recoverHead(context.Background()); err != nil {
		t.Fatal(err)
	}
	next := clock.t.Add(24 * time.Hour)
	st := s2.startStage(context.Background())
	recs := records(10, 1, next)
	st.jobs <- sealJob{records: recs, upTo: recs[0].Offset}
	r := <-st.results
	st.stop()
	if r.err == nil {
		for _, ref := range r.refs {
			e, _ := shared.ParseLine(ref.rec.Entry)
			if e.Seq <= want.Seq {
				t.Fatalf("the record at offset 10 was sealed and signed as seq %d in %s: the sealed chain's head is seq %d (a fork)", e.Seq, ref.rec.Object, want.Seq)
			}
		}
	}
}

// loadUncommitted reads the checkpoints back from the head down to the
// group's committed offset, each signed object's entries to republish. A
// marker over one of them between two current ones (a sealer killed
// between S3 and its Kafka commit leaves several; the marker is put
// before the next one starts) hid it from that walk: its entries were not
// among the uncommitted ones, and the start stopped for good on
// ErrInconsistent when the consumer polled them again.
func TestCheckpointsUnderMarkersBetweenTheWalksKeysAreHandedOut(t *testing.T) {
	s, store, _ := sealed3(t)
	for _, seq := range []uint64{8, 5} {
		store.Delete("audit", shared.CheckpointKey("audit", "unit", seq))
	}
	s2, err := New(context.Background(), s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cps, err := s2.recoverHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []uint64{10, 8, 5, 0} {
		c, ok, err := cps.at(context.Background(), i)
		if err != nil || !ok || c.cp.Seq != want {
			t.Fatalf("checkpoint %d back: seq %d (ok %v, err %v), want %d", i, c.cp.Seq, ok, err, want)
		}
	}
	if _, ok, err := cps.at(context.Background(), 4); ok || err != nil {
		t.Fatalf("a fifth checkpoint (ok %v, err %v): the chain has four", ok, err)
	}
}
