package sealer

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/shared"
)

// startPastAForgery starts a sealer on store after a thief's forgery past
// the hand-over: with step 2's settings (staged) it must take sealed as
// its head, holding the retired key alone it must refuse to start.
func (h handOver) startPastAForgery(t *testing.T, staged bool, store archive.S3API, sealed shared.Head) {
	t.Helper()
	cfg := h.cfg
	cfg.S3 = store
	if !staged {
		cfg.NextSignerKey = ""
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.recoverHead(context.Background())
	switch {
	case staged && (err != nil || s.Head() != sealed):
		t.Fatalf("head at seq %d (err %v), want %d", s.Head().Seq, err, sealed.Seq)
	case !staged && !errors.Is(err, ErrKeyNotHeld):
		t.Fatalf("a sealer holding only the retired key started at seq %d (err %v); want %v", s.Head().Seq, err, ErrKeyNotHeld)
	}
}

// startRetiredAlonePastAForgery seals on past h's hand-over, puts a
// thief's checkpoint of the retired key at seq 40, and starts a sealer
// holding the retired key alone (the settings from before step 2).
func (h handOver) startRetiredAlonePastAForgery(t *testing.T) (*Sealer, error) {
	t.Helper()
	h.sealMore(t, records(4, 6, h.at.Add(2*time.Second)))
	h.store.Later(time.Hour)
	h.forgeRetired(t, 40)
	cfg := h.cfg
	cfg.NextSignerKey = ""
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.recoverHead(context.Background())
	return s, err
}

// noteKey is the key of the note of h's hand-over.
func (h handOver) noteKey(t *testing.T) string {
	t.Helper()
	key, ok := h.s.handOverKeyOf("note", *h.s.keys.staged)
	if !ok {
		t.Fatal("the sealer does not hold the staged key")
	}
	return key
}

// copyKey is the key of the copy of the KEY entry by which s's first key
// hands over.
func copyKey(t *testing.T, s *Sealer) string {
	t.Helper()
	key, ok := s.handOverKeyOf("copy", s.keys.keyset().First())
	if !ok {
		t.Fatal("the sealer does not hold its first key")
	}
	return key
}

// sealMore seals recs with h's sealer (its keyset after the hand-over, so
// the new key signs their checkpoints) and returns the head.
func (h handOver) sealMore(t *testing.T, recs []*kgo.Record) shared.Head {
	t.Helper()
	st := h.s.startStage(context.Background())
	st.jobs <- sealJob{records: recs, upTo: recs[len(recs)-1].Offset}
	if r := <-st.results; r.err != nil {
		t.Fatal(r.err)
	}
	st.stop()
	return h.s.Head()
}

// forgeRetired writes, as a thief of the retired key with write access to
// the bucket, a checkpoint that key signs for seq (at its own key, a
// first version where the chain has none) over an object of one forged
// decision at a key of the thief's.
func (h handOver) forgeRetired(t *testing.T, seq uint64) {
	t.Helper()
	h.forgeRetiredEntry(t, seq, []byte(`{"type":"decision","event_id":"forged","environment":"unit","occurred_at":"2026-11-27T09:00:00Z","decision":{"decision_id":"forged","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`))
}

// forgeHandOver is forgeRetired with an object of one KEY entry handing
// over to next at seq: what a note naming seq needs to check out.
func (h handOver) forgeHandOver(t *testing.T, seq uint64, next shared.VerifierKey) {
	t.Helper()
	h.forgeRetiredEntry(t, seq, shared.KeyChangeRequest("unit", next))
}

// forgeRetiredEntry is forgeRetired with the entry sealed from raw.
func (h handOver) forgeRetiredEntry(t *testing.T, seq uint64, raw []byte) {
	t.Helper()
	at := h.at.Add(time.Hour)
	e, err := shared.SealRecord(shared.Head{Chain: "unit", Seq: seq - 1, Offset: 99}, shared.Source{Topic: "decisions", Offset: 100, Timestamp: at}, raw, at)
	if err != nil {
		t.Fatal(err)
	}
	line, err := e.Line()
	if err != nil {
		t.Fatal(err)
	}
	key := shared.BatchKey("audit", e)
	h.store.PutVersion("audit", key, append(line, '\n'))
	retired, err := shared.NewSigner(h.oldS)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := shared.Checkpoint{Chain: "unit", Seq: seq, Hash: e.Hash, Offset: 100, Object: key,
		Root: shared.ObjectRoot([]*shared.Entry{e}), Time: at}.Sign(retired)
	if err != nil {
		t.Fatal(err)
	}
	h.store.PutVersion("audit", shared.CheckpointKey("audit", "unit", seq), msg)
}

// restartWithStep2Settings starts a sealer as step 2 of the rotation
// procedure left it (the retired key's .pub as the keyset, the new key
// staged) and returns the head its recovery takes.
func (h handOver) restartWithStep2Settings(t *testing.T) shared.Head {
	t.Helper()
	restarted, err := New(context.Background(), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.recoverHead(context.Background()); err != nil {
		t.Fatal(err)
	}
	return restarted.Head()
}

// A sealer restarted with step 2's settings after a hand-over (step 5 not
// done yet) trusted the retired key for every seq until it read the
// hand-over in the object of the newest checkpoint it took: a thief of
// the retired key with write access to the bucket put a checkpoint of
// that key past the head, or between the hand-over and the head, and the
// sealer took it as the head and signed on from a forgery (docs/SECURITY.md
// section 5, found by an attack on key rotation, 2026-11-30). The sealer
// that hands over leaves a note naming the hand-over's seq under the new
// key's id; a sealer holding that key staged reads it first and retires
// the old key at that seq before it reads any checkpoint.
func TestStartWithStep2SettingsRefusesTheRetiredKeyPastTheHandOver(t *testing.T) {
	for _, tc := range []struct {
		name   string
		forged uint64
	}{
		{"past the head", 40},
		{"between the hand-over and the head", 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := handedOver(t)
			sealed := h.sealMore(t, records(4, 6, h.at.Add(2*time.Second))) // seqs 5-10, the new key's checkpoint at 10
			if sealed.Seq != 10 {
				t.Fatalf("head %d, want 10", sealed.Seq)
			}
			h.forgeRetired(t, tc.forged)
			if got := h.restartWithStep2Settings(t); got != sealed {
				t.Fatalf("a start with step 2's settings took the head at seq %d (%s); the sealed one is seq %d", got.Seq, got.Hash, sealed.Seq)
			}
		})
	}
}

// The note: a JSON line at <prefix>/handovers/chain=<chain>/<new key
// id>.note, signed by the new key, locked like the chain, naming the seq
// of the hand-over.
// Versions put over it by a bucket writer (junk, or a thief's note
// naming another seq) count for nothing beside the sealer's, the oldest;
// without any note a start works as before.
func TestTheHandOverNote(t *testing.T) {
	h := handedOver(t)
	key := h.noteKey(t)
	if !strings.HasPrefix(key, "audit/handovers/chain=unit/aegis-unit-2+") || shared.ClassifyKey("audit", "unit", key) != shared.KeyOther {
		t.Fatalf("note key %s: want it under audit/handovers/chain=unit/, not a key of the chain", key)
	}
	versions := h.store.Versions("audit", key)
	if len(versions) != 1 {
		t.Fatalf("%d versions of the note, want 1", len(versions))
	}
	verifier, err := note.NewVerifier(h.s.keys.staged.Text)
	if err != nil {
		t.Fatal(err)
	}
	var n handOverNote
	msg, err := note.Open(versions[0].Body, note.VerifierList(verifier))
	if err == nil {
		err = json.Unmarshal([]byte(strings.TrimPrefix(msg.Text, handOverNoteOrigin+"\n")), &n)
	}
	if err != nil || n.Chain != "unit" || n.Seq != 4 ||
		n.Checkpoint != shared.CheckpointKey("audit", "unit", 4) || n.NewKey != h.s.keys.staged.Text {
		t.Fatalf("note %s: %v", versions[0].Body, err)
	}
	if versions[0].LockMode != "COMPLIANCE" {
		t.Fatalf("note locked %q, want COMPLIANCE", versions[0].LockMode)
	}
	sealed := h.sealMore(t, records(4, 6, h.at.Add(2*time.Second)))
	h.forgeRetired(t, 40)
	// A thief's note naming its own checkpoint of seq 40 as the hand-over,
	// and junk, written over the sealer's.
	h.store.PutVersion("audit", key, []byte(`{"chain":"unit","seq":40,"checkpoint":"audit/checkpoints/env=unit/00000000000000000040.note","new_key":"`+h.s.keys.staged.Text+`"}`+"\n"))
	h.store.PutVersion("audit", key, []byte("junk"))
	if got := h.restartWithStep2Settings(t); got != sealed {
		t.Fatalf("with versions over the note: head at seq %d, want %d", got.Seq, sealed.Seq)
	}
	// A second start that follows the hand-over leaves no second note.
	if n := len(h.store.Versions("audit", key)); n != 3 {
		t.Fatalf("%d versions of the note after the restart, want the 3 there were", n)
	}
}

// A chain handed over by a version before the note, restarted with step
// 2's settings: the start follows the hand-over it reads in the newest
// checkpoint's object, as before, and leaves the note then.
func TestAStartThatFollowsAHandOverLeavesTheNote(t *testing.T) {
	h := handedOver(t)
	key := h.noteKey(t)
	h.store.Remove("audit", key)
	if got := h.restartWithStep2Settings(t); got != h.s.Head() {
		t.Fatalf("head %+v, want %+v", got, h.s.Head())
	}
	if n := len(h.store.Versions("audit", key)); n != 1 {
		t.Fatalf("%d versions of the note after the start, want 1", n)
	}
}

// thiefsNote is a note naming the thief's checkpoint of seq as the
// hand-over to next.
func thiefsNote(seq uint64, next shared.VerifierKey) []byte {
	line, _ := json.Marshal(handOverNote{Chain: "unit", Seq: seq, Checkpoint: shared.CheckpointKey("audit", "unit", seq), NewKey: next.Text})
	return append(line, '\n')
}

// The staged key is no secret before the hand-over (its key-change
// request is on the decisions topic, its .pub is handed around), so a
// bucket writer can write at the note's key before the sealer does: a
// note naming a seq past any head, or a multipart upload, which S3 orders
// among the key's versions by when it was begun, completed with that note
// later. Read oldest first, that version came before the sealer's, and
// once the retired key was stolen its thief's checkpoint of that seq (over
// an object ending in a KEY entry) made it check out: a start with step
// 2's settings handed over there and took the forgery as its head. The
// sealer writes the checkpoint of the hand-over before its note, so a
// version of the note stored before the checkpoint it names is not the
// sealer's.
func TestANoteWrittenBeforeItsCheckpointCountsForNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		early func(h handOver, key string, note []byte) func()
	}{
		{"put before the hand-over", func(h handOver, key string, note []byte) func() {
			h.store.PutVersion("audit", key, note)
			return func() {}
		}},
		{"multipart upload begun before the hand-over", func(h handOver, key string, note []byte) func() {
			up := h.store.BeginMultipart("audit", key)
			return func() { up.Complete(note) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var complete func()
			h := handedOver(t, func(h handOver) {
				key := h.noteKey(t)
				complete = tc.early(h, key, thiefsNote(40, *h.s.keys.staged))
			})
			sealed := h.sealMore(t, records(4, 6, h.at.Add(2*time.Second)))
			h.store.Later(time.Hour) // the retired key is stolen after the hand-over
			h.forgeHandOver(t, 40, *h.s.keys.staged)
			complete()
			if got := h.restartWithStep2Settings(t); got != sealed {
				t.Fatalf("a start with step 2's settings took the head at seq %d (%s); the sealed one is seq %d", got.Seq, got.Hash, sealed.Seq)
			}
		})
	}
}

