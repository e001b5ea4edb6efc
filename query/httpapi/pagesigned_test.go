package httpapi

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/shared"
)

// resignedBundle is the proof vector's bundle after edit changed its items
// and their checkpoints' text, each checkpoint signed again with the
// vectors' published test key, as the signer could: what is left to check
// is section 11's placing rules.
func resignedBundle(t *testing.T, edit func(entries []map[string]any, sign func(text string) string)) (bundle []byte, keyset string) {
	t.Helper()
	var cpv struct {
		SignerKey string `json:"signer_key"`
	}
	var pv proofVector
	for name, v := range map[string]any{"checkpoint.json": &cpv, "proof.json": &pv} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	signer, err := note.NewSigner(cpv.SignerKey)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Chain      string           `json:"chain"`
		DecisionID string           `json:"decision_id"`
		Entries    []map[string]any `json:"entries"`
		Format     string           `json:"format"`
		KeyID      string           `json:"key_id"`
	}
	if err := json.Unmarshal([]byte(pv.Bundle), &b); err != nil {
		t.Fatal(err)
	}
	edit(b.Entries, func(text string) string {
		signed, err := note.Sign(&note.Note{Text: text}, signer)
		if err != nil {
			t.Fatal(err)
		}
		return string(signed)
	})
	var sb strings.Builder // canonical: sorted members, no HTML escapes
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		t.Fatal(err)
	}
	return []byte(sb.String()), pv.VerifierKey
}

// checkpointText is a signed note's text, without its signature.
func checkpointText(cp string) string { return cp[:strings.Index(cp, "\n\n")+1] }

// Section 11 step 3: the prefix before the last /year= is non-empty and
// does not end in /, and an object's first seq is at least 1. Go refuses
// both bundles; the page accepted them (found by an attack; only the
// signer could make them).
func TestThePagePlacesItemsAsGoDoes(t *testing.T) {
	slash, keyset := resignedBundle(t, func(entries []map[string]any, sign func(string) string) {
		for _, e := range entries {
			e["object"] = strings.Replace(e["object"].(string), "audit/year=", "audit//year=", 1)
			e["checkpoint"] = sign(strings.Replace(checkpointText(e["checkpoint"].(string)), "object audit/year=", "object audit//year=", 1))
		}
	})
	zero, _ := resignedBundle(t, func(entries []map[string]any, sign func(string) string) {
		last := entries[len(entries)-1] // seq 10, alone in its object: made line 11 of an object from seq 0
		line, err := shared.ParseLine([]byte(last["line"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		leaves := make([]shared.Hash, 11)
		for i := range leaves {
			leaves[i][0] = byte(i + 1)
		}
		leaves[10] = line.Hash
		var path []string
		for _, h := range shared.InclusionProof(leaves, 10) {
			path = append(path, h.String())
		}
		obj := strings.Replace(last["object"].(string), "00000000000000000010.jsonl", "00000000000000000000.jsonl", 1)
		var text []string
		for _, l := range strings.Split(strings.TrimSuffix(checkpointText(last["checkpoint"].(string)), "\n"), "\n") {
			switch {
			case strings.HasPrefix(l, "object "):
				l = "object " + obj
			case strings.HasPrefix(l, "root "):
				l = "root " + shared.MerkleRoot(leaves).String()
			}
			text = append(text, l)
		}
		last["object"], last["checkpoint"], last["index"], last["size"], last["path"] = obj, sign(strings.Join(text, "\n")+"\n"), 10, 11, path
	})
	trusted, err := shared.ParseKeyset(keyset)
	if err != nil {
		t.Fatal(err)
	}
	cases := []pageCase{{name: "prefix ending in /", bundle: slash, keyset: keyset}, {name: "an object from seq 0", bundle: zero, keyset: keyset}}
	verdicts := pageVerdicts(t, cases)
	for i, c := range cases {
		_, goErr := shared.VerifyBundle(c.bundle, trusted)
		if goErr == nil || verdicts[i].OK {
			t.Errorf("%s: Go %v, the page ok=%v %s; want both to refuse", c.name, goErr, verdicts[i].OK, verdicts[i].Why)
		}
	}
}
