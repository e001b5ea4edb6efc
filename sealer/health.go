package sealer

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// healthGrace is how long a trouble lasts before Healthy reports it: a
// call retried once, or a session started over at once, is not an outage.
const healthGrace = 10 * time.Second

// health remembers what keeps the sealer from sealing right now (S3
// calls failing, Kafka fetches failing, a session starting over), and
// since when, for /readyz: a sealer that cannot seal is not ready, though
// it recovered once (before, /readyz said ready through a Kafka or S3
// outage, found by the operators' trial).
type health struct {
	mu       sync.Mutex
	troubles map[string]trouble // by source: "S3", "Kafka", "session"
	log      *zap.Logger        // says when a source works again
}

type trouble struct {
	since time.Time
	err   error
}

// fail records that source fails with err, keeping the first time.
func (h *health) fail(source string, err error) { h.failAt(source, err, time.Now()) }

func (h *health) failAt(source string, err error, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.troubles == nil {
		h.troubles = map[string]trouble{}
	}
	t, ok := h.troubles[source]
	if !ok {
		t.since = now
	}
	t.err = err
	h.troubles[source] = t
}

// ok records that source works again, and logs it after an outage.
func (h *health) ok(source string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, was := h.troubles[source]
	if !was {
		return
	}
	delete(h.troubles, source)
	if d := time.Since(t.since); d >= healthGrace && h.log != nil {
		h.log.Info("working again", zap.String("source", source), zap.Duration("failed_for", d.Round(time.Second)))
	}
}

// check returns the oldest trouble that lasted past healthGrace.
func (h *health) check(now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var worst string
	for src, t := range h.troubles {
		if now.Sub(t.since) >= healthGrace && (worst == "" || t.since.Before(h.troubles[worst].since)) {
			worst = src
		}
	}
	if worst == "" {
		return nil
	}
	t := h.troubles[worst]
	return fmt.Errorf("not sealing: %s failing since %s (%s): %v", worst, t.since.UTC().Format(time.RFC3339), now.Sub(t.since).Round(time.Second), t.err)
}

// Healthy reports why the sealer cannot seal now (S3 or Kafka failing
// for more than 10 s, a session starting over), or nil. Ready says it
// recovered once; Healthy says it still can.
func (s *Sealer) Healthy() error { return s.health.check(time.Now()) }

// brokerHealth tells health of the Kafka client's connections: a broker
// it cannot reach is a Kafka trouble until a connection succeeds (the
// client retries on its own, and a poll during the outage just returns
// nothing).
type brokerHealth struct{ h *health }

func (b brokerHealth) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		b.h.fail("Kafka", fmt.Errorf("connect to broker %s:%d: %w", meta.Host, meta.Port, err))
		return
	}
	b.h.ok("Kafka")
}
