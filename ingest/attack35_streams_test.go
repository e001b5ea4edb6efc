package ingest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegisai/audit/internal/platform/httpauth"
)

// TestATokensSlowBodiesHoldABoundedShare: a caller with a token to
// record sends bodies and holds back their last byte. Each request is
// authenticated, then read into memory until the server's read timeout
// (30 s); HTTP/2 carries 250 such requests a connection, and
// --max-connections (10,000) was the only cap: an outside trial
// (helper h1, 2026-12-01) held 125 to 138 MiB with one token's 1,000
// bodies of 60 KiB over 4 connections, and at the caps that is hundreds
// of GiB: the ingest process's memory, and with it every other
// producer's decisions. Now one token's bodies read at once are at most
// --max-reading-per-token and everyone's --max-reading: beyond, 429 with
// Retry-After at once, the body not read, nothing recorded; other
// tokens are served meanwhile, and the places come back when the bodies
// end.
func TestATokensSlowBodiesHoldABoundedShare(t *testing.T) {
	tok, err := httpauth.Parse(strings.NewReader(`
slow  slow-token-0123456789 prod record
slow2 slow2-token-012345678 prod record
other other-token-012345678 prod record
`), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	rec := &fakeRecorder{}
	s, err := New(Config{Recorders: map[string]Recorder{"prod": rec}, Tokens: tok, MaxReading: 6, MaxReadingPerToken: 4})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// slowBody starts a request whose body is sent but for its last
	// bytes, which come when end is closed.
	var wg sync.WaitGroup
	slowBody := func(token string, end <-chan struct{}) {
		pr, pw := io.Pipe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw.Write([]byte(goodDecision[:len(goodDecision)-2]))
			select {
			case <-end:
				pw.Write([]byte(goodDecision[len(goodDecision)-2:]))
				pw.Close()
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
			}
		}()
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/decisions", pr)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	waitReading := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); s.reading.Load() != n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d bodies being read, want %d", s.reading.Load(), n)
			}
		}
	}
	send := func(token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/v1/decisions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After: %s", b)
		}
		return resp.StatusCode, string(b)
	}

	slowEnd := make(chan struct{})
	for range 4 {
		slowBody("slow-token-0123456789", slowEnd)
	}
	waitReading(4)
	// The token's fifth is refused at once.
	if code, b := send("slow-token-0123456789", goodDecision); code != 429 || !strings.Contains(b, "of this token") {
		t.Errorf("a fifth body of the token: %d %s, want 429 naming the token's most", code, b)
	}
	// Another token is served meanwhile.
	if code, b := send("other-token-012345678", goodDecision); code != 201 {
		t.Errorf("another token while the slow one holds its most: %d %s", code, b)
	}
	// Two slow bodies of a second token fill the service's places: a
	// third token is refused too, naming the service's most.
	slow2End := make(chan struct{})
	for range 2 {
		slowBody("slow2-token-012345678", slow2End)
	}
	waitReading(6)
	if code, b := send("other-token-012345678", goodDecision); code != 429 || !strings.Contains(b, "service's most") {
		t.Errorf("with every place taken: %d %s, want 429 naming the service's most", code, b)
	}
	rec.mu.Lock()
	recorded := len(rec.got)
	rec.mu.Unlock()
	// The bodies end: they are recorded and their places come back.
	close(slowEnd)
	close(slow2End)
	waitReading(0)
	if code, b := send("slow-token-0123456789", goodDecision); code != 201 {
		t.Errorf("the slow token once its bodies ended: %d %s", code, b)
	}
	cancel()
	wg.Wait()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got, want := len(rec.got), recorded+6+1; got != want {
		t.Errorf("%d events recorded, want %d (the 201 before, the six slow bodies, the last)", got, want)
	}
}
