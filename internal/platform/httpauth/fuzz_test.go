package httpauth

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// FuzzParse: a token file (outside input: written by hand, mounted from a
// secret store) never panics the parser, and a file it accepts means what
// it says: each line's token authenticates as that line's name only, for
// exactly its environments, and a request with any other Authorization
// header is refused.
func FuzzParse(f *testing.F) {
	f.Add(file, "Bearer 0123456789abcdef-login", "prod")
	f.Add("a 0123456789abcdef x,y\n# c\n\nb 0123456789abcdeg *", "bearer  0123456789abcdeg ", "z")
	f.Add("a 0123456789abcdef ,\n", "Bearer x", "")
	f.Add("a\t0123456789abcdef\tprod\r\n", "Basic 0123456789abcdef", "prod")
	f.Fuzz(func(t *testing.T, text, header, env string) {
		tok, err := Parse(strings.NewReader(text), "tokens")
		if err != nil {
			return
		}
		byToken := map[string][]string{} // token: name, environments
		for _, line := range strings.Split(text, "\n") {
			fields := strings.Fields(line)
			if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
				continue
			}
			if len(fields) != 3 {
				t.Fatalf("accepted a line of %d fields: %q", len(fields), line)
			}
			byToken[fields[1]] = fields
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+fields[1])
			p, err := tok.Authenticate(r)
			if err != nil || p.Name != fields[0] {
				t.Fatalf("token of %q authenticates as %q (%v)", fields[0], p.Name, err)
			}
			want := fields[2] == "*" || slices.Contains(strings.Split(fields[2], ","), env)
			if p.May(env) != want {
				t.Fatalf("%q may use %q: %v, want %v (environments %s)", p.Name, env, p.May(env), want, fields[2])
			}
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", header)
		p, err := tok.Authenticate(r)
		if err != nil {
			return
		}
		scheme, given, _ := strings.Cut(header, " ")
		fields, ok := byToken[strings.TrimSpace(given)]
		if !strings.EqualFold(scheme, "Bearer") || !ok || fields[0] != p.Name {
			t.Fatalf("header %q authenticates as %q", header, p.Name)
		}
	})
}
