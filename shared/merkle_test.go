package shared

import (
	"crypto/sha256"
	"errors"
	"testing"
)

func testLeaves(n int) []Hash {
	leaves := make([]Hash, n)
	for i := range leaves {
		leaves[i] = sha256.Sum256([]byte{byte(i), byte(i >> 8)})
	}
	return leaves
}

// Every leaf of every tree size proves its inclusion, and no proof survives
// a wrong leaf, index, size, path or root.
func TestInclusionProofs(t *testing.T) {
	for n := 1; n <= 70; n++ {
		leaves := testLeaves(n)
		root := MerkleRoot(leaves)
		for m := range n {
			path := InclusionProof(leaves, m)
			if err := VerifyInclusion(leaves[m], uint64(m), uint64(n), path, root); err != nil {
				t.Fatalf("n=%d m=%d: %v", n, m, err)
			}
			// The tree size is not proved by the path alone: the bundle takes
			// it from the checkpoint's seq and the object's first seq.
			bad := map[string]func() error{
				"another leaf":  func() error { return VerifyInclusion(sha256.Sum256([]byte("x")), uint64(m), uint64(n), path, root) },
				"longer path":   func() error { return VerifyInclusion(leaves[m], uint64(m), uint64(n), append(path, root), root) },
				"index too big": func() error { return VerifyInclusion(leaves[m], uint64(n), uint64(n), path, root) },
				"another root":  func() error { return VerifyInclusion(leaves[m], uint64(m), uint64(n), path, leafHash(root)) },
			}
			if n > 1 {
				bad["shorter path"] = func() error { return VerifyInclusion(leaves[m], uint64(m), uint64(n), path[1:], root) }
				flipped := append([]Hash(nil), path...)
				flipped[0][0] ^= 1
				bad["flipped path"] = func() error { return VerifyInclusion(leaves[m], uint64(m), uint64(n), flipped, root) }
			}
			if m^1 < n {
				bad["sibling's index"] = func() error { return VerifyInclusion(leaves[m], uint64(m^1), uint64(n), path, root) }
			}
			for name, f := range bad {
				if err := f(); !errors.Is(err, ErrBadProof) {
					t.Fatalf("n=%d m=%d: %s accepted (%v)", n, m, name, err)
				}
			}
		}
	}
}

// The tree is RFC 6962's: two leaves hash as a node of their leaf hashes,
// three as a node of the first two and the third's leaf hash.
func TestMerkleRootShape(t *testing.T) {
	l := testLeaves(3)
	if MerkleRoot(l[:1]) != leafHash(l[0]) {
		t.Fatal("one leaf")
	}
	if MerkleRoot(l[:2]) != nodeHash(leafHash(l[0]), leafHash(l[1])) {
		t.Fatal("two leaves")
	}
	if MerkleRoot(l) != nodeHash(nodeHash(leafHash(l[0]), leafHash(l[1])), leafHash(l[2])) {
		t.Fatal("three leaves")
	}
}
