package sealer

import "github.com/prometheus/client_golang/prometheus"

// metrics are what an operator watches on a sealer. All carry the chain.
type metrics struct {
	entries      *prometheus.CounterVec
	batches      *prometheus.CounterVec
	batchEntries prometheus.Histogram
	sealSeconds  prometheus.Histogram
	s3Retries    prometheus.Counter
	txnAborts    prometheus.Counter
	headSeq      prometheus.Gauge
	lastSealed   prometheus.Gauge
	lag          prometheus.Gauge
	uncommitted  prometheus.Gauge
	forks        prometheus.Counter
	restarts     prometheus.Counter
	fenced       prometheus.Counter
	// badCheckpoints counts objects at checkpoint keys that do not verify.
	badCheckpoints prometheus.Counter
	// rewritten counts sealed objects read from an older version: the
	// current one was a delete marker or someone else's.
	rewritten prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, chain string) *metrics {
	labels := prometheus.Labels{"chain": chain}
	m := &metrics{
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aegis_sealer_entries_total", Help: "Entries sealed into S3, by entry type (event, invalid).", ConstLabels: labels,
		}, []string{"type"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aegis_sealer_batches_total", Help: "Batch objects stored, by outcome (written, adopted from another sealer).", ConstLabels: labels,
		}, []string{"outcome"}),
		batchEntries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aegis_sealer_batch_entries", Help: "Entries per batch object.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		sealSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aegis_sealer_seal_seconds", Help: "Time to make one batch durable: object and checkpoint in S3.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		s3Retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aegis_sealer_s3_retries_total", Help: "S3 calls retried after a failure.", ConstLabels: labels,
		}),
		txnAborts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aegis_sealer_transaction_aborts_total", Help: "Kafka transactions aborted (their entries are republished).", ConstLabels: labels,
		}),
		lastSealed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aegis_sealer_last_sealed_timestamp_seconds", Help: "Unix time when this sealer last made a batch durable (object and checkpoint in S3); 0 before its first.", ConstLabels: labels,
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aegis_sealer_lag_records", Help: "Records on the decisions topic past the sealed head: where the topic ended at the last fetch (or as the brokers list it when no fetch said so for 5 s), less what was sealed since (what waits to be sealed).", ConstLabels: labels,
		}),
		headSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aegis_sealer_head_seq", Help: "Seq of the chain head sealed in S3.", ConstLabels: labels,
		}),
		uncommitted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aegis_sealer_uncommitted_entries", Help: "Entries sealed in S3 whose Kafka offsets are not committed yet.", ConstLabels: labels,
		}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aegis_sealer_session_restarts_total", Help: "Sealer sessions started over in process after an error that may pass (Kafka or S3 unreachable).", ConstLabels: labels,
		}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aegis_sealer_fenced_total", Help: "Sessions ended because another sealer with the same transactional id took over, or the broker aborted the session's transaction (the sealer then starts a new session as a standby). More than one in a few minutes: another process keeps taking the transactional id.", ConstLabels: labels,
		}),
		forks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aegis_sealer_forks_total", Help: "Objects at the chain's next keys that are not what this sealer seals; the sealer stops on each.", ConstLabels: labels,
		}),
		badCheckpoints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aegis_sealer_bad_checkpoints_total", Help: "Objects at checkpoint keys that do not verify with the trusted key (ignored on recovery).", ConstLabels: labels,
		}),
		rewritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aegis_sealer_rewritten_keys_total", Help: "Sealed objects deleted (a delete marker) or written over after they were sealed, read from their sealed version on recovery.", ConstLabels: labels,
		}),
	}
	if reg != nil {
		reg.MustRegister(m.entries, m.batches, m.batchEntries, m.sealSeconds, m.s3Retries, m.txnAborts, m.headSeq, m.lastSealed, m.lag, m.uncommitted, m.forks, m.restarts, m.fenced, m.badCheckpoints, m.rewritten)
	}
	return m
}
