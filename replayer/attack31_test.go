package replayer_test

// Attacks on the anchoring of retired keys' checkpoints (commit 3a280b3,
// docs/FORMAT.md 7.4 revision 2026-12-01.3, replayer/anchor.go): where the
// date rule refuses a retired key's first-version checkpoint, the readers
// of part of a chain verify the whole chain once and take the retired
// checkpoints whose (chain, seq, hash) it read.

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// objectOf is the current version of store's batch object whose first seq
// is seq: its key, entries and lines.
func objectOf(t *testing.T, store *s3mem.S3, seq uint64) (string, []*shared.Entry, [][]byte) {
	t.Helper()
	for k, body := range store.Objects("audit") {
		if info, err := shared.ParseBatchKey("audit", k); err == nil && info.FirstSeq == seq {
			entries, lines, err := shared.ParseObject(k, seq, body)
			if err != nil {
				t.Fatal(err)
			}
			return k, entries, lines
		}
	}
	t.Fatalf("no batch object starts at seq %d", seq)
	return "", nil, nil
}

// signCheckpoint signs, with signer, the checkpoint of entries' last entry
// as the object at key (the chain's Kafka offset after it as offset).
func signCheckpoint(t *testing.T, signer note.Signer, key string, entries []*shared.Entry, offset int64, at time.Time) []byte {
	t.Helper()
	last := entries[len(entries)-1]
	msg, err := shared.Checkpoint{Chain: "mem", Seq: last.Seq, Hash: last.Hash, Offset: offset, Object: key,
		Root: shared.ObjectRoot(entries), Time: at}.Sign(signer)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// putTwin is what a thief of a retired key writes into store: a twin of
// the entry at seq (the first of its sealed object), decision d<n> made
// BLOCK, linked to the entry before as the sealed one is, Kafka time ts
// (a day of its own: a key of its own), alone in its object, with a
// checkpoint at seq (a key no checkpoint had) signed by signer. It
// returns the twin's key.
func putTwin(t *testing.T, store *s3mem.S3, signer note.Signer, seq uint64, n int, ts time.Time) string {
	t.Helper()
	_, sealed, _ := objectOf(t, store, seq)
	raw := strings.Replace(decisionRecord(n, 0, 0, "2026-11-01T08:00:00Z"), `"ALLOW"`, `"BLOCK"`, 1)
	e, err := shared.SealRecord(shared.Head{Chain: "mem", Seq: seq - 1, Hash: sealed[0].Prev, Offset: sealed[0].Source.Offset - 1},
		shared.Source{Topic: "decisions", Offset: sealed[0].Source.Offset, Timestamp: ts}, []byte(raw), ts)
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != seq {
		t.Fatalf("twin at seq %d, want %d", e.Seq, seq)
	}
	key := shared.BatchKey("audit", e)
	l, _ := e.Line()
	store.PutVersion("audit", key, append(l, '\n'))
	store.PutVersion("audit", shared.CheckpointKey("audit", "mem", seq), signCheckpoint(t, signer, key, []*shared.Entry{e}, e.Source.Offset, ts))
	return key
}

// verifications counts the readers' whole-chain verifications a Warn
// hears of (findAnchors says so before it verifies).
type verifications struct {
	mu sync.Mutex
	n  int
}

func (v *verifications) warn(w string) {
	if strings.Contains(w, "the chain is verified from its start") {
		v.mu.Lock()
		v.n++
		v.mu.Unlock()
	}
}

func (v *verifications) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.n
}

// discoverDay discovers every entry of the mem chain on day's day and
// returns the seqs found.
func discoverDay(store *s3mem.S3, keyset string, day time.Time, base replayer.DiscoverConfig) ([]uint64, error) {
	var seqs []uint64
	from := day.Truncate(24 * time.Hour)
	cfg := base
	cfg.S3, cfg.Bucket, cfg.Chain, cfg.VerifierKey, cfg.From, cfg.To = store, "audit", "mem", keyset, from, from.AddDate(0, 0, 1)
	_, err := replayer.Discover(context.Background(), cfg, func(f replayer.Found) error {
		seqs = append(seqs, f.Entry.Seq)
		return nil
	})
	return seqs, err
}

