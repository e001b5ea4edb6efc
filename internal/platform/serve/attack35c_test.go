package serve

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
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
	s := listenTLS(t, Options{AnswerTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"unauthenticated"}`))
	})})
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	before := runtime.NumGoroutine()
	c := dialH2(t, s.Addr(), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	const streams = MaxStreams
	c.sendStreams(streams, append([][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "x"}, {":path", "/v1/decisions/d"}}, extra...))
	select {
	case st := <-c.status:
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
	body := bytes.Repeat([]byte("x"), 1<<20)
	s := listenTLS(t, Options{AnswerTimeout: 300 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(time.Second)
		w.Write(body)
	})})
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
