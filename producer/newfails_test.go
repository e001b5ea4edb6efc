package producer

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A New that fails on its spool (here: locked by another producer) leaves
// nothing running. Before, the spool was opened after the decisions topic
// check: with the broker out of reach, that check's goroutine stayed,
// polling a closed client every second for the life of the process (a
// service that retries New leaked one per attempt).
func TestNewFailingOnItsSpoolLeavesNothingRunning(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	holder, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.close()
	before := runtime.NumGoroutine()
	for range 3 {
		p, err := New(ctx, Config{Brokers: []string{"127.0.0.1:1"}, Environment: "prod", SpoolDir: dir, Timeout: time.Second})
		if err == nil {
			p.Close()
			t.Fatal("New took a spool another producer holds")
		}
		if !strings.Contains(err.Error(), "in use by another producer") {
			t.Fatalf("New: %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after three failed News, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
