package replayer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// forgeWithRetiredKey is what a thief of the retired key of rotatedChain
// can write with write access to the bucket (but no right to delete a
// locked version): a new version of the object of seqs 1-2 in which
// decision d0 was BLOCK, not ALLOW, its lines linked from the genesis
// entry as the sealed ones are, and a new version of the checkpoint of
// seq 2 over it, signed by the retired key (trusted for seqs 0 to 5). It
// returns the object's key.
func forgeWithRetiredKey(t *testing.T, store *s3mem.S3, retired note.Signer) string {
	t.Helper()
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	key := shared.BatchKey("audit", &shared.Entry{Type: shared.EntryEvent, Chain: "mem", Seq: 1,
		Source: &shared.Source{Timestamp: start.AddDate(0, 0, 3)}})
	sealed, _, err := shared.ParseObject(key, 1, store.Objects("audit")[key])
	if err != nil {
		t.Fatal(err)
	}
	head := shared.Head{Chain: "mem", Hash: sealed[0].Prev, Offset: -1}
	var entries []*shared.Entry
	var body []byte
	for i := range 2 {
		raw := decisionRecord(i, 0, 0, "2026-11-01T08:00:00Z")
		if i == 0 {
			raw = strings.Replace(raw, `"ALLOW"`, `"BLOCK"`, 1)
		}
		ts := start.AddDate(0, 0, 3).Add(time.Duration(i) * time.Minute)
		e, err := shared.SealRecord(head, shared.Source{Topic: "decisions", Offset: int64(i), Timestamp: ts}, []byte(raw), ts)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := e.Line()
		body = append(append(body, l...), '\n')
		entries = append(entries, e)
		head = head.Next(e)
	}
	last := entries[len(entries)-1]
	msg, err := shared.Checkpoint{Chain: "mem", Seq: last.Seq, Hash: last.Hash, Offset: head.Offset, Object: key,
		Root: shared.ObjectRoot(entries), Time: start.AddDate(0, 1, 0)}.Sign(retired)
	if err != nil {
		t.Fatal(err)
	}
	store.PutVersion("audit", key, body)
	store.PutVersion("audit", shared.CheckpointKey("audit", "mem", last.Seq), msg)
	return key
}

// A key stolen after its retirement signs nothing a verifier with the
// current keyset accepts (docs/SECURITY.md section 5). Yet a new version
// of a sealed object before the hand-over, with a new version of its
// checkpoint signed by the retired key, passed as the object: prove (and
// so verify-receipt, get --verify and the page, which take their bundles
// from it) read the current version first and took any version whose
// checkpoint a keyset key signs for its seq, and handed out a bundle of
// the forged decision that verifies offline. The sealer writes each key
// once, before anyone can write over it: a retired key's checkpoint now
// counts only in the first version of its key, and the sealed versions
// are proved, as under any other rewrite.
func TestProveRefusesARetiredKeysSignatureOverANewVersion(t *testing.T) {
	ctx := context.Background()
	store, keyset, retired := rotatedChainSigned(t, false)
	var warnings []string
	cfg := replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset, Warn: func(w string) { warnings = append(warnings, w) }}
	before, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Line: 1,
		Object: shared.BatchKey("audit", &shared.Entry{Type: shared.EntryEvent, Chain: "mem", Seq: 1,
			Source: &shared.Source{Timestamp: time.Date(2026, 11, 4, 8, 0, 0, 0, time.UTC)}})}})
	if err != nil || rep.Action != shared.ActionAllow {
		t.Fatalf("before the forgery: %v (%s)", err, rep.Action)
	}
	key := forgeWithRetiredKey(t, store, retired)
	if _, err := replayer.Verify(ctx, replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset}); err == nil {
		t.Fatal("verify accepts the forged versions")
	}
	after, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: key, Line: 1}})
	if err != nil {
		t.Fatalf("prove after the forgery: %v", err)
	}
	if rep.Action != shared.ActionAllow || !bytes.Equal(after, before) {
		t.Fatalf("prove hands out the retired key's forgery: decision d0 %s (the sealed one is ALLOW)", rep.Action)
	}
	if !strings.Contains(strings.Join(warnings, "\n"), key+": the current version") {
		t.Fatalf("warnings %q, want the object's current version named", warnings)
	}
	receipt := &shared.Receipt{EventID: "e0", DecisionID: "d0", Durability: shared.DurabilitySealed, Chain: "mem", Seq: 1,
		EntryHash: rep.Entries[0].Entry.Hash.String(), Object: key, Line: 1, CheckpointSeq: 2}
	if _, rep, err := replayer.VerifyReceipt(ctx, cfg, receipt); err != nil || rep.Action != shared.ActionAllow {
		t.Fatalf("verify-receipt of the sealed entry after the forgery: %v (%s)", err, rep.Action)
	}
}

