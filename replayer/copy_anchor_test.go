package replayer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// copyOfBucket is a copy of store's bucket "audit" made later (S3
// Replication to another account, a restore from a backup): the current
// version of every key, put in the order of keys, each dated by the copy.
// keep, if set, chooses the keys copied; first, if set, is copied first,
// the others more than S3's second after it.
func copyOfBucket(t testing.TB, store *s3mem.S3, later time.Duration, keep func(string) bool, first string) *s3mem.S3 {
	t.Helper()
	c := s3mem.New("audit")
	c.AddBucket("clock", false)
	c.PutVersion("clock", "tick", nil) // the copy's clock starts now...
	c.Later(later)                     // ...and copies that much later
	objects := store.Objects("audit")
	keys := make([]string, 0, len(objects))
	for k := range objects {
		if k != first && (keep == nil || keep(k)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if first != "" {
		c.PutVersion("audit", first, objects[first])
		c.Later(2 * archive.RetiredGrace)
	}
	for _, k := range keys {
		c.PutVersion("audit", k, objects[k])
	}
	return c
}

// discoverAll discovers every entry of the mem chain in store from
// 2026-11-01 on, and returns the seqs found and the warnings told.
func discoverAll(store *s3mem.S3, keyset string) ([]uint64, []string, error) {
	var seqs []uint64
	var warnings []string
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	_, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset,
		From: from, To: from.AddDate(0, 1, 0), Warn: func(w string) { warnings = append(warnings, w) }},
		func(f replayer.Found) error {
			seqs = append(seqs, f.Entry.Seq)
			return nil
		})
	return seqs, warnings, err
}

// A copy of a bucket made after a key hand-over is dated by when it was
// copied, so every checkpoint of the retired key fails the date rule of
// FORMAT.md 7.4 there, as a thief's would. The readers of part of the
// chain (discover, and so rebuild and index check; prove, and so
// verify-receipt and get --verify) refused the copy, while aegis verify
// took it. They now verify the whole chain first and take the retired
// key's checkpoints it links by hashes to the current key's.
func TestReadersTakeACopyMadeAfterAHandOverByTheChainsHashes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		chain func(t *testing.T) (*s3mem.S3, string)
		seqs  int
	}{
		{"one rotation", func(t *testing.T) (*s3mem.S3, string) {
			store, keyset, _ := rotatedChainSigned(t, false)
			return store, keyset
		}, 9},
		{"two rotations", func(t *testing.T) (*s3mem.S3, string) {
			store, keyset, _, _ := twiceRotatedChain(t)
			return store, keyset
		}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, keyset := tc.chain(t)
			copied := copyOfBucket(t, store, 2*archive.RetiredClockSkew, nil, "")
			if _, err := replayer.Verify(ctx, replayer.Config{S3: copied, Bucket: "audit", Chain: "mem", VerifierKey: keyset}); err != nil {
				t.Fatalf("verify of the copy: %v", err)
			}
			// Not taken on S3's dates: without the whole chain, the copy
			// looks like a thief's.
			ks, err := shared.ParseKeyset(keyset)
			if err != nil {
				t.Fatal(err)
			}
			retiring := shared.CheckpointKey("audit", "mem", ks.Ranges[0].To)
			why, err := (&archive.Store{S3: copied, Bucket: "audit", Prefix: "audit"}).RetiredVersion(ctx, ks, "mem", ks.Ranges[0].To, retiring, copied.Versions("audit", retiring)[0].ID)
			if err != nil || why == "" {
				t.Fatalf("the copy's retiring checkpoint passes the date rule (%q, %v): the test copies nothing later", why, err)
			}

			seqs, warnings, err := discoverAll(copied, keyset)
			if err != nil || len(seqs) != tc.seqs {
				t.Fatalf("discover of the copy: %v, %d entries found, want %d", err, len(seqs), tc.seqs)
			}
			if !strings.Contains(strings.Join(warnings, "\n"), "the chain is verified from its start") {
				t.Fatalf("discover of the copy warned %q, want the whole-chain verification said", warnings)
			}
			// prove an entry of the first (retired) range: d0, seq 1
			var ref replayer.EntryRef
			for k := range copied.Objects("audit") {
				if info, err := shared.ParseBatchKey("audit", k); err == nil && info.FirstSeq == 1 {
					ref = replayer.EntryRef{Seq: 1, Object: k, Line: 1}
				}
			}
			_, rep, err := replayer.Prove(ctx, replayer.ProveConfig{S3: copied, Bucket: "audit", Chain: "mem", VerifierKey: keyset}, "d0", []replayer.EntryRef{ref})
			if err != nil || rep.Action != shared.ActionAllow {
				t.Fatalf("prove of d0 on the copy: %v (%s)", err, rep.Action)
			}
			// The bucket the sealer wrote needs no verification first.
			_, warnings, err = discoverAll(store, keyset)
			if err != nil || len(warnings) != 0 {
				t.Fatalf("discover of the sealer's bucket: %v, warnings %q", err, warnings)
			}
		})
	}
}

