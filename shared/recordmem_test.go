package shared

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// A hostile record on the decisions topic (anyone allowed to produce
// there can send one, up to the broker's largest message) is sealed as
// INVALID for about its size. The strict parser once kept 96 bytes and
// more for every value of a record before the schema looked at any: a
// 1 MiB record of "0," cost about 250 MB, so a few in one poll, prepared
// at once on every core, could take the sealer down, and it would read
// the same records again after its restart. No event holds more values
// than its sealed line, so reading stops at the line's bound: what is left
// is a few copies of the record and a bound that does not grow with it.
func TestPrepareRecordOfAHugeRecordAllocatesLittle(t *testing.T) {
	for _, size := range []int{1 << 20, 4 << 20} {
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
				got, limit := after.TotalAlloc-before.TotalAlloc, uint64(3*len(raw)+40<<20)
				if got > limit {
					t.Errorf("%s (complete %v): %d bytes allocated for a %d-byte record (limit %d)", name, complete, got, len(raw), limit)
				} else {
					t.Logf("%s (complete %v): %d bytes allocated for a %d-byte record", name, complete, got, len(raw))
				}
			}
		}
	}
}

// manyMembersRecord is an object of n members named by 8-digit numbers in
// descending order (not canonical: the strict parser reads it all), with
// the member named dup added last when dup is not empty.
func manyMembersRecord(n int, dup string) []byte {
	b := []byte("{")
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(strconv.AppendInt(append(b, '"'), int64(99_999_999-i), 10), `":0`...)
	}
	if dup != "" {
		b = append(append(append(b, `,"`...), dup...), `":1`...)
	}
	return append(b, '}')
}

// A long object's names are kept in a set to find a duplicate (comparing
// each with all before was quadratic: 3.6 s of CPU for a 1 MiB record of
// sorted members through CompleteRecord); a duplicate is still found
// wherever it is, before and past the set's threshold.
func TestDuplicateMembersOfLongObjectsAreFound(t *testing.T) {
	for _, n := range []int{2, manyMembers - 1, manyMembers, manyMembers + 1, 5000} {
		for _, dup := range []string{"99999999", strconv.Itoa(99_999_999 - n/2), strconv.Itoa(99_999_999 - (n - 1))} {
			_, err := parseJSON(manyMembersRecord(n, dup), parseOptions{maxDepth: MaxDepth})
			if err == nil || !strings.Contains(err.Error(), "duplicate member name") {
				t.Errorf("%d members and a second %q: %v", n, dup, err)
			}
		}
		if _, err := parseJSON(manyMembersRecord(n, ""), parseOptions{maxDepth: MaxDepth}); err != nil {
			t.Errorf("%d distinct members: %v", n, err)
		}
	}
}

// BenchmarkStrictParseManyMembers is the strict parser on a record of
// 16,000 members out of order (about 200 KB), what a producer can send
// the sealer (`go test -run XXX -bench StrictParseManyMembers ./shared`).
func BenchmarkStrictParseManyMembers(b *testing.B) {
	raw := manyMembersRecord(16_000, "")
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if e, err := PrepareRecord("prod", Source{Topic: "t", Timestamp: vecTime}, raw); err != nil || e.Type != EntryInvalid {
			b.Fatal(err)
		}
	}
}
