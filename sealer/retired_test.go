package sealer

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
)

// A thief of the retired key, with write access to the bucket, writes a
// new version over the object that ends in the KEY entry (the newest
// object right after a hand-over, until the new key signs one) with an
// earlier decision changed, and a new version of its checkpoint, signed
// by the retired key for its own seq. Before, a sealer starting then read
// the current versions, trusted the retired key's signature, and went on
// from the forged head: the new key signed a chain that links to the
// forgery, and the sealed history no verifier could go past. A retired
// key's checkpoint counts only in the first version of its key (the
// sealer's), so the start takes the sealed head.
func TestStartPassesOverARetiredKeysCheckpointWrittenOverTheHandOver(t *testing.T) {
	h := handedOver(t)
	s, cfg, store, at, recs, oldS, sealed := h.s, h.cfg, h.store, h.at, h.recs, h.oldS, h.s.Head()
	if sealed.Seq != 4 || !strings.Contains(s.keys.keyset().IDs(), "aegis-unit-2") {
		t.Fatalf("head %+v, keyset %s: want the KEY entry at seq 4 and the new key trusted after it", sealed, s.keys.keyset().IDs())
	}

	// The forgery: d0 BLOCK, the rest as sealed, linked from the genesis.
	key := shared.BatchKey("audit", &shared.Entry{Type: shared.EntryEvent, Chain: "unit", Seq: 1, Source: &shared.Source{Timestamp: at}})
	orig, _, err := shared.ParseObject(key, 1, store.Objects("audit")[key])
	if err != nil {
		t.Fatal(err)
	}
	head := shared.Head{Chain: "unit", Hash: orig[0].Prev, Offset: -1}
	var entries []*shared.Entry
	var body []byte
	for i, r := range recs {
		raw := r.Value
		if i == 0 {
			raw = []byte(strings.Replace(string(raw), `"ALLOW"`, `"BLOCK"`, 1))
		}
		e, err := shared.SealRecord(head, shared.Source{Topic: "decisions", Offset: r.Offset, Timestamp: r.Timestamp}, raw, at)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := e.Line()
		body = append(append(body, l...), '\n')
		entries = append(entries, e)
		head = head.Next(e)
	}
	retired, err := shared.NewSigner(oldS)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := shared.Checkpoint{Chain: "unit", Seq: head.Seq, Hash: head.Hash, Offset: head.Offset, Object: key,
		Root: shared.ObjectRoot(entries), Time: at.Add(time.Hour)}.Sign(retired)
	if err != nil {
		t.Fatal(err)
	}
	store.PutVersion("audit", key, body)
	store.PutVersion("audit", shared.CheckpointKey("audit", "unit", head.Seq), msg)

	s.setHead(shared.Head{})
	if _, err := s.recoverHead(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.Head(); got != sealed {
		t.Fatalf("the start took the head %s at seq %d; the sealed one is %s (the forgery's is %s)", got.Hash, got.Seq, sealed.Hash, head.Hash)
	}

	// A sealer started with step 2's settings (the retired key's .pub as
	// the keyset) trusts the retired key for every seq until it reads the
	// hand-over, in the object the forged checkpoint names: once it
	// follows it, the checkpoint is read again with the key retired.
	restarted, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.recoverHead(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := restarted.Head(); got != sealed {
		t.Fatalf("a start with step 2's settings took the head %s at seq %d; the sealed one is %s (the forgery's is %s)", got.Hash, got.Seq, sealed.Hash, head.Hash)
	}
}

// handOver is a sealer of chain "unit" that sealed the genesis, three
// decisions and the KEY entry (seq 4) handing over from its key (oldS) to
// the one it had staged, in its in-memory bucket, at the time at; cfg
// starts another like it.
type handOver struct {
	s     *Sealer
	cfg   Config
	store *s3mem.S3
	at    time.Time
	recs  []*kgo.Record
	oldS  string
}

// beforeAHandOver is a sealer on an in-memory S3 with its genesis
// written, its key "aegis-unit", and next, the public key of the key it
// holds staged ("aegis-unit-2").
func beforeAHandOver(t *testing.T) (handOver, shared.VerifierKey) {
	t.Helper()
	oldS, oldV, err := note.GenerateKey(rand.Reader, "aegis-unit")
	if err != nil {
		t.Fatal(err)
	}
	nextS, nextV, err := note.GenerateKey(rand.Reader, "aegis-unit-2")
	if err != nil {
		t.Fatal(err)
	}
	next, _ := shared.ParseVerifierKey(nextV)
	store := s3mem.New("audit")
	// The sealer's clock is S3's (s3mem dates versions by the wall
	// clock), as on a sealer whose clock is synced: the retirement's date
	// rule (FORMAT.md 7.4) reads both.
	at := time.Now().UTC().Truncate(time.Second)
	cfg := Config{Brokers: []string{"unused:9092"}, Chain: "unit", S3: store, Bucket: "audit",
		SignerKey: oldS, NextSignerKey: nextS, VerifierKey: oldV, Now: func() time.Time { return at }, Topic: "decisions"}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.genesis(context.Background()); err != nil {
		t.Fatal(err)
	}
	return handOver{s: s, cfg: cfg, store: store, at: at, oldS: oldS}, next
}

// handedOver seals a handOver. Each of before runs once the genesis is
// sealed, before the records are: what a bucket writer does before the
// hand-over.
func handedOver(t *testing.T, before ...func(handOver)) handOver {
	t.Helper()
	h, next := beforeAHandOver(t)
	s, cfg, store, at, oldS := h.s, h.cfg, h.store, h.at, h.oldS
	for _, f := range before {
		f(handOver{s: s, cfg: cfg, store: store, at: at, oldS: oldS})
	}
	recs := append(records(0, 3, at), &kgo.Record{Topic: "decisions", Offset: 3, Timestamp: at.Add(time.Second),
		Value: shared.KeyChangeRequest("unit", next)})
	st := s.startStage(context.Background())
	st.jobs <- sealJob{records: recs, upTo: 3}
	if r := <-st.results; r.err != nil {
		t.Fatal(r.err)
	}
	st.stop()
	return handOver{s: s, cfg: cfg, store: store, at: at, recs: recs, oldS: oldS}
}
