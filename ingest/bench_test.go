package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/shared"
)

// discardRecorder answers every event as durable and keeps nothing, so
// that a benchmark measures the service's own work per request.
type discardRecorder struct{}

func (discardRecorder) LogEvent(_ context.Context, ev *producer.Event, opts ...producer.Option) (*shared.Receipt, error) {
	e := ev.Envelope()
	return &shared.Receipt{EventID: e.EventID, DecisionID: e.DecisionID(), Durability: producer.DurabilityOf(opts...).String()}, nil
}

func (discardRecorder) Ready() error { return nil }

func (discardRecorder) EscalateEvent(*producer.Event, error, producer.Policy) producer.Outcome {
	return producer.Outcome{}
}

// benchWriter is a ResponseWriter that keeps the status and throws the
// body away, reused across requests.
type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header  { return w.h }
func (w *benchWriter) WriteHeader(code int) { w.code = code }
func (w *benchWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}

// benchBodies are the bodies of the ingest_throughput benchmark
// (internal/testbed/cmd/bench): what a client in another language sends,
// members in its own order, type, event_id and occurred_at left out.
func benchBodies(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"environment":"bench","decision":{"decision_id":"bench-%d","action":"ALLOW","confidence_score":0.92,`+
			`"policy_version":"policy-2026.11","user_id":"user-%d","session_id":"sess-%d","metadata":{"ip_country":"DE","amount":129.95}}}`, i, i%1000, i%5000)
	}
	return out
}

// BenchmarkHandler is the service's CPU time and allocations per request
// answered 201 (auth, body, validation, canonical record, answer,
// metrics), without Kafka: the work ingest adds to the raw handler of
// the ingest_throughput benchmark.
func BenchmarkHandler(b *testing.B) {
	tok, err := httpauth.Parse(strings.NewReader("bench bench-token-0123456789 bench\n"), "tokens")
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{Recorders: map[string]Recorder{"bench": discardRecorder{}}, Tokens: tok, Metrics: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	bodies := benchBodies(1024)
	var body bytes.Reader
	req, err := http.NewRequest(http.MethodPost, "http://ingest/v1/decisions", io.NopCloser(&body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer bench-token-0123456789")
	req.Header.Set("Content-Type", "application/json")
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		body.Reset(bodies[i%len(bodies)])
		r := *req
		clear(w.h)
		h.ServeHTTP(w, &r)
		if w.code != http.StatusCreated {
			b.Fatalf("answered %d", w.code)
		}
	}
}
