package sealer

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A trouble is reported once it lasted healthGrace, the oldest first, and
// forgotten when its source works again.
func TestHealthReportsLastingTroubles(t *testing.T) {
	var h health
	now := time.Now()
	h.failAt("S3", errors.New("connection refused"), now)
	if err := h.check(now); err != nil {
		t.Fatalf("a fresh trouble is reported at once: %v", err)
	}
	if err := h.check(now.Add(healthGrace + time.Second)); err == nil || !strings.Contains(err.Error(), "S3 failing since") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("a lasting S3 trouble: %v", err)
	}
	h.failAt("Kafka", errors.New("broker gone"), now.Add(5*time.Second))
	if err := h.check(now.Add(healthGrace + time.Second)); err == nil || !strings.Contains(err.Error(), "S3") {
		t.Fatalf("the oldest trouble first: %v", err)
	}
	h.ok("S3")
	if err := h.check(now.Add(healthGrace + time.Second)); err != nil {
		t.Fatalf("Kafka's trouble is younger than the grace: %v", err)
	}
	if err := h.check(now.Add(5*time.Second + healthGrace)); err == nil || !strings.Contains(err.Error(), "Kafka") {
		t.Fatalf("Kafka's lasting trouble: %v", err)
	}
	h.ok("Kafka")
	if err := h.check(now.Add(time.Hour)); err != nil {
		t.Fatalf("all working again: %v", err)
	}
}
