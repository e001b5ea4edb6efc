package shared

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// bundleVerdicts runs the Python reference checker's verify_bundle on
// each bundle with the keyset text and returns "ok <action> <current>"
// or "fail" for each. Signature checks are remembered by their inputs:
// the pure-Python Ed25519 takes milliseconds, and the edited bundles share
// their notes.
const bundleVerdicts = `
import sys, functools
sys.path.insert(0, sys.argv[1])
import check_vectors as cv
cv.ed25519_verify = functools.lru_cache(maxsize=None)(cv.ed25519_verify)
lines = sys.stdin.read().split("\n")
keyset = cv.parse_keyset(bytes.fromhex(lines[0][1:]).decode())
for h in lines[1:]:
    if not h:
        continue
    try:
        r = cv.verify_bundle(bytes.fromhex(h[1:]), keyset)
        print("ok", r["action"], r["current_action"])
    except (cv.Refused, cv.LogFail):
        print("fail")
`

func pythonBundleVerdicts(t *testing.T, keyset string, bundles [][]byte) []string {
	t.Helper()
	var in strings.Builder
	in.WriteString("x" + hex.EncodeToString([]byte(keyset)) + "\n")
	for _, b := range bundles {
		in.WriteString("x" + hex.EncodeToString(b) + "\n")
	}
	dir, err := filepath.Abs(vectorDir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", "-c", bundleVerdicts, dir)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(got) != len(bundles) {
		t.Fatalf("python3 answered %d of %d bundles:\n%.2000s", len(got), len(bundles), out)
	}
	return got
}

// The Python reference checker and Go give the same verdict on a good
// bundle and on a change of each of its bytes,
// as the auditor's page does (query/httpapi): a bundle one verifier takes
// and another refuses is a hole in the spec or in one of them.
func TestBundleEditsArePythonsVerdictToo(t *testing.T) {
	_, b := proofChain(t)
	raw := b.Encode()
	// Each byte changed in its lowest bit (a neighbouring character: a
	// digit, a letter, unused base64 bits) and in bit 0x20 (case) or 0x80
	// (not UTF-8), in turn: all three on every byte took Python half a
	// minute.
	type edit struct {
		at  int
		xor byte
	}
	var edits []edit
	bundles := [][]byte{raw}
	for i := range raw {
		for _, x := range []byte{0x01, []byte{0x20, 0x80}[i%2]} {
			edited := bytes.Clone(raw)
			edited[i] ^= x
			bundles = append(bundles, edited)
			edits = append(edits, edit{i, x})
		}
	}
	trusted := SingleKeyset(vecVerifier(t))
	py := pythonBundleVerdicts(t, vecVerifierKey, bundles)
	accepted, alike := 0, 0
	for n, bundle := range bundles {
		rep, err := VerifyBundle(bundle, trusted)
		want := "fail"
		if err == nil {
			want = "ok " + string(rep.Action) + " " + string(rep.CurrentAction)
			accepted++
		} else if !errors.Is(err, ErrBadBundle) {
			t.Fatalf("bundle %d: %v", n, err)
		}
		if py[n] != want {
			where := "the good bundle"
			if n > 0 {
				where = "byte " + strconv.Itoa(edits[n-1].at) + " xor " + strconv.Itoa(int(edits[n-1].xor))
			}
			t.Errorf("%s: Go %q (%v), Python %q", where, want, err, py[n])
			continue
		}
		alike++
	}
	if accepted != 1 {
		t.Fatalf("%d bundles accepted by Go, want the good one alone", accepted)
	}
	t.Logf("%d of %d bundles judged alike by Go and Python", alike, len(bundles))
}