// Discover reads the same way: the retired key's forgery is passed over
// for the sealed version (before, d0 was found as BLOCK).
func TestDiscoverRefusesARetiredKeysSignatureOverANewVersion(t *testing.T) {
	store, keyset, retired := rotatedChainSigned(t, false)
	forgeWithRetiredKey(t, store, retired)
	var got []string
	_, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset,
		From: time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC), DecisionID: "d0"},
		func(f replayer.Found) error {
			env, err := f.Entry.Envelope()
			if err != nil {
				return err
			}
			got = append(got, string(env.Decision.Action))
			return nil
		})
	var f *replayer.Failure
	if err != nil && !errors.As(err, &f) {
		t.Fatal(err)
	}
	if err != nil || len(got) != 1 || got[0] != string(shared.ActionAllow) {
		t.Fatalf("discover after the forgery: %v, d0 found as %v (the sealed one is ALLOW)", err, got)
	}
}

// Anyone with write access to the bucket, without any key, can put an
// object after the head that ends in a KEY entry naming a key of their
// own: it links to the head, and no checkpoint signs it (it is unsigned,
// like any tail the sealer has not signed yet). verify fails at it, as
// section 7.4 says; but it also printed "the keyset that would trust this
// hand-over", the attacker's key in it, for the operator to save after
// checking the key's id "out of band" (README's rotation steps). The
// keyset is offered only for a hand-over that the retiring key's
// checkpoint signs; an unsigned one is named as such.
func TestVerifyOffersNoKeysetForAnUnsignedHandOver(t *testing.T) {
	ctx := context.Background()
	store, vkey := memChain(t, 2, 3)
	rep, err := replayer.Verify(ctx, replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	_, theirs, err := note.GenerateKey(rand.Reader, "aegis-mem-2")
	if err != nil {
		t.Fatal(err)
	}
	k, _ := shared.ParseVerifierKey(theirs)
	ts := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	e, err := shared.SealRecord(rep.Head, shared.Source{Topic: "decisions", Offset: rep.Head.Offset + 1, Timestamp: ts}, shared.KeyChangeRequest("mem", k), ts)
	if err != nil || e.Type != shared.EntryKey {
		t.Fatalf("%v %s", err, e.Type)
	}
	l, _ := e.Line()
	key := shared.BatchKey("audit", e)
	store.PutVersion("audit", key, append(l, '\n'))
	_, err = replayer.Verify(ctx, replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey})
	var f *replayer.Failure
	if !errors.As(err, &f) || !errors.Is(err, shared.ErrKeyChange) || f.Key != key {
		t.Fatalf("verify: %v, want the hand-over in %s named", err, key)
	}
	if f.Keyset != "" || !strings.Contains(f.Reason, "no checkpoint") {
		t.Fatalf("verify offers the keyset %q for a hand-over no checkpoint signs (reason: %s)", f.Keyset, f.Reason)
	}

	// The signed hand-over of a keyset that predates it is offered one.
	store, keyset := rotatedChain(t, false)
	_, err = replayer.Verify(ctx, replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: strings.Fields(keyset)[0]})
	if !errors.As(err, &f) || !strings.Contains(f.Keyset, " 6 -\n") {
		t.Fatalf("verify of a signed hand-over with the keyset before it: %v, keyset %q", err, f.Keyset)
	}
}

// The same forgery cut short: a new version of the object holding only
// the forged seq 1, and its checkpoint at seq 1, a key no checkpoint had
// (so a first version). The checkpoint's first version is the thief's;
// the object's is not: a retired key's checkpoint counts only over the
// first version of its object too.
func TestProveRefusesARetiredKeysCheckpointAtAFreshSeqOverANewVersion(t *testing.T) {
	ctx := context.Background()
	store, keyset, retired := rotatedChainSigned(t, false)
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	ts := start.AddDate(0, 0, 3) // the sealed object's day: its key
	key := putForgedSeq1(t, store, retired, ts)
	cfg := replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset}
	_, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: key, Line: 1}})
	if err != nil {
		t.Fatalf("prove after the forgery: %v", err)
	}
	if rep.Action != shared.ActionAllow {
		t.Fatalf("prove hands out the retired key's forgery: decision d0 %s (the sealed one is ALLOW)", rep.Action)
	}
	got, err := discoverD0(store, keyset, ts, replayer.DiscoverConfig{})
	if err != nil || len(got) != 1 || got[0] != string(shared.ActionAllow) {
		t.Fatalf("discover after the forgery: %v, d0 found as %v (the sealed one is ALLOW)", err, got)
	}
}

