package shared

import (
	"strings"
	"testing"
)

// Review 2026-12-01: section 11's new rule ("one checkpoint for one seq or
// one object": two are two histories signed) is dodged by two checkpoints
// of different seqs whose objects overlap. The decision's own object holds
// seqs s and s+1 (checkpoint of s+1); a second checkpoint, of seq s+2,
// names an object that starts at s+1 (another key, as its first seq
// differs) and holds the same decision line. Seq s+1 is then in two signed
// objects: two histories, which the sealer never writes and a bundle shows
// offline, yet no seq and no object is shared, and all three verifiers
// accept it.
func TestReview29OverlappingObjectsAreTwoHistories(t *testing.T) {
	c := overrideFirst(t)
	cp, err := OpenCheckpoint(c.Items[1].Checkpoint, vecVerifier(t))
	if err != nil {
		t.Fatal(err)
	}
	dec := mustParse(t, string(c.Items[1].Line))
	if dec.Seq != cp.Seq {
		t.Fatalf("decision seq %d, checkpoint %d", dec.Seq, cp.Seq)
	}
	var other Hash
	other[0] = 7
	leaves := []Hash{dec.Hash, other}
	prefix := c.Items[1].Object[:strings.LastIndex(c.Items[1].Object, "/year=")]
	key := BatchKey(prefix, dec) // the object that starts at the decision's seq
	if key == c.Items[1].Object {
		t.Fatal("same key")
	}
	cp2 := cp
	cp2.Seq, cp2.Hash, cp2.Object, cp2.Root = cp.Seq+1, other, key, MerkleRoot(leaves)
	cp2.Offset = cp.Offset + 1
	note, err := cp2.Sign(vecSigner(t))
	if err != nil {
		t.Fatal(err)
	}
	c.Items[1] = BundleItem{Object: key, Line: c.Items[1].Line, Index: 0, Size: 2, Path: InclusionProof(leaves, 0), Checkpoint: note}
	// c.Items[0] still says seq s is line 1 of an object of 2 lines that
	// ends at s+1; c.Items[1] that s+1 is line 1 of an object that ends at s+2.
	raw := c.Encode()
	if _, err := VerifyBundle(raw, SingleKeyset(vecVerifier(t))); err == nil {
		t.Errorf("Go accepts a bundle in which seq %d is in two signed objects (%s and %s)", dec.Seq, c.Items[0].Object, key)
	}
	if v := pythonBundleVerdicts(t, vecVerifierKey, [][]byte{raw}); v[0] != "fail" {
		t.Errorf("Python: %s", v[0])
	}
}
