package shared

import (
	"runtime"
	"testing"
)

// A hostile record on the decisions topic (anyone allowed to produce
// there can send one, up to the broker's largest message) is sealed as
// INVALID for about its size. The strict parser once kept 96 bytes and
// more for every value of a record before the schema looked at any: a
// 1 MiB record of "0," cost about 250 MB, so a few in one poll, prepared
// at once on every core, could take the sealer down, and it would read
// the same records again after its restart. No event holds more values
// than its sealed line, so reading stops at the line's bound.
func TestPrepareRecordOfAHugeRecordAllocatesLittle(t *testing.T) {
	const size = 1 << 20
	for name, raw := range hugeLines(size) {
		for _, complete := range []bool{false, true} {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var refused bool
			if complete { // the ingest service's path for a body
				_, _, err := CompleteRecord(raw, Defaults{Type: TypeDecision, EventID: "e", OccurredAt: vecTime})
				refused = err != nil
			} else {
				e, err := PrepareRecord("prod", Source{Topic: "t", Timestamp: vecTime}, raw)
				if err != nil {
					t.Fatal(err)
				}
				refused = e.Type == EntryInvalid
			}
			runtime.ReadMemStats(&after)
			if !refused {
				t.Fatalf("%s (complete %v): a record of %d bytes was not refused", name, complete, len(raw))
			}
			got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*len(raw)+12<<20)
			if got > limit {
				t.Errorf("%s (complete %v): %d bytes allocated for a %d-byte record (limit %d)", name, complete, got, len(raw), limit)
			} else {
				t.Logf("%s (complete %v): %d bytes allocated for a %d-byte record", name, complete, got, len(raw))
			}
		}
	}
}
