package shared

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"
)

// The entries of one object form a Merkle tree (RFC 6962 section 2.1, the
// tree of Certificate Transparency) whose leaves are the entries' hashes in
// line order. Its root is signed in the object's checkpoint, so one entry
// can be proved to be in a signed object with about log2(n) hashes instead
// of every later line (docs/FORMAT.md sections 7 and 11).

// leafHash is SHA-256(0x00 || entry hash).
func leafHash(h Hash) Hash {
	var b [1 + len(h)]byte
	copy(b[1:], h[:])
	return sha256.Sum256(b[:])
}

// nodeHash is SHA-256(0x01 || left || right).
func nodeHash(l, r Hash) Hash {
	var b [1 + 2*len(l)]byte
	b[0] = 1
	copy(b[1:], l[:])
	copy(b[1+len(l):], r[:])
	return sha256.Sum256(b[:])
}

// split is the largest power of two smaller than n (n >= 2).
func split(n int) int { return 1 << (bits.Len(uint(n-1)) - 1) }

// MerkleRoot returns the RFC 6962 tree hash of the entry hashes (at least
// one).
func MerkleRoot(leaves []Hash) Hash {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leafHash(leaves[0])
	}
	k := split(len(leaves))
	return nodeHash(MerkleRoot(leaves[:k]), MerkleRoot(leaves[k:]))
}

// InclusionProof returns the audit path of leaf m in the tree of leaves
// (RFC 6962 section 2.1.1), nearest the leaf first.
func InclusionProof(leaves []Hash, m int) []Hash {
	if len(leaves) <= 1 {
		return nil
	}
	k := split(len(leaves))
	if m < k {
		return append(InclusionProof(leaves[:k], m), MerkleRoot(leaves[k:]))
	}
	return append(InclusionProof(leaves[k:], m-k), MerkleRoot(leaves[:k]))
}

// ErrBadProof is wrapped when an inclusion proof does not lead to the root.
var ErrBadProof = errors.New("bad inclusion proof")

// VerifyInclusion checks that entry hash h is leaf index of a tree of size
// leaves with the given root, by the algorithm of RFC 9162 section
// 2.1.3.2.
func VerifyInclusion(h Hash, index, size uint64, path []Hash, root Hash) error {
	if index >= size {
		return fmt.Errorf("%w: index %d is not below the tree size %d", ErrBadProof, index, size)
	}
	fn, sn := index, size-1
	r := leafHash(h)
	for _, p := range path {
		if sn == 0 {
			return fmt.Errorf("%w: the path is longer than the tree is deep", ErrBadProof)
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("%w: the path is shorter than the tree is deep", ErrBadProof)
	}
	if r != root {
		return fmt.Errorf("%w: the path leads to %s, not to the signed root %s", ErrBadProof, r, root)
	}
	return nil
}
