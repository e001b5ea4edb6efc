package httpauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

const file = `
# name token environments
loginrisk 0123456789abcdef-login prod,staging
auditor   0123456789abcdef-audit *
`

func TestAuthorize(t *testing.T) {
	tok, err := Parse(strings.NewReader(file), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		header, env string
		want        error
		name        string
	}{
		{"Bearer 0123456789abcdef-login", "prod", nil, "loginrisk"},
		{"bearer 0123456789abcdef-login", "staging", nil, "loginrisk"},
		{"Bearer 0123456789abcdef-login", "dev", ErrForbidden, ""},
		{"Bearer 0123456789abcdef-audit", "anything", nil, "auditor"},
		{"Bearer 0123456789abcdef-logix", "prod", ErrUnauthenticated, ""},
		{"Basic 0123456789abcdef-login", "prod", ErrUnauthenticated, ""},
		{"0123456789abcdef-login", "prod", ErrUnauthenticated, ""},
		{"", "prod", ErrUnauthenticated, ""},
		{"Bearer ", "prod", ErrUnauthenticated, ""},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		p, err := tok.Authorize(r, c.env, Read)
		if !errors.Is(err, c.want) {
			t.Errorf("%q for %s: error %v, want %v", c.header, c.env, err, c.want)
		}
		if c.want == nil && p.Name != c.name {
			t.Errorf("%q: principal %q, want %q", c.header, p.Name, c.name)
		}
	}
}

func TestParseRefusesBadFiles(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"a 0123456789abcdef", "want 3 or 4 fields"},
		{"a 0123456789abcdef prod read extra", "want 3 or 4 fields"},
		{"a 0123456789abcdef prod write", "want record, read or record,read"},
		{"a 0123456789abcdef prod read,read", "want record, read or record,read"},
		{"a 0123456789abcdef prod read,", "want record, read or record,read"},
		{"a short prod", "shorter than 16"},
		{"a 0123456789abcdef prod\na 0123456789abcdeg prod", `name "a" appears twice`},
		{"a 0123456789abcdef prod\nb 0123456789abcdef dev", "also another name's token"},
		{"a 0123456789abcdef prod,,dev", "comma-separated"},
		{"a 0123456789abcdef prod,*", "comma-separated"},
		{"a 0123456789abcdef\x7f prod", "printable ASCII"},
		{"# nothing\n\n", "no tokens"},
		{"a\x01b 0123456789abcdef prod", "may hold only"},
		{"a\u009bb 0123456789abcdef prod", "may hold only"},
		{"a\xffb 0123456789abcdef prod", "holds the byte 0xff, not UTF-8 at byte 1"},
		{"a\u202eb 0123456789abcdef prod", "may hold only"},
		{"\u0455vc 0123456789abcdef prod", `the name "\u0455vc" holds U+0455 at byte 0`}, // Cyrillic ѕ for s
		{"svc\u3164 0123456789abcdef prod", "may hold only"},
		{`a\u202eb 0123456789abcdef prod`, "may hold only"},
		{`a"b 0123456789abcdef prod`, "may hold only"},
		{strings.Repeat("n", MaxNameLength+1) + " 0123456789abcdef prod", "longer than 128"},
	} {
		_, err := Parse(strings.NewReader(c.file), "f")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.file, err, c.want)
		}
	}
}