// FINDING (cost). A thief of the retired key puts one checkpoint at a seq
// that had none (seq 3, inside the sealed object of seqs 3-5 of
// 2026-11-02), signed by the retired key, into the bucket the sealer
// writes. A discover of ANOTHER day (2026-11-04, the object of seqs 1-2),
// which the forgery does not touch, passed over that checkpoint on its
// way to the next one (sequence.successor, for the object after the
// scope) at the cost of a listing. Now the checkpoint's date calls for
// the anchors, and the discover verifies the whole chain (which fails at
// the forgery), before it passes over the checkpoint as before: every run
// of discover, index check and rebuild whose scope ends before seq 3 pays
// for the whole chain (~270,000 entries a second, docs/LIMITS.md), for as
// long as the thief's version is locked (they choose how long), and one
// with a deadline fails. docs/LIMITS.md says so only of "each reader of
// the range where they write". On the bucket the sealer wrote, the
// retiring checkpoint itself passes the date rule: nothing there is a
// copy, and a retired key's first version stored after its retirement is
// a forgery that anchors cannot take anyway.
func TestAttack31AStrayRetiredCheckpointMakesOtherDaysVerifyTheWholeChain(t *testing.T) {
	store, keyset, retired := rotatedChainSigned(t, false)
	day := time.Date(2026, 11, 4, 8, 0, 0, 0, time.UTC) // seqs 1-2
	var v verifications
	seqs, err := discoverDay(store, keyset, day, replayer.DiscoverConfig{Warn: v.warn})
	if err != nil || len(seqs) != 2 || v.count() != 0 {
		t.Fatalf("discover of %s as sealed: %v, seqs %v, %d verifications", day.Format(time.DateOnly), err, seqs, v.count())
	}

	store.Later(2 * archive.RetiredGrace) // the thief acts after the hand-over
	key, entries, _ := objectOf(t, store, 3)
	if store.Objects("audit")[shared.CheckpointKey("audit", "mem", 3)] != nil {
		t.Fatal("seq 3 has a checkpoint already")
	}
	store.PutVersion("audit", shared.CheckpointKey("audit", "mem", 3),
		signCheckpoint(t, retired, key, entries[:1], entries[0].Source.Offset, time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)))

	seqs, err = discoverDay(store, keyset, day, replayer.DiscoverConfig{Warn: v.warn})
	if err != nil || len(seqs) != 2 {
		t.Fatalf("discover of %s with the stray checkpoint at seq 3: %v, seqs %v", day.Format(time.DateOnly), err, seqs)
	}
	if n := v.count(); n != 0 {
		t.Fatalf("discover of %s (the object of seqs 1-2) on the sealer's bucket verified the whole chain %d times because of a retired key's checkpoint at seq 3, which it passes over",
			day.Format(time.DateOnly), n)
	}
}

