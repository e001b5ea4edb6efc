package serve

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/aegisai/audit/internal/testbed/testcerts"
)

// TestAttack35cAnAnswerGoWritesItselfHoldsNoStream: net/http's HTTP/2
// server answers two kinds of request itself, without the Handler it was
// given: a header list over MaxHeaderBytes (431) and a request with a
// connection-specific header such as "connection" or "te: gzip" (400).
// Both answers have a body, which a client that opens no flow-control
// window (SETTINGS_INITIAL_WINDOW_SIZE 0) never lets be written. The
// answer's deadline (AnswerTimeout) is set by the wrapper around the
// Handler, which these answers never pass through: without a token, a
// caller holds MaxStreams streams a connection, each with its headers
// (up to MaxHeaderBytes) and goroutine, for as long as the connection
// lives, as before 2026-12-01 (docs/SECURITY.md, the row of anyone who
// can open a connection: "an answer has 30 s from its first byte to be
// written (the stream is then reset, its handler, headers and goroutine
// freed)").
func TestAttack35cAnAnswerGoWritesItselfHoldsNoStream(t *testing.T) {
	for _, c := range []struct {
		name  string
		extra [][2]string
	}{
		{"400 connection header", [][2]string{{"x-pad", strings.Repeat("p", 60<<10)}, {"connection", "x"}}},
		{"400 te", [][2]string{{"x-pad", strings.Repeat("p", 60<<10)}, {"te", "gzip"}}},
		{"431 headers too large", [][2]string{{"x-pad", strings.Repeat("p", 60<<10)}, {"x-pad2", strings.Repeat("q", 20<<10)}}},
	} {
		t.Run(c.name, func(t *testing.T) { closedWindowStreams(t, c.extra) })
	}
}

func closedWindowStreams(t *testing.T, extra [][2]string) {
	ca := testcerts.NewCA(t)
	pair := ca.Server(t, t.TempDir(), "aegis.test", 1)
	cfg, err := TLSFiles{Cert: pair.CertFile, Key: pair.KeyFile}.Config(nil, flag)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Listen(Options{Addr: "127.0.0.1:0", TLS: cfg, AnswerTimeout: time.Second, Logger: zap.NewNop(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"unauthenticated"}`))
		})})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.srv.Close() })

	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	before := runtime.NumGoroutine()
	c, err := tls.Dial("tcp", s.Addr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(http2.ClientPreface))
	fr := http2.NewFramer(c, c)
	var wmu sync.Mutex // the framer's writes, from this goroutine and the reader's settings acks
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	status := make(chan string, 1000)
	go func() {
		dec := hpack.NewDecoder(4096, nil)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					wmu.Lock()
					fr.WriteSettingsAck()
					wmu.Unlock()
				}
			case *http2.HeadersFrame:
				fs, _ := dec.DecodeFull(f.HeaderBlockFragment())
				for _, h := range fs {
					if h.Name == ":status" {
						select {
						case status <- h.Value:
						default:
						}
					}
				}
			}
		}
	}()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	const streams = MaxStreams
	for i := range streams {
		hb.Reset()
		for _, f := range append([][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "x"}, {":path", "/v1/decisions/d"}}, extra...) {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		id := uint32(2*i + 1)
		wmu.Lock()
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes()[:min(hb.Len(), 16<<10)], EndStream: true, EndHeaders: hb.Len() <= 16<<10})
		for rest := hb.Bytes()[min(hb.Len(), 16<<10):]; len(rest) > 0; {
			n := min(len(rest), 16<<10)
			fr.WriteContinuation(id, n == len(rest), rest[:n])
			rest = rest[n:]
		}
		wmu.Unlock()
	}
	select {
	case st := <-status:
		t.Logf("answered %s", st)
	case <-time.After(5 * time.Second):
		t.Fatal("no answer in 5 s")
	}
	// The deadline is 1 s; give it 6.
	deadline := time.Now().Add(6 * time.Second)
	for runtime.NumGoroutine()-before > 10 {
		if time.Now().After(deadline) {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			t.Fatalf("%d goroutines and %.1f MiB of heap still held 6 s after %d answers that a closed window kept from being written; the answer deadline is 1 s",
				runtime.NumGoroutine()-before, float64(int64(m.HeapAlloc)-int64(m0.HeapAlloc))/(1<<20), streams)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAHandlerMayWaitPastTheAnswerTimeout: the server's WriteTimeout,
// set for the answers Go writes itself, is lifted for the Handler's, over
// HTTP/1 (no write timeout, as before) and HTTP/2 (AnswerTimeout from
// the first byte): a handler that waits (for a seal) longer than
// AnswerTimeout still delivers its whole answer.
func TestAHandlerMayWaitPastTheAnswerTimeout(t *testing.T) {
	ca := testcerts.NewCA(t)
	pair := ca.Server(t, t.TempDir(), "aegis.test", 1)
	cfg, err := TLSFiles{Cert: pair.CertFile, Key: pair.KeyFile}.Config(nil, flag)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 1<<20)
	s, err := Listen(Options{Addr: "127.0.0.1:0", TLS: cfg, AnswerTimeout: 300 * time.Millisecond, Logger: zap.NewNop(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			time.Sleep(time.Second)
			w.Write(body)
		})})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.srv.Close() })
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		res, err := (&http.Client{Transport: tr}).Get(s.URL() + "/v1/x")
		if err != nil {
			t.Fatalf("HTTP/2 %v: %v", h2, err)
		}
		got, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || len(got) != len(body) || res.ProtoMajor != map[bool]int{false: 1, true: 2}[h2] {
			t.Errorf("%s: %d bytes of %d, %v", res.Proto, len(got), len(body), err)
		}
		tr.CloseIdleConnections()
	}
}