// What a thief of the retired key writes into the copy is refused as in
// the bucket the sealer wrote: the whole chain, which would vouch for the
// retired key's checkpoints, does not verify (two objects hold seq 1), so
// no reader takes any of them. The thief gains nothing, and the copy's
// retired range is refused until the twin's retention ends and it is
// deleted (docs/LIMITS.md).
func TestReadersRefuseATwinOnACopyMadeAfterAHandOver(t *testing.T) {
	ctx := context.Background()
	store, keyset, retired := rotatedChainSigned(t, false)
	copied := copyOfBucket(t, store, 2*archive.RetiredClockSkew, nil, "")
	day := time.Date(2026, 11, 6, 8, 0, 0, 0, time.UTC)
	twin := putForgedSeq1(t, copied, retired, day)

	got, err := discoverD0(copied, keyset, day, replayer.DiscoverConfig{})
	if !errors.Is(err, replayer.ErrRetiredRewrite) || !strings.Contains(err.Error(), "does not verify") || len(got) != 0 {
		t.Fatalf("discover of the twin's day on the copy: %v, d0 found as %v, want the twin refused", err, got)
	}
	_, rep, err := replayer.Prove(ctx, replayer.ProveConfig{S3: copied, Bucket: "audit", Chain: "mem", VerifierKey: keyset}, "d0",
		[]replayer.EntryRef{{Seq: 1, Object: twin, Line: 1}})
	if !errors.Is(err, replayer.ErrRetiredRewrite) {
		t.Fatalf("prove of the twin on the copy: %v (decision d0 %s), want it refused", err, rep.Action)
	}
	if _, _, err := discoverAll(copied, keyset); !errors.Is(err, replayer.ErrRetiredRewrite) {
		t.Fatalf("discover of the whole copy with the twin: %v, want the retired range refused", err)
	}

	// A forged version over a sealed object and its checkpoint: the same.
	copied = copyOfBucket(t, store, 2*archive.RetiredClockSkew, nil, "")
	key := forgeWithRetiredKey(t, copied, retired)
	got, err = discoverD0(copied, keyset, time.Date(2026, 11, 4, 8, 0, 0, 0, time.UTC), replayer.DiscoverConfig{})
	if !errors.Is(err, replayer.ErrRetiredRewrite) || len(got) != 0 {
		t.Fatalf("discover of the forged version's day on the copy (%s): %v, d0 found as %v, want it refused", key, err, got)
	}
}