// FINDING (liveness, aegis query). ShareAnchors makes the proofs of a
// server share one verification of the whole chain behind a sync.Mutex:
// the request that takes it verifies under its own context, and every
// other request that needs the anchors waits on the mutex, whatever its
// own context says. A request whose client gave up (its context done)
// stays blocked for the rest of another request's verification of the
// whole chain (an hour for a billion entries); a server with a bounded
// number of connections fills with them. (And if the verifying request's
// own context ends, the verification is dropped and the next request
// starts it again: a chain whose verification outlasts a client's
// patience is never anchored.)
func TestAttack31AProofWaitingForASharedVerificationStopsWithItsContext(t *testing.T) {
	ctx := context.Background()
	store, keyset, _ := rotatedChainSigned(t, false)
	copied := copyOfBucket(t, store, 2*archive.RetiredClockSkew, nil, "")
	key, _, _ := objectOf(t, copied, 1)
	ref := []replayer.EntryRef{{Seq: 1, Object: key, Line: 1}}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	cfg := replayer.ProveConfig{S3: copied, Bucket: "audit", Chain: "mem", VerifierKey: keyset, Warn: func(w string) {
		if strings.Contains(w, "the chain is verified from its start") {
			// The verification of a long chain, here held up.
			once.Do(func() { close(entered); <-release })
		}
	}}
	if err := cfg.ShareAnchors(); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() {
		_, _, err := replayer.Prove(ctx, cfg, "d0", ref)
		first <- err
	}()
	<-entered
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	second := make(chan error, 1)
	go func() {
		_, _, err := replayer.Prove(wctx, cfg, "d0", ref)
		second <- err
	}()
	var waited error
	select {
	case waited = <-second:
	case <-time.After(2 * time.Second):
		t.Errorf("a proof whose context ended %s ago still waits for another request's verification of the whole chain", 2*time.Second-50*time.Millisecond)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the proof that verified the chain: %v", err)
	}
	if t.Failed() {
		<-second
		return
	}
	if waited == nil {
		t.Fatalf("a proof whose context ended answered without the anchors")
	}
}