// A second rotation: the keyset retires the first key at seq 4, the
// second signs from seq 5 on, and a third key is staged before the
// switch. A thief of the first key (retired, so perhaps not destroyed
// with care) writes a note of a hand-over to the staged key at seq 2,
// where the chain has no checkpoint, with a checkpoint of seq 2 of its
// own over an object ending in a KEY entry to that key. The note checked
// out (the first key signs seq 2 in the keyset), and following it failed
// (the keyset retires that key at 4): the sealer refused to start, and
// every restart after, where before the note it started. A hand-over is
// only ever from the keyset's last key, open.
func TestANoteOfAHandOverFromARetiredKeyCountsForNothing(t *testing.T) {
	h := handedOver(t)
	sealed := h.sealMore(t, records(4, 6, h.at.Add(2*time.Second)))
	thirdS, thirdV, err := note.GenerateKey(rand.Reader, "aegis-unit-3")
	if err != nil {
		t.Fatal(err)
	}
	third, _ := shared.ParseVerifierKey(thirdV)
	cfg := h.cfg
	cfg.SignerKey, cfg.NextSignerKey, cfg.VerifierKey = h.cfg.NextSignerKey, thirdS, h.s.keys.keyset().String()

	h.store.Later(time.Hour)
	h.forgeHandOver(t, 2, third)
	thirdSigner, err := shared.NewSigner(thirdS)
	if err != nil {
		t.Fatal(err)
	}
	thirdNote, err := HandOverNoteKey("audit", "unit", thirdSigner)
	if err != nil {
		t.Fatal(err)
	}
	h.store.PutVersion("audit", thirdNote, thiefsNote(2, third))

	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.recoverHead(context.Background()); err != nil {
		t.Fatalf("a sealer of the second key with a third staged does not start: %v", err)
	}
	if got := s.Head(); got != sealed {
		t.Fatalf("head at seq %d, want %d", got.Seq, sealed.Seq)
	}
}

