package httpapi_test

import (
	"strings"
	"testing"
)

// Ids are any 1 to 256 bytes without control characters, "." and ".."
// among them. The page put them into the lookup's path with
// encodeURIComponent, which leaves dots as they are, and the browser
// resolved the dot segment before asking: decision ".." was looked up as
// /v1/ ("no such endpoint"), user "." as /v1/users/decisions, so such a
// decision, user or session could not be audited on the page at all
// (found by an attack). The service reads them escaped (%2E).
func TestThePageLooksUpDotIDs(t *testing.T) {
	f := setup(t)
	p := openPage(t, f)
	for _, c := range []struct{ hash, want string }{
		{"#decision=..", "404: decision ..: decision not found"},
		{"#decision=.", "404: decision .: decision not found"},
		{"#user=.", "0 decisions"},
		{"#session=..", "0 decisions"},
	} {
		p.open(c.hash)
		got := poll[string](p, `(s => s && s !== "reading…" ? s : null)(document.getElementById("status").textContent)`)
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: the page says %q; want %q", c.hash, got, c.want)
		}
	}
}
