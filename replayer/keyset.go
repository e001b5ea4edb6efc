package replayer

import (
	"encoding/binary"
	"hash/maphash"

	"github.com/aegisai/audit/indexer"
)

// keySet is the set of item keys index check has compared, kept to find
// the table's extra items at the end. A check over a whole chain holds
// one key an entry, so it keeps a 128-bit hash of each key rather than
// the key (BenchmarkKeySet: a fraction of the memory). A collision would
// hide an extra item behind a key compared. The two seeds are chosen at
// random for each check and never leave the process, so choosing keys
// that collide needs the seeds; maphash is not a cryptographic hash,
// though, so that rests on their secrecy, not on a proof. By chance, two
// of n keys collide with probability about n²/2^129.
type keySet struct {
	seeds [2]maphash.Seed
	set   map[[2]uint64]struct{}
}

func newKeySet() *keySet {
	return &keySet{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, set: map[[2]uint64]struct{}{}}
}

func (s *keySet) sum(k indexer.ItemKey) [2]uint64 {
	var out [2]uint64
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(k.PK))) // PK's length first: no two keys write the same bytes
	for i, seed := range s.seeds {
		var h maphash.Hash
		h.SetSeed(seed)
		h.Write(n[:])
		h.WriteString(k.PK)
		h.WriteString(k.SK)
		out[i] = h.Sum64()
	}
	return out
}

func (s *keySet) add(k indexer.ItemKey) { s.set[s.sum(k)] = struct{}{} }

func (s *keySet) has(k indexer.ItemKey) bool {
	_, ok := s.set[s.sum(k)]
	return ok
}
