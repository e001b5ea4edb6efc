package main

import (
	"crypto/tls"
	"os"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/internal/platform/serve"
	"github.com/aegisai/audit/internal/testbed/testcerts"
)

// An API served in the clear where other machines reach it is logged as
// such, once, naming the settings that serve HTTPS; on loopback or over
// TLS nothing is said.
func TestPlainHTTPOffThisMachineIsWarnedOf(t *testing.T) {
	cert := testcerts.NewCA(t).Server(t, t.TempDir(), "query.test", 1)
	tlsCfg, err := (&common{}).serveTLS(serve.TLSFiles{Cert: cert.CertFile, Key: cert.KeyFile}, zap.NewNop())
	if err != nil || tlsCfg == nil {
		t.Fatal(tlsCfg, err)
	}
	for _, c := range []struct {
		addr string
		tls  *tls.Config
		warn bool
	}{
		{"0.0.0.0:0", nil, true},
		{"127.0.0.1:0", nil, false},
		{"0.0.0.0:0", tlsCfg, false},
	} {
		core, logs := observer.New(zapcore.WarnLevel)
		srv, err := listenAPI(serve.Options{Addr: c.addr, TLS: c.tls}, "--addr", "", zap.New(core))
		if err != nil {
			t.Fatal(err)
		}
		srv.Shutdown(t.Context())
		warned := logs.Len() == 1 && strings.Contains(logs.All()[0].Message, "--tls-cert-file and --tls-key-file")
		if warned != c.warn || (!c.warn && logs.Len() > 0) {
			t.Errorf("%s (TLS %v): warnings %v", c.addr, c.tls != nil, logs.All())
		}
	}
	if _, err := listenAPI(serve.Options{Addr: "no-port"}, "--addr", "", zap.NewNop()); err == nil || !strings.HasPrefix(err.Error(), "--addr: ") {
		t.Errorf("a bad address: %v", err)
	}
}

func TestTLSSettingsOfTheServicesAreChecked(t *testing.T) {
	tokens := writeFile(t, "tokens", "svc 3f9c1d0e8b7a4c2f9e1d7b6a5c4f3e2d prod")
	cert := testcerts.NewCA(t).Server(t, t.TempDir(), "ingest.test", 1)
	code, out := aegis(t, "ingest", "--chain", "prod", "--tokens-file", tokens, "--listen", "127.0.0.1:0", "--tls-cert-file", cert.CertFile)
	if code != exitFailed || !strings.Contains(out, "--tls-cert-file (AEGIS_TLS_CERT_FILE) and --tls-key-file (AEGIS_TLS_KEY_FILE) go together") {
		t.Fatalf("ingest with a certificate and no key: exit %d: %s", code, out)
	}
	code, out = aegis(t, "query", "--chain", "prod", "--token-file", tokens, "--tls-cert-file", cert.CertFile, "--tls-key-file", cert.CertFile)
	if code != exitFailed || !strings.Contains(out, "--tls-key-file (AEGIS_TLS_KEY_FILE) "+cert.CertFile) {
		t.Fatalf("query with the certificate as its key: exit %d: %s", code, out)
	}
}

// A token file line without uses is named at start: it may both record
// and read; and a token file others may read is warned of.
func TestTokensWithoutUsesAreWarnedOf(t *testing.T) {
	tokens, err := httpauth.Parse(strings.NewReader("old 0123456789abcdef-old prod\nsvc 0123456789abcdef-svc prod record\n"), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	file := writeFile(t, "tokens", "(the file's mode is what is checked here)")
	warnTokens(zap.New(core), tokens, file, "--tokens-file")
	if logs.Len() != 1 || !strings.Contains(logs.All()[0].Message, "record or read as the line's fourth field") ||
		logs.All()[0].ContextMap()["tokens"] == nil {
		t.Fatalf("%v", logs.All())
	}
	if names := logs.All()[0].ContextMap()["tokens"].([]any); len(names) != 1 || names[0] != "old" {
		t.Fatalf("named %v", names)
	}
}

func TestATokenFileOthersMayReadIsWarnedOf(t *testing.T) {
	tokens, err := httpauth.Parse(strings.NewReader("svc 0123456789abcdef-svc prod record\n"), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, "tokens", "svc 0123456789abcdef-svc prod record")
	for mode, warn := range map[os.FileMode]bool{0o600: false, 0o640: false, 0o644: true, 0o604: true} {
		if err := os.Chmod(file, mode); err != nil {
			t.Fatal(err)
		}
		core, logs := observer.New(zapcore.WarnLevel)
		warnTokens(zap.New(core), tokens, file, "--token-file")
		if got := logs.Len() == 1 && strings.Contains(logs.All()[0].Message, "chmod 600"); got != warn || logs.Len() > 1 {
			t.Errorf("mode %#o: warnings %v", mode, logs.All())
		}
	}
}

// What --metrics-addr serves is logged; the profiler where other machines
// reach it is warned of (operators' trial: nothing was said).
func TestTheProfilerOffThisMachineIsWarnedOf(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		pprof bool
		warn  bool
	}{
		{"0.0.0.0:9100", true, true},
		{"127.0.0.1:9100", true, false},
		{"0.0.0.0:9100", false, false},
	} {
		core, logs := observer.New(zapcore.InfoLevel)
		c := &common{pprof: tc.pprof}
		c.logOperational(zap.New(core), tc.addr)
		warned := len(logs.FilterMessageSnippet("serving Go's profiler").All()) == 1
		if warned != tc.warn || len(logs.FilterMessageSnippet("serving /healthz, /readyz and /metrics").All()) != 1 {
			t.Errorf("%s pprof %v: %v", tc.addr, tc.pprof, logs.All())
		}
	}
}