// A bucket writer who knows the staged key (no secret before the switch)
// writes versions at the note's key before the hand-over: as many small
// ones as a start reads. The sealer's note came after them and was never
// read, so a start with step 2's settings was as if there were no note,
// and took the checkpoint a thief of the retired key signed past the head.
func TestVersionsWrittenBeforeTheNoteDoNotHideIt(t *testing.T) {
	for _, tc := range []struct {
		name string
		body func(staged shared.VerifierKey, i int) []byte
	}{
		{"junk", func(shared.VerifierKey, int) []byte { return []byte("junk") }},
		{"notes naming the genesis checkpoint", func(staged shared.VerifierKey, _ int) []byte { return thiefsNote(0, staged) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := handedOver(t, func(h handOver) {
				key := h.noteKey(t)
				for i := range maxNoteVersions {
					h.store.PutVersion("audit", key, tc.body(*h.s.keys.staged, i))
				}
			})
			sealed := h.sealMore(t, records(4, 6, h.at.Add(2*time.Second)))
			h.store.Later(time.Hour)
			h.forgeRetired(t, 40)
			if got := h.restartWithStep2Settings(t); got != sealed {
				t.Fatalf("a start with step 2's settings took the head at seq %d; the sealed one is seq %d", got.Seq, sealed.Seq)
			}
		})
	}
}

