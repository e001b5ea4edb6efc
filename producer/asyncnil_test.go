package producer

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/aegisai/audit/shared"
)

// PublishAsync with a nil callback publishes and counts the event. Before,
// it was accepted, and the nil callback was called on the Kafka client's
// goroutine when the ack came: a nil dereference that killed the whole
// service (outside trial h1).
func TestPublishAsyncWithoutACallback(t *testing.T) {
	c := testBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	d := shared.Decision{DecisionID: "d1", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}
	if err := p.PublishAsync(ctx, p.NewDecision(d), nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var m dto.Metric
	if err := p.m.durable.Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 1 {
		t.Fatalf("%v events counted durable, want 1", got)
	}
	if got := topicRecords(ctx, t, c, "aegis.decisions.prod", 1); len(got) != 1 {
		t.Fatalf("%d records published, want 1", len(got))
	}
}
