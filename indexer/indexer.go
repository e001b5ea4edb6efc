// Package indexer consumes the sealed topic in a consumer group and keeps the
// DynamoDB single table that serves lookups: a decision by id with its
// overrides (one Query), a user's decisions (GSI1) and a session's (GSI2).
//
// Invariants:
//   - Every item carries its proof pointer: seq, hash, S3 key, version, line.
//   - Writes are idempotent: redeliveries and replays change nothing.
//   - An offset is committed only after its record is indexed. A record that
//     cannot be read (not a sealed record, a line that does not verify) is
//     recorded as an unindexable anomaly, counted and logged, and the
//     indexer goes on; a write DynamoDB refuses for good stops it.
//   - One event id is one event: an event sealed twice is indexed once; an
//     event id or decision id carried by two different events is indexed
//     twice and recorded as a conflict (see Anomaly).
//   - Only committed (read_committed) sealed records are indexed, so entries
//     of an aborted sealer transaction never reach the index.
package indexer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kzap"
	"go.uber.org/zap"

	"github.com/aegisai/audit/internal/platform/retry"
	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/shared"
)

// Config configures an Indexer.
type Config struct {
	// Brokers are the Kafka seed brokers (required).
	Brokers []string
	// KafkaOptions are added to every Kafka client the indexer makes: TLS
	// and SASL (internal/platform/kafkaconn builds them). Default none.
	KafkaOptions []kgo.Opt
	// SealedTopic is consumed. Default "sealed".
	SealedTopic string
	// SealedPartitions is used if the indexer creates the topic. Default 6.
	SealedPartitions int32
	// Group is the consumer group shared by all indexers. Default "aegis-indexer".
	Group string
	// DynamoDB is the client (required).
	DynamoDB DynamoAPI
	// Table is the single table. Default "aegis-audit".
	Table string
	// CreateTable creates a missing table with its indexes (development).
	// Default false: a missing table stops the indexer with an error.
	CreateTable bool
	// CallTimeout bounds each DynamoDB call. Default 10s.
	CallTimeout time.Duration
	// Metrics, if set, receives the indexer's Prometheus metrics
	// (aegis_indexer_*). Default nil: not registered.
	Metrics prometheus.Registerer
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
}

type metrics struct {
	records   prometheus.Counter
	retries   prometheus.Counter
	highWater *prometheus.GaugeVec
	anomalies *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aegis_indexer_records_total", Help: "Sealed records indexed (redeliveries included).",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aegis_indexer_retries_total", Help: "DynamoDB writes retried after a failure.",
		}),
		highWater: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "aegis_indexer_high_water_seq", Help: "Highest seq this indexer has indexed, by chain.",
		}, []string{"chain"}),
		anomalies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aegis_indexer_anomalies_total", Help: "Anomalies recorded: duplicate or conflicting events, unindexable records (aegis index anomalies lists them).",
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.records, m.retries, m.highWater, m.anomalies)
	}
	return m
}

// Indexer is one member of the indexer group.
type Indexer struct {
	cfg   Config
	index *Index
	log   *zap.Logger
	m     *metrics

	mu        sync.Mutex
	highWater map[string]uint64
}

// raiseHighWater keeps the metric at the highest seq seen per chain.
func (ix *Indexer) raiseHighWater(chain string, seq uint64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if hw, ok := ix.highWater[chain]; !ok || seq > hw {
		ix.highWater[chain] = seq
		ix.m.highWater.WithLabelValues(chain).Set(float64(seq))
	}
}

