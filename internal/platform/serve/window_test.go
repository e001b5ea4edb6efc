package serve

import (
	"bytes"
	"crypto/tls"
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
	ca := testcerts.NewCA(t)
	pair := ca.Server(t, t.TempDir(), "aegis.test", 1)
	cfg, err := TLSFiles{Cert: pair.CertFile, Key: pair.KeyFile}.Config(nil, flag)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Listen(Options{Addr: "127.0.0.1:0", TLS: cfg, AnswerTimeout: time.Second, Logger: zap.NewNop(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"unauthenticated","message":"no bearer token"}`))
		})})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.srv.Close() })

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
	refused := make(chan uint32, 1000)
	go func() { // read what the server sends; acknowledge nothing but its settings
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
			case *http2.RSTStreamFrame: // a stream past the cap (REFUSED_STREAM, or PROTOCOL_ERROR once the settings are acknowledged)
				refused <- f.StreamID
			}
		}
	}()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	const streams = 150 // past MaxStreams
	for i := range streams {
		hb.Reset()
		for _, f := range [][2]string{{":method", "POST"}, {":scheme", "https"}, {":authority", "x"}, {":path", "/v1/decisions"},
			{"content-type", "application/json"}, {"x-pad", strings.Repeat("p", 60<<10)}} {
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
	// While the answers wait for a window, the connection holds at most
	// MaxStreams of them; the rest are refused.
	time.Sleep(300 * time.Millisecond)
	t.Logf("held at 300 ms: %d", runtime.NumGoroutine()-before)
	if held := runtime.NumGoroutine() - before; held > MaxStreams+10 {
		t.Errorf("%d goroutines held by one connection's %d streams, want at most about %d", held, streams, MaxStreams)
	}
	select {
	case <-refused:
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
