package httpapi_test

import (
	"strings"
	"testing"
)

// Ids are any 1 to 256 bytes without control characters, "." and ".."
// among them. The page put them into the lookup's path with
// encodeURIComponent, which leaves dots as they are, and the browser
// resolved the dot segment before asking (escaped as %2E too, as the URL
// standard says): decision ".." was looked up as /v1/ and the page said
// "no such endpoint", user "." as /v1/users/decisions. No path can carry
// them from a browser; nor can Go's router take a segment "/" (%2F) for a
// wildcard. The page now says that it cannot look them up, and what can
// (found by an attack).
func TestThePageLooksUpDotIDs(t *testing.T) {
	f := setup(t)
	p := openPage(t, f)
	for _, c := range []struct{ hash, want string }{
		{"#decision=..", `the decision id ".." cannot be looked up from the page`},
		{"#decision=.", `the decision id "." cannot be looked up from the page`},
		{"#decision=%2F", `the decision id "/" cannot be looked up from the page (in a request's path it is taken for part of the path): use aegis get`},
		{"#user=.", `the user id "." cannot be looked up from the page (in a request's path it is taken for part of the path): use aegis list`},
		{"#session=..", `the session id ".." cannot be looked up from the page`},
	} {
		p.open(c.hash)
		got := poll[string](p, `(s => s && s !== "reading…" ? s : null)(document.getElementById("status").textContent)`)
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: the page says %q; want %q", c.hash, got, c.want)
		}
	}
}
