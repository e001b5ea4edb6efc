package replayer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/aegisai/audit/indexer"
)

func itemKey(i int) indexer.ItemKey {
	return indexer.ItemKey{PK: fmt.Sprintf("DEC#prod-dec-%08d", i), SK: fmt.Sprintf("D#2026-11-29T11:02:54.238Z#prod-evt-%08d", i)}
}

// TestKeyHashTellsKeysApart: keys that differ only in where PK ends and
// SK starts hash apart, and a key hashes the same each time.
func TestKeyHashTellsKeysApart(t *testing.T) {
	h := newKeyHash()
	if h.sum(indexer.ItemKey{PK: "ab", SK: "c"}) == h.sum(indexer.ItemKey{PK: "a", SK: "bc"}) ||
		h.sum(indexer.ItemKey{PK: "ab", SK: "c"}) == h.sum(indexer.ItemKey{PK: "abc"}) {
		t.Fatal("a key hashes as another split of the same bytes")
	}
	if h.sum(itemKey(1)) != h.sum(itemKey(1)) || h.sum(itemKey(1)) == h.sum(itemKey(2)) {
		t.Fatal("a key's hash is not its own")
	}
}

// tableItem is an item a table scan gives.
type tableItem struct {
	key indexer.ItemKey
	seq uint64
}

// findExtras runs an extraFinder of chunk keys (fan-in 3) over produced
// S3 keys and the table's items, and returns what it names.
func findExtras(t *testing.T, chunk int, produced []indexer.ItemKey, table []tableItem) ([]tableItem, *scratch) {
	t.Helper()
	tmp := &scratch{parent: t.TempDir()}
	t.Cleanup(func() { tmp.remove() })
	f := newExtraFinder(chunk, tmp)
	f.fanIn = 3
	for _, k := range produced {
		if err := f.produced(k); err != nil {
			t.Fatal(err)
		}
	}
	var got []tableItem
	extra := func(k indexer.ItemKey, seq uint64) error {
		got = append(got, tableItem{k, seq})
		return nil
	}
	for _, it := range table {
		if err := f.inTable(it.key, it.seq, extra); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.finish(context.Background(), extra); err != nil {
		t.Fatal(err)
	}
	return got, tmp
}

func sortItems(items []tableItem) []tableItem {
	slices.SortFunc(items, func(a, b tableItem) int {
		return cmp.Or(cmp.Compare(a.seq, b.seq), cmp.Compare(a.key.PK, b.key.PK), cmp.Compare(a.key.SK, b.key.SK))
	})
	return items
}

// The extra items found with chunks of 1 and 3 keys (spilled to sorted
// runs, merged three at a time) and with one chunk that holds everything
// (in memory) are exactly those a plain map of the produced keys names:
// on random sets with keys produced twice, table items listed twice, the
// same key under two seqs, empty sides, and extras at the seq range's
// edges (seq lo and hi, lo 0 included).
func TestExtraFinderSpilledFindsWhatAMapFinds(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 2026))
	for round := range 100 {
		universe := r.IntN(30)
		lo := uint64(r.IntN(2) * r.IntN(100)) // 0 half the time
		hi := lo + uint64(r.IntN(50))
		var produced []indexer.ItemKey
		var table []tableItem
		if round%10 != 1 { // sometimes no S3 key at all
			for range r.IntN(40) {
				produced = append(produced, itemKey(r.IntN(universe+1)))
			}
		}
		if round%10 != 2 { // sometimes an empty table
			for range r.IntN(40) {
				seq := lo + uint64(r.IntN(int(hi-lo)+1))
				switch r.IntN(4) {
				case 0:
					seq = lo
				case 1:
					seq = hi
				}
				table = append(table, tableItem{itemKey(r.IntN(universe + 5)), seq})
			}
			if len(table) > 0 && r.IntN(2) == 0 {
				table = append(table, table[r.IntN(len(table))]) // listed twice
			}
		}
		set := map[indexer.ItemKey]bool{}
		for _, k := range produced {
			set[k] = true
		}
		var want []tableItem
		for _, it := range table {
			if !set[it.key] {
				want = append(want, it)
			}
		}
		want = sortItems(want)
		for _, chunk := range []int{1, 3, len(produced) + len(table) + 1} {
			got, _ := findExtras(t, chunk, produced, table)
			if got = sortItems(got); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("round %d, chunk %d: %d keys produced, %d table items: found %v, want %v", round, chunk, len(produced), len(table), got, want)
			}
		}
	}
}

