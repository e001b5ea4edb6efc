package serve

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/aegisai/audit/internal/testbed/testcerts"
)

// A load balancer's TCP probe (connect, close) on the HTTPS port is a
// failed handshake, and an HTTP/2 client that breaks the protocol (found
// by an attack: a warning a connection) is a client's error: counted,
// logged at debug; a handler's panic stays a warning.
func TestClientErrorsAreCountedNotLogged(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, logs := tlsServerLogged(t, reg)
	for range 3 {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	counter := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "aegis_http_client_errors_total" {
				for _, m := range mf.GetMetric() {
					if m.GetLabel()[0].GetValue() == "tls_handshake" {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return -1
	}
	deadline := time.Now().Add(10 * time.Second)
	for counter() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := counter(); n != 3 {
		t.Fatalf("aegis_http_client_errors_total{kind=\"tls_handshake\"} %v, want 3", n)
	}
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "TLS handshake error") && e.Level != zapcore.DebugLevel {
			t.Errorf("a probe logged at %s: %s", e.Level, e.Message)
		}
	}
	if logs.FilterMessageSnippet("TLS handshake error").Len() != 3 {
		t.Errorf("%d handshake errors logged at debug, want 3", logs.FilterMessageSnippet("TLS handshake error").Len())
	}
	// HTTP/2 garbage is the client's; a handler's panic is the server's.
	s.srv.ErrorLog.Printf("http2: server: error reading preface from client 127.0.0.1:2: bogus greeting")
	if w := logs.FilterLevelExact(zapcore.WarnLevel); w.Len() != 0 {
		t.Errorf("a client's HTTP/2 error is a warning: %v", w.All())
	}
	s.srv.ErrorLog.Printf("http: panic serving 127.0.0.1:1: boom")
	if w := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("panic serving"); w.Len() != 1 {
		t.Errorf("a handler's panic: %d warnings", w.Len())
	}
}

// tlsServerLogged serves HTTPS with a test certificate and its metrics in
// reg, logging at debug to the logs returned.
func tlsServerLogged(t *testing.T, reg *prometheus.Registry) (*Server, *observer.ObservedLogs) {
	t.Helper()
	ca := testcerts.NewCA(t)
	pair := ca.Server(t, t.TempDir(), "aegis.test", 1)
	cfg, err := TLSFiles{Cert: pair.CertFile, Key: pair.KeyFile}.Config(nil, flag)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	s, err := Listen(Options{Addr: "127.0.0.1:0", TLS: cfg, Registry: reg, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.srv.Close() })
	return s, logs
}
