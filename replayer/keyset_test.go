package replayer

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/aegisai/audit/indexer"
)

func itemKey(i int) indexer.ItemKey {
	return indexer.ItemKey{PK: fmt.Sprintf("DEC#prod-dec-%08d", i), SK: fmt.Sprintf("D#2026-11-29T11:02:54.238Z#prod-evt-%08d", i)}
}

// TestKeySetHoldsWhatWasAdded: every key added is found, and keys that
// differ only in where PK ends and SK starts, or in one byte, are not.
func TestKeySetHoldsWhatWasAdded(t *testing.T) {
	s := newKeySet()
	for i := range 100_000 {
		s.add(itemKey(2 * i))
	}
	for i := range 100_000 {
		if !s.has(itemKey(2 * i)) {
			t.Fatalf("key %d added, not found", 2*i)
		}
		if s.has(itemKey(2*i + 1)) {
			t.Fatalf("key %d found, never added", 2*i+1)
		}
	}
	s.add(indexer.ItemKey{PK: "ab", SK: "c"})
	if s.has(indexer.ItemKey{PK: "a", SK: "bc"}) || s.has(indexer.ItemKey{PK: "abc"}) {
		t.Fatal("a key found under another split of the same bytes")
	}
}

// BenchmarkKeySet reports the heap each remembered key costs index check,
// as the item keys themselves (the map it used before) and as keySet.
func BenchmarkKeySet(b *testing.B) {
	const n = 200_000
	keys := make([]indexer.ItemKey, n)
	for i := range keys {
		keys[i] = itemKey(i)
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	b.Run("keys", func(b *testing.B) {
		for b.Loop() {
			before := heap()
			m := map[indexer.ItemKey]bool{}
			for _, k := range keys {
				// A copy, as each key is made anew from its entry.
				m[indexer.ItemKey{PK: string([]byte(k.PK)), SK: string([]byte(k.SK))}] = true
			}
			b.ReportMetric(float64(heap()-before)/n, "B/key")
			runtime.KeepAlive(m)
		}
	})
	b.Run("keySet", func(b *testing.B) {
		for b.Loop() {
			before := heap()
			s := newKeySet()
			for _, k := range keys {
				s.add(k)
			}
			b.ReportMetric(float64(heap()-before)/n, "B/key")
			runtime.KeepAlive(s)
		}
	})
}
