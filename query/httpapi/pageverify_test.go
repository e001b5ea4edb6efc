package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aegisai/audit/shared"
)

// pageRunner loads the page's verify.js into Node.js (the machine's, which
// the local DynamoDB already needs) as a browser would, and answers one
// verdict line for each case line on stdin ({"bundle": base64 of the
// bytes, "keyset": text}). The bytes are decoded as the page decodes the
// service's answer (decodeText).
const pageRunner = `
globalThis.window = globalThis;
const fs = require("fs");
require("vm").runInThisContext(fs.readFileSync(process.argv[2], "utf8"), { filename: "verify.js" });
const lines = fs.readFileSync(0, "utf8").split("\n").filter((l) => l !== "");
(async () => {
  for (const l of lines) {
    const c = JSON.parse(l);
    let out;
    try {
      if (c.only === "checkpoint") { // a signed note, bytes in "bundle"
        const ks = await window.AegisVerify.parseKeyset(c.keyset);
        await window.AegisVerify.openCheckpoint(window.AegisVerify.decodeText(Buffer.from(c.bundle, "base64")), ks);
        process.stdout.write(JSON.stringify({ ok: true }) + "\n");
        continue;
      }
      if (c.only) { // a verifier key or a keyset alone
        await (c.only === "key" ? window.AegisVerify.parseVerifierKey : window.AegisVerify.parseKeyset)(c.keyset);
        process.stdout.write(JSON.stringify({ ok: true }) + "\n");
        continue;
      }
      const text = window.AegisVerify.decodeText(Buffer.from(c.bundle, "base64"));
      const rep = await window.AegisVerify.verifyBundle(text, await window.AegisVerify.parseKeyset(c.keyset));
      const bad = rep.errors.concat(...rep.entries.map((e) => e.checks.filter((k) => !k.ok).map((k) => k.name + ": " + k.detail)));
      out = rep.ok ? { ok: true, action: rep.action, current: rep.currentAction } : { ok: false, why: bad.join("; ") };
    } catch (e) {
      out = { ok: false, why: "threw: " + e.message };
    }
    process.stdout.write(JSON.stringify(out) + "\n");
  }
})();
`

type pageCase struct {
	name   string
	bundle []byte
	keyset string
	only   string // "key" or "keyset": parse keyset alone, as that; "checkpoint": open bundle as a signed note
}

type pageVerdict struct {
	OK      bool   `json:"ok"`
	Action  string `json:"action"`
	Current string `json:"current"`
	Why     string `json:"why"`
}

// runPage runs script in Node.js with page/verify.js loaded, one JSON
// line of input a case, and returns its answer lines, one a case.
func runPage(t *testing.T, script string, inputs []any) []string {
	t.Helper()
	node, runner := nodeScript(t, script)
	var in bytes.Buffer
	for _, x := range inputs {
		line, _ := json.Marshal(x)
		in.Write(append(line, '\n'))
	}
	cmd := exec.Command(node, runner, filepath.Join("page", "verify.js"))
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(inputs) {
		t.Fatalf("the page answered %d of %d cases\n%s", len(lines), len(inputs), stderr.String())
	}
	return lines
}

// nodeScript finds Node.js and writes script to a file for it. Node.js
// missing is a failure, not a skip: the page is what an auditor runs.
func nodeScript(t *testing.T, script string) (node, path string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node (Node.js) is needed to run the page's verifier: %v", err)
	}
	path = filepath.Join(t.TempDir(), "script.js")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	return node, path
}

// pageVerdicts runs the page's verifier on every case.
func pageVerdicts(t *testing.T, cases []pageCase) []pageVerdict {
	t.Helper()
	inputs := make([]any, len(cases))
	for i, c := range cases {
		inputs[i] = map[string]string{"bundle": base64.StdEncoding.EncodeToString(c.bundle), "keyset": c.keyset, "only": c.only}
	}
	lines := runPage(t, pageRunner, inputs)
	verdicts := make([]pageVerdict, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &verdicts[i]); err != nil {
			t.Fatalf("case %s: %q: %v", cases[i].name, l, err)
		}
	}
	return verdicts
}

// proofVector is a vector of testdata/vectors.
type proofVector struct {
	Name, Kind, Expect, Bundle, Note string
	VerifierKey                      string `json:"verifier_key"`
	Keyset                           string
}

// proofVectors are the vectors of kind proof.
func proofVectors(t *testing.T) []proofVector { return vectorsOf(t, "proof") }

