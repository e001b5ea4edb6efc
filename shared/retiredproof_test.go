package shared

import (
	"encoding/json"
	"os"
	"testing"
)

// A bundle is checked offline, where nothing tells the sealed checkpoint
// of a seq from another the same key signed: a retired key stolen after
// its retirement signs bundles of any entry it likes for the seqs of its
// range, and they verify (docs/FORMAT.md section 11, SECURITY.md section
// 5). The report says which entries rest on a retired key (its range in
// the keyset is closed), so that aegis verify-proof (and the page) can say
// what such an entry is worth, and how to rule a forgery out: check it
// against the whole chain in S3 (aegis verify).
func TestABundleSaysWhichEntriesARetiredKeySigns(t *testing.T) {
	raw, err := os.ReadFile("../testdata/vectors/accept-proof-key-rotated.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Bundle, Keyset string }
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	ks, err := ParseKeyset(v.Keyset)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyBundle([]byte(v.Bundle), ks)
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{true, true, false} // seqs up to 9 by the first key, retired at 9; the last by the second
	if len(rep.Entries) != len(want) {
		t.Fatalf("%d entries, want %d", len(rep.Entries), len(want))
	}
	for i, pe := range rep.Entries {
		if pe.Retired != want[i] {
			t.Errorf("entry %d (seq %d, checkpoint %d by %s): retired %v, want %v", i, pe.Entry.Seq, pe.Checkpoint.Seq, pe.KeyID, pe.Retired, want[i])
		}
	}
	if rep, err := VerifyBundle([]byte(v.Bundle), SingleKeyset(ks.Ranges[1].Key)); err == nil {
		t.Fatalf("the bundle verifies with the second key alone: %+v", rep)
	}
}