// A thief of the retired key who cannot write over a sealed key puts a
// twin of a sealed batch at a key of its own: the batch of seqs 1-2 with
// decision d0 BLOCK, not ALLOW, cut to seq 1 and filed under a day no
// batch of the chain has, with a checkpoint at seq 1, a seq that had
// none. Both are first versions, and the retired key signs seq 1. Only
// reading the chain refused it (two objects hold seq 1); prove,
// verify-receipt and a discover of the twin's day took it. They were
// written after the checkpoint of seq 5 that retired the key, which the
// sealer wrote last with it: a retired key's checkpoint counts only over
// versions stored no later than that (FORMAT.md section 7.4).
func TestReadersRefuseARetiredKeysTwinAtAKeyOfItsOwn(t *testing.T) {
	ctx := context.Background()
	store, keyset, retired := rotatedChainSigned(t, false)
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	sealedKey := shared.BatchKey("audit", &shared.Entry{Type: shared.EntryEvent, Chain: "mem", Seq: 1,
		Source: &shared.Source{Timestamp: start.AddDate(0, 0, 3)}})
	if store.Objects("audit")[shared.CheckpointKey("audit", "mem", 1)] != nil {
		t.Fatal("seq 1 has a checkpoint already")
	}
	day := start.AddDate(0, 0, 5)
	store.Later(2 * archive.RetiredGrace) // past S3's second of the hand-over
	twin := putForgedSeq1(t, store, retired, day)
	if twin == sealedKey || len(store.Versions("audit", twin)) != 1 {
		t.Fatalf("the twin's key %s is not a key of its own", twin)
	}
	e, _, err := shared.ParseObject(twin, 1, store.Objects("audit")[twin])
	if err != nil {
		t.Fatal(err)
	}

	cfg := replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset}
	_, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: twin, Line: 1}})
	if !errors.Is(err, replayer.ErrRetiredRewrite) || !strings.Contains(err.Error(), "after the checkpoint of seq 5 that retired the key") {
		t.Fatalf("prove of the twin: %v (decision d0 %s), want it refused as stored after the key's retirement", err, rep.Action)
	}
	_, rep, err = replayer.VerifyReceipt(ctx, cfg, &shared.Receipt{EventID: "evt-0", DecisionID: "d0", Durability: shared.DurabilitySealed,
		Chain: "mem", Seq: 1, EntryHash: e[0].Hash.String(), Object: twin, Line: 1, CheckpointSeq: 1})
	if !errors.Is(err, replayer.ErrRetiredRewrite) {
		t.Fatalf("verify-receipt of the twin: %v (decision d0 %s), want it refused", err, rep.Action)
	}
	got, err := discoverD0(store, keyset, day, replayer.DiscoverConfig{})
	if !errors.Is(err, replayer.ErrRetiredRewrite) || len(got) != 0 {
		t.Fatalf("discover of the twin's day: %v, d0 found as %v, want the twin refused", err, got)
	}

	// The sealed decision still proves: its object and checkpoint are the
	// sealer's, stored before the hand-over.
	_, rep, err = replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: sealedKey, Line: 1}})
	if err != nil || rep.Action != shared.ActionAllow {
		t.Fatalf("prove of the sealed d0: %v, %s", err, rep.Action)
	}
}

// putForgedSeq1 is what a thief of rotatedChainSigned's retired key
// writes: seq 1, decision d0 made BLOCK (the sealed one is ALLOW), linked
// to the genesis as the sealed seq 1 is, Kafka time ts (so at the key of
// ts's day: the sealed object's key on its day, a key of its own on
// another), alone in its object, with a checkpoint at seq 1 (a seq that
// had none) signed by the retired key. It returns the object's key.
func putForgedSeq1(t *testing.T, store *s3mem.S3, retired note.Signer, ts time.Time) string {
	t.Helper()
	sealedKey := shared.BatchKey("audit", &shared.Entry{Type: shared.EntryEvent, Chain: "mem", Seq: 1,
		Source: &shared.Source{Timestamp: time.Date(2026, 11, 4, 8, 0, 0, 0, time.UTC)}})
	sealed, _, err := shared.ParseObject(sealedKey, 1, store.Objects("audit")[sealedKey])
	if err != nil {
		t.Fatal(err)
	}
	raw := strings.Replace(decisionRecord(0, 0, 0, "2026-11-01T08:00:00Z"), `"ALLOW"`, `"BLOCK"`, 1)
	e, err := shared.SealRecord(shared.Head{Chain: "mem", Hash: sealed[0].Prev, Offset: -1}, shared.Source{Topic: "decisions", Offset: 0, Timestamp: ts}, []byte(raw), ts)
	if err != nil {
		t.Fatal(err)
	}
	key := shared.BatchKey("audit", e)
	l, _ := e.Line()
	msg, err := shared.Checkpoint{Chain: "mem", Seq: 1, Hash: e.Hash, Offset: 0, Object: key,
		Root: shared.ObjectRoot([]*shared.Entry{e}), Time: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}.Sign(retired)
	if err != nil {
		t.Fatal(err)
	}
	store.PutVersion("audit", key, append(l, '\n'))
	store.PutVersion("audit", shared.CheckpointKey("audit", "mem", 1), msg)
	return key
}