func vectorsOf(t *testing.T, kind string) []proofVector {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "vectors", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	var vs []proofVector
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v proofVector
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if v.Kind == kind {
			if v.Keyset == "" {
				v.Keyset = v.VerifierKey
			}
			vs = append(vs, v)
		}
	}
	return vs
}

// respell returns bundle with old replaced by new once (the test fails
// when old is not in it, so that a case never silently tests nothing).
func respell(t *testing.T, bundle []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(bundle, []byte(old)) {
		t.Fatalf("%q is not in the bundle", old)
	}
	return bytes.Replace(bundle, []byte(old), []byte(new), 1)
}

// The auditor's page checks a proof in the browser with verify.js; Go's
// shared.VerifyBundle is what aegis verify-proof runs. They must give the
// same verdict on every bundle: each proof vector, other spellings of an
// accepted bundle (which section 11 refuses: a bundle is canonical JSON
// with exactly its members), and every single-byte change of it. The
// page accepted a bundle with a space in it, and any member order,
// duplicate or extra member, until it checked the canonical form.
func TestThePageVerifiesBundlesAsGoDoes(t *testing.T) {
	var cases []pageCase
	var good proofVector
	for _, v := range proofVectors(t) {
		cases = append(cases, pageCase{name: "vector " + v.Name, bundle: []byte(v.Bundle), keyset: v.Keyset})
		if v.Name == "proof" {
			good = v
		}
	}
	if good.Bundle == "" {
		t.Fatal("no vector named proof")
	}
	bundle, keyset := []byte(good.Bundle), good.Keyset
	entry := func(b []byte) string { // the first entry's text, from its first member to its last
		i := bytes.Index(b, []byte(`{"checkpoint"`))
		return string(b[i : i+bytes.Index(b[i:], []byte(`"size":`))])
	}
	spellings := map[string][]byte{
		"members out of order":        respell(t, bundle, `{"chain":"prod","decision_id":"dec-proved",`, `{"decision_id":"dec-proved","chain":"prod",`),
		"a member twice":              respell(t, bundle, `{"chain":"prod",`, `{"chain":"prod","chain":"prod",`),
		"the decision id twice":       respell(t, bundle, `"decision_id":"dec-proved",`, `"decision_id":"dec-other","decision_id":"dec-proved",`),
		"an extra member":             respell(t, bundle, `"key_id":`, `"note":"x","key_id":`),
		"an extra member in an entry": respell(t, bundle, `{"checkpoint":`, `{"by":"x","checkpoint":`),
		"an escaped slash":            respell(t, bundle, `"object":"audit/`, `"object":"audit\/`),
		"a letter escaped":            respell(t, bundle, `"decision_id":"dec-proved"`, `"decision_id":"dec-pro\u0076ed"`),
		"an index written 4.0":        respell(t, bundle, `"index":4,`, `"index":4.0,`),
		"an index written 4e0":        respell(t, bundle, `"index":4,`, `"index":4e0,`),
		"a newline inside":            respell(t, bundle, `,"entries":`, ",\n\"entries\":"),
		"two newlines at the end":     append(bytes.Clone(bundle), '\n'),
		"no newline at the end":       bytes.TrimSuffix(bundle, []byte("\n")),
		"a byte order mark":           append([]byte("\ufeff"), bundle...),
		"an entry twice":              respell(t, bundle, `"entries":[`, `"entries":[`+entry(bundle)+`"size":7},`),
		"a lone surrogate":            respell(t, bundle, `"key_id":"`, `"key_id":"\ud800`),
		"a noncharacter":              respell(t, bundle, `"key_id":"`, `"key_id":"\ufdd0`),
	}
	for name, b := range spellings {
		cases = append(cases, pageCase{name: name, bundle: b, keyset: keyset})
	}
	for i := range bundle {
		for _, x := range []byte{0x01, 0x20, 0x80} {
			b := bytes.Clone(bundle)
			b[i] ^= x
			cases = append(cases, pageCase{name: "byte " + strconv.Itoa(i) + " xor " + strconv.Itoa(int(x)), bundle: b, keyset: keyset})
		}
	}

	verdicts := pageVerdicts(t, cases)
	agreed, accepted := 0, 0
	for i, c := range cases {
		trusted, err := shared.ParseKeyset(c.keyset)
		if err != nil {
			t.Fatalf("%s: keyset: %v", c.name, err)
		}
		rep, goErr := shared.VerifyBundle(c.bundle, trusted)
		page := verdicts[i]
		switch {
		case goErr == nil && !page.OK:
			t.Errorf("%s: Go accepts, the page refuses: %s", c.name, page.Why)
		case goErr != nil && page.OK:
			t.Errorf("%s: Go refuses (%v), the page accepts", c.name, goErr)
		case goErr == nil && (page.Action != string(rep.Action) || page.Current != string(rep.CurrentAction)):
			t.Errorf("%s: the page says %s, now %s; Go %s, now %s", c.name, page.Action, page.Current, rep.Action, rep.CurrentAction)
		default:
			agreed++
			if goErr == nil {
				accepted++
			}
		}
	}
	t.Logf("%d of %d bundles judged alike (%d accepted by both)", agreed, len(cases), accepted)
	if accepted < 3 {
		t.Fatalf("only %d bundles accepted: the accepting vectors are not being verified", accepted)
	}
}