// New validates cfg. It does no I/O.
func New(ctx context.Context, cfg Config) (*Indexer, error) {
	if len(cfg.Brokers) == 0 || cfg.DynamoDB == nil {
		return nil, errors.New("indexer config: Brokers and DynamoDB are required")
	}
	if cfg.SealedTopic == "" {
		cfg.SealedTopic = "sealed"
	}
	if cfg.SealedPartitions == 0 {
		cfg.SealedPartitions = 6
	}
	if cfg.Group == "" {
		cfg.Group = "aegis-indexer"
	}
	if cfg.Table == "" {
		cfg.Table = "aegis-audit"
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	ix := &Indexer{cfg: cfg, log: cfg.Logger, m: newMetrics(cfg.Metrics), highWater: map[string]uint64{}}
	ix.index = &Index{DB: cfg.DynamoDB, Table: cfg.Table, OnAnomaly: func(a Anomaly) {
		ix.m.anomalies.WithLabelValues(string(a.Kind)).Inc()
		ix.log.Warn("index anomaly recorded", zap.String("kind", string(a.Kind)), zap.String("chain", a.Chain),
			zap.Uint64("seq", a.Seq), zap.Uint64("other_seq", a.OtherSeq), zap.String("detail", a.Detail))
	}}
	return ix, nil
}

// Run indexes until ctx is done.
func (ix *Indexer) Run(ctx context.Context) error {
	if ix.cfg.CreateTable {
		if err := EnsureTable(ctx, ix.cfg.DynamoDB, ix.cfg.Table); err != nil {
			return err
		}
	} else if err := CheckTable(ctx, ix.cfg.DynamoDB, ix.cfg.Table); err != nil {
		return err
	}
	logger := kgo.WithLogger(kzap.New(ix.log, kzap.Level(kgo.LogLevelWarn)))
	admin, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(ix.cfg.Brokers...), logger}, ix.cfg.KafkaOptions...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	_, err = topics.Ensure(ctx, admin, ix.cfg.SealedTopic, ix.cfg.SealedPartitions)
	admin.Close()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(ix.cfg.Brokers...),
		kgo.ConsumerGroup(ix.cfg.Group),
		kgo.ConsumeTopics(ix.cfg.SealedTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(200 * time.Millisecond),
		logger,
	}, ix.cfg.KafkaOptions...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	for {
		fetches := cl.PollRecords(ctx, 1000)
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			ix.log.Warn("fetch failed", zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
		})
		var wg sync.WaitGroup
		partitions := 0
		fetches.EachPartition(func(kgo.FetchTopicPartition) { partitions++ })
		errs := make(chan error, partitions)
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				// The last entry of each chain in this partition batch.
				last := map[string]*shared.Entry{}
				for _, r := range p.Records {
					e, err := ix.apply(ctx, r)
					if err != nil {
						errs <- err
						return
					}
					if e != nil && (last[e.Chain] == nil || e.Seq > last[e.Chain].Seq) {
						last[e.Chain] = e
					}
				}
				lastOffset := p.Records[len(p.Records)-1].Offset
				// One high-water update per chain and partition batch, not per
				// record: the chain's highest seq, and how far this partition
				// is indexed (for the contiguous high-water of index status).
				for chain, e := range last {
					if err := ix.retry(ctx, "raise high-water seq", func(ctx context.Context) error {
						if err := ix.index.RaiseHighWater(ctx, chain, e.Seq, e.Hash); err != nil {
							return err
						}
						return ix.index.RecordPartition(ctx, chain, p.Topic, p.Partition, e.Seq, lastOffset)
					}); err != nil {
						errs <- err
						return
					}
					ix.raiseHighWater(chain, e.Seq)
				}
			}()
		})
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			cl.AllowRebalance()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
			ix.log.Warn("commit failed; records will be redelivered and re-applied idempotently", zap.Error(err))
		}
		cl.AllowRebalance()
	}
}

// apply indexes one record, retrying DynamoDB failures with backoff. A
// record it cannot read is recorded as an unindexable anomaly and skipped
// (nil entry): one bad record must not stop the index for everything after
// it, and nothing is skipped silently.
func (ix *Indexer) apply(ctx context.Context, r *kgo.Record) (*shared.Entry, error) {
	rec, e, why := readSealed(r.Value)
	if why != nil {
		a := Anomaly{Chain: UnknownChain, Kind: AnomalyUnindexable, Source: fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset),
			Detail: why.Error(), Raw: string(r.Value)}
		if rec != nil {
			a.Object, a.Line = rec.Object, rec.Line
			if le, err := shared.ParseLineLenient(rec.Entry); err == nil {
				a.Chain, a.Seq = le.Chain, le.Seq
			}
		}
		return nil, ix.retry(ctx, "record unindexable "+a.Source, func(ctx context.Context) error { return ix.index.RecordAnomaly(ctx, a) })
	}
	err := ix.retry(ctx, fmt.Sprintf("index %s line %d", rec.Object, rec.Line), func(ctx context.Context) error {
		return ix.index.ApplyEntry(ctx, e, rec)
	})
	if err != nil {
		return nil, err
	}
	ix.m.records.Inc()
	return e, nil
}

// readSealed decodes a sealed-topic record and verifies its line.
func readSealed(value []byte) (*shared.SealedRecord, *shared.Entry, error) {
	var rec shared.SealedRecord
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return nil, nil, fmt.Errorf("not a sealed record: %w", err)
	}
	e, err := shared.ParseLine(rec.Entry)
	if err != nil {
		return &rec, nil, fmt.Errorf("sealed record %s line %d: %w", rec.Object, rec.Line, err)
	}
	return &rec, e, nil
}

// retry runs fn with CallTimeout until it succeeds, fails permanently, or
// ctx ends, backing off between attempts.
func (ix *Indexer) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	err := retry.Policy{
		Timeout: ix.cfg.CallTimeout, Initial: 50 * time.Millisecond, Max: 5 * time.Second, Final: permanent,
		OnRetry: func(attempt int, _ time.Duration, err error) {
			ix.m.retries.Inc()
			ix.log.Warn("index write failed; retrying", zap.String("what", what), zap.Int("attempt", attempt), zap.Error(err))
		},
	}.Do(ctx, fn)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return err
}

// permanent reports errors that retrying cannot fix (a request the table
// rejects, a missing table): the indexer stops and says so.
func permanent(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ValidationException", "ResourceNotFoundException", "AccessDeniedException", "SerializationException":
			return true
		}
	}
	return false
}
