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
