package producer

import "github.com/prometheus/client_golang/prometheus"

// metrics are the producer's Prometheus metrics, labelled with its chain.
type metrics struct {
	events *prometheus.CounterVec // outcome: durable, sealed, failed, invalid
	// The events counter of each outcome, looked up once: every event
	// counts one, and a label lookup per event showed in the async path's
	// profile.
	durable, sealed, failed, invalid prometheus.Counter
	escalations                      *prometheus.CounterVec // reason: unavailable, not_sealed, invalid
	spooled                          prometheus.Gauge
	replayed                         prometheus.Counter
	dropped                          prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, chain string) *metrics {
	labels := prometheus.Labels{"chain": chain}
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aegis_producer_events_total", ConstLabels: labels,
			Help: "Events by outcome: durable (acked by Kafka), sealed (receipt received), failed (not confirmed), invalid (refused before publishing)."}, []string{"outcome"}),
		escalations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aegis_producer_escalations_total", ConstLabels: labels,
			Help: "Decisions Govern did not return as made, by reason: unavailable (not durable), not_sealed (Sealed mode, no receipt in time), invalid (the event breaks a rule)."}, []string{"reason"}),
		spooled: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aegis_producer_spool_records", ConstLabels: labels,
			Help: "Escalation records in the spool waiting for the broker."}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "aegis_producer_spool_replayed_total", ConstLabels: labels,
			Help: "Spooled records published once the broker was back."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "aegis_producer_spool_dropped_total", ConstLabels: labels,
			Help: "Escalation records not recorded because the spool was full or absent (the fail-safe action was still returned)."}),
	}
	if reg != nil {
		// A producer made again with the same registry (after Close, or
		// after a New that failed) takes over the collectors of the one
		// before: MustRegister panicked there, in the caller's New.
		m.events = register(reg, m.events)
		m.escalations = register(reg, m.escalations)
		m.spooled = register(reg, m.spooled)
		m.replayed = register(reg, m.replayed)
		m.dropped = register(reg, m.dropped)
	}
	m.durable = m.events.WithLabelValues("durable")
	m.sealed = m.events.WithLabelValues("sealed")
	m.failed = m.events.WithLabelValues("failed")
	m.invalid = m.events.WithLabelValues("invalid")
	return m
}

// register registers c, or returns the collector registered already with
// its name and labels. A collector of that name that differs otherwise
// is a programming error, and panics as MustRegister does.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err)
}
