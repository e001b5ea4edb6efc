package shared

import (
	"strings"
	"testing"
)

// overlapping is overrideFirst's bundle with its decision proved in a
// second object that starts at the decision's seq, under a checkpoint of
// the next seq (review 2026-12-01): no seq and no object is shared by the
// two checkpoints, but the decision's seq is in two signed objects.
func overlapping(t *testing.T) *Bundle {
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
	// c.Items[0] still says seq s is line 1 of an object of 2 lines that
	// ends at s+1; c.Items[1] that s+1 is line 1 of an object that ends at s+2.
	c.Items[1] = BundleItem{Object: key, Line: c.Items[1].Line, Index: 0, Size: 2, Path: InclusionProof(leaves, 0), Checkpoint: note}
	return c
}

// Review 2026-12-01: section 11's rule "one checkpoint for one seq or one
// object" was dodged by two checkpoints of different seqs whose objects
// overlap (overlapping): all three verifiers accepted it. The rule is now
// that items whose objects share a seq name one object.
func TestReview29OverlappingObjectsAreTwoHistories(t *testing.T) {
	c := overlapping(t)
	raw := c.Encode()
	if _, err := VerifyBundle(raw, SingleKeyset(vecVerifier(t))); err == nil || !strings.Contains(err.Error(), "are in two objects that share seq") {
		t.Errorf("Go: %v, want the decision's seq in two signed objects (%s and %s)", err, c.Items[0].Object, c.Items[1].Object)
	}
	if v := pythonBundleVerdicts(t, vecVerifierKey, [][]byte{raw}); v[0] != "fail" {
		t.Errorf("Python: %s", v[0])
	}
}
