package shown

import (
	"bytes"
	"encoding/json"
	"testing"
)

// What aegis prints for people cannot carry a terminal's control
// sequences or reorder its text, whoever wrote it: each such character is
// shown as its escape, a byte that is not UTF-8 as \x, and a character cut
// between two writes is put back together first.
func TestShownWriterEscapesWhatATerminalWouldObey(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain text, ünïcode 東京 😀\tand a tab\n", "plain text, ünïcode 東京 😀\tand a tab\n"},
		{"a\x1b[1A\x1b[2Kb", `a\u001b[1A\u001b[2Kb`},
		{"cr\rbell\x07del\x7f", `cr\u000dbell\u0007del\u007f`},
		{"c1 csi \u009b31m", `c1 csi \u009b31m`},
		{"user\u202eevil\u2066", `user\u202eevil\u2066`},
		{"sep\u2028x\ufeff", `sep\u2028x\ufeff`},
		{"tag\U000e0041", `tag\udb40\udc41`},
		{"bad \xff byte", `bad \xff byte`},
	}
	for _, c := range cases {
		var b bytes.Buffer
		w := &Writer{W: &b}
		// Written a byte at a time: every character is cut somewhere.
		for i := range len(c.in) {
			if _, err := w.Write([]byte{c.in[i]}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("%q: shown as %q, want %q", c.in, b.String(), c.want)
		}
	}
	var b bytes.Buffer
	w := &Writer{W: &b}
	w.Write([]byte("cut \xe6\x9d"))
	w.Flush()
	if b.String() != `cut \xe6\x9d` {
		t.Errorf("a character cut at the end: %q", b.String())
	}
}

// JSON output keeps its meaning: the escapes are JSON's own spelling of
// the same characters.
func TestShownJSONMeansTheSame(t *testing.T) {
	want := map[string]string{"reason": "x\u009b\u202e\u2028\U000e0041\ufeffy"}
	raw, _ := json.Marshal(want)
	var b bytes.Buffer
	w := &Writer{W: &b}
	w.Write(raw)
	var got map[string]string
	if err := json.Unmarshal(b.Bytes(), &got); err != nil || got["reason"] != want["reason"] {
		t.Fatalf("%s read back as %q (%v), want %q", b.String(), got["reason"], err, want["reason"])
	}
	if bytes.Equal(raw, b.Bytes()) {
		t.Fatal("nothing was escaped: the test shows nothing")
	}
}
