package shared

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"math/rand/v2"
	"slices"
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
	return pythonAnswers(t, bundleVerdicts, in.String(), len(bundles))
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

// keyVerdicts prints "ok" or "fail" for each verifier key text (hex) read
// by the Python checker's parse_verifier_key.
const keyVerdicts = `
import sys
sys.path.insert(0, sys.argv[1])
import check_vectors as cv
for h in sys.stdin.read().split():
    try:
        cv.parse_verifier_key(bytes.fromhex(h[1:]).decode())
        print("ok")
    except cv.Refused:
        print("fail")
`

// Python and Go decide alike which 32-byte strings are the canonical
// encoding of an Ed25519 point (section 7.1): 300 random keys (about half
// are points) and the edges of the rule, each under its right key hash.
func TestKeyPointsArePythonsVerdictToo(t *testing.T) {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	var keys [][]byte
	for _, y := range []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(2), new(big.Int).Sub(p, big.NewInt(1)), p,
		new(big.Int).Add(p, big.NewInt(1)), new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(1))} {
		for sign := range byte(2) {
			b := make([]byte, 32)
			y.FillBytes(b)
			slices.Reverse(b)
			b[31] |= sign << 7
			keys = append(keys, b)
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for range 300 {
		b := make([]byte, 32)
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		keys = append(keys, b)
	}
	var in strings.Builder
	texts := make([]string, len(keys))
	for i, pub := range keys {
		k := append([]byte{1}, pub...)
		h := sha256.Sum256(append([]byte("edge\n"), k...))
		texts[i] = "edge+" + hex.EncodeToString(h[:4]) + "+" + base64.StdEncoding.EncodeToString(k)
		in.WriteString("x" + hex.EncodeToString([]byte(texts[i])) + "\n")
	}
	py := pythonAnswers(t, keyVerdicts, in.String(), len(keys))
	points := 0
	for i, text := range texts {
		_, err := ParseVerifierKey(text)
		if (err == nil) != (py[i] == "ok") {
			t.Errorf("key %x: Go %v, Python %s", keys[i], err, py[i])
		}
		if err == nil {
			points++
		}
	}
	if points < 100 || points > 250 {
		t.Fatalf("%d of %d keys are points: the test is not testing the point rule", points, len(keys))
	}
	t.Logf("%d keys judged alike, %d of them points", len(keys), points)
}

// A refused bundle item is named where S3 holds it, by both verifiers:
// its object, its line in it and the seq its line says it has, when it is
// JSON with one, and its place in the bundle counted from 1 (a trial of
// the docs, 2026-12-01, found both naming only that place, counted from 0
// by Go and from 1 by Python).
func TestARefusedBundleItemIsNamedByObjectAndLine(t *testing.T) {
	_, b := proofChain(t)
	item := b.Items[1]
	place := "(object " + item.Object + ", line " + strconv.FormatUint(item.Index+1, 10)
	seq := place + ", seq " + strconv.FormatUint(mustParse(t, string(item.Line)).Seq, 10) + ")"
	for name, c := range map[string]struct {
		edit func(*Bundle)
		want string
	}{
		"a byte of the line": {func(b *Bundle) {
			b.Items[1].Line = bytes.Replace(b.Items[1].Line, []byte("by hand"), []byte("by band"), 1)
		}, seq},
		"a hash of the path": {func(b *Bundle) { b.Items[1].Path[0][0] ^= 1 }, seq},
		"the line not JSON":  {func(b *Bundle) { b.Items[1].Line = []byte("not a line") }, place + ")"},
	} {
		_, e := proofChain(t)
		c.edit(e)
		raw := e.Encode()
		_, err := VerifyBundle(raw, SingleKeyset(vecVerifier(t)))
		if err == nil || !strings.Contains(err.Error(), "entry 2 "+c.want) {
			t.Errorf("%s: Go: %v, want entry 2 %s", name, err, c.want)
		}
		py := pythonAnswers(t, bundleRefusal, "x"+hex.EncodeToString([]byte(vecVerifierKey))+"\nx"+hex.EncodeToString(raw)+"\n", 1)
		if !strings.Contains(py[0], "entry 2 "+c.want) {
			t.Errorf("%s: Python: %s, want entry 2 %s", name, py[0], c.want)
		}
	}
}

// bundleRefusal prints the Python checker's refusal of one bundle.
const bundleRefusal = `
import sys
sys.path.insert(0, sys.argv[1])
import check_vectors as cv
lines = sys.stdin.read().split("\n")
keyset = cv.parse_keyset(bytes.fromhex(lines[0][1:]).decode())
try:
    cv.verify_bundle(bytes.fromhex(lines[1][1:]), keyset)
    print("accepted")
except cv.Refused as r:
    print(str(r).replace("\n", " "))
`
