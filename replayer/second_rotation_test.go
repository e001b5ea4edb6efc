package replayer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// twiceRotatedChain is a chain sealed under three keys: the genesis and
// seqs 1 to 3 (the KEY entry of the second key) by the first, 4 to 6 (the
// KEY entry of the third) by the second, 7 and 8 by the third, one object
// a day. It returns the store, the keyset, the second key's signer and
// each object's key by its first seq.
func twiceRotatedChain(t *testing.T) (*s3mem.S3, string, note.Signer, map[uint64]string) {
	t.Helper()
	var signers []note.Signer
	var vkeys []string
	for i := range 3 {
		signer, vkey := memSigner(t, fmt.Sprintf("aegis-mem-%d", i+1))
		signers, vkeys = append(signers, signer), append(vkeys, vkey)
	}
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	b := newMemBuilder(t, signers[0], vkeys[0], start, now)
	objects := map[uint64]string{}
	for day, o := range []struct {
		records  int
		handOver int // the key the KEY entry names, -1: none
		signer   int
	}{{2, 1, 0}, {2, 2, 1}, {2, -1, 2}} {
		var raws [][]byte
		for i := range o.records {
			raws = append(raws, []byte(decisionRecord(b.n+i, 0, 0, "2026-11-01T08:00:00Z")))
		}
		if o.handOver >= 0 {
			next, err := shared.ParseVerifierKey(vkeys[o.handOver])
			if err != nil {
				t.Fatal(err)
			}
			raws = append(raws, shared.KeyChangeRequest("mem", next))
		}
		entries, key := b.object(signers[o.signer], raws, func(i int) time.Time { return start.AddDate(0, 0, day+1).Add(time.Duration(i) * time.Minute) })
		objects[entries[0].Seq] = key
	}
	if b.head.Seq != 8 {
		t.Fatalf("chain ends at seq %d, want 8", b.head.Seq)
	}
	return b.store, fmt.Sprintf("%s 0 3\n%s 4 6\n%s 7 -\n", vkeys[0], vkeys[1], vkeys[2]), signers[1], objects
}

// A chain sealed under three keys (a second rotation) verifies, and its
// readers of part of it take every key's checkpoints as the sealer wrote
// them: an entry of each range proves, and discover reads every day.
// A thief of the middle key, stolen after its retirement, who signs a
// checkpoint at a seq of its range that had none (seq 4) with an early
// signed time, no longer dates the first key's retirement: the first
// range's entries still prove.
func TestReadersOfAChainRotatedTwice(t *testing.T) {
	ctx := context.Background()
	store, keyset, middle, objects := twiceRotatedChain(t)
	if _, err := replayer.Verify(ctx, replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	prove := func(what string) {
		t.Helper()
		cfg := replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset}
		for _, seq := range []uint64{1, 4, 7} {
			if _, _, err := replayer.Prove(ctx, cfg, fmt.Sprintf("d%d", seq-1), []replayer.EntryRef{{Seq: seq, Object: objects[seq], Line: 1}}); err != nil {
				t.Fatalf("%s: prove of seq %d: %v", what, seq, err)
			}
		}
		found := 0
		if _, err := replayer.Discover(ctx, replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset,
			From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)}, func(replayer.Found) error {
			found++
			return nil
		}); err != nil || found != 8 {
			t.Fatalf("%s: discover: %v, %d entries found, want 8", what, err, found)
		}
	}
	prove("as sealed")

	store.Later(time.Hour)
	msg, err := shared.Checkpoint{Chain: "mem", Seq: 4, Hash: shared.Hash{1}, Offset: 2, Object: objects[4],
		Time: time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second)}.Sign(middle)
	if err != nil {
		t.Fatal(err)
	}
	store.PutVersion("audit", shared.CheckpointKey("audit", "mem", 4), msg)
	prove("a checkpoint of the stolen middle key at seq 4")
}
