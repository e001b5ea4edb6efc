package serve

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// With MaxConnections 2, two idle connections hold the server: a third
// client waits (its request is not answered) until one of them closes,
// and the gauge shows the connections open.
func TestMaxConnectionsHoldsTheRestBack(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := Listen(Options{Addr: "127.0.0.1:0", MaxConnections: 2, Registry: reg,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.srv.Close() })
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	gauge := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "aegis_http_open_connections" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	for deadline := time.Now().Add(5 * time.Second); gauge() != 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if g := gauge(); g != 2 {
		t.Fatalf("aegis_http_open_connections %v, want 2", g)
	}
	held := &http.Client{Timeout: 300 * time.Millisecond}
	if resp, err := held.Get(s.URL() + "/"); err == nil {
		resp.Body.Close()
		t.Fatal("a third connection was served while two held the cap")
	}
	idle[0].Close()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(s.URL() + "/")
	if err != nil {
		t.Fatalf("once one closed: %v", err)
	}
	resp.Body.Close()
	idle[1].Close()
}

// Keep-alive connections idle after a request held every place of a
// capped server for IdleTimeout (2 minutes): five sockets of one request
// each held ingest, no token needed, and callers waited without an answer
// (an outside trial). With the cap full, an idle connection gives way.
func TestIdleKeepAlivesGiveWayWhenTheCapIsFull(t *testing.T) {
	s, err := Listen(Options{Addr: "127.0.0.1:0", MaxConnections: 3,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.srv.Close() })
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		if _, err := c.Read(buf); err != nil { // answered; the connection stays open, idle
			t.Fatal(err)
		}
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range 5 { // each new caller in turn
		c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(s.URL() + "/healthz")
		if err != nil {
			t.Fatalf("caller %d with every place held by an idle keep-alive: %v", i, err)
		}
		resp.Body.Close()
	}
}
