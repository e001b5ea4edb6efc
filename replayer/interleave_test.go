package replayer

import (
	"strings"
	"testing"

	"github.com/aegisai/audit/archive"
)

// Each checkpoint comes right after the object that holds its seq (by the
// keys' first seqs); checkpoints past the last object's first seq come
// after it, and so do those no object can hold.
func TestInterleavePlacesEachCheckpointAfterItsObject(t *testing.T) {
	batches := []archive.BatchRef{{Key: "g", FirstSeq: 0}, {Key: "b1", FirstSeq: 1}, {Key: "b4", FirstSeq: 4}, {Key: "b9", FirstSeq: 9}}
	cps := []string{"c0", "c3", "c5", "c8", "c12", "c99"}
	seqs := []uint64{0, 3, 5, 8, 12, 99}
	var got []string
	for _, it := range interleave(batches, cps, seqs) {
		if it.checkpoint != "" {
			got = append(got, it.checkpoint)
		} else {
			got = append(got, it.batch.Key)
		}
	}
	if want := "g c0 b1 c3 b4 c5 c8 b9 c12 c99"; strings.Join(got, " ") != want {
		t.Fatalf("order %v, want %s", got, want)
	}
	if n := len(interleave(nil, cps, seqs)); n != len(cps) {
		t.Fatalf("with no objects, %d items for %d checkpoints", n, len(cps))
	}
}
