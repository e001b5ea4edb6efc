package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// Key rotation (docs/FORMAT.md sections 2.4 and 7.4) on a running sealer,
// through the real servers: the sealer holds a second key staged; a
// key-change request for another key is sealed as INVALID and changes
// nothing; the request for the staged key becomes a KEY entry that ends its
// object, whose checkpoint the first key signs, and every later checkpoint
// is the second key's, also after a restart with the old settings (the
// sealer follows the hand-over from S3) and one with the new settings. The
// whole chain verifies with the keyset, in Go and in the Python reference
// verifier; the first key alone no longer verifies it, naming the
// hand-over; and a checkpoint forged with the retired key after its range
// is refused.
func TestKeyRotationOnARunningSealer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nextS, nextV, err := note.GenerateKey(rand.Reader, "aegis-next")
	if err != nil {
		t.Fatal(err)
	}
	_, strangerV, _ := note.GenerateKey(rand.Reader, "aegis-stranger")
	next, _ := shared.ParseVerifierKey(nextV)
	stranger, _ := shared.ParseVerifierKey(strangerV)

	cfg := pipeline.Config{Indexers: 1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 25; c.NextSignerKey = nextS }}
	p := startPipeline(t, cfg)
	firstS, firstV := p.Cfg.SignerKey, p.Cfg.VerifierKey
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 90, 5, 5, 3, time.Now())
	publish(t, p, w.Events[:30])
	publishRaw(t, p, string(shared.KeyChangeRequest(p.Cfg.Chain, stranger)), string(shared.KeyChangeRequest(p.Cfg.Chain, next)))
	publish(t, p, w.Events[30:60])
	if err := p.WaitHead(ctx, 62); err != nil {
		t.Fatal(err)
	}

	// The chain as stored: the stranger's request refused, the staged
	// one a KEY entry that ends its object.
	entries := readChain(t, p)
	var hand *shared.Entry
	for _, e := range entries {
		switch {
		case e.Type == shared.EntryInvalid && strings.Contains(e.Invalid.Reason, "key change request refused"):
			if !strings.Contains(e.Invalid.Reason, "not the key this sealer has staged") {
				t.Fatalf("seq %d: refused for %q", e.Seq, e.Invalid.Reason)
			}
		case e.Type == shared.EntryKey:
			if hand != nil {
				t.Fatalf("two KEY entries, at seqs %d and %d", hand.Seq, e.Seq)
			}
			hand = e
		}
	}
	if hand == nil || hand.Key.VerifierKey != nextV || hand.Key.FromSeq != hand.Seq+1 {
		t.Fatalf("no KEY entry handing over to %s: %+v", next.ID(), hand)
	}
	R := hand.Seq
	st := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	signer := func(seq uint64) string {
		t.Helper()
		obj, err := st.Get(ctx, shared.CheckpointKey("audit", p.Cfg.Chain, seq), "")
		if err != nil {
			t.Fatalf("checkpoint of seq %d: %v", seq, err)
		}
		return shared.SignedBy(obj.Body)
	}
	first, _ := shared.ParseVerifierKey(firstV)
	if got := signer(R); got != first.ID() {
		t.Fatalf("the hand-over's checkpoint (seq %d) is signed by %s, want the retiring key %s", R, got, first.ID())
	}
	if got := signer(p.Sealer.Head().Seq); got != next.ID() {
		t.Fatalf("the newest checkpoint is signed by %s, want the new key %s", got, next.ID())
	}

	// The hand-over's note, for a sealer restarted with step 2's settings.
	nextSigner, err := shared.NewSigner(nextS)
	if err != nil {
		t.Fatal(err)
	}
	noteKey, err := sealer.HandOverNoteKey("audit", p.Cfg.Chain, nextSigner)
	if err != nil {
		t.Fatal(err)
	}
	if note, err := st.Get(ctx, noteKey, ""); err != nil || !strings.Contains(string(note.Body), fmt.Sprintf(`"seq":%d,`, R)) {
		t.Fatalf("the hand-over note %s: %v, want it to name seq %d", noteKey, err, R)
	}
	if locked, err := st.LockedHead(ctx, noteKey, ""); err != nil || locked.LockMode != "COMPLIANCE" {
		t.Fatalf("the hand-over note's lock: %v, %+v", err, locked)
	}
	keyset := fmt.Sprintf("# chain %s\n%s 0 %d\n%s %d -\n", p.Cfg.Chain, firstV, R, nextV, R+1)
	verify := func(p *pipeline.Pipeline, trust string) (replayer.Report, error) {
		return replayer.Verify(ctx, replayer.Config{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: trust})
	}
	rep, err := verify(p, keyset)
	if err != nil || rep.Unsigned != 0 || rep.Head.Seq != p.Sealer.Head().Seq {
		t.Fatalf("verify with the keyset: %+v, %v", rep.LogReport, err)
	}
	if _, err := verify(p, firstV); !errors.Is(err, shared.ErrKeyChange) || !strings.Contains(err.Error(), next.ID()) {
		t.Fatalf("verify with the first key alone: %v, want the hand-over to %s named", err, next.ID())
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err) // the indexer takes the KEY entry in its stride
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}

	// A restart with the settings of before the rotation: the sealer
	// follows the hand-over it finds in S3 and signs with the new key.
	again := startPipeline(t, p.Cfg)
	publish(t, again, w.Events[60:75])
	if err := again.WaitHead(ctx, 77); err != nil {
		t.Fatal(err)
	}
	if got := signer(again.Sealer.Head().Seq); got != next.ID() {
		t.Fatalf("after a restart with the old settings the newest checkpoint is signed by %s", got)
	}
	// The new key's checkpoints it found are the chain's, not forgeries:
	// they were counted (and logged) as checkpoints that do not verify
	// before the hand-over was followed, a false tamper alarm.
	if bad := metricValue(t, again, "aegis_sealer_bad_checkpoints_total", ""); bad != 0 {
		t.Fatalf("aegis_sealer_bad_checkpoints_total %v after following the hand-over, want 0", bad)
	}
	if err := again.Stop(); err != nil {
		t.Fatal(err)
	}

	// The settings after the rotation: the new key signs, the keyset is
	// trusted, nothing staged. A sealer still holding only the retired
	// key refuses to sign for the new key's range.
	newCfg := p.Cfg
	newCfg.SignerKey, newCfg.VerifierKey = nextS, keyset
	newCfg.Sealer = func(c *sealer.Config) { c.BatchMaxRecords = 25 }
	final := startPipeline(t, newCfg)
	publish(t, final, w.Events[75:])
	total := uint64(len(w.Events)) + 2 // and the two requests
	if err := final.WaitHead(ctx, total); err != nil {
		t.Fatal(err)
	}
	rep, err = verify(final, keyset)
	if err != nil || rep.Unsigned != 0 || rep.Entries != total+1 {
		t.Fatalf("verify the whole chain with the keyset: %+v, %v", rep.LogReport, err)
	}
	dir := t.TempDir()
	download(t, final, dir)
	if code, out := pythonVerify(t, final, dir); code != 0 {
		t.Fatalf("the Python reference verifier refuses the rotated chain with the keyset (exit %d): %s", code, out)
	}
	if err := final.Stop(); err != nil {
		t.Fatal(err)
	}
	old, err := sealer.New(ctx, sealer.Config{Brokers: stack.Brokers, Chain: p.Cfg.Chain, S3: p.S3, Bucket: p.Cfg.Bucket,
		SignerKey: firstS, VerifierKey: keyset, Topic: p.Cfg.Topic, SealedTopic: p.Cfg.SealedTopic})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Run(ctx); !errors.Is(err, sealer.ErrKeyNotHeld) {
		t.Fatalf("a sealer holding only the retired key: %v, want ErrKeyNotHeld", err)
	}

	// Someone who stole the retired key re-signs the newest checkpoint
	// with it (a new version of its key, locked like the original).
	head := final.Sealer.Head().Seq
	cpKey := shared.CheckpointKey("audit", p.Cfg.Chain, head)
	obj, err := st.Get(ctx, cpKey, "")
	if err != nil {
		t.Fatal(err)
	}
	cp, err := shared.SingleKeyset(next).Open(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	retired, _ := shared.NewSigner(firstS)
	forged, err := cp.Sign(retired)
	if err != nil {
		t.Fatal(err)
	}
	putVersion(t, final, cpKey, forged, true)
	_, err = verify(final, keyset)
	if !errors.Is(err, shared.ErrRetiredKey) || !strings.Contains(err.Error(), cpKey) {
		t.Fatalf("a checkpoint signed by the retired key after its range: %v, want ErrRetiredKey naming %s", err, cpKey)
	}
	download(t, final, dir)
	if code, out := pythonVerify(t, final, dir); code == 0 || !strings.Contains(out, "7.4") {
		t.Fatalf("the Python reference verifier accepts the forged checkpoint (exit %d): %s", code, out)
	}
	retiredKeysTwinIsRefused(t, final, entries, R, retired, keyset)
	restartWithStep2SettingsPassesOverAForgery(t, final, p.Cfg, retired)
}

