package shared

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// objectFirstFailure reads each body as the Python reference checker reads
// a batch object before the chain checks (section 8 step 2: split the lines
// under section 1, then check each line alone) and returns, per body, "ok
// <lines>" or "fail <line>" for its first failure.
const objectFirstFailure = `
import sys
sys.path.insert(0, sys.argv[1])
import check_vectors as cv
for h in sys.stdin.read().split():
    body = bytes.fromhex(h[1:])
    try:
        lines = cv.split_lines(body, "k")
        for i, ln in enumerate(lines):
            try:
                cv.check_line(ln)
            except cv.Refused as r:
                raise cv.LogFail("k", str(r), i + 1)
        print("ok", len(lines))
    except cv.LogFail as f:
        print("fail", f.line if f.line is not None else 0)
`

// pythonFirstFailures runs objectFirstFailure on bodies.
func pythonFirstFailures(t *testing.T, bodies [][]byte) []string {
	t.Helper()
	var in strings.Builder
	for _, b := range bodies {
		in.WriteString("x" + hex.EncodeToString(b) + "\n")
	}
	return pythonAnswers(t, objectFirstFailure, in.String(), len(bodies))
}

// pythonAnswers runs script, Python with the reference checker's folder
// as sys.argv[1] and args after it, on input, and returns its output
// lines, failing the test unless there are want of them.
func pythonAnswers(t *testing.T, script, input string, want int, args ...string) []string {
	t.Helper()
	dir, err := filepath.Abs(vectorDir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", append([]string{"-c", script, dir}, args...)...)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%.2000s", err, out)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(got) != want {
		t.Fatalf("python3 answered %d of %d:\n%.2000s", len(got), want, out)
	}
	return got
}

func TestParseObjectFailsWherePythonDoes(t *testing.T) {
	_, lines := testChain(t, 3)
	good, bad := lines[1], bytes.Replace(lines[2], []byte(`"u1"`), []byte(`"u9"`), 1) // bad: hash mismatch
	join := func(ls ...string) []byte { return []byte(strings.Join(ls, "\n")) }
	g, b := string(good), string(bad)
	bodies := objectSeeds(t)
	bodies = append(bodies,
		join(g, "", g),                    // empty line 2, no final newline: line 2, not 3
		join(g, g+"\r", g, "", g, ""),     // CR on line 2 before an empty line 4
		join("\xef\xbb\xbf"+g, g, "", ""), // BOM before an empty line 3
		join(g, "\xff", g, "", ""),        // not UTF-8 on line 2, empty line 4
		join(b, g+"\r", ""),               // a bad hash on line 1, a CR on line 2: section 1 first
		join(b, "\xc0\xaf", ""),           // an overlong '/' on line 2
		join(b, g, g+"\u2028", ""),        // U+2028 is not a line break: line 1
		join(g, b, "\x00", ""),            // NUL: a bad line 3, but line 2 is first
		join(g, "\r", ""),                 // a lone CR as a line
		join(g, g), []byte("\r"), []byte("\xef\xbb\xbf\n"),
	)
	// And bodies cut from a sound object by one to three random edits of
	// the kinds above (a fixed seed: the same bodies every run).
	sound := append(bytes.Join(lines, []byte("\n")), '\n')
	edits := []string{"\r", "\n", "\n\n", "\xff", "\xef\xbb\xbf", "\x00", " ", "\u2028", "\xc0\xaf", ""}
	rng := rand.New(rand.NewPCG(5, 29))
	for range 400 {
		b := bytes.Clone(sound)
		for range 1 + rng.IntN(3) {
			at := rng.IntN(len(b) + 1)
			switch e := edits[rng.IntN(len(edits))]; {
			case e == "" && at < len(b):
				b = append(b[:at], b[at+1:]...) // a byte deleted
			case e == "":
				b = b[:rng.IntN(len(b))] // cut
			default:
				b = append(b[:at], append([]byte(e), b[at:]...)...)
			}
		}
		bodies = append(bodies, b)
	}
	want := pythonFirstFailures(t, bodies)
	for i, body := range bodies {
		entries, _, err := ParseObject("k", 1, body)
		var f *Failure
		got := fmt.Sprintf("ok %d", len(entries))
		if errors.As(err, &f) {
			got = fmt.Sprintf("fail %d", f.Line)
		} else if err != nil {
			t.Fatalf("%q: not a *Failure: %v", body, err)
		}
		if got != want[i] {
			t.Errorf("%q: Go %s (%v), Python %s", clip(string(body)), got, err, want[i])
		}
	}
}