// AnyMay: some token of the file may use the environment.
func TestAnyMay(t *testing.T) {
	tk, err := Parse(strings.NewReader("svc 3f9c1d0e8b7a4c2f9e1d7b6a5c4f3e2d staging\n"), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	if !tk.AnyMay("staging", Record) || tk.AnyMay("prod", Record) {
		t.Fatal("AnyMay")
	}
	all, err := Parse(strings.NewReader("auditor 9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d *\n"), "tokens")
	if err != nil || !all.AnyMay("prod", Read) {
		t.Fatalf("a * token: %v", err)
	}
	readers, err := Parse(strings.NewReader("auditor 9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d prod read\n"), "tokens")
	if err != nil || !readers.AnyMay("prod", Read) || readers.AnyMay("prod", Record) {
		t.Fatalf("a read token: %v", err)
	}
}

// A token bound to a use is refused for the other, by name; a line
// without uses may do both, and is listed as such.
func TestUses(t *testing.T) {
	tok, err := Parse(strings.NewReader(`
svc     0123456789abcdef-svc   prod  record
auditor 0123456789abcdef-aud   prod  read
both    0123456789abcdef-both  prod  record,read
old     0123456789abcdef-old   prod
`), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		token string
		use   Use
		ok    bool
	}{
		{"svc", Record, true}, {"svc", Read, false},
		{"aud", Read, true}, {"aud", Record, false},
		{"both", Record, true}, {"both", Read, true},
		{"old", Record, true}, {"old", Read, true},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer 0123456789abcdef-"+c.token)
		_, err := tok.Authorize(r, "prod", c.use)
		if c.ok != (err == nil) || (err != nil && (!errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "not to "+string(c.use)))) {
			t.Errorf("%s for %s: %v", c.token, c.use, err)
		}
	}
	if got := tok.Unscoped(); len(got) != 1 || got[0] != "old" {
		t.Errorf("unscoped %v", got)
	}
}

// Two Authorization headers: which one a proxy in front checked is not
// known, so neither is taken.
func TestTwoAuthorizationHeadersAreRefused(t *testing.T) {
	tok, err := Parse(strings.NewReader(file), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Add("Authorization", "Bearer 0123456789abcdef-login")
	r.Header.Add("Authorization", "Bearer 0123456789abcdef-audit")
	if _, err := tok.Authenticate(r); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("two headers: %v", err)
	}
}

// A token taken out of the file is refused once Watch has read it again;
// a file that does not parse, or cannot be read, leaves the tokens in
// force (and is logged once).
func TestWatchPutsTheFilesTokensInForce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	// Written whole (renamed over the file): os.WriteFile truncates
	// first, and a file seen empty by two looks 10 ms apart (a loaded
	// machine) is a file of no tokens, put in force (5bcb77f).
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path+".new", []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	write("old 0123456789abcdef-old prod read\nkept 0123456789abcdef-kept prod read\n")
	tok, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	core, logs := observer.New(zap.InfoLevel)
	checked := make(chan struct{}, 10)
	go tok.Watch(ctx, path, 10*time.Millisecond, zap.New(core), func(*Tokens) { checked <- struct{}{} })
	known := func(token string) bool {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		_, err := tok.Authenticate(r)
		return err == nil
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5 s: %v", what, logs.All())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if !known("0123456789abcdef-old") {
		t.Fatal("the token before any change")
	}
	write("kept 0123456789abcdef-kept prod read\nnew 0123456789abcdef-new prod read\n") // revoke old, add new
	eventually("the new file in force", func() bool { return known("0123456789abcdef-new") && !known("0123456789abcdef-old") })
	<-checked
	write("kept 0123456789abcdef-kept prod\nbroken\n")
	eventually("the broken file logged", func() bool { return logs.FilterMessageSnippet("does not parse").Len() == 1 })
	if !known("0123456789abcdef-new") || !known("0123456789abcdef-kept") {
		t.Fatal("a broken file took tokens out of force")
	}
	os.Remove(path)
	eventually("the missing file logged", func() bool { return logs.FilterMessageSnippet("cannot be read").Len() == 1 })
	time.Sleep(50 * time.Millisecond)
	if n := logs.FilterMessageSnippet("cannot be read").Len(); n != 1 || !known("0123456789abcdef-new") {
		t.Fatalf("a missing file: %d errors logged, the tokens in force %v", n, known("0123456789abcdef-new"))
	}
}

// A name may use every character the rule allows, up to its length.
func TestNamesTheRuleAllows(t *testing.T) {
	for _, name := range []string{"team/svc@prod:v1+blue_2.x-y", strings.Repeat("n", MaxNameLength)} {
		tok, err := Parse(strings.NewReader(name+" 0123456789abcdef prod record"), "f")
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer 0123456789abcdef")
		if p, err := tok.Authenticate(req); err != nil || p.Name != name {
			t.Fatalf("%q: %+v %v", name, p, err)
		}
	}
}
