package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/chromedp/chromedp"
	"golang.org/x/mod/sumdb/note"
)

// browser finds a Chromium to drive: AEGIS_CHROMIUM, or the Debian
// packages chromium-headless-shell or chromium (`make browser` installs
// the first). Without one the test fails, unless AEGIS_BROWSER=optional
// (a developer's machine without it): CI must run it.
func browser(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("AEGIS_CHROMIUM"), "chromium-headless-shell", "chromium", "/usr/lib/chromium/chromium"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("AEGIS_BROWSER") == "optional" {
		t.Skip("no Chromium found and AEGIS_BROWSER=optional: the page is not tested here")
	}
	t.Fatal("no Chromium found (chromium-headless-shell or chromium): run `make browser`, or set AEGIS_CHROMIUM; " +
		"AEGIS_BROWSER=optional skips this test where no browser can be installed")
	return ""
}

// page is a headless Chromium on the query service's page.
type page struct {
	t   *testing.T
	ctx context.Context
	f   *fixture
}

func openPage(t *testing.T, f *fixture, flags ...chromedp.ExecAllocatorOption) *page {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		// aegis.test is this machine under a name that is not localhost's:
		// another host, as the browser sees it.
		chromedp.Flag("host-resolver-rules", "MAP aegis.test 127.0.0.1"),
		chromedp.ExecPath(browser(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	opts = append(opts, flags...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	p := &page{t: t, ctx: ctx, f: f}
	// Sign in: the token is kept in the tab's session storage.
	// The first call starts the browser, which lives as long as its
	// context: no timeout on it.
	if err := chromedp.Do(ctx, chromedp.Navigate(f.base+"/"), chromedp.WaitVisible(chromedp.ID("search"))); err != nil {
		t.Fatal(err)
	}
	p.eval(`sessionStorage.setItem("aegis-token", "` + prodToken + `")`)
	return p
}

func (p *page) run(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatal(err)
	}
}

// eval runs a statement in the page.
func (p *page) eval(js string) {
	p.t.Helper()
	if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool]("("+js+", true)")); err != nil {
		p.t.Fatal(err)
	}
}

// poll waits until the expression is truthy and returns its value.
func poll[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Poll[T](expr, chromedp.WithPollingTimeout(60*time.Second)))
	if err != nil {
		p.t.Fatalf("waiting for %s: %v", expr, err)
	}
	return v
}

// open loads the page at hash (a fresh load, so the token and key are
// read again) and waits until it has started.
func (p *page) open(hash string) {
	p.t.Helper()
	p.run(chromedp.Navigate(p.f.base + "/?" + time.Now().Format("150405.000000") + hash))
	poll[bool](p, `document.body.dataset.ready === "true"`)
}

// verdict waits for the element's verdict and returns it with the page's
// checks.
func (p *page) verdict(id, checks string) (string, string) {
	p.t.Helper()
	v := poll[string](p, `(v => v === "pass" || v === "fail" ? v : null)(document.getElementById("`+id+`").dataset.verdict)`)
	return v, p.text("#" + checks)
}

