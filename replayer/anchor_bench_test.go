package replayer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// BenchmarkDiscoverOneDayOnACopy is what the anchoring costs a reader of
// one day on a copy of a bucket made after a key hand-over (in memory, so
// the verifier's CPU alone): a chain of 100 objects of 1,000 entries, ten a
// day, handed over at its 51st object; one day of the retired range
// discovered from the sealer's bucket and from a copy, where the chain is
// verified first up to the new key's first checkpoint (about 52,000
// entries). `go test -run XXX -bench DiscoverOneDayOnACopy ./replayer`.
func BenchmarkDiscoverOneDayOnACopy(b *testing.B) {
	s1, v1 := memSigner(b, "aegis-mem")
	s2, v2 := memSigner(b, "aegis-mem-2")
	next, err := shared.ParseVerifierKey(v2)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	mb := newMemBuilder(b, s1, v1, start, now)
	const objects, per = 100, 1000
	var handOver uint64
	for o := range objects {
		raws := make([][]byte, per)
		for i := range raws {
			raws[i] = []byte(decisionRecord(mb.n+i, 0, 0, "2026-11-01T08:00:00Z"))
		}
		signer := s1
		if o == objects/2 {
			raws[per-1] = shared.KeyChangeRequest("mem", next)
		}
		if o > objects/2 {
			signer = s2
		}
		es, _ := mb.object(signer, raws, func(i int) time.Time { return start.AddDate(0, 0, o/10).Add(time.Duration(i) * time.Millisecond) })
		if o == objects/2 {
			handOver = es[len(es)-1].Seq
		}
	}
	keyset := fmt.Sprintf("%s 0 %d\n%s %d -\n", v1, handOver, v2, handOver+1)
	copied := copyOfBucket(b, mb.store, 2*archive.RetiredClockSkew, nil, "")
	day := start.AddDate(0, 0, 1)
	for _, bc := range []struct {
		name  string
		store *s3mem.S3
	}{{"sealers-bucket", mb.store}, {"copy", copied}} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				seqs, err := discoverDay(bc.store, keyset, day, replayer.DiscoverConfig{})
				if err != nil || len(seqs) != 10*per {
					b.Fatalf("discover of one day: %v, %d entries", err, len(seqs))
				}
			}
		})
	}
}
