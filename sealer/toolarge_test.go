package sealer

import (
	"bytes"
	"context"
	"testing"

	"github.com/aegisai/audit/shared"
)

// An object over the size limit is refused unread (archive.ErrTooLarge).
// A bucket writer who puts such a version over the newest checkpoint
// (locked for as long as they like, so nobody can remove it), or such a
// file at a checkpoint key past the head, made every start and takeover
// fail on it and start over, for good, where a version that S3 will not
// give, or a file that does not verify, is passed over.
func TestAnOversizedFileAtACheckpointKeyIsPassedOver(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   func(head uint64) uint64
	}{
		{"a version over the newest checkpoint", func(head uint64) uint64 { return head }},
		{"a file past the head", func(head uint64) uint64 { return head + 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, store, _ := sealed3(t)
			want := s.Head()
			const limit = 4 << 10 // the limit, small for the test (64 MiB in use)
			store.PutVersion("audit", shared.CheckpointKey("audit", "unit", tc.at(want.Seq)), bytes.Repeat([]byte("x"), limit+1))
			s2, err := New(context.Background(), s.cfg)
			if err != nil {
				t.Fatal(err)
			}
			s2.store.MaxObjectBytes = limit
			if _, err := s2.recoverHead(context.Background()); err != nil || s2.Head() != want {
				t.Fatalf("head at seq %d (err %v), want %d", s2.Head().Seq, err, want.Seq)
			}
		})
	}
}