// The spilled runs sit in a folder only the check's user can open (0700,
// each file 0600), and removing the scratch folder leaves nothing behind.
func TestSpilledRunsArePrivateAndRemoved(t *testing.T) {
	var produced []indexer.ItemKey
	var table []tableItem
	for i := range 20 {
		produced = append(produced, itemKey(i))
		table = append(table, tableItem{itemKey(i + 5), uint64(i)})
	}
	got, tmp := findExtras(t, 3, produced, table)
	if len(got) != 5 {
		t.Fatalf("found %v, want the 5 items 20 to 24", got)
	}
	if tmp.dir == "" {
		t.Fatal("nothing spilled with chunks of 3 keys")
	}
	st, err := os.Stat(tmp.dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("scratch folder: %v %v, want mode 0700", st.Mode(), err)
	}
	files, _ := filepath.Glob(filepath.Join(tmp.dir, "*"))
	if len(files) == 0 {
		t.Fatal("no run left to look at")
	}
	for _, p := range files {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want mode 0600", p, st.Mode(), err)
		}
	}
	dir := tmp.dir
	if err := tmp.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("scratch folder still there after remove: %v", err)
	}
}

// A damaged run (a key part longer than DynamoDB allows, or cut short) is
// an error naming the run, not a panic or a huge allocation.
func TestDamagedRunIsRefused(t *testing.T) {
	tmp := &scratch{parent: t.TempDir()}
	defer tmp.remove()
	run, err := writeRun(tmp, "s3-keys", []keyRecord{{sum: [2]uint64{1, 2}, seq: 7, key: itemKey(1)}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(run)
	for name, body := range map[string][]byte{
		"cut short":     b[:len(b)-3],
		"huge key part": append(append([]byte{}, b[:17]...), 0xff, 0xff, 0xff, 0x7f),
	} {
		if err := os.WriteFile(run, body, 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := mergeRuns([]string{run})
		if err == nil {
			_, _, err = m.next()
			m.close()
		}
		if err == nil || !strings.Contains(err.Error(), run) {
			t.Fatalf("%s: %v, want an error naming %s", name, err, run)
		}
	}
}

// BenchmarkKeyHashes reports the heap each key costs index check in
// memory: the item keys themselves (a map, as before keyHash), a map of
// their hashes (before the spill), and the sorted hashes of one chunk
// (extraFinder), and a chunk of the table's items once the S3 side
// spilled; and the bytes a key takes in a run on disk.
func BenchmarkKeyHashes(b *testing.B) {
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
	b.Run("hash-map", func(b *testing.B) {
		for b.Loop() {
			before := heap()
			h, m := newKeyHash(), map[[2]uint64]struct{}{}
			for _, k := range keys {
				m[h.sum(k)] = struct{}{}
			}
			b.ReportMetric(float64(heap()-before)/n, "B/key")
			runtime.KeepAlive(m)
		}
	})
	b.Run("extraFinder", func(b *testing.B) {
		for b.Loop() {
			tmp := &scratch{parent: b.TempDir()}
			before := heap()
			f := newExtraFinder(n, tmp)
			for _, k := range keys[:n-1] { // one short of a chunk: all in memory
				f.produced(k)
			}
			b.ReportMetric(float64(heap()-before)/n, "B/key")
			runtime.KeepAlive(f)
			// On disk: the same keys, spilled.
			for _, k := range keys[n-1:] {
				f.produced(k)
			}
			b.ReportMetric(float64(runBytes(f.keyRuns))/n, "disk-B/key")
			tmp.remove()
		}
	})
	b.Run("tableItems", func(b *testing.B) {
		for b.Loop() {
			tmp := &scratch{parent: b.TempDir()}
			f := newExtraFinder(n, tmp)
			for _, k := range keys { // a full chunk: spilled
				f.produced(k)
			}
			before := heap()
			for i, k := range keys[:n-1] { // one short of a chunk: all in memory
				// A copy, as each key is decoded anew from the scan.
				f.inTable(indexer.ItemKey{PK: string([]byte(k.PK)), SK: string([]byte(k.SK))}, uint64(i), nil)
			}
			b.ReportMetric(float64(heap()-before)/n, "B/key")
			runtime.KeepAlive(f)
			f.finish(context.Background(), func(indexer.ItemKey, uint64) error { return nil })
			b.ReportMetric(float64(runBytes(f.itemRuns))/n, "disk-B/key")
			tmp.remove()
		}
	})
}

// runBytes is the size of the runs on disk.
func runBytes(runs []string) int64 {
	var size int64
	for _, p := range runs {
		if st, err := os.Stat(p); err == nil {
			size += st.Size()
		}
	}
	return size
}