// FINDING, kept as the documented limit (docs/LIMITS.md: accepts
// checkpoints and objects that are not the sealer's, on a copy of current
// versions; no reader can tell them apart there). A thief of the retired key writes, in the bucket the sealer
// writes and BEFORE a copy of it is made of its current versions (a
// restore from a backup, aws s3 sync), new versions that cut the sealed
// object of seqs 3-5 in two: seqs 3-4 over its key, with a checkpoint at
// seq 4 (a seq the sealer never signed), and seq 5 (the KEY entry) in an
// object at a key of its own, with a new version of the hand-over's
// checkpoint of seq 5 naming it. The entries are the sealer's, unchanged.
// Readers of that bucket refuse the versions (not the first of their
// keys), and aegis verify reports the keys written again. The copy keeps
// only the thief's versions: aegis verify takes them there (it does not
// date), and so do the readers now, through the anchors, which hold only
// (seq, hash): they prove decision d3 through the thief's checkpoint of
// seq 4 and discover the day from the thief's objects. Before, they
// refused every checkpoint of the retired key on the copy. The entries
// cannot be changed (the current key's checkpoints vouch for their
// hashes), but the retired range's object boundaries, its checkpoints'
// notes (signed time included, which aegis prove prints) and where each
// entry is (receipts and index items naming the sealer's object and line
// no longer match) are the thief's.
func TestAttack31ACopyTakesARetiredKeysThiefsCheckpointsWrittenBeforeTheCopyButNotItsEntries(t *testing.T) {
	ctx := context.Background()
	store, keyset, retired := rotatedChainSigned(t, false)
	trusted, err := shared.ParseKeyset(keyset)
	if err != nil {
		t.Fatal(err)
	}
	sealed5, err := trusted.Open(store.Objects("audit")[shared.CheckpointKey("audit", "mem", 5)])
	if err != nil {
		t.Fatal(err)
	}
	store.Later(2 * archive.RetiredGrace) // the thief acts after the hand-over
	key3, entries, lines := objectOf(t, store, 3)
	if len(entries) != 3 || entries[2].Type != shared.EntryKey {
		t.Fatalf("the object of seq 3 holds %d entries, want 3 ending with the KEY entry", len(entries))
	}
	key5 := shared.BatchKey("audit", entries[2])
	signed := time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC) // any time the thief likes
	store.PutVersion("audit", key3, append(append(append([]byte(nil), lines[0]...), '\n'), append(lines[1], '\n')...))
	store.PutVersion("audit", shared.CheckpointKey("audit", "mem", 4), signCheckpoint(t, retired, key3, entries[:2], entries[1].Source.Offset, signed))
	store.PutVersion("audit", key5, append(lines[2], '\n'))
	store.PutVersion("audit", shared.CheckpointKey("audit", "mem", 5), signCheckpoint(t, retired, key5, entries[2:], sealed5.Offset, signed))
	// The sealer's bucket: d3 proves from the sealed versions, through
	// the sealer's checkpoint of seq 5.
	cfg := replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset}
	if _, rep, err := replayer.Prove(ctx, cfg, "d3", []replayer.EntryRef{{Seq: 4, Object: key3, Line: 2}}); err != nil || rep.Entries[0].Checkpoint.Seq != 5 {
		t.Fatalf("prove of d3 on the sealer's bucket: %v, want it proved by the sealer's checkpoint of seq 5", err)
	}

	copied := copyOfBucket(t, store, 2*archive.RetiredClockSkew, nil, "")
	if _, err := replayer.Verify(ctx, replayer.Config{S3: copied, Bucket: "audit", Chain: "mem", VerifierKey: keyset}); err != nil {
		t.Fatalf("verify of the copy: %v (the test means a copy aegis verify takes)", err)
	}
	cfg.S3 = copied
	_, rep, err := replayer.Prove(ctx, cfg, "d3", []replayer.EntryRef{{Seq: 4, Object: key3, Line: 2}})
	if err != nil || rep.Entries[0].Entry.Hash != entries[1].Hash {
		t.Fatalf("prove of d3 on the copy: %v, want the sealer's entry proved", err)
	}
	// The limit (docs/LIMITS.md, FORMAT.md 7.4): a copy of current
	// versions keeps nothing of which versions the sealer wrote, so the
	// retired range's objects and notes taken there are whatever its
	// current versions were, here the thief's checkpoint of seq 4 (its
	// signed time the thief's); its entries are the sealer's.
	if rep.Entries[0].Checkpoint.Seq != 4 {
		t.Fatalf("prove of d3 on the copy took the checkpoint of seq %d; the limit documented is that the thief's of seq 4 is taken: update docs/LIMITS.md if this changed", rep.Entries[0].Checkpoint.Seq)
	}
	var found []shared.Hash
	from := entries[0].Source.Timestamp.Truncate(24 * time.Hour)
	_, err = replayer.Discover(ctx, replayer.DiscoverConfig{S3: copied, Bucket: "audit", Chain: "mem", VerifierKey: keyset, From: from, To: from.AddDate(0, 0, 1)},
		func(f replayer.Found) error {
			found = append(found, f.Entry.Hash)
			return nil
		})
	if err != nil || len(found) != 3 || found[0] != entries[0].Hash || found[1] != entries[1].Hash || found[2] != entries[2].Hash {
		t.Fatalf("discover of the day of seqs 3-5 on the copy: %v, %d entries, want the sealer's three", err, len(found))
	}
}