// text is the text of the element selected (CSS).
func (p *page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// The auditor's page in a real browser: lookups by user and decision, a
// decision's proof checked in the browser (entry hashes, Merkle paths,
// Ed25519 checkpoint signatures), and every kind of tampering shown as a
// failure.
func TestPageInBrowser(t *testing.T) {
	f := setup(t)
	p := openPage(t, f)

	t.Run("a user's decisions, newest first, with a next page", func(t *testing.T) {
		p.open("")
		p.run(chromedp.SetValue(chromedp.ID("kind"), "user"), chromedp.SetValue(chromedp.ID("q"), f.user),
			chromedp.SetValue(chromedp.ID("limit"), "2"), chromedp.Click(chromedp.CSS(`#search button`)))
		poll[bool](p, `document.querySelectorAll("#list tbody tr").length === 2`)
		p.run(chromedp.Click(chromedp.ID("more")))
		poll[bool](p, `document.querySelectorAll("#list tbody tr").length === 4`)
		rows := p.text("#list tbody")
		if n := strings.Count(rows, "loginrisk") + strings.Count(rows, "(not stated)"); n != 4 {
			t.Fatalf("%d rows say whom their decision was recorded for, want 4: %s", n, rows)
		}
		last := -1
		for _, id := range f.userDecisions[:4] {
			at := strings.Index(rows, id)
			if at < 0 || at < last {
				t.Fatalf("%s not listed after the newer ones: %s", id, rows)
			}
			last = at
		}
	})

	t.Run("a link that cannot be followed leaves no other decision on screen", func(t *testing.T) {
		p.open("#decision=" + f.good)
		if v, checks := p.verdict("verdict", "checks"); v != "pass" {
			t.Fatalf("verdict %s: %s", v, checks)
		}
		// The hash changes without a reload, as a link followed in the
		// page: a bad escape (helper h1's "50%off"), then an unknown id.
		for _, c := range []struct{ hash, status string }{
			{"#decision=50%off", "not percent-encoded"},
			{"#decision=no-such-decision-35", "no-such-decision-35"},
		} {
			p.eval(`location.hash = ` + strconv.Quote(c.hash))
			st := poll[string](p, `(s => s.className === "fail" && s.textContent.includes(`+strconv.Quote(c.status)+`) ? s.textContent : null)(document.getElementById("status"))`)
			if hidden := poll[string](p, `String(document.getElementById("decision").hidden)`); hidden != "true" {
				t.Fatalf("%s: the earlier decision is still shown under %q", c.hash, st)
			}
			// Back to the good one, shown again before the next case.
			p.eval(`location.hash = "#decision=` + f.good + `"`)
			poll[bool](p, `!document.getElementById("decision").hidden`)
			if v, checks := p.verdict("verdict", "checks"); v != "pass" {
				t.Fatalf("back to %s: verdict %s: %s", f.good, v, checks)
			}
		}
	})

	t.Run("a decision verifies", func(t *testing.T) {
		p.open("#decision=" + f.good)
		v, checks := p.verdict("verdict", "checks")
		if v != "pass" {
			t.Fatalf("verdict %s: %s", v, checks)
		}
		for _, want := range []string{"entry hash: SHA-256 recomputed", "checkpoint signature: Ed25519 by", "Merkle path to the signed root", "current state"} {
			if !strings.Contains(checks, want) {
				t.Fatalf("checks lack %q: %s", want, checks)
			}
		}
		if hist := p.text("#history tbody"); !strings.Contains(hist, "override to") || strings.Count(hist, "✓") < 2 {
			t.Fatalf("history %s", hist)
		}
		if key := p.text("#key-source"); !strings.Contains(key, "the key this service gave") {
			t.Fatalf("the page does not say which key it trusts: %q", key)
		}
		// A verdict against the service's own key says so, with the whole
		// key (a key id's 8 hex digits can be matched by another key).
		pub := hex.EncodeToString(verifierPub(t, f.p.Cfg.VerifierKey))
		if text := p.text("#verdict"); !strings.Contains(text, "against the key this service gave") || !strings.Contains(text, "Ed25519 public key "+pub) {
			t.Fatalf("verdict %q: want it to say it rests on the service's key %s", text, pub)
		}
	})

	// A decision's overrides in pages: each page shows and proves its
	// overrides and the override that set the current state.
	t.Run("a decision's overrides in pages verify", func(t *testing.T) {
		p.open("#decision=" + f.paged)
		if v, checks := p.verdict("verdict", "checks"); v != "pass" {
			t.Fatalf("all on one page: verdict %s: %s", v, checks)
		}
		p.eval(`document.getElementById("limit").value = "1"`)
		p.eval(`document.getElementById("search").requestSubmit()`)
		poll[bool](p, `document.querySelector("#history tbody").textContent.includes("(current; on a later page)")`)
		if v, checks := p.verdict("verdict", "checks"); v != "pass" || !strings.Contains(checks, "the signed entries say REVIEW") {
			t.Fatalf("the first page of one override: verdict %s: %s", v, checks)
		}
		if hist := p.text("#history tbody"); !strings.Contains(hist, "override to ALLOW") || strings.Contains(hist, "override to BLOCK") || strings.Count(hist, "✓") != 3 {
			t.Fatalf("the first page's history: %s", hist)
		}
		p.run(chromedp.Click(chromedp.ID("overrides-more")))
		poll[bool](p, `document.querySelector("#history tbody").textContent.includes("override to BLOCK")`)
		if v, checks := p.verdict("verdict", "checks"); v != "pass" {
			t.Fatalf("the second page: verdict %s: %s", v, checks)
		}
		if hist := p.text("#history tbody"); strings.Contains(hist, "override to ALLOW") || !strings.Contains(hist, "override to REVIEW (current") {
			t.Fatalf("the second page's history: %s", hist)
		}
	})

	// The page trusts the key, not the service: a service (or anything in
	// front of it) that answers the asked decision with another one, with
	// that one's genuine history and bundle, is not a verified answer for
	// the decision asked. Before, the page said VERIFIED.
	t.Run("a service that answers another decision than the one asked fails", func(t *testing.T) {
		var other string
		for _, d := range f.w.Decisions {
			if id := d.Decision.DecisionID; id != f.good && id != f.tamperedAction && id != f.tamperedLine {
				other = id
			}
		}
		target, err := url.Parse(f.base)
		if err != nil {
			t.Fatal(err)
		}
		proxy := httputil.NewSingleHostReverseProxy(target)
		liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rest, ok := strings.CutPrefix(r.URL.Path, "/v1/decisions/"+f.good); ok {
				r.URL.Path, r.URL.RawPath = "/v1/decisions/"+other+rest, ""
			}
			proxy.ServeHTTP(w, r)
		}))
		defer liar.Close()
		via := *f
		via.base = liar.URL
		q := openPage(t, &via)
		q.open("#decision=" + f.good)
		v, checks := q.verdict("verdict", "checks")
		if v != "fail" || !strings.Contains(checks, "asked for "+f.good) {
			t.Fatalf("verdict %s: %s", v, checks)
		}
		q.open("#decision=" + other) // the same service, asked for what it answers
		if v, checks := q.verdict("verdict", "checks"); v != "pass" || !strings.Contains(q.text("#verdict"), other) {
			t.Fatalf("verdict %s (%s): %s", v, q.text("#verdict"), checks)
		}
	})

	t.Run("an index item that differs from S3 fails", func(t *testing.T) {
		f.tamper(t, f.tamperedAction, "action", &types.AttributeValueMemberS{Value: "ALLOW"})
		f.tamper(t, f.tamperedAction, "user_id", &types.AttributeValueMemberS{Value: "someone-else"})
		p.open("#decision=" + f.tamperedAction)
		v, checks := p.verdict("verdict", "checks")
		if v != "fail" || !strings.Contains(checks, "the index differs from the signed entry in action") || !strings.Contains(checks, "user_id") {
			t.Fatalf("verdict %s: %s", v, checks)
		}
		if !strings.Contains(checks, "✓ seq") { // the signed entries themselves still verify
			t.Fatalf("checks %s", checks)
		}
	})

	// What the page shows set the current state ("set by the override at
	// seq N") is checked too: before, it was shown unchecked under
	// VERIFIED (security review).
	t.Run("an index item naming another entry as what set its state fails", func(t *testing.T) {
		overridden := map[string]bool{}
		for _, o := range f.w.Overrides {
			overridden[o.Override.DecisionID] = true
		}
		var plain string
		for _, d := range f.w.Decisions {
			if id := d.Decision.DecisionID; !overridden[id] && id != f.tamperedLine {
				plain = id
			}
		}
		f.tamper(t, plain, "current_seq", &types.AttributeValueMemberN{Value: "1000001"})
		p.open("#decision=" + plain)
		v, checks := p.verdict("verdict", "checks")
		if v != "fail" || !strings.Contains(checks, "current state set by") || !strings.Contains(checks, "the index says seq 1000001") {
			t.Fatalf("verdict %s: %s", v, checks)
		}
	})

	// Whom an event was recorded for (recorded_by) is shown, and checked:
	// an index that names another credential, or one where the event
	// states none, fails.
	t.Run("an index item that changes whom a decision was recorded for fails", func(t *testing.T) {
		var stated, unstated string
		for _, d := range f.w.Decisions {
			switch id := d.Decision.DecisionID; {
			case id == f.good || id == f.tamperedAction || id == f.tamperedLine:
			case d.RecordedBy != "" && stated == "":
				stated = id
			case d.RecordedBy == "" && unstated == "":
				unstated = id
			}
		}
		p.open("#decision=" + stated)
		if v, checks := p.verdict("verdict", "checks"); v != "pass" || !strings.Contains(p.text("#d-fields"), "recorded byloginrisk") ||
			!strings.Contains(p.text("#history tbody"), "policy policy-2026.11loginrisk") {
			t.Fatalf("untouched: verdict %s: %s; fields %s", v, checks, p.text("#d-fields"))
		}
		for _, id := range []string{stated, unstated} {
			f.tamper(t, id, "recorded_by", &types.AttributeValueMemberS{Value: "token:admin"})
			p.open("#decision=" + id)
			if v, checks := p.verdict("verdict", "checks"); v != "fail" || !strings.Contains(checks, "recorded_by (index \"token:admin\"") {
				t.Fatalf("recorded_by changed in the index of %s: verdict %s: %s", id, v, checks)
			}
		}
	})

	t.Run("an index item pointing where S3 has no such entry fails", func(t *testing.T) {
		f.tamper(t, f.tamperedLine, "s3_line", &types.AttributeValueMemberN{Value: "999"})
		p.open("#decision=" + f.tamperedLine)
		v, checks := p.verdict("verdict", "checks")
		if checks += p.text("#verdict"); v != "fail" || !strings.Contains(checks, "proof_failed") || !strings.Contains(checks, "line 999") {
			t.Fatalf("verdict %s: %s; verdict text %s", v, checks, p.text("#verdict"))
		}
	})

	t.Run("a checkpoint key other than the trusted one fails", func(t *testing.T) {
		_, other, err := note.GenerateKey(rand.Reader, "aegis-"+f.p.Cfg.Chain)
		if err != nil {
			t.Fatal(err)
		}
		p.eval(`sessionStorage.setItem("aegis-key", "` + other + `")`)
		defer p.eval(`sessionStorage.removeItem("aegis-key")`)
		p.open("#decision=" + f.good)
		v, checks := p.verdict("verdict", "checks")
		if v != "fail" || !strings.Contains(checks, "checkpoint signed by another key") {
			t.Fatalf("verdict %s: %s", v, checks)
		}
		if key := p.text("#key-source"); !strings.Contains(key, "your own key") {
			t.Fatalf("key source %q", key)
		}
	})

	t.Run("a keyset that retired the key before the checkpoint fails", func(t *testing.T) {
		// The chain's own key, trusted only for seq 0 (its genesis
		// checkpoint), then another key: every later checkpoint is the
		// retired key's, after its range.
		_, other, err := note.GenerateKey(rand.Reader, "aegis-next")
		if err != nil {
			t.Fatal(err)
		}
		keyset := f.p.Cfg.VerifierKey + " 0 0\\n" + other + " 1 -\\n"
		p.eval(`sessionStorage.setItem("aegis-key", "` + keyset + `")`)
		defer p.eval(`sessionStorage.removeItem("aegis-key")`)
		p.open("#decision=" + f.good)
		v, checks := p.verdict("verdict", "checks")
		if v != "fail" || !strings.Contains(checks, "which is trusted only for seqs 0 to 0") {
			t.Fatalf("verdict %s: %s", v, checks)
		}
	})

	t.Run("a keyset whose range holds the checkpoints verifies", func(t *testing.T) {
		_, other, err := note.GenerateKey(rand.Reader, "aegis-next")
		if err != nil {
			t.Fatal(err)
		}
		keyset := "# rotated far ahead\\n" + f.p.Cfg.VerifierKey + " 0 1000000\\n" + other + " 1000001 -\\n"
		p.eval(`sessionStorage.setItem("aegis-key", "` + keyset + `")`)
		defer p.eval(`sessionStorage.removeItem("aegis-key")`)
		p.open("#decision=" + f.good)
		if v, checks := p.verdict("verdict", "checks"); v != "pass" {
			t.Fatalf("verdict %s: %s", v, checks)
		}
		if text := p.text("#verdict"); !strings.Contains(text, "against your key") || strings.Contains(text, "this service gave") {
			t.Fatalf("verdict %q: want it to rest on the auditor's key", text)
		}
	})

	t.Run("bundles pasted into the page", func(t *testing.T) {
		r := call(t, "GET", f.base+"/v1/decisions/"+f.good+"/proof", prodToken)
		if r.status != 200 {
			t.Fatalf("proof: %d %s", r.status, r.body)
		}
		bundle := string(r.body)
		i := strings.Index(bundle, `"path":["`) + len(`"path":["`)
		flip := func(s string, at int) string {
			c := byte('0')
			if s[at] == '0' {
				c = '1'
			}
			return s[:at] + string(c) + s[at+1:]
		}
		j := strings.Index(bundle, `\"user_id\":\"`) + len(`\"user_id\":\"`)
		k := strings.Index(bundle, "\\n\\n\u2014 ") - 3 // inside the checkpoint's time line
		for _, c := range []struct{ name, bundle, verdict, want string }{
			{"as served", bundle, "pass", "VERIFIED: decision " + f.good},
			{"one Merkle path hash changed", flip(bundle, i+5), "fail", "✗ seq"},
			{"a user id changed in a line", flip(bundle, j), "fail", "its bytes hash to"},
			{"a checkpoint's text changed", flip(bundle, k), "fail", "signature does not verify"},
		} {
			p.open("")
			p.run(chromedp.SetValue(chromedp.ID("bundle"), c.bundle), chromedp.Click(chromedp.ID("check-bundle")))
			v, checks := p.verdict("bundle-verdict", "bundle-checks")
			if v != c.verdict || !strings.Contains(checks+p.text("#bundle-verdict"), c.want) {
				t.Fatalf("%s: verdict %s, want %s with %q: %s", c.name, v, c.verdict, c.want, checks)
			}
		}
	})
}

// verifierPub is the Ed25519 public key of a verifier key's text
// (name+hash+base64 of 0x01 and the key).
func verifierPub(t *testing.T, vkey string) []byte {
	t.Helper()
	parts := strings.SplitN(vkey, "+", 3)
	raw, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if len(parts) != 3 || err != nil || len(raw) != 33 {
		t.Fatalf("verifier key %q: %v", vkey, err)
	}
	return raw[1:]
}
