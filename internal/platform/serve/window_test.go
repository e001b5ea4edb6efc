package serve

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestAClosedWindowHoldsNoStream: over HTTP/2 a caller opens no
// flow-control window for the answers (SETTINGS_INITIAL_WINDOW_SIZE 0)
// and sends requests with headers near MaxHeaderBytes (HPACK makes them
// cost a few bytes each on the wire). Each is answered at once (401, as
// a service answers a request without a token), but its answer's body
// can never be written: before, the handler waited for the window for as
// long as the connection lived, holding the stream, its headers and its
// goroutine (helper h2, 2026-12-01: 100 streams held 103 goroutines and
// 7.3 MiB after 6 s, past every read, header and idle timeout), and
// anyone who reached the port held 250 such streams a connection. Now
// an answer has AnswerTimeout from its start to be written, and a
// connection carries MaxStreams at once.
func TestAClosedWindowHoldsNoStream(t *testing.T) {
	s := listenTLS(t, Options{AnswerTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"unauthenticated","message":"no bearer token"}`))
	})})
	before := runtime.NumGoroutine()
	c := dialH2(t, s.Addr(), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	const streams = 150 // past MaxStreams
	c.sendStreams(streams, [][2]string{{":method", "POST"}, {":scheme", "https"}, {":authority", "x"}, {":path", "/v1/decisions"},
		{"content-type", "application/json"}, {"x-pad", strings.Repeat("p", 60<<10)}})
	// While the answers wait for a window, the connection holds at most
	// MaxStreams of them; the rest are refused.
	time.Sleep(300 * time.Millisecond)
	t.Logf("held at 300 ms: %d", runtime.NumGoroutine()-before)
	if held := runtime.NumGoroutine() - before; held > MaxStreams+10 {
		t.Errorf("%d goroutines held by one connection's %d streams, want at most about %d", held, streams, MaxStreams)
	}
	select {
	case <-c.reset:
	case <-time.After(5 * time.Second):
		t.Errorf("none of %d streams refused on a connection that carries %d at once", streams, MaxStreams)
	}
	// Past the answer's deadline, they are gone.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine()-before > 10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines still held 10 s after %d answers (401) that a closed window kept from being written; the deadline is 1 s",
				runtime.NumGoroutine()-before, streams)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