// A copy whose head is a hand-over (no checkpoint of the keyset's last
// key yet) has nothing a thief of a retired key cannot sign to vouch for
// the retired keys' checkpoints: here a chain rotated twice, copied up to
// its second hand-over, whose highest checkpoint is the middle key's
// (retired in its turn, and maybe stolen too). The readers refuse the
// first key's checkpoints, which the middle key's dates, and say why.
func TestReadersOfACopyWithoutACheckpointOfTheCurrentKey(t *testing.T) {
	store, keyset, _, _ := twiceRotatedChain(t)
	ks, err := shared.ParseKeyset(keyset)
	if err != nil {
		t.Fatal(err)
	}
	r := ks.Ranges[1].To // the second hand-over
	upToHandOver := func(k string) bool {
		if seq, ok := shared.ParseCheckpointKey("audit", "mem", k); ok {
			return seq <= r
		}
		info, err := shared.ParseBatchKey("audit", k)
		return err != nil || info.FirstSeq <= r
	}
	copied := copyOfBucket(t, store, 2*archive.RetiredClockSkew, upToHandOver, "")
	if _, err := replayer.Verify(context.Background(), replayer.Config{S3: copied, Bucket: "audit", Chain: "mem", VerifierKey: keyset}); err != nil {
		t.Fatalf("verify of the copy up to the second hand-over: %v", err)
	}
	_, _, err = discoverAll(copied, keyset)
	if !errors.Is(err, replayer.ErrRetiredRewrite) || !strings.Contains(err.Error(), "no checkpoint of the keyset's current key vouches for the retired keys' checkpoints: none signs an entry after the hand-over at seq 6") {
		t.Fatalf("discover of the copy up to the second hand-over: %v, want the retired keys' checkpoints refused, and why", err)
	}
}

// A server proving many answers from a copy verifies the whole chain once
// (ShareAnchors), where each Prove on its own verifies it again.
func TestProofsOnACopyShareOneVerification(t *testing.T) {
	ctx := context.Background()
	store, keyset, _ := rotatedChainSigned(t, false)
	copied := copyOfBucket(t, store, 2*archive.RetiredClockSkew, nil, "")
	var ref replayer.EntryRef
	for k := range copied.Objects("audit") {
		if info, err := shared.ParseBatchKey("audit", k); err == nil && info.FirstSeq == 1 {
			ref = replayer.EntryRef{Seq: 1, Object: k, Line: 1}
		}
	}
	for _, shared_ := range []bool{false, true} {
		verified := 0
		cfg := replayer.ProveConfig{S3: copied, Bucket: "audit", Chain: "mem", VerifierKey: keyset, Warn: func(w string) {
			if strings.Contains(w, "the chain is verified from its start") {
				verified++
			}
		}}
		if shared_ {
			if err := cfg.ShareAnchors(); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			if _, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{ref}); err != nil || rep.Action != shared.ActionAllow {
				t.Fatalf("prove of d0 on the copy: %v (%s)", err, rep.Action)
			}
		}
		if want := map[bool]int{false: 3, true: 1}[shared_]; verified != want {
			t.Fatalf("shared %v: 3 proofs verified the chain %d times, want %d", shared_, verified, want)
		}
	}
}

// The anchors need the chain up to the first checkpoint of the current
// key past the last hand-over, not the rest: the verification stops
// there. An object broken after it (here on the copy) fails aegis verify
// and the readers of its own day, not the readers of the retired range.
func TestAnchoringStopsAtTheCurrentKeysFirstCheckpoint(t *testing.T) {
	store, keyset, _ := rotatedChainSigned(t, false)
	key, _, lines := objectOf(t, store, 8)
	broken := append(append([]byte(nil), lines[0]...), '\n')
	store.PutVersion("audit", key, append(broken, strings.Replace(string(lines[1]), `"ALLOW"`, `"BLOCK"`, 1)+"\n"...))
	copied := copyOfBucket(t, store, 2*archive.RetiredClockSkew, nil, "")
	if _, err := replayer.Verify(context.Background(), replayer.Config{S3: copied, Bucket: "audit", Chain: "mem", VerifierKey: keyset}); err == nil {
		t.Fatal("verify of the copy takes the broken object")
	}
	var v verifications
	seqs, err := discoverDay(copied, keyset, time.Date(2026, 11, 4, 8, 0, 0, 0, time.UTC), replayer.DiscoverConfig{Warn: v.warn})
	if err != nil || len(seqs) != 2 || v.count() != 1 {
		t.Fatalf("discover of the day of seqs 1-2 on the copy: %v, seqs %v, %d verifications (want 1, stopped before the broken object)", err, seqs, v.count())
	}
}

