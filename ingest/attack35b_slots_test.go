package ingest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAttack35bNoReadingSlotLeaks: a token's holder who hangs up in the
// middle of its bodies, or sends bodies over --max-body-bytes, as many
// times as its places (--max-reading-per-token), leaves them all free: the
// next honest request of the token is read and recorded, not refused 429
// for ever. (Held up: release is called whatever io.ReadAll returns.)
func TestAttack35bNoReadingSlotLeaks(t *testing.T) {
	rec := &fakeRecorder{}
	svc := newService(t, rec)
	svc.cfg.MaxReadingPerToken, svc.cfg.MaxReading = 8, 16
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	raw := func(declared int, send string, hangUp bool) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1/decisions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer prod-token-0123456789\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", declared, send)
		if hangUp {
			time.Sleep(50 * time.Millisecond) // the handler is reading
			return
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 512)
		c.Read(buf)
	}
	var wg sync.WaitGroup
	for i := 0; i < 3*8; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); raw(1000, `{"environment":"prod"`, true) }()
		go func() { defer wg.Done(); raw(8000, strings.Repeat(" ", 8000), false) }()
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	for i := 0; i < 8; i++ {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/decisions", strings.NewReader(goodDecision))
		req.Header.Set("Authorization", "Bearer prod-token-0123456789")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("after hang-ups and oversized bodies: %d (reading: %d)", resp.StatusCode, svc.reading.Load())
		}
	}
	if n := svc.reading.Load(); n != 0 {
		t.Fatalf("%d places still taken", n)
	}
}
