package replayer_test

import (
	"context"
	"testing"
	"time"

	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// The sealer writes an object before the checkpoint of the one before it
// (sealer/pipeline.go: the write and sign stages overlap), so around
// midnight an object is created on one day and the checkpoint of an
// older object on the next. A lifecycle rule expires by creation day: for
// a day, the checkpoints of objects already deleted remain below the
// start (FORMAT.md 6.1 lets them: checked, not counted). aegis verify
// --pruned passed such a chain, but discover, rebuild and index check
// --pruned took the older checkpoint as a sign that the gap was not
// pruning and failed it, a day in two on a busy chain. A checkpoint below
// the gap shows a hole only while the object it signs remains.
func TestDiscoverPrunedWithCheckpointsOfDeletedObjectsLeft(t *testing.T) {
	ctx := context.Background()
	store, vkey := memObjects(t, []int{0, 0, 1, 2}, 3, decisionRecord) // seqs 1-3, 4-6 on day 0, 7-9, 10-12
	objects := map[uint64]string{}
	for k := range store.Objects("audit") {
		if info, err := shared.ParseBatchKey("audit", k); err == nil {
			objects[info.FirstSeq] = k
		}
	}
	// Pruned up to seq 6, the checkpoints of seqs 3 and 6 left (created
	// the day after their objects).
	store.Remove("audit", shared.GenesisKey("audit", "mem"))
	store.Remove("audit", shared.CheckpointKey("audit", "mem", 0))
	store.Remove("audit", objects[1])
	store.Remove("audit", objects[4])
	if rep, err := replayer.Verify(ctx, replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey, Pruned: true}); err != nil || rep.StartSeq != 7 {
		t.Fatalf("verify --pruned: %v, start %d", err, rep.StartSeq)
	}
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var seqs []uint64
	rep, err := replayer.Discover(ctx, replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
		From: day, To: day.AddDate(0, 0, 3), Pruned: true},
		func(f replayer.Found) error { seqs = append(seqs, f.Entry.Seq); return nil })
	if err != nil || len(seqs) != 6 || seqs[0] != 7 || rep.StartSeq != 7 {
		t.Fatalf("discover --pruned: %v, found %v, start %d; want seqs 7 to 12 from a start at 7", err, seqs, rep.StartSeq)
	}
	// A checkpoint below the gap whose object remains still shows a hole.
	store, vkey = memObjects(t, []int{0, 0, 1, 2}, 3, decisionRecord)
	store.Remove("audit", shared.GenesisKey("audit", "mem"))
	store.Remove("audit", objects[4])
	if _, err := replayer.Discover(ctx, replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
		From: day, To: day.AddDate(0, 0, 3), Pruned: true}, func(replayer.Found) error { return nil }); err == nil {
		t.Fatal("discover --pruned of a chain with seqs 4 to 6 removed and 1 to 3 left: no failure")
	}
}
