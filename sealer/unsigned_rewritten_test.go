package sealer

import (
	"context"
	"testing"

	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
)

// A sealer killed between writing a batch object and its checkpoint
// leaves the object unsigned; the next one (a restart, a standby taking
// over) seals the same records again, finds the key taken and adopts the
// object, its own. A bucket writer who puts a delete marker or a version
// of their own over that object before the next one starts (it is there
// to see, with no checkpoint, until then) made it read the current
// version only: on their version it stopped for good on ErrChainForked,
// on a marker it stopped at every session ("not found"), where the
// sealed version underneath is what it would seal itself.
func TestAnUnsignedObjectWrittenOverIsStillAdopted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cover func(store *s3mem.S3, key string)
	}{
		{"a delete marker", func(store *s3mem.S3, key string) { store.Delete("audit", key) }},
		{"a version of someone else's", func(store *s3mem.S3, key string) {
			store.PutVersion("audit", key, []byte("not a batch\n"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, store, clock := unitSealer(t)
			recs := records(0, 4, clock.t)
			prepared, err := s.prepare(recs)
			if err != nil {
				t.Fatal(err)
			}
			// Killed after the object, before its checkpoint.
			_, tasks, err := s.write(context.Background(), recs, prepared)
			if err != nil || len(tasks) != 1 {
				t.Fatalf("write: %d objects, %v", len(tasks), err)
			}
			tc.cover(store, tasks[0].key)
			clock.advance(3) // the next sealer seals a moment later
			s2, refs, tasks2 := sealAgainAfterAKill(t, s.cfg, recs, prepared)
			if len(refs) != 4 || tasks2[0].key != tasks[0].key || s2.Head().Seq != 4 {
				t.Fatalf("%d entries in %s, head %d: want the 4 of %s adopted", len(refs), tasks2[0].key, s2.Head().Seq, tasks[0].key)
			}
			e, _ := shared.ParseLine(refs[0].rec.Entry)
			if e.Seq != 1 {
				t.Fatalf("first entry seq %d", e.Seq)
			}
		})
	}
}
