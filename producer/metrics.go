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
	m.durable = m.events.WithLabelValues("durable")
	m.sealed = m.events.WithLabelValues("sealed")
	m.failed = m.events.WithLabelValues("failed")
	m.invalid = m.events.WithLabelValues("invalid")
	if reg != nil {
		reg.MustRegister(m.events, m.escalations, m.spooled, m.replayed, m.dropped)
	}
	return m
}