// slowNotes is a bucket whose reads of the hand-over notes take delay
// each (or until the call's time is up).
type slowNotes struct {
	archive.S3API
	delay time.Duration
}

func (s *slowNotes) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if strings.Contains(aws.ToString(in.Key), "/handovers/") {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.S3API.GetObject(ctx, in, opts...)
}

// The sealer that hands over writes the note after the checkpoint, in
// the checkpoint stage; when the key is taken it reads the versions there,
// all in one S3 call's time. A bucket writer who knows the staged key
// wrote enough versions there before the hand-over that reading them took
// longer than a call may (on S3, 32 objects of 64 MiB each): the read was
// retried for ever and the chain stopped at the hand-over, where the note
// is meant never to stop it. The note gets a bounded time, and a start
// reads at most maxNoteVersions of the versions to find its own.
func TestVersionsAtTheNotesKeyDoNotStallTheHandOver(t *testing.T) {
	done := make(chan shared.Head, 1)
	go func() {
		h := handedOver(t, func(h handOver) {
			key := h.noteKey(t)
			for range 2 * maxNoteVersions {
				h.store.PutVersion("audit", key, []byte("junk"))
			}
			h.s.store.S3 = &slowNotes{S3API: h.store, delay: 20 * time.Millisecond}
			h.s.cfg.CallTimeout = 200 * time.Millisecond
		})
		done <- h.s.Head()
	}()
	select {
	case head := <-done:
		if head.Seq != 4 {
			t.Fatalf("head at seq %d, want the hand-over's, 4", head.Seq)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the hand-over's checkpoint stage did not return: the note's write stalled the chain")
	}
}

// slowListing is a bucket whose listings of the versions of keys holding
// match take delay a page (or until the call's time is up).
type slowListing struct {
	archive.S3API
	match string
	delay time.Duration
}

func (s *slowListing) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opts ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	if strings.Contains(aws.ToString(in.Prefix), s.match) {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.S3API.ListObjectVersions(ctx, in, opts...)
}

// A start holding the staged key lists the versions at the note's key,
// before any checkpoint, at every start (the staged key is no secret:
// its .pub is handed around before the switch), and those of the
// checkpoint the note names. A bucket writer puts delete markers there,
// free on S3 and as many as they like: the listing pages through every
// one, and the whole listing was one S3 call, given one call's time
// (Config.CallTimeout) and retried for ever when that ran out. Every
// start with step 2's settings stalled, the standby's takeover too, and
// the chain stopped at step 2 of the procedure. Each page is a call of
// its own: the start reads the markers, finds the sealer's note and
// checkpoint under them and follows the hand-over.
func TestMarkersAtTheNotesKeyDoNotStallAStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  func(h handOver) string
	}{
		{"at the note's key", func(h handOver) string { return h.noteKey(t) }},
		{"at the key of the checkpoint it names", func(handOver) string { return shared.CheckpointKey("audit", "unit", 4) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := handedOver(t)
			sealed := h.sealMore(t, records(4, 6, h.at.Add(2*time.Second)))
			key := tc.key(h)
			for range 5000 {
				h.store.Delete("audit", key)
			}
			h.store.Later(time.Hour)
			h.forgeRetired(t, 40)
			s, err := startUnderSlowListing(t, h.cfg, h.store, key)
			if err != nil {
				t.Fatalf("a start with step 2's settings under 5,000 delete markers %s: %v", tc.name, err)
			}
			if got := s.Head(); got != sealed {
				t.Fatalf("head at seq %d, want %d", got.Seq, sealed.Seq)
			}
		})
	}
}