// RESISTED. The thief's versions written in the bucket the sealer writes
// BEFORE a copy of it is made of its current versions are the first
// versions of their keys on the copy, and are dated by the copy like the
// sealer's: only the whole chain tells them apart there. A decision made
// BLOCK over the sealed object of seqs 1-2 (forgeWithRetiredKey), and a
// twin of seq 1 at a key of its own (putForgedSeq1), each break the
// chain's hashes, so the verification that would vouch for the retired
// checkpoints fails and the readers refuse them. (copy_anchor_test.go
// writes the forgeries into the copy, where they are not first
// versions or break the chain the same way.)
func TestAttack31ForgeriesWrittenBeforeTheCopyAreRefusedOnIt(t *testing.T) {
	ctx := context.Background()
	sealedDay := time.Date(2026, 11, 4, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		forge func(t *testing.T, store *s3mem.S3, retired note.Signer) (key string, day time.Time)
	}{
		{"a version over the sealed object of seqs 1-2", func(t *testing.T, store *s3mem.S3, retired note.Signer) (string, time.Time) {
			return forgeWithRetiredKey(t, store, retired), sealedDay
		}},
		{"a twin of seq 1 at a key of its own", func(t *testing.T, store *s3mem.S3, retired note.Signer) (string, time.Time) {
			day := time.Date(2026, 11, 6, 8, 0, 0, 0, time.UTC)
			return putForgedSeq1(t, store, retired, day), day
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, keyset, retired := rotatedChainSigned(t, false)
			store.Later(2 * archive.RetiredGrace)
			key, day := tc.forge(t, store, retired)
			copied := copyOfBucket(t, store, 2*archive.RetiredClockSkew, nil, "")
			if n := len(copied.Versions("audit", key)); n != 1 {
				t.Fatalf("the forgery is not the only version of %s on the copy (%d)", key, n)
			}
			cfg := replayer.ProveConfig{S3: copied, Bucket: "audit", Chain: "mem", VerifierKey: keyset}
			_, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: key, Line: 1}})
			if !errors.Is(err, replayer.ErrRetiredRewrite) {
				t.Fatalf("prove of the forged d0 on the copy: %v (decision d0 %s), want it refused", err, rep.Action)
			}
			got, err := discoverD0(copied, keyset, day, replayer.DiscoverConfig{})
			if !errors.Is(err, replayer.ErrRetiredRewrite) || len(got) != 0 {
				t.Fatalf("discover of the forgery's day on the copy: %v, d0 found as %v, want it refused", err, got)
			}
			// The same with a pruned reader (Prove's anchoring verifies
			// a pruned chain too).
			got, err = discoverD0(copied, keyset, day, replayer.DiscoverConfig{Pruned: true})
			if !errors.Is(err, replayer.ErrRetiredRewrite) || len(got) != 0 {
				t.Fatalf("discover --pruned of the forgery's day on the copy: %v, d0 found as %v, want it refused", err, got)
			}
		})
	}
}

// RESISTED. A server's anchors (ShareAnchors) are found once and kept for
// good: the window between the verification of the whole chain and the
// reads is as long as the server runs. A thief of the retired key who
// writes into the copy after the anchors were found (a twin of seq 1 at a
// key of its own with a checkpoint at seq 1; a version over the sealed
// checkpoint of seq 2 signing the same entry at another time; a version
// over the sealed object of seqs 1-2 and over its checkpoint) gains
// nothing: the anchors hold only seqs the verification read a checkpoint
// of (1 is not one), and a version written over a key is never its first
// (the anchors are not asked: without that, the thief's note signing
// what the anchors hold would be proved). The sealed decision still proves, from the sealed versions,
// without another verification.
func TestAttack31WritesAfterTheSharedVerificationAreRefused(t *testing.T) {
	ctx := context.Background()
	store, keyset, retired := rotatedChainSigned(t, false)
	copied := copyOfBucket(t, store, 2*archive.RetiredClockSkew, nil, "")
	sealedKey, _, _ := objectOf(t, copied, 1)
	var v verifications
	cfg := replayer.ProveConfig{S3: copied, Bucket: "audit", Chain: "mem", VerifierKey: keyset, Warn: v.warn}
	if err := cfg.ShareAnchors(); err != nil {
		t.Fatal(err)
	}
	if _, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: sealedKey, Line: 1}}); err != nil || rep.Action != shared.ActionAllow || v.count() != 1 {
		t.Fatalf("prove of the sealed d0 on the copy: %v (%s), %d verifications", err, rep.Action, v.count())
	}

	// A version over the checkpoint of seq 2 that signs what the sealer's
	// signs (the same seq, hash, object, offset and root: what the
	// anchors hold), at a time of the thief's: not a first version, so
	// the sealer's note is proved, not the thief's.
	cpKey := shared.CheckpointKey("audit", "mem", 2)
	trusted, err := shared.ParseKeyset(keyset)
	if err != nil {
		t.Fatal(err)
	}
	sealed2, err := trusted.Open(copied.Objects("audit")[cpKey])
	if err != nil {
		t.Fatal(err)
	}
	again := sealed2
	again.Time = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	msg, err := again.Sign(retired)
	if err != nil {
		t.Fatal(err)
	}
	copied.PutVersion("audit", cpKey, msg)
	if _, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: sealedKey, Line: 1}}); err != nil || !rep.Entries[0].Checkpoint.Time.Equal(sealed2.Time) {
		t.Fatalf("prove of d0 after a version written over its checkpoint: %v, want it proved by the sealer's note (signed at %s)", err, shared.FormatTime(sealed2.Time))
	}

	twin := putForgedSeq1(t, copied, retired, time.Date(2026, 11, 6, 8, 0, 0, 0, time.UTC))
	if _, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: twin, Line: 1}}); !errors.Is(err, replayer.ErrRetiredRewrite) {
		t.Fatalf("prove of the twin written after the anchors were found: %v (decision d0 %s), want it refused", err, rep.Action)
	}
	if key := forgeWithRetiredKey(t, copied, retired); key != sealedKey {
		t.Fatalf("the forgery is at %s, not over %s", key, sealedKey)
	}
	if _, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: sealedKey, Line: 1}}); err != nil || rep.Action != shared.ActionAllow {
		t.Fatalf("prove of d0 after a version written over it and its checkpoint: %v (decision d0 %s), want the sealed ALLOW", err, rep.Action)
	}
	if n := v.count(); n != 1 {
		t.Fatalf("the shared anchors were found %d times, want once", n)
	}
}

