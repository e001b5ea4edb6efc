package serve

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
)

// An HTTP/2 client that sends garbage after the handshake writes no
// warning: an attack (2026-11-30) wrote one a connection, without a
// token or a request, through net/http's HTTP/2 server's error log.
func TestHTTP2GarbageWritesNoWarning(t *testing.T) {
	s, logs := tlsServerLogged(t, prometheus.NewRegistry())
	send := func(payload string) {
		c, err := tls.Dial("tcp", s.Addr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
			t.Fatalf("ALPN %q", p)
		}
		c.Write([]byte(payload))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		c.Close()
	}
	const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	for range 5 {
		send("GET / HTTP/1.1\r\nHost: x\r\n\r\nxxxxxxxx") // not the preface
	}
	// The preface, an empty SETTINGS, then a DATA frame on stream 0 (a
	// connection error, PROTOCOL_ERROR).
	send(preface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00" + "\x00\x00\x01\x00\x00\x00\x00\x00\x00x")
	time.Sleep(300 * time.Millisecond)
	warns := 0
	for _, e := range logs.All() {
		if e.Level >= zapcore.WarnLevel {
			warns++
			t.Logf("%s %s", e.Level, e.Message)
		}
	}
	if warns > 0 {
		t.Errorf("%d warnings written by 6 unauthenticated connections (a client can fill the log at WARN, one line a connection)", warns)
	}
}
