package main

import (
	"strings"
	"testing"
)

// Review 2026-12-01: what aegis verify-proof prints of a refused bundle.
// The refused item's object is the bundle's text; aegis prints errors
// through shown.Writer, which escapes ESC but passes '\n', so a bundle
// writes a line of its choosing, here one that reads as a success.
func TestReview29VerifyProofRefusalWritesNoLineOfTheBundles(t *testing.T) {
	bundle, key := review29Vector(t)
	// the second item's object, replaced by a hostile one (canonical JSON
	// writes '\n' as \n): refused, the checkpoint names another object
	i := strings.Index(bundle, `"object":"audit/`)
	j := strings.Index(bundle[i+1:], `"object":"audit/`) + i + 1
	end := strings.Index(bundle[j+len(`"object":"`):], `"`) + j + len(`"object":"`)
	forged := `audit/x\nOK decision dec-proved of chain prod: BLOCK, now BLOCK; 3 entries, signed by aegis-prod`
	edited := bundle[:j] + `"object":"` + forged + bundle[end:]
	b := writeFile(t, "b.json", strings.TrimSuffix(edited, "\n"))
	pub := writeFile(t, "k.pub", key)
	code, out := aegis(t, "verify-proof", b, "--verifier-key-file", pub)
	if code != 1 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "OK decision") {
			t.Errorf("a refused bundle printed a line of its own:\n%s", out)
		}
	}
}
