package serve

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// smallWindowDial connects with a small receive buffer, as an attacker
// that means never to read does, so that a little of the server's writing
// fills what the kernel would take.
func smallWindowDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// honestServed reports whether a GET /healthz over HTTP/1 is answered
// within d.
func honestServed(url string, d time.Duration) error {
	cl := &http.Client{Timeout: d, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	res, err := cl.Get(url + "/healthz")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return nil
}

func unauthorized(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write([]byte(`{"error":"unauthenticated","message":"no bearer token"}`))
}

// TestAttack35dAnHTTP1ClientThatNeverReadsHoldsItsPlace: without a
// token, over HTTP/1, a caller pipelines requests (401s, /healthz) on one
// connection and never reads: once the kernel's buffers are full the
// server's write of an answer blocks, and since answerDeadline lifts the
// write deadline for every Handler (so that one may wait for a seal) and
// sets none from the answer's first byte over HTTP/1, nothing ever ends
// it: the connection and its place among MaxConnections are held for as
// long as the caller likes, past the 10 s header, 30 s request, 2 min idle
// and 30 s answer timeouts that docs/SECURITY.md promises (the row of
// anyone who can open a connection: "keep one open past the timeouts").
// --max-connections such callers lock every honest one out. Scaled:
// AnswerTimeout 1 s, MaxConnections 1.
func TestAttack35dAnHTTP1ClientThatNeverReadsHoldsItsPlace(t *testing.T) {
	s, err := Listen(Options{Addr: "127.0.0.1:0", MaxConnections: 1, AnswerTimeout: time.Second, IdleTimeout: time.Second,
		ReadTimeout: time.Second, Logger: zap.NewNop(), Handler: http.HandlerFunc(unauthorized)})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.srv.Close() })
	c := smallWindowDial(t, s.Addr())
	defer c.Close()
	go func() { // write until the server stops reading; never read
		req := []byte("GET /v1/decisions/d HTTP/1.1\r\nHost: x\r\n\r\n")
		for range 100000 {
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(req); err != nil {
				return
			}
		}
	}()
	time.Sleep(4 * time.Second) // four answer timeouts
	if err := honestServed(s.URL(), 3*time.Second); err != nil {
		t.Errorf("an honest request 4 s after a caller stopped reading (answer timeout 1 s, idle 1 s, read 1 s), with one place: %v", err)
	}
}

// TestAttack35dAnHTTP2ClientThatNeverReadsHoldsItsPlace: the same over
// HTTP/2: a caller opens a wide flow-control window, sends requests until
// the server's writes block on the TCP connection, and never reads. Each
// stream's AnswerTimeout resets it, but the RST_STREAM is a frame queued
// behind the blocked write, and the connection itself has no write
// deadline (HTTP2Config.WriteByteTimeout is not set): the streams, their
// handlers, and the connection's place are held for good.
func TestAttack35dAnHTTP2ClientThatNeverReadsHoldsItsPlace(t *testing.T) {
	s := listenTLS(t, Options{MaxConnections: 1, AnswerTimeout: time.Second, IdleTimeout: time.Second,
		ReadTimeout: time.Second, Handler: http.HandlerFunc(unauthorized)})
	raw := smallWindowDial(t, s.Addr())
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(http2.ClientPreface))
	fr := http2.NewFramer(c, c)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
	fr.WriteWindowUpdate(0, 1<<30)
	// Each answer is made large by the caller: a 405 of /healthz repeats
	// the method, 60 KiB of it; MaxStreams of them are more than the
	// kernel's buffers take.
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	go func() {
		for i := range MaxStreams {
			hb.Reset()
			for _, f := range [][2]string{{":method", strings.Repeat("X", 60<<10)}, {":scheme", "https"}, {":authority", "x"}, {":path", "/healthz"}} {
				enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}
			id := uint32(2*i + 1)
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes()[:min(hb.Len(), 16<<10)], EndStream: true, EndHeaders: hb.Len() <= 16<<10})
			for rest := hb.Bytes()[min(hb.Len(), 16<<10):]; len(rest) > 0; {
				n := min(len(rest), 16<<10)
				fr.WriteContinuation(id, n == len(rest), rest[:n])
				rest = rest[n:]
			}
		}
	}()
	time.Sleep(4 * time.Second)
	if err := honestServed(s.URL(), 3*time.Second); err != nil {
		t.Errorf("an honest request 4 s after an HTTP/2 caller stopped reading (answer timeout 1 s, idle 1 s), with one place: %v", err)
	}
}
