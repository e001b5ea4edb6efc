package replayer

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
)

// itemOrder lists the keys of a bucket (only their names matter) as
// Verify would check them, each object by its first seq ("g" for genesis,
// "b<seq>") and each checkpoint by its seq ("c<seq>").
func itemOrder(t *testing.T, keys []string) string {
	t.Helper()
	defer func(n int32) { archive.ListPageSize = n }(archive.ListPageSize)
	archive.ListPageSize = 2 // every listing over several pages
	store := s3mem.New("audit")
	for _, k := range keys {
		store.PutVersion("audit", k, []byte("x\n"))
	}
	st := &archive.Store{S3: store, Bucket: "audit"}
	ctx := context.Background()
	sv, err := st.Survey(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	items := newLogItems(st.StreamBatches(sv, "prod"), st.StreamCheckpoints(sv, "prod"))
	var got []string
	for {
		it, ok, err := items.next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return strings.Join(got, " ")
		}
		if it.checkpoint != "" {
			seq, _ := shared.ParseCheckpointKey("audit", "prod", it.checkpoint)
			got = append(got, fmt.Sprintf("c%d", seq))
		} else if it.batch.FirstSeq == 0 {
			got = append(got, "g")
		} else {
			got = append(got, fmt.Sprintf("b%d", it.batch.FirstSeq))
		}
	}
}

func batchKey(day int, seq uint64) string {
	return fmt.Sprintf("audit/year=2026/month=11/day=%02d/env=prod/%020d.jsonl", day, seq)
}

// Each checkpoint comes right after the object that holds its seq (by the
// keys' first seqs); checkpoints past the last object's first seq come
// after it, and so do those no object can hold.
func TestItemsPlaceEachCheckpointAfterItsObject(t *testing.T) {
	keys := []string{shared.GenesisKey("audit", "prod"), batchKey(1, 1), batchKey(1, 4), batchKey(2, 9),
		"audit/year=2026/month=11/day=01/env=staging/00000000000000000002.jsonl"} // another chain's
	for _, s := range []uint64{0, 3, 5, 8, 12, 99} {
		keys = append(keys, shared.CheckpointKey("audit", "prod", s))
	}
	if got, want := itemOrder(t, keys), "g c0 b1 c3 b4 c5 c8 b9 c12 c99"; got != want {
		t.Fatalf("order %s, want %s", got, want)
	}
	if got, want := itemOrder(t, keys[5:]), "c0 c3 c5 c8 c12 c99"; got != want {
		t.Fatalf("with no objects: %s, want %s", got, want)
	}
}

// S3 lists a chain's objects day folder by day folder. When the Kafka
// timestamps went back across midnight, a later seq sits under an earlier
// day; the objects still come in seq order, and two objects with one seq
// in the order they are listed (as sorting the whole listing did).
func TestItemsFollowSeqWhenDatesGoBack(t *testing.T) {
	keys := []string{shared.GenesisKey("audit", "prod"),
		batchKey(3, 1), batchKey(3, 2), batchKey(1, 3), batchKey(2, 4), batchKey(1, 5), batchKey(1, 6), batchKey(3, 7),
		batchKey(28, 8), batchKey(2, 8), batchKey(9, 9)}
	if got, want := itemOrder(t, keys), "g b1 b2 b3 b4 b5 b6 b7 b8 b8 b9"; got != want {
		t.Fatalf("order %s, want %s", got, want)
	}
	// The second b8 is the one of day 28, listed after day 2's.
	store := s3mem.New("audit")
	for _, k := range keys {
		store.PutVersion("audit", k, []byte("x\n"))
	}
	st := &archive.Store{S3: store, Bucket: "audit"}
	sv, err := st.Survey(context.Background(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	b := st.StreamBatches(sv, "prod")
	var eights []string
	for {
		ref, ok, err := b.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if ref.FirstSeq == 8 {
			eights = append(eights, ref.Key)
		}
	}
	if len(eights) != 2 || eights[0] != batchKey(2, 8) || eights[1] != batchKey(28, 8) {
		t.Fatalf("objects of seq 8 in order %v", eights)
	}
}
