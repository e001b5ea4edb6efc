package producer

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A Timeout or SealTimeout below a millisecond is refused by New, naming
// it. Before, Timeout: 5 (nanoseconds, meant as seconds) or a negative one
// was taken: the decisions topic was never checked, every call failed and
// Govern escalated every decision, for as long as the service ran
// (outside trial h1, against the real stack).
func TestNewRefusesATimeoutBelowAMillisecond(t *testing.T) {
	for _, cfg := range []Config{{Timeout: 5}, {Timeout: -time.Second}, {SealTimeout: -1}, {SealTimeout: 30}} {
		cfg.Brokers, cfg.Environment = []string{"127.0.0.1:1"}, "prod"
		p, err := New(context.Background(), cfg)
		if err == nil {
			p.Close()
			t.Errorf("Timeout %v, SealTimeout %v: accepted", cfg.Timeout, cfg.SealTimeout)
			continue
		}
		if !strings.Contains(err.Error(), "Timeout") || !strings.Contains(err.Error(), "below a millisecond") {
			t.Errorf("Timeout %v, SealTimeout %v: %v; want the field named", cfg.Timeout, cfg.SealTimeout, err)
		}
	}
	p, err := New(context.Background(), Config{Brokers: []string{"127.0.0.1:1"}, Environment: "prod", Timeout: time.Millisecond, SealTimeout: time.Millisecond})
	if err != nil {
		t.Fatalf("a millisecond: %v", err)
	}
	p.Close()
}