// RESISTED (cost). A keyset whose last range is closed trusts no key a
// thief of a retired key cannot use: on a copy, the readers refuse the
// retired checkpoints at once, without verifying the whole chain for
// nothing, and say why; on the bucket the sealer wrote they read as
// before, without a verification.
func TestAttack31AClosedKeysetVerifiesNothingOnACopy(t *testing.T) {
	store, keyset, _ := rotatedChainSigned(t, false)
	closed := strings.Replace(keyset, " 6 -\n", " 6 9\n", 1)
	if ks, err := shared.ParseKeyset(closed); err != nil || ks.Ranges[len(ks.Ranges)-1].Open {
		t.Fatalf("keyset %q: %v, want its last range closed", closed, err)
	}
	day := time.Date(2026, 11, 4, 8, 0, 0, 0, time.UTC)
	var v verifications
	if seqs, err := discoverDay(store, closed, day, replayer.DiscoverConfig{Warn: v.warn}); err != nil || len(seqs) != 2 || v.count() != 0 {
		t.Fatalf("discover of the sealer's bucket with a closed keyset: %v, seqs %v, %d verifications", err, seqs, v.count())
	}
	copied := copyOfBucket(t, store, 2*archive.RetiredClockSkew, nil, "")
	_, err := discoverDay(copied, closed, day, replayer.DiscoverConfig{Warn: v.warn})
	if !errors.Is(err, replayer.ErrRetiredRewrite) || !strings.Contains(err.Error(), "its last range is closed") {
		t.Fatalf("discover of the copy with a closed keyset: %v, want the retired checkpoints refused, and why", err)
	}
	if n := v.count(); n != 0 {
		t.Fatalf("discover of the copy with a closed keyset verified the whole chain %d times", n)
	}
}

