package shared

import (
	"runtime"
	"testing"
)

// The sealer reads the objects at its own keys leniently (lines of older
// versions, which had no metadata limit), and the indexer the sealed
// topic's records: someone who can write the bucket (or that topic)
// plants a huge line there. Read leniently without a bound, a 4 MiB line
// of tiny values cost 0.24 to 1.2 GB (a 64 MiB object: about 16 GB); the
// lenient reader now stops at maxLenientLineValues, so what it costs does
// not grow with the line beyond the line's own copies.
func TestParseLineLenientOfAHugeLineAllocatesLittle(t *testing.T) {
	for _, size := range []int{4 << 20, 16 << 20} {
		for name, l := range hugeLines(size) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := ParseLineLenient(l)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("%s: a line of %d bytes was read as an entry", name, len(l))
			}
			got, limit := after.TotalAlloc-before.TotalAlloc, uint64(2*len(l)+120<<20)
			if got > limit {
				t.Errorf("%s: ParseLineLenient allocated %d bytes for a %d-byte line (limit %d)", name, got, len(l), limit)
			} else {
				t.Logf("%s: ParseLineLenient allocated %d bytes for a %d-byte line: %v", name, got, len(l), err)
			}
		}
	}
}