// The page reads a verifier key, a keyset and a signed checkpoint as Go
// does: every vector of the three kinds, and every single-byte change of
// a good checkpoint, gets the same verdict (a key or checkpoint the page
// takes that Go refuses would let the page trust what aegis verify-proof
// does not).
func TestThePageReadsKeysAndCheckpointsAsGoDoes(t *testing.T) {
	var cases []pageCase
	for _, kind := range []string{"verifier-key", "keyset"} {
		vs := vectorsOf(t, kind)
		if len(vs) < 5 {
			t.Fatalf("%d vectors of kind %s", len(vs), kind)
		}
		for _, v := range vs {
			only := "keyset"
			if kind == "verifier-key" {
				only = "key"
			}
			cases = append(cases, pageCase{name: v.Name, keyset: v.Keyset, only: only})
		}
	}
	// Keys of random 32 bytes (about half are points) and of the edges of
	// the point rule, each under its right key hash.
	pub := func(b []byte) string {
		k := append([]byte{1}, b...)
		h := sha256.Sum256(append([]byte("edge\n"), k...))
		return "edge+" + hex.EncodeToString(h[:4]) + "+" + base64.StdEncoding.EncodeToString(k)
	}
	le := func(n *big.Int, sign byte) []byte { // 32 bytes little-endian, the top bit sign
		b := make([]byte, 32)
		n.FillBytes(b)
		slices.Reverse(b)
		b[31] |= sign << 7
		return b
	}
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	for _, y := range []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(2), new(big.Int).Sub(p, big.NewInt(1)), p, new(big.Int).Add(p, big.NewInt(1)),
		new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(1))} {
		for sign := range byte(2) {
			cases = append(cases, pageCase{name: fmt.Sprintf("y %v sign %d", y, sign), keyset: pub(le(y, sign)), only: "key"})
		}
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 300 {
		b := make([]byte, 32)
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		cases = append(cases, pageCase{name: fmt.Sprintf("random key %d", i), keyset: pub(b), only: "key"})
	}

	// Every checkpoint vector, and every single-byte change of the good one.
	var note proofVector
	for _, v := range vectorsOf(t, "checkpoint") {
		cases = append(cases, pageCase{name: v.Name, bundle: []byte(v.Note), keyset: v.Keyset, only: "checkpoint"})
		if v.Name == "checkpoint" {
			note = v
		}
	}
	if note.Note == "" {
		t.Fatal("no vector named checkpoint")
	}
	for i := range len(note.Note) {
		for _, x := range []byte{0x01, 0x20, 0x80} {
			b := []byte(note.Note)
			b[i] ^= x
			cases = append(cases, pageCase{name: fmt.Sprintf("checkpoint byte %d xor %d", i, x), bundle: b, keyset: note.Keyset, only: "checkpoint"})
		}
	}

	verdicts := pageVerdicts(t, cases)
	points := 0
	for i, c := range cases {
		var goErr error
		switch c.only {
		case "key":
			_, goErr = shared.ParseVerifierKey(c.keyset)
		case "keyset":
			_, goErr = shared.ParseKeyset(c.keyset)
		case "checkpoint":
			ks, err := shared.ParseKeyset(c.keyset)
			if err != nil {
				t.Fatalf("%s: keyset: %v", c.name, err)
			}
			_, goErr = ks.Open(c.bundle)
		}
		if (goErr == nil) != verdicts[i].OK {
			t.Errorf("%s: Go %v, the page ok=%v %s", c.name, goErr, verdicts[i].OK, verdicts[i].Why)
		}
		if goErr == nil && strings.HasPrefix(c.name, "random") {
			points++
		}
	}
	if points < 100 || points > 200 {
		t.Fatalf("%d of 300 random keys are points, want about half: the test is not testing the point rule", points)
	}
	t.Logf("%d keys, keysets and checkpoints (%d of 300 random keys points)", len(cases), points)
}

