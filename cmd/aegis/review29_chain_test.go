package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func review29Vector(t *testing.T) (bundle, key string) {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/vectors/proof.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Bundle      string `json:"bundle"`
		VerifierKey string `json:"verifier_key"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v.Bundle, v.VerifierKey
}

// Review 2026-12-01 (task 29): --chain as FORMAT.md section 11 and the
// README say: a bundle of another chain is refused, from the flag or
// from AEGIS_CHAIN when the flag is not given; the same chain passes.
func TestReview29VerifyProofChain(t *testing.T) {
	bundle, key := review29Vector(t)
	b := writeFile(t, "b.json", strings.TrimSuffix(bundle, "\n"))
	pub := writeFile(t, "k.pub", key)
	if code, out := aegis(t, "verify-proof", b, "--verifier-key-file", pub, "--chain", "prod"); code != 0 {
		t.Errorf("--chain prod: exit %d: %s", code, out)
	}
	if code, out := aegis(t, "verify-proof", b, "--verifier-key-file", pub, "--chain", "staging"); code != 1 || !strings.Contains(out, "not of --chain staging") {
		t.Errorf("--chain staging: exit %d: %s", code, out)
	}
	t.Setenv("AEGIS_CHAIN", "staging")
	if code, out := aegis(t, "verify-proof", b, "--verifier-key-file", pub); code != 1 || !strings.Contains(out, "(AEGIS_CHAIN is set)") {
		t.Errorf("AEGIS_CHAIN=staging: exit %d: %s", code, out)
	}
	if code, out := aegis(t, "verify-proof", b, "--verifier-key-file", pub, "--chain", "prod"); code != 0 {
		t.Errorf("AEGIS_CHAIN=staging --chain prod: exit %d: %s", code, out)
	}
}
