package replayer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// batchKeys maps the first seq of each batch object of the store to its key.
func batchKeys(objects map[string][]byte) map[uint64]string {
	keys := map[uint64]string{}
	for k := range objects {
		if info, err := shared.ParseBatchKey("audit", k); err == nil {
			keys[info.FirstSeq] = k
		}
	}
	return keys
}

// On a chain rotated at seq 5, removing the hand-over's checkpoint from
// the storage made every checkpoint of the retired key of no account to
// prunedStart (the retired-key rule takes none when the checkpoint at the
// range's last seq is missing), so the checkpoints of seqs 0 and 2, which
// verify, no longer showed that older objects remain: with the genesis
// object and the hand-over's object removed as well, discover --pruned
// took seq 6 as where the chain starts and hid seqs 3 to 5. That rule
// keeps a stolen key's forgeries from counting as signed; a checkpoint
// that only shows the gap is not pruning must count whoever signed it.
func TestDiscoverPrunedCountsTheRetiredKeysCheckpointsAsOlder(t *testing.T) {
	store, keyset := rotatedChain(t, false) // genesis; seqs 1-2 on day 3, 3-5 (the hand-over) on day 1, 6-7 on day 2, 8-9 on day 0
	objects := batchKeys(store.Objects("audit"))
	store.Remove("audit", shared.GenesisKey("audit", "mem"))
	store.Remove("audit", objects[3])
	store.Remove("audit", shared.CheckpointKey("audit", "mem", 5))
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var seqs []uint64
	rep, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset,
		From: day.AddDate(0, 0, 1), To: day.AddDate(0, 0, 3), Pruned: true},
		func(f replayer.Found) error { seqs = append(seqs, f.Entry.Seq); return nil })
	if err == nil || !strings.Contains(err.Error(), "not pruning") {
		t.Fatalf("%v: found seqs %v, starting at %d (%s), want seqs 3 to 5 not hidden as pruned", err, seqs, rep.StartSeq, rep.StartObject)
	}
}

// Someone who can remove files from the storage itself hides an object in
// the middle of a chain that was never pruned (its genesis object is
// there) from discover --pruned (and so rebuild and index check --pruned):
// the object and the checkpoints below its last seq are removed, the
// older objects left. The reader took the next object as where a pruned
// chain starts, and answered for the range without the hidden entries.
// FORMAT.md section 6.1: a chain whose genesis object is present is not
// pruned.
func TestDiscoverPrunedRefusesAHoleWhileTheGenesisRemains(t *testing.T) {
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		keepCp bool // the hidden object's own checkpoint stays
	}{
		{"its checkpoint kept", true},
		{"its checkpoint removed too", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, vkey := memObjects(t, []int{0, 0, 1, 2}, 3, decisionRecord) // seqs 1-3, 4-6 on day 0, 7-9, 10-12
			objects := batchKeys(store.Objects("audit"))
			store.Remove("audit", objects[7])
			for _, seq := range []uint64{0, 3, 6} {
				store.Remove("audit", shared.CheckpointKey("audit", "mem", seq))
			}
			if !tc.keepCp {
				store.Remove("audit", shared.CheckpointKey("audit", "mem", 9))
			}
			var seqs []uint64
			rep, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
				From: day.AddDate(0, 0, 1), To: day.AddDate(0, 0, 3), Pruned: true},
				func(f replayer.Found) error { seqs = append(seqs, f.Entry.Seq); return nil })
			if err == nil || !strings.Contains(err.Error(), "genesis object") {
				t.Fatalf("%v: found seqs %v, starting at %d (%s), want seqs 7 to 9 not hidden as pruned", err, seqs, rep.StartSeq, rep.StartObject)
			}
		})
	}
}