// The twin of TestReadersRefuseARetiredKeysTwinAtAKeyOfItsOwn, put by
// multipart uploads that someone with write access began before the
// hand-over's checkpoint was written and completed, after the theft, with
// what the retired key signs. S3 dates such an object when its upload was
// begun: the twin and its checkpoint looked stored before the retirement,
// and prove, verify-receipt and discover took them.
func TestReadersRefuseARetiredKeysTwinUploadedInParts(t *testing.T) {
	ctx := context.Background()
	store, keyset, retired := rotatedChainSigned(t, false)
	handOver := shared.CheckpointKey("audit", "mem", 5)
	handOverBody := store.Objects("audit")[handOver]
	store.Remove("audit", handOver) // written again below, after the uploads begin
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	sealedKey := shared.BatchKey("audit", &shared.Entry{Type: shared.EntryEvent, Chain: "mem", Seq: 1,
		Source: &shared.Source{Timestamp: start.AddDate(0, 0, 3)}})
	sealed, _, err := shared.ParseObject(sealedKey, 1, store.Objects("audit")[sealedKey])
	if err != nil {
		t.Fatal(err)
	}
	day := start.AddDate(0, 0, 5)
	raw := strings.Replace(decisionRecord(0, 0, 0, "2026-11-01T08:00:00Z"), `"ALLOW"`, `"BLOCK"`, 1)
	e, err := shared.SealRecord(shared.Head{Chain: "mem", Hash: sealed[0].Prev, Offset: -1}, shared.Source{Topic: "decisions", Offset: 0, Timestamp: day}, []byte(raw), day)
	if err != nil {
		t.Fatal(err)
	}
	twin := shared.BatchKey("audit", e)
	twinUpload := store.BeginMultipart("audit", twin)
	cpUpload := store.BeginMultipart("audit", shared.CheckpointKey("audit", "mem", 1))
	store.PutVersion("audit", handOver, handOverBody)

	l, _ := e.Line()
	msg, err := shared.Checkpoint{Chain: "mem", Seq: 1, Hash: e.Hash, Offset: 0, Object: twin,
		Root: shared.ObjectRoot([]*shared.Entry{e}), Time: start.AddDate(0, 1, 0)}.Sign(retired)
	if err != nil {
		t.Fatal(err)
	}
	twinUpload.Complete(append(l, '\n'))
	cpUpload.Complete(msg)

	cfg := replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset}
	_, rep, err := replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: twin, Line: 1}})
	if !errors.Is(err, replayer.ErrRetiredRewrite) {
		t.Fatalf("prove of the twin uploaded in parts: %v (decision d0 %s), want it refused", err, rep.Action)
	}
	_, rep, err = replayer.VerifyReceipt(ctx, cfg, &shared.Receipt{EventID: "evt-0", DecisionID: "d0", Durability: shared.DurabilitySealed,
		Chain: "mem", Seq: 1, EntryHash: e.Hash.String(), Object: twin, Line: 1, CheckpointSeq: 1})
	if !errors.Is(err, replayer.ErrRetiredRewrite) {
		t.Fatalf("verify-receipt of the twin uploaded in parts: %v (decision d0 %s), want it refused", err, rep.Action)
	}
	got, err := discoverD0(store, keyset, day, replayer.DiscoverConfig{})
	if !errors.Is(err, replayer.ErrRetiredRewrite) || len(got) != 0 {
		t.Fatalf("discover of the twin's day: %v, d0 found as %v, want the twin refused", err, got)
	}
	if _, rep, err = replayer.Prove(ctx, cfg, "d0", []replayer.EntryRef{{Seq: 1, Object: sealedKey, Line: 1}}); err != nil || rep.Action != shared.ActionAllow {
		t.Fatalf("prove of the sealed d0: %v, %s", err, rep.Action)
	}
}

// discoverD0 discovers decision d0 over day's day of the mem chain,
// trusting keyset, with base's Pruned and Now, and returns the actions
// found.
func discoverD0(store *s3mem.S3, keyset string, day time.Time, base replayer.DiscoverConfig) ([]string, error) {
	var got []string
	from := day.Truncate(24 * time.Hour)
	_, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: keyset,
		From: from, To: from.AddDate(0, 0, 1), DecisionID: "d0", Pruned: base.Pruned, Now: base.Now},
		func(f replayer.Found) error {
			env, err := f.Entry.Envelope()
			if err == nil {
				got = append(got, string(env.Decision.Action))
			}
			return err
		})
	return got, err
}
