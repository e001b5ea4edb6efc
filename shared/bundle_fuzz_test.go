package shared

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzVerifyBundle: the bundle reader (outside input: a file an auditor is
// handed, or what the query service answers) never panics, and a bundle it
// accepts is canonical, its entries rise in seq, and each is an event of
// the bundle's chain about its decision, in an object a checkpoint of that
// chain signs.
func FuzzVerifyBundle(f *testing.F) {
	files, _ := filepath.Glob("../testdata/vectors/*proof*.json")
	if len(files) == 0 {
		f.Fatal("no proof vectors to seed from")
	}
	trusted := SingleKeyset(vecVerifier(f))
	accepted := 0
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var v struct {
			Bundle      string `json:"bundle"`
			VerifierKey string `json:"verifier_key"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		if v.VerifierKey == vecVerifierKey {
			f.Add([]byte(v.Bundle))
			if _, err := VerifyBundle([]byte(v.Bundle), trusted); err == nil {
				accepted++
			}
		}
	}
	if accepted == 0 {
		f.Fatal("no seed bundle verifies: the fuzzer would only explore refusals")
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		rep, err := VerifyBundle(raw, trusted)
		if err != nil {
			return
		}
		if c, err := Canonicalize(bytes.TrimSuffix(raw, []byte("\n"))); err != nil || !bytes.Equal(append(c, '\n'), raw) {
			t.Fatalf("accepted a bundle that is not canonical JSON and one newline: %q", raw)
		}
		if rep.Action == "" || len(rep.Entries) == 0 {
			t.Fatalf("accepted a bundle without its decision: %+v", rep)
		}
		for i, pe := range rep.Entries {
			e := pe.Entry
			if e.Chain != rep.Chain || e.Type != EntryEvent || pe.Envelope.DecisionID() != rep.DecisionID ||
				pe.Checkpoint.Chain != rep.Chain || pe.Checkpoint.Object != pe.Object || e.Seq > pe.Checkpoint.Seq {
				t.Fatalf("entry %d (seq %d of %s about %s) is not one the bundle proves", i, e.Seq, e.Chain, pe.Envelope.DecisionID())
			}
			if i > 0 && e.Seq <= rep.Entries[i-1].Entry.Seq {
				t.Fatalf("entries out of order: seq %d after %d", e.Seq, rep.Entries[i-1].Entry.Seq)
			}
		}
	})
}
