package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/aegisai/audit/internal/platform/shown"
)

const shownRunner = `
global.window = {};
global.crypto = require("crypto").webcrypto;
require(require("path").resolve(process.argv[2]));
const lines = require("fs").readFileSync(0, "utf8").split("\n").filter((l) => l !== "");
for (const l of lines) process.stdout.write(JSON.stringify(window.AegisVerify.shown(JSON.parse(l))) + "\n");
`

// The page shows text from outside (ids, reasons, check details) as aegis
// prints it: a character that would act rather than show (a control, a
// separator, a format character such as U+202E, which would show a user
// id reversed as another) is shown escaped, alike in both for every
// character below. (Node.js's Unicode tables are newer than Go's: a
// character assigned since is shown by the page and escaped by aegis,
// never the other way; an attack counted 10,615 such code points.)
func TestThePageShowsTextAsAegisPrintsIt(t *testing.T) {
	var cases []string
	for c := rune(0); c < 0xa1; c++ {
		cases = append(cases, "x"+string(c)+"y")
	}
	for _, c := range []rune{0xad, 0x61c, 0x1680, 0x180e, 0x200b, 0x200c, 0x200d, 0x200e, 0x200f, 0x2028, 0x2029, 0x202a, 0x202e,
		0x202f, 0x205f, 0x2060, 0x2066, 0x2069, 0x3000, 0xfeff, 0xfff9, 0xfffb, 0xfffd, 0x1d173, 0xe0001, 0xe0041, 0xe007f} {
		cases = append(cases, "x"+string(c)+"y")
	}
	cases = append(cases, "user\u202e-evil", "looks fine\x1b[1A\x1b[2K\x1b[8mhidden", "Zoë 東京-1 😀 e\u0301 ﬀ", "tab\tand\nnewline", "")
	inputs := make([]any, len(cases))
	for i, c := range cases {
		inputs[i] = c
	}
	lines := runPage(t, shownRunner, inputs)
	escaped := 0
	for i, l := range lines {
		var page string
		if err := json.Unmarshal([]byte(l), &page); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if want := shown.String(cases[i]); page != want {
			t.Errorf("%q: the page shows %q, aegis prints %q", cases[i], page, want)
		}
		if page != cases[i] {
			escaped++
		}
	}
	if escaped < 40 {
		t.Fatalf("only %d of %d texts were escaped: the test shows nothing", escaped, len(cases))
	}
}