// A sealer still holding only the retired key (restarted with the
// settings from before step 2: no key staged, the retired key's .pub as
// its keyset) is documented to refuse to start, checkpoint key not held,
// after the hand-over. It reads no note, and trusts the retired key for
// every seq: a thief of that key with write access to the bucket puts a
// checkpoint of it past the head, and that sealer took the forgery as its
// head and signed on from it with the retired key.
func TestASealerHoldingOnlyTheRetiredKeyRefusesAForgeryPastTheHandOver(t *testing.T) {
	s, err := handedOver(t).startRetiredAlonePastAForgery(t)
	if !errors.Is(err, ErrKeyNotHeld) {
		t.Fatalf("a sealer holding only the retired key started at seq %d (err %v); want %v", s.Head().Seq, err, ErrKeyNotHeld)
	}
}

// forgedKeyLine is the line of the KEY entry forgeHandOver puts at seq:
// a bucket writer can compute it before any checkpoint of seq exists.
func (h handOver) forgedKeyLine(t *testing.T, seq uint64, next shared.VerifierKey) []byte {
	t.Helper()
	at := h.at.Add(time.Hour)
	e, err := shared.SealRecord(shared.Head{Chain: "unit", Seq: seq - 1, Offset: 99}, shared.Source{Topic: "decisions", Offset: 100, Timestamp: at},
		shared.KeyChangeRequest("unit", next), at)
	if err != nil {
		t.Fatal(err)
	}
	line, err := e.Line()
	if err != nil {
		t.Fatal(err)
	}
	return append(line, '\n')
}

// The copy of the hand-over's KEY entry, at a key named after the
// retiring key, guards a start that finds no note too (one with step 2's
// settings where the note is gone), and counts only where the sealer's
// checkpoint of its seq signs it and was stored first: a bucket writer
// can compute the line of a hand-over at a seq past any head before the
// hand-over and put it first, and a thief of the retired key sign a
// checkpoint of it later; junk there costs a start nothing more.
func TestTheCopyOfTheKeyEntry(t *testing.T) {
	for _, tc := range []struct {
		name   string
		staged bool
	}{
		{"step 2's settings, no note", true},
		{"the retired key alone", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var copyAt string
			h := handedOver(t, func(h handOver) {
				copyAt = copyKey(t, h.s)
				h.store.PutVersion("audit", copyAt, []byte("junk"))
				h.store.PutVersion("audit", copyAt, h.forgedKeyLine(t, 40, *h.s.keys.staged))
			})
			if n := len(h.store.Versions("audit", copyAt)); n != 3 {
				t.Fatalf("%d versions at %s, want the 2 put before and the sealer's", n, copyAt)
			}
			sealed := h.sealMore(t, records(4, 6, h.at.Add(2*time.Second)))
			h.store.Remove("audit", h.noteKey(t))
			h.store.Later(time.Hour)
			h.forgeHandOver(t, 40, *h.s.keys.staged)
			h.startPastAForgery(t, tc.staged, h.store, sealed)
		})
	}
}