// RESISTED. Two rotations: a thief of the middle key (retired in its
// turn) writes a twin of seq 4, the first of its range, at a key of its
// own into a copy of the bucket. The anchors cover both retired ranges;
// the twin breaks the chain, the verification fails, and the readers
// refuse the twin (and, as documented, the copy's retired ranges).
func TestAttack31AMiddleKeysTwinOnACopyOfAChainRotatedTwice(t *testing.T) {
	ctx := context.Background()
	store, keyset, middle, _ := twiceRotatedChain(t)
	copied := copyOfBucket(t, store, 2*archive.RetiredClockSkew, nil, "")
	day := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	twin := putTwin(t, copied, middle, 4, 3, day)
	cfg := replayer.ProveConfig{S3: copied, Bucket: "audit", Chain: "mem", VerifierKey: keyset}
	if _, rep, err := replayer.Prove(ctx, cfg, "d3", []replayer.EntryRef{{Seq: 4, Object: twin, Line: 1}}); !errors.Is(err, replayer.ErrRetiredRewrite) {
		t.Fatalf("prove of the middle key's twin on the copy: %v (decision d3 %s), want it refused", err, rep.Action)
	}
	seqs, err := discoverDay(copied, keyset, day, replayer.DiscoverConfig{})
	if !errors.Is(err, replayer.ErrRetiredRewrite) || len(seqs) != 0 {
		t.Fatalf("discover of the twin's day on the copy: %v, seqs %v, want it refused", err, seqs)
	}
}

// RESISTED. A copy of a pruned chain (its genesis, the object of seqs
// 1-2 and the genesis's checkpoint gone; the checkpoint of seq 2 kept, as
// pruning keeps it for a while): Prove, whose anchoring always verifies a
// pruned chain, and discover --pruned take the retired range that
// remains; discover without --pruned refuses it (the chain has no
// genesis). A twin of seq 1, below where the pruned chain starts,
// with a checkpoint of its own, would start the chain lower and leave a
// hole: the verification fails and the readers refuse it.
func TestAttack31APrunedCopyAndATwinBelowItsStart(t *testing.T) {
	ctx := context.Background()
	store, keyset, retired := rotatedChainSigned(t, false)
	gone, _, _ := objectOf(t, store, 1)
	pruned := func(k string) bool {
		return k != gone && k != shared.GenesisKey("audit", "mem") && k != shared.CheckpointKey("audit", "mem", 0)
	}
	copied := copyOfBucket(t, store, 2*archive.RetiredClockSkew, pruned, "")
	key3, _, _ := objectOf(t, copied, 3)
	day3 := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	cfg := replayer.ProveConfig{S3: copied, Bucket: "audit", Chain: "mem", VerifierKey: keyset}
	if _, rep, err := replayer.Prove(ctx, cfg, "d2", []replayer.EntryRef{{Seq: 3, Object: key3, Line: 1}}); err != nil || rep.Action != shared.ActionAllow {
		t.Fatalf("prove of d2 on the pruned copy: %v (%s)", err, rep.Action)
	}
	if seqs, err := discoverDay(copied, keyset, day3, replayer.DiscoverConfig{Pruned: true}); err != nil || len(seqs) != 3 {
		t.Fatalf("discover --pruned of the pruned copy: %v, seqs %v", err, seqs)
	}
	if _, err := discoverDay(copied, keyset, day3, replayer.DiscoverConfig{}); !errors.Is(err, replayer.ErrNoChain) {
		t.Fatalf("discover (not --pruned) of the pruned copy: %v, want it refused (no genesis)", err)
	}

	day := time.Date(2026, 11, 6, 8, 0, 0, 0, time.UTC)
	// The twin, made from the sealer's bucket (the copy has no seq 1),
	// put into the copy.
	twin := putForgedSeq1(t, store, retired, day)
	for _, k := range []string{twin, shared.CheckpointKey("audit", "mem", 1)} {
		copied.PutVersion("audit", k, store.Objects("audit")[k])
	}
	if _, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: twin, Line: 1}}); !errors.Is(err, replayer.ErrRetiredRewrite) {
		t.Fatalf("prove of a twin below the pruned copy's start: %v (decision d0 %s), want it refused", err, rep.Action)
	}
	if got, err := discoverD0(copied, keyset, day, replayer.DiscoverConfig{Pruned: true}); !errors.Is(err, replayer.ErrRetiredRewrite) || len(got) != 0 {
		t.Fatalf("discover --pruned of the twin's day on the pruned copy: %v, d0 found as %v, want it refused", err, got)
	}
}