// restartWithStep2SettingsPassesOverAForgery: the thief of the retired key
// signs a checkpoint of their own past the head, over an object of their
// own; a sealer started again with step 2's settings (the retired key's
// .pub as its keyset, the new key staged) reads the hand-over's note,
// retires the key at the hand-over, and seals on from the real head. It
// took the forgery as its head before the note (docs/SECURITY.md 5).
func restartWithStep2SettingsPassesOverAForgery(t *testing.T, last *pipeline.Pipeline, cfg pipeline.Config, retired note.Signer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := &archive.Store{S3: last.S3, Bucket: cfg.Bucket}
	head := last.Sealer.Head()
	forged := head.Seq + 40
	raw := []byte(`{"type":"decision","event_id":"forged-past-the-head","environment":"` + cfg.Chain + `","occurred_at":"2026-11-27T09:00:00Z","decision":{"decision_id":"forged","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`)
	at := time.Now().UTC()
	e, err := shared.SealRecord(shared.Head{Chain: cfg.Chain, Seq: forged - 1, Offset: head.Offset + 40}, shared.Source{Topic: cfg.Topic, Offset: head.Offset + 41, Timestamp: at}, raw, at)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := e.Line()
	objKey := shared.BatchKey("audit", e)
	msg, err := shared.Checkpoint{Chain: cfg.Chain, Seq: forged, Hash: e.Hash, Offset: head.Offset + 41, Object: objKey,
		Root: shared.ObjectRoot([]*shared.Entry{e}), Time: at}.Sign(retired)
	if err != nil {
		t.Fatal(err)
	}
	for key, body := range map[string][]byte{objKey: append(line, '\n'), shared.CheckpointKey("audit", cfg.Chain, forged): msg} {
		if _, err := store.Put(ctx, key, body, at.Add(48*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	again := startPipeline(t, cfg)
	var events []string
	for i := range 5 {
		events = append(events, fmt.Sprintf(`{"type":"decision","event_id":"after-the-forgery-%d","environment":%q,"occurred_at":"2026-11-27T09:00:00Z","decision":{"decision_id":"after-%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`, i, cfg.Chain, i))
	}
	publishRaw(t, again, events...)
	want := head.Seq + uint64(len(events))
	if err := again.WaitHead(ctx, want); err != nil {
		t.Fatalf("restarted with step 2's settings beside a forged checkpoint of seq %d: %v (head %d)", forged, err, again.Sealer.Head().Seq)
	}
	if got := again.Sealer.Head().Seq; got != want {
		t.Fatalf("restarted with step 2's settings: head %d, want %d (the forgery's would be %d)", got, want, forged+uint64(len(events)))
	}
	if err := again.Stop(); err != nil {
		t.Fatal(err)
	}
}

// retiredKeysTwinIsRefused: the thief of the retired key files a twin of
// a decision sealed before the hand-over at R (its action changed) at a
// key of its own, another day's, with a checkpoint at its seq, which had
// none, signed by the retired key. Both are first versions, written after
// the checkpoint of R; versitygw's LastModified says so, and prove and
// verify-receipt refuse the twin (FORMAT.md section 7.4) while the sealed
// decision, its versions stored before the hand-over, still proves.
func retiredKeysTwinIsRefused(t *testing.T, p *pipeline.Pipeline, entries []*shared.Entry, R uint64, retired note.Signer, keyset string) {
	t.Helper()
	ctx := context.Background()
	st := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	var sealed *shared.Entry
	var env *shared.Envelope
	for _, e := range entries {
		if e.Type != shared.EntryEvent || e.Seq >= R {
			continue
		}
		if _, err := st.Get(ctx, shared.CheckpointKey("audit", p.Cfg.Chain, e.Seq), ""); !errors.Is(err, archive.ErrNotFound) {
			continue // a checkpoint signs this seq
		}
		ev, err := e.Envelope()
		if err == nil && ev.Decision != nil {
			sealed, env = e, ev
			break
		}
	}
	if sealed == nil {
		t.Fatal("no decision before the hand-over at a seq without a checkpoint")
	}
	forged := *env
	d := *env.Decision
	d.Action = shared.ActionAllow
	if env.Decision.Action == shared.ActionAllow {
		d.Action = shared.ActionBlock
	}
	forged.Decision = &d
	raw, err := forged.Record()
	if err != nil {
		t.Fatal(err)
	}
	ts := sealed.Source.Timestamp.AddDate(0, 0, 3)
	twin, err := shared.SealRecord(shared.Head{Chain: p.Cfg.Chain, Seq: sealed.Seq - 1, Hash: sealed.Prev, Offset: sealed.Source.Offset - 1},
		shared.Source{Topic: sealed.Source.Topic, Offset: sealed.Source.Offset, Timestamp: ts}, raw, ts)
	if err != nil {
		t.Fatal(err)
	}
	twinKey := shared.BatchKey("audit", twin)
	line, _ := twin.Line()
	msg, err := shared.Checkpoint{Chain: p.Cfg.Chain, Seq: twin.Seq, Hash: twin.Hash, Offset: twin.Source.Offset, Object: twinKey,
		Root: shared.ObjectRoot([]*shared.Entry{twin}), Time: time.Now().UTC()}.Sign(retired)
	if err != nil {
		t.Fatal(err)
	}
	// S3 gives LastModified to the second: a twin stored within the
	// second of the hand-over's checkpoint would be taken as stored with
	// it (FORMAT.md section 7.4 says so). The thief writes later.
	head, err := p.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(p.Cfg.Bucket), Key: aws.String(shared.CheckpointKey("audit", p.Cfg.Chain, R))})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(aws.ToTime(head.LastModified).Add(2 * time.Second)))
	putVersion(t, p, twinKey, append(line, '\n'), true)
	putVersion(t, p, shared.CheckpointKey("audit", p.Cfg.Chain, twin.Seq), msg, true)

	cfg := replayer.ProveConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: keyset}
	_, rep, err := replayer.Prove(ctx, cfg, d.DecisionID, []replayer.EntryRef{{Seq: twin.Seq, Object: twinKey, Line: 1}})
	if !errors.Is(err, replayer.ErrRetiredRewrite) || !strings.Contains(err.Error(), fmt.Sprintf("after the checkpoint of seq %d that retired the key", R)) {
		t.Fatalf("prove of the retired key's twin at %s: %v (decision %s %s), want it refused as stored after the hand-over", twinKey, err, d.DecisionID, rep.Action)
	}
	_, _, err = replayer.VerifyReceipt(ctx, cfg, &shared.Receipt{EventID: forged.EventID, DecisionID: d.DecisionID, Durability: shared.DurabilitySealed,
		Chain: p.Cfg.Chain, Seq: twin.Seq, EntryHash: twin.Hash.String(), Object: twinKey, Line: 1, CheckpointSeq: twin.Seq})
	if !errors.Is(err, replayer.ErrRetiredRewrite) {
		t.Fatalf("verify-receipt of the retired key's twin: %v, want it refused", err)
	}

	refs, err := st.Batches(ctx, p.Cfg.Chain)
	if err != nil {
		t.Fatal(err)
	}
	var ref replayer.EntryRef // in the sealed batch: the last to start at or before the seq
	for _, r := range refs {
		if r.Key != twinKey && r.FirstSeq <= sealed.Seq && (ref.Object == "" || r.FirstSeq > sealed.Seq-uint64(ref.Line-1)) {
			ref = replayer.EntryRef{Seq: sealed.Seq, Object: r.Key, Line: int(sealed.Seq-r.FirstSeq) + 1}
		}
	}
	if _, rep, err = replayer.Prove(ctx, cfg, d.DecisionID, []replayer.EntryRef{ref}); err != nil || rep.Action != env.Decision.Action {
		t.Fatalf("prove of the sealed decision %s at %+v: %v, %s (sealed %s)", d.DecisionID, ref, err, rep.Action, env.Decision.Action)
	}
}
