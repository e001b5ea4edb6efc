package replayer

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"slices"

	"github.com/aegisai/audit/indexer"
)

// keyHash is the 128-bit hash index check keeps of an item key instead of
// the key (BenchmarkKeyHashes: a fraction of the memory). A collision
// would hide an extra item behind a key compared. The two seeds are
// chosen at random for each check and never leave the process (the
// hashes spilled to disk do, into a folder only the check's user can
// read, deleted at the end), so choosing keys that collide needs the
// seeds; maphash is not a cryptographic hash, though, so that rests on
// their secrecy, not on a proof. By chance, two of n keys collide with
// probability about n²/2^129.
type keyHash [2]maphash.Seed

func newKeyHash() keyHash { return keyHash{maphash.MakeSeed(), maphash.MakeSeed()} }

func (s keyHash) sum(k indexer.ItemKey) [2]uint64 {
	var out [2]uint64
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(k.PK))) // PK's length first: no two keys write the same bytes
	for i, seed := range s {
		var h maphash.Hash
		h.SetSeed(seed)
		h.Write(n[:])
		h.WriteString(k.PK)
		h.WriteString(k.SK)
		out[i] = h.Sum64()
	}
	return out
}

// DefaultKeysInMemory is how many item keys index check holds in memory
// (on each side: the keys S3's entries produce, then the table's items)
// before it sorts them into a run on disk.
const DefaultKeysInMemory = 1_000_000

// defaultFanIn is how many runs are merged at once (one open file and a
// 16 KiB buffer each).
const defaultFanIn = 64

// extraFinder finds the table's extra items: the items of the checked seq
// range whose key no S3 entry of the range produced. It first takes the
// keys the S3 entries produce (produced), then the table's items
// (inTable), then finish names what is left.
//
// Memory is bounded by chunk, not by the range: while the S3 side fits in
// one chunk, its hashes stay in memory (16 bytes a key, sorted, looked up
// by binary search) and each table item is judged as it is scanned. Past
// a chunk, each full chunk is sorted and written to a run in tmp, the
// table's items likewise, and finish merges the two sorted sides: a table
// item is extra when no S3 key has its hash. Extras come in the table
// scan's order on the first path and in hash order on the second: in no
// particular order either way, as the scan's order is none.
type extraFinder struct {
	hash  keyHash
	chunk int
	fanIn int
	tmp   *scratch
	// keys is the S3 side's chunk; once sealed (and nothing spilled), the
	// sorted set of every key produced.
	keys    [][2]uint64
	keyRuns []string
	sealed  bool
	// items is the table side's chunk (only once the S3 side spilled).
	items    []keyRecord
	itemRuns []string
}

func newExtraFinder(chunk int, tmp *scratch) *extraFinder {
	return &extraFinder{hash: newKeyHash(), chunk: chunk, fanIn: defaultFanIn, tmp: tmp}
}

// spilled reports whether the S3 side went to disk.
func (f *extraFinder) spilled() bool { return len(f.keyRuns) > 0 }

// produced takes a key an S3 entry of the range produces.
func (f *extraFinder) produced(k indexer.ItemKey) error {
	f.keys = append(f.keys, f.hash.sum(k))
	if len(f.keys) < f.chunk {
		return nil
	}
	return f.spillKeys()
}

func (f *extraFinder) spillKeys() error {
	recs := make([]keyRecord, len(f.keys))
	for i, s := range f.keys {
		recs[i] = keyRecord{sum: s}
	}
	f.keys = f.keys[:0]
	run, err := writeRun(f.tmp, "s3-keys", recs)
	if err != nil {
		return err
	}
	f.keyRuns = append(f.keyRuns, run)
	return nil
}

// seal ends the S3 side: the keys left in memory are sorted (kept, when
// nothing spilled; written as a last run otherwise).
func (f *extraFinder) seal() error {
	if f.sealed {
		return nil
	}
	f.sealed = true
	if f.spilled() {
		if len(f.keys) > 0 {
			if err := f.spillKeys(); err != nil {
				return err
			}
		}
		f.keys = nil
		return nil
	}
	slices.SortFunc(f.keys, compareSums)
	f.keys = slices.Compact(f.keys)
	return nil
}

// inTable takes an item of the table in the range; extra is called with
// it at once when that can be told, else by finish.
func (f *extraFinder) inTable(k indexer.ItemKey, seq uint64, extra func(indexer.ItemKey, uint64) error) error {
	if err := f.seal(); err != nil {
		return err
	}
	sum := f.hash.sum(k)
	if !f.spilled() {
		if _, found := slices.BinarySearchFunc(f.keys, sum, compareSums); found {
			return nil
		}
		return extra(k, seq)
	}
	f.items = append(f.items, keyRecord{sum: sum, seq: seq, key: k})
	if len(f.items) < f.chunk {
		return nil
	}
	return f.spillItems()
}

func (f *extraFinder) spillItems() error {
	run, err := writeRun(f.tmp, "table-items", f.items)
	if err != nil {
		return err
	}
	clear(f.items)
	f.items = f.items[:0]
	f.itemRuns = append(f.itemRuns, run)
	return nil
}

// finish calls extra with every table item taken but not yet judged whose
// key no S3 entry produced.
func (f *extraFinder) finish(ctx context.Context, extra func(indexer.ItemKey, uint64) error) error {
	if err := f.seal(); err != nil || !f.spilled() {
		return err
	}
	if len(f.items) > 0 {
		if err := f.spillItems(); err != nil {
			return err
		}
	}
	f.items = nil
	keyRuns, err := compactRuns(f.tmp, "s3-keys", f.keyRuns, f.fanIn)
	if err != nil {
		return err
	}
	itemRuns, err := compactRuns(f.tmp, "table-items", f.itemRuns, f.fanIn)
	if err != nil {
		return err
	}
	s3, err := mergeRuns(keyRuns)
	if err != nil {
		return err
	}
	defer s3.close()
	table, err := mergeRuns(itemRuns)
	if err != nil {
		return err
	}
	defer table.close()
	s, more, err := s3.next()
	for n := 0; err == nil; n++ {
		if n%4096 == 0 {
			if err = ctx.Err(); err != nil {
				break
			}
		}
		var t keyRecord
		var ok bool
		if t, ok, err = table.next(); err != nil || !ok {
			break
		}
		for more && err == nil && compareSums(s.sum, t.sum) < 0 {
			s, more, err = s3.next()
		}
		if err == nil && (!more || s.sum != t.sum) {
			err = extra(t.key, t.seq)
		}
	}
	return err
}
