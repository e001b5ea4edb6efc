package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// An outside trial (2026-12-01, auditor h2): aegis verify-proof named only
// the first retired key of a bundle, so a bundle with entries signed by two
// retired keys (after two rotations, or a keyset whose last range is closed)
// was reported as resting on one retired key. FORMAT.md section 11 (step 2)
// and 7.4: every item signed by a retired key is reported as such; the
// proof vectors' "retired" lists every such key.
func TestVerifyProofNamesEveryRetiredKey(t *testing.T) {
	for _, c := range []struct {
		file      string
		retired   []string
		unretired []string
	}{
		{"../../testdata/vectors/accept-proof-key-rotated.json", []string{"aegis-prod+fbb969bb"}, []string{"aegis-prod-2+8fd0ce7e"}},
		{"../../testdata/independent/x-bundle4-keyset-second-closed-at-12.json", []string{"aegis-prod+fbb969bb", "aegis-prod-2+8fd0ce7e"}, nil},
	} {
		raw, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Bundle string `json:"bundle"`
			Keyset string `json:"keyset"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		b := writeFile(t, "b.json", strings.TrimSuffix(v.Bundle, "\n"))
		ks := writeFile(t, "keys", v.Keyset)
		code, out := aegis(t, "verify-proof", b, "--verifier-key-file", ks, "--chain", "prod")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.file, code, out)
		}
		var scope string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "retired: a bundle signed by a retired key") {
				scope = l
			}
		}
		for _, k := range c.retired {
			if !strings.Contains(scope, k) {
				t.Errorf("%s: the retired key %s is not named as retired: %s", c.file, k, out)
			}
		}
		for _, k := range c.unretired {
			if strings.Contains(scope, k) {
				t.Errorf("%s: the current key %s is named as retired: %s", c.file, k, out)
			}
		}
		// each entry says whether a retired key signs it
		for _, l := range strings.Split(out, "\n") {
			if !strings.HasPrefix(l, "  seq ") {
				continue
			}
			marked := strings.Contains(l, "by the retired key ")
			signedByRetired := false
			for _, k := range c.retired {
				signedByRetired = signedByRetired || strings.HasSuffix(l, "by the retired key "+k)
			}
			if marked != signedByRetired {
				t.Errorf("%s: entry line %q: marked retired %v", c.file, l, marked)
			}
		}
	}
}