// A backup taken between two rotations, restored, and read with the
// keyset of both (found by an outside trial, 2026-12-01): the middle
// key's checkpoints, retired in their turn with no later key on the copy
// to date them, did not date the first key's retirement, so the copy of
// the first key's retiring checkpoint did, and a thief of the first key
// who wrote a twin into the restore target before the copy had it taken
// as stored before the retirement (prove and verify-receipt answered
// OK). The retiring checkpoint is stored long after it was signed: the
// bucket's dates are a copy's, and the first key's checkpoints count only
// as the chain vouches for them, which it cannot here (the keyset's
// second hand-over is not in the backup; with the keyset of the backup's
// time the chain verifies, and the twin fails it).
func TestReadersOfABackupBetweenTwoRotations(t *testing.T) {
	ctx := context.Background()
	var signers []note.Signer
	var vkeys []string
	for i := range 3 {
		s, v := memSigner(t, fmt.Sprintf("aegis-mem-%d", i+1))
		signers, vkeys = append(signers, s), append(vkeys, v)
	}
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	b := newMemBuilder(t, signers[0], vkeys[0], start, now)
	for day, o := range []struct{ records, handOver, signer int }{{2, 1, 0}, {2, -1, 1}, {1, 2, 1}, {2, -1, 2}} {
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
		b.object(signers[o.signer], raws, func(i int) time.Time { return start.AddDate(0, 0, day+3).Add(time.Duration(i) * time.Minute) })
	}
	if b.head.Seq != 9 {
		t.Fatalf("chain ends at seq %d, want 9", b.head.Seq)
	}
	both := fmt.Sprintf("%s 0 3\n%s 4 7\n%s 8 -\n", vkeys[0], vkeys[1], vkeys[2])
	backupsOwn := fmt.Sprintf("%s 0 3\n%s 4 -\n", vkeys[0], vkeys[1])
	objects := b.store.Objects("audit")
	upToBackup := func(k string) bool { // the chain to seq 5
		if seq, ok := shared.ParseCheckpointKey("audit", "mem", k); ok {
			return seq <= 5
		}
		info, err := shared.ParseBatchKey("audit", k)
		return err != nil || info.FirstSeq <= 5
	}
	restore := func(thief bool) (*s3mem.S3, string) {
		c := s3mem.New("audit")
		genesis, first := shared.GenesisKey("audit", "mem"), ""
		for k := range objects {
			if info, err := shared.ParseBatchKey("audit", k); err == nil && info.FirstSeq == 1 {
				first = k
			}
		}
		// The genesis and the first batch are copied first; the thief's
		// twin of seq 1 goes in then, before the rest of the copy.
		c.PutVersion("audit", genesis, objects[genesis])
		c.PutVersion("audit", first, objects[first])
		twin := ""
		if thief {
			twin = putTwin(t, c, signers[0], 1, 0, start.AddDate(0, 0, 9))
		}
		c.Later(2 * archive.RetiredClockSkew)
		for k, body := range objects {
			if k != genesis && k != first && upToBackup(k) {
				c.PutVersion("audit", k, body)
			}
		}
		return c, twin
	}

	c, twin := restore(true)
	cfg := replayer.ProveConfig{S3: c, Bucket: "audit", Chain: "mem", VerifierKey: both}
	_, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: twin, Line: 1}})
	if !errors.Is(err, replayer.ErrRetiredRewrite) {
		t.Fatalf("prove of the thief's twin on the restored backup: %v (decision d0 %s), want it refused", err, rep.Action)
	}
	for _, keyset := range []string{both, backupsOwn} {
		if _, err := discoverD0(c, keyset, start.AddDate(0, 0, 9), replayer.DiscoverConfig{}); err == nil {
			t.Fatalf("discover of the twin's day on the restored backup takes it")
		}
	}

	// Without a thief, the backup read with the keyset of its time: the
	// chain vouches for the first key's checkpoints.
	c, _ = restore(false)
	key, _, _ := objectOf(t, c, 1)
	_, rep, err = replayer.Prove(ctx, replayer.ProveConfig{S3: c, Bucket: "audit", Chain: "mem", VerifierKey: backupsOwn}, "d0", []replayer.EntryRef{{Seq: 1, Object: key, Line: 1}})
	if err != nil || rep.Action != shared.ActionAllow {
		t.Fatalf("prove of d0 on the restored backup with the keyset of its time: %v (%s)", err, rep.Action)
	}
}
