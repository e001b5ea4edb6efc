package replayer_test

import (
	"crypto/rand"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
)

// memSigner is a new signing key named name and its verifier key.
func memSigner(t testing.TB, name string) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := shared.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return signer, vkey
}

// memBuilder seals chain "mem" into an in-memory bucket "audit", object
// by object, each with its checkpoint, as the sealer would.
type memBuilder struct {
	t     testing.TB
	store *s3mem.S3
	head  shared.Head
	n     int // the Kafka offset of the next record
	// signedAt is each checkpoint's signed time.
	signedAt func() time.Time
}

// newMemBuilder writes the genesis (naming the key vkey, signed by signer)
// and its checkpoint at start.
func newMemBuilder(t testing.TB, signer note.Signer, vkey string, start time.Time, signedAt func() time.Time) *memBuilder {
	t.Helper()
	b := &memBuilder{t: t, store: s3mem.New("audit"), signedAt: signedAt}
	g, err := shared.NewGenesis("mem", start, signer.Name(), vkey)
	if err != nil {
		t.Fatal(err)
	}
	gl, _ := g.Line()
	b.store.PutVersion("audit", shared.GenesisKey("audit", "mem"), append(gl, '\n'))
	b.sign(signer, []*shared.Entry{g}, -1, shared.GenesisKey("audit", "mem"))
	b.head = shared.Head{Chain: "mem", Hash: g.Hash, Offset: -1}
	return b
}

// object seals raws (record i at Kafka time ts(i)) as the next object
// and its checkpoint, signed by signer, and returns its entries and key.
func (b *memBuilder) object(signer note.Signer, raws [][]byte, ts func(i int) time.Time) ([]*shared.Entry, string) {
	b.t.Helper()
	var entries []*shared.Entry
	var body []byte
	for i, raw := range raws {
		at := ts(i)
		e, err := shared.SealRecord(b.head, shared.Source{Topic: "decisions", Offset: int64(b.n), Timestamp: at}, raw, at)
		if err != nil {
			b.t.Fatal(err)
		}
		l, _ := e.Line()
		body = append(append(body, l...), '\n')
		entries = append(entries, e)
		b.head = b.head.Next(e)
		b.n++
	}
	key := shared.BatchKey("audit", entries[0])
	b.store.PutVersion("audit", key, body)
	b.sign(signer, entries, b.head.Offset, key)
	return entries, key
}

func (b *memBuilder) sign(signer note.Signer, entries []*shared.Entry, offset int64, key string) {
	b.t.Helper()
	last := entries[len(entries)-1]
	msg, err := shared.Checkpoint{Chain: "mem", Seq: last.Seq, Hash: last.Hash, Offset: offset, Object: key, Root: shared.ObjectRoot(entries),
		Time: b.signedAt()}.Sign(signer)
	if err != nil {
		b.t.Fatal(err)
	}
	b.store.PutVersion("audit", shared.CheckpointKey("audit", "mem", last.Seq), msg)
}

// now is the signed time of a checkpoint signed when it is written.
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }
