package producer

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aegisai/audit/shared"
)

// A service that makes its producer again with the same registry (after
// Close, to reconnect; or after a New that failed) gets a producer that
// counts on in the same metrics. Before, the second New panicked:
// "duplicate metrics collector registration attempted" (outside trial h1).
func TestNewAgainWithTheSameRegistry(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	d := shared.Decision{DecisionID: "d1", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}
	for i := range 2 {
		p, err := New(ctx, Config{Brokers: []string{"127.0.0.1:1"}, Environment: "prod", Timeout: time.Second, Metrics: reg})
		if err != nil {
			t.Fatal(err)
		}
		if out := p.Govern(ctx, d, Policy{}); out.Audited {
			t.Fatalf("producer %d: audited without a broker", i)
		}
		p.Close()
	}
	var m dto.Metric
	if err := newMetrics(reg, "prod").escalations.WithLabelValues("unavailable").Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 2 {
		t.Fatalf("escalations counted %v, want 2 (one per producer)", got)
	}
}
