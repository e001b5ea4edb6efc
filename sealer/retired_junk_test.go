package sealer

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
)

// A chain idle since a hand-over, with files that do not verify at the
// checkpoint keys after it (anyone with write access to the bucket can
// put them), restarts from the hand-over's checkpoint: the search for the
// next key's checkpoint that dates the retirement passes over any number
// of them. One that gave up after 64 and took the retirement as unknown
// refused the hand-over's checkpoint, and the sealer could not start.
func TestStartAfterAHandOverPassesOverFilesAtLaterCheckpointKeys(t *testing.T) {
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
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	cfg := Config{Brokers: []string{"unused:9092"}, Chain: "unit", S3: store, Bucket: "audit",
		SignerKey: oldS, NextSignerKey: nextS, VerifierKey: oldV, Now: func() time.Time { return at }, Topic: "decisions"}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.genesis(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := append(records(0, 3, at), &kgo.Record{Topic: "decisions", Offset: 3, Timestamp: at.Add(time.Second),
		Value: shared.KeyChangeRequest("unit", next)})
	st := s.startStage(context.Background())
	st.jobs <- sealJob{records: recs, upTo: 3}
	if r := <-st.results; r.err != nil {
		t.Fatal(r.err)
	}
	st.stop()
	sealed := s.Head()
	for seq := uint64(5); seq < 80; seq++ {
		store.PutVersion("audit", shared.CheckpointKey("audit", "unit", seq), []byte("junk"))
	}
	restarted, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.recoverHead(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := restarted.Head(); got != sealed {
		t.Fatalf("restarted at %+v, want the hand-over %+v", got, sealed)
	}
}
