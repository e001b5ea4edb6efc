package httpapi_test

import (
	"net"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/aegisai/audit/internal/platform/serve"
	"github.com/aegisai/audit/internal/testbed/testcerts"
)

// The page opened from another machine. Over plain HTTP the browser gives
// it no WebCrypto: it says it checked nothing and why, for a decision and
// for a pasted bundle (before: "FAILED: no usable verifier key", as if the
// evidence were bad). Served over HTTPS (aegis query --tls-cert-file) the
// same decision verifies there.
func TestPageFromAnotherMachine(t *testing.T) {
	f := setup(t)
	cert := testcerts.NewCA(t).Server(t, t.TempDir(), "aegis.test", 1)
	cfg, err := serve.TLSFiles{Cert: cert.CertFile, Key: cert.KeyFile}.Config(nil, func(s string) string { return "--" + s })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := serve.Listen(serve.Options{Addr: "127.0.0.1:0", Handler: f.handler, TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	defer srv.Shutdown(t.Context())
	_, port, _ := net.SplitHostPort(srv.Addr())
	_, plainPort, _ := net.SplitHostPort(strings.TrimPrefix(f.base, "http://"))

	t.Run("over plain HTTP nothing is checked, and the page says so", func(t *testing.T) {
		via := *f
		via.base = "http://aegis.test:" + plainPort
		p := openPage(t, &via)
		p.open("#decision=" + f.good)
		v := poll[string](p, `(v => v === "pass" || v === "fail" || v === "unavailable" ? v : null)(document.getElementById("verdict").dataset.verdict)`)
		if text := p.text("#verdict"); v != "unavailable" || !strings.Contains(text, "NOT CHECKED: this page was opened over plain HTTP (http://aegis.test:") ||
			!strings.Contains(text, "--tls-cert-file") || !strings.Contains(text, "not a failed verification") {
			t.Fatalf("verdict %s: %s", v, text)
		}
		if hist := p.text("#history tbody"); !strings.Contains(hist, "override to") || strings.Contains(hist, "✗") {
			t.Fatalf("the lookup itself still shows the history, unchecked: %s", hist)
		}
		p.run(chromedp.SetValue(chromedp.ID("bundle"), "anything"), chromedp.Click(chromedp.ID("check-bundle")))
		v = poll[string](p, `(v => v === "pass" || v === "fail" || v === "unavailable" ? v : null)(document.getElementById("bundle-verdict").dataset.verdict)`)
		if text := p.text("#bundle-verdict"); v != "unavailable" || !strings.Contains(text, "NOT CHECKED") {
			t.Fatalf("bundle verdict %s: %s", v, text)
		}
	})

	t.Run("over HTTPS the page verifies", func(t *testing.T) {
		via := *f
		via.base = "https://aegis.test:" + port
		p := openPage(t, &via, chromedp.Flag("ignore-certificate-errors-spki-list", cert.SPKI()))
		p.open("#decision=" + f.good)
		if v, checks := p.verdict("verdict", "checks"); v != "pass" || !strings.Contains(checks, "checkpoint signature: Ed25519 by") {
			t.Fatalf("verdict %s: %s", v, checks)
		}
	})
}
