package httpapi

import (
	"strings"
	"testing"

	"github.com/aegisai/audit/shared"
)

// Keysets and keys whose spelling differs from an accepted one only in
// whitespace-like characters: the page and Go must agree. The page
// trimmed with JavaScript's trim() and \s, which take a byte order mark
// and more spaces than Go's TrimSpace (found by an attack on the page).
func TestThePageTrimsKeysetsAsGoDoes(t *testing.T) {
	var key string
	for _, v := range vectorsOf(t, "verifier-key") {
		if _, err := shared.ParseVerifierKey(v.Keyset); err == nil {
			key = v.Keyset
			break
		}
	}
	if key == "" {
		t.Fatal("no good key vector")
	}
	cases := []pageCase{
		{name: "single key, byte order mark first", keyset: "\ufeff" + key, only: "keyset"},
		{name: "single key, NEL (U+0085) after", keyset: key + "\u0085", only: "keyset"},
		{name: "single key, NBSP after", keyset: key + "\u00a0", only: "keyset"},
		{name: "keyset line, NBSP after -", keyset: key + " 0 -\u00a0\n", only: "keyset"},
		{name: "keyset line, vertical tab after -", keyset: key + " 0 -\v\n", only: "keyset"},
		{name: "keyset line, form feed before key", keyset: "\f" + key + " 0 -\n", only: "keyset"},
		{name: "keyset line, BOM before key", keyset: "\ufeff" + key + " 0 -\n", only: "keyset"},
		{name: "keyset line, U+2028 after -", keyset: key + " 0 -\u2028\n", only: "keyset"},
		{name: "key alone, space before", keyset: " " + key, only: "key"},
		{name: "key alone, newline after", keyset: key + "\n", only: "key"},
	}
	verdicts := pageVerdicts(t, cases)
	for i, c := range cases {
		var goErr error
		if c.only == "key" {
			_, goErr = shared.ParseVerifierKey(c.keyset)
		} else {
			_, goErr = shared.ParseKeyset(c.keyset)
		}
		if (goErr == nil) != verdicts[i].OK {
			t.Errorf("%s: Go err=%v; the page ok=%v %s", c.name, goErr, verdicts[i].OK, strings.TrimSpace(verdicts[i].Why))
		}
	}
}