// A sealer of a chain that never handed over, with junk and lines of KEY
// entries no checkpoint signs at the copy's key (at a seq with no
// checkpoint, and at the head's), starts as before.
func TestACopyOfAKeyEntryNoCheckpointSignsCountsForNothing(t *testing.T) {
	h, next := beforeAHandOver(t)
	s, store, at := h.s, h.store, h.at
	cfg := h.cfg
	cfg.NextSignerKey = "" // the chain's sealers know of no new key
	sealed := h.sealMore(t, records(0, 4, at))
	key := copyKey(t, s)
	store.PutVersion("audit", key, []byte("junk"))
	store.PutVersion("audit", key, h.forgedKeyLine(t, 40, next))
	store.PutVersion("audit", key, h.forgedKeyLine(t, sealed.Seq, next)) // a seq whose checkpoint signs another hash
	restarted, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.recoverHead(context.Background()); err != nil || restarted.Head() != sealed {
		t.Fatalf("head at seq %d (err %v), want %d", restarted.Head().Seq, err, sealed.Seq)
	}
}

// A start that follows the note leaves the copy of the KEY entry where
// the sealer that handed over could not write it, so that a sealer
// holding the retired key alone refuses to start after it.
func TestAStartThatFollowsTheNoteLeavesTheCopy(t *testing.T) {
	h := handedOver(t)
	h.sealMore(t, records(4, 6, h.at.Add(2*time.Second)))
	key := copyKey(t, h.s)
	h.store.Remove("audit", key)
	h.restartWithStep2Settings(t)
	if n := len(h.store.Versions("audit", key)); n != 1 {
		t.Fatalf("%d versions of the copy after the start, want 1", n)
	}
	h.restartWithStep2Settings(t)
	if n := len(h.store.Versions("audit", key)); n != 1 {
		t.Fatalf("%d versions of the copy after a second start, want the 1 there was", n)
	}
}

// The ids of the keys a hand-over's note and copy are named after are no
// secret (a staged key's .pub is handed around before the switch, a
// retiring key's id is in the chain). A bucket writer put versions at
// those names before the hand-over: every start read each of them, a GET
// each, oldest first, up to archive.MaxOlderVersions (on S3 minutes of a
// start or a standby's takeover), and more than that hid the sealer's
// note. The names now carry a tag that only a holder of the key computes.
func TestVersionsAtAHandOversPublicNamesCostAStartNothing(t *testing.T) {
	const junk = 500
	h := handedOver(t, func(h handOver) {
		for _, key := range []string{
			fmt.Sprintf("audit/handovers/chain=unit/%s.note", h.s.keys.staged.ID()),
			fmt.Sprintf("audit/handovers/chain=unit/from/%s.line", h.s.keys.keyset().First().ID()),
		} {
			for range junk {
				h.store.PutVersion("audit", key, []byte("junk\n"))
			}
		}
	})
	sealed := h.sealMore(t, records(4, 6, h.at.Add(2*time.Second)))
	h.store.Later(time.Hour)
	h.forgeRetired(t, 40)
	for _, tc := range []struct {
		name   string
		staged bool
	}{{"step 2's settings", true}, {"the retired key alone", false}} {
		t.Run(tc.name, func(t *testing.T) {
			counted := &countingS3{S3API: h.store}
			h.startPastAForgery(t, tc.staged, counted, sealed)
			if n := counted.gets.Load(); n > 20 {
				t.Fatalf("the start made %d GETs with %d versions at each public name", n, junk)
			}
		})
	}
}

// A thief of the key that hands over, stolen while it was current, can
// name the copy of its KEY entry and put more versions there before the
// hand-over than a start reads (the oldest archive.MaxOlderVersions): the
// sealer's copy was then never read, and a sealer holding that key alone
// took the thief's checkpoint past the head. Only a holder of the key can
// name the copy, so such a start now refuses.
func TestMoreVersionsBeforeTheCopyThanAStartReadsStopIt(t *testing.T) {
	h := handedOver(t, func(h handOver) {
		key := copyKey(t, h.s)
		for range archive.MaxOlderVersions + 1 {
			h.store.PutVersion("audit", key, []byte("junk\n"))
		}
	})
	s, err := h.startRetiredAlonePastAForgery(t)
	if !errors.Is(err, ErrCopyHidden) || !permanent(err) {
		t.Fatalf("a sealer holding only the retired key started at seq %d with the copy hidden (err %v); want %v, which stops it", s.Head().Seq, err, ErrCopyHidden)
	}
}