// compareRunner checks an index answer against signed entries with the
// page's compareAnswer, printing each check's verdict.
const compareRunner = `
globalThis.window = globalThis;
const fs = require("fs");
require("vm").runInThisContext(fs.readFileSync(process.argv[2], "utf8"), { filename: "verify.js" });
const signed = "2026-11-27T09:00:00.120Z";
const rep = { currentAction: "ALLOW", currentSeq: 1, entries: [{ object: "o", index: 0, line: { seq: 1, hash: "h", event: { type: "decision", event_id: "e",
  environment: "prod", occurred_at: signed, decision: { decision_id: "d", action: "ALLOW", confidence_score: 0.5, policy_version: "p",
  user_id: "u", session_id: "s" } } } }] };
// A reused decision id: the later decision answered as the decision, the
// first as the conflicting one (each item its own signed entry).
const dec = (id, action) => ({ type: "decision", event_id: id, environment: "prod", occurred_at: signed,
  decision: { decision_id: "d", action, confidence_score: 0.5, policy_version: "p", user_id: "u", session_id: "s" } });
const two = { currentAction: "ALLOW", currentSeq: 1, entries: [{ object: "o1", index: 0, line: { seq: 1, hash: "h1", event: dec("e1", "ALLOW") } },
  { object: "o2", index: 0, line: { seq: 2, hash: "h2", event: dec("e2", "BLOCK") } }] };
const item = (id, action, seq) => ({ decision_id: "d", event_id: id, environment: "prod", occurred_at: signed, action, confidence_score: 0.5,
  policy_version: "p", user_id: "u", session_id: "s", current_action: "ALLOW", current_seq: 1, proof: { seq, hash: "h" + seq, s3_key: "o" + seq, s3_line: 1 } });
const honest = Object.assign(item("e1", "ALLOW", 1), { conflicting: [item("e2", "BLOCK", 2)] });
const swapped = Object.assign(item("e2", "BLOCK", 2), { conflicting: [item("e1", "ALLOW", 1)] });
console.log("honest", window.AegisVerify.compareAnswer(honest, two).every((c) => c.ok));
console.log("swapped", window.AegisVerify.compareAnswer(swapped, two).every((c) => c.ok));
for (const at of ["2026-11-27T09:00:00.12Z", "2026-11-27T09:00:00.120Z", "2026-11-27T09:00:00.13Z", "2026-11-27T09:00:00Z"]) {
  const h = { decision_id: "d", event_id: "e", environment: "prod", occurred_at: at, action: "ALLOW", confidence_score: 0.5,
    policy_version: "p", user_id: "u", session_id: "s", current_action: "ALLOW", current_seq: 1, proof: { seq: 1, hash: "h", s3_key: "o", s3_line: 1 } };
  console.log(at, window.AegisVerify.compareAnswer(h, rep).every((c) => c.ok));
}
`

// The page's compareAnswer, as Go's CheckProof: a reused decision id's
// later decision answered as the decision is refused (each item matched
// its own signed entry, and the page said VERIFIED), and
// the index answers a time as Go writes it ("…00.12Z"); the signed event
// may write it with trailing zeros ("…00.120Z", which FORMAT.md section 2.2
// allows in events). They are one instant, as Go's CheckProof judges
// them (time.Equal): the page compared the two strings and failed an
// honest answer (found by an attack on the page).
func TestThePageComparesTimesAsInstants(t *testing.T) {
	node, runner := nodeScript(t, compareRunner)
	out, err := exec.Command(node, runner, filepath.Join("page", "verify.js")).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	want := "honest true\nswapped false\n" +
		"2026-11-27T09:00:00.12Z true\n2026-11-27T09:00:00.120Z true\n2026-11-27T09:00:00.13Z false\n2026-11-27T09:00:00Z false\n"
	if string(out) != want {
		t.Fatalf("the page's verdicts on the answer's time against the signed 09:00:00.120Z:\n%s\nwant\n%s", out, want)
	}
}
