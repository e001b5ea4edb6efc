package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	var notReady atomic.Bool
	notReady.Store(true)
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "aegis_test_total"})
	reg.MustRegister(c)
	c.Inc()
	release := make(chan struct{})
	started := make(chan struct{})
	s, err := Listen(Options{Addr: "127.0.0.1:0", Registry: reg,
		Ready: func() error {
			if notReady.Load() {
				return errors.New("head not recovered yet")
			}
			return nil
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				close(started)
				<-release
			}
			io.WriteString(w, "api "+r.URL.Path)
		})})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	base := "http://" + s.Addr()
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "head not recovered yet") {
		t.Errorf("readyz before ready: %d %q", code, body)
	}
	notReady.Store(false)
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Errorf("readyz when ready: %d", code)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "aegis_test_total 1") {
		t.Errorf("metrics: %d %q", code, body)
	}
	if _, body := get(t, base+"/debug/pprof/"); body != "api /debug/pprof/" {
		t.Errorf("pprof served without Profiling: %.100q", body)
	}
	if code, body := get(t, base+"/v1/x"); code != 200 || body != "api /v1/x" {
		t.Errorf("handler: %d %q", code, body)
	}
	// Another method on the service's own endpoints is refused as such,
	// not handed to the API (which answered 404 for POST /healthz).
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Post(base+path, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST %s: %d Allow %q, want 405 with GET, HEAD", path, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}

	// Shutdown drains a request in flight.
	answered := make(chan string)
	go func() { _, body := get(t, base+"/slow"); answered <- body }()
	<-started
	done := make(chan error)
	go func() { done <- s.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if body := <-answered; body != "api /slow" {
		t.Errorf("request in flight during shutdown answered %q", body)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still accepting after shutdown")
	}
}

func TestListenNamesTheAddress(t *testing.T) {
	_, err := Listen(Options{Addr: "256.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "256.0.0.1:1") {
		t.Errorf("error %v does not name the address", err)
	}
}

// With Profiling the profiler is served, and a profile or a trace runs
// at most MaxProfile (the review took a day's trace).
func TestProfilerIsBounded(t *testing.T) {
	s, err := Listen(Options{Addr: "127.0.0.1:0", Profiling: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	base := "http://" + s.Addr()
	if code, body := get(t, base+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof index: %d %.100q", code, body)
	}
	for _, path := range []string{"/debug/pprof/profile?seconds=86400", "/debug/pprof/trace?seconds=121",
		"/debug/pprof/heap?seconds=86400", "/debug/pprof/allocs?seconds=86400", "/debug/pprof/goroutine?seconds=86400"} {
		if code, body := get(t, base+path); code != http.StatusBadRequest || !strings.Contains(body, "at most 120") {
			t.Fatalf("%s: %d %.200q", path, code, body)
		}
	}
	if code, _ := get(t, base+"/debug/pprof/trace?seconds=0.1"); code != 200 {
		t.Fatalf("a short trace: %d", code)
	}
}

// Headers past MaxHeaderBytes are refused before the handler runs.
func TestHugeHeadersAreRefused(t *testing.T) {
	s, err := Listen(Options{Addr: "127.0.0.1:0", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "api") })})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	req, _ := http.NewRequest("GET", "http://"+s.Addr()+"/v1/x", nil)
	req.Header.Set("X-Filler", strings.Repeat("x", 2*MaxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("%d KiB of headers: %d", 2*MaxHeaderBytes>>10, resp.StatusCode)
	}
}

// On an address callers reach, /readyz's 503 does not tell them why (a
// broker's address, a topic): the reason is logged, once a minute.
func TestReadyReasonHiddenWhereAsked(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	s, err := Listen(Options{Addr: "127.0.0.1:0", HideReadyReason: true, Logger: zap.New(core),
		Ready: func() error { return errors.New("dial tcp 10.20.30.40:9092: connection refused") }})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())
	for range 3 {
		if code, body := get(t, "http://"+s.Addr()+"/readyz"); code != 503 || strings.Contains(body, "10.20.30.40") || !strings.Contains(body, "--metrics-addr") {
			t.Fatalf("readyz: %d %q", code, body)
		}
	}
	if logs.Len() != 1 || !strings.Contains(fmt.Sprint(logs.All()[0].ContextMap()), "10.20.30.40") {
		t.Fatalf("the reason logged %d times: %v", logs.Len(), logs.All())
	}
}

// An API address whose role serves its metrics on --metrics-addr serves
// no /metrics: callers see no request counts, lags or runtime figures;
// the metrics address still serves them all.
func TestMetricsOnlyWhereTheyAreServed(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "aegis_probe_total", Help: "a metric"}))
	api, err := Listen(Options{Addr: "127.0.0.1:0", Registry: reg, MetricsElsewhere: true})
	if err != nil {
		t.Fatal(err)
	}
	ops, err := Listen(Options{Addr: "127.0.0.1:0", Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Server{api, ops} {
		go s.Serve()
		defer s.Shutdown(context.Background())
	}
	if code, body := get(t, "http://"+api.Addr()+"/metrics"); code != 404 || strings.Contains(body, "aegis_probe_total") {
		t.Fatalf("the API address: %d %q", code, body)
	}
	if code, body := get(t, "http://"+ops.Addr()+"/metrics"); code != 200 || !strings.Contains(body, "aegis_probe_total") {
		t.Fatalf("the metrics address: %d %q", code, body)
	}
	if code, _ := get(t, "http://"+api.Addr()+"/healthz"); code != 200 {
		t.Fatalf("the API address' /healthz: %d", code)
	}
}
