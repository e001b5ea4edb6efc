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
//     twice and recorded as a conflict (see Anomaly). Each event id is
//     claimed with a conditional write, so two writers never both own it.
//   - Only committed (read_committed) sealed records are indexed, so entries
//     of an aborted sealer transaction never reach the index.
//   - A decision's current state only rises (to its latest override by
//     seq), whatever order its entries arrive in and however often.
//
// Scale-out: many indexers share one consumer group (Config.Group) over the
// multi-partition sealed topic; the sealer keys records by decision id, so
// a decision and its overrides are on one partition, read by one indexer.
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
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/platform/kafkaconn"
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
	// Group is the consumer group shared by the indexers of one table.
	// Default "aegis-indexer".
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
	// Workers bounds the decisions of one partition batch indexed at once.
	// Default 8.
	Workers int
	// Identity names this indexer among the group's indexers, unique to
	// each running indexer (a pod name; a host name only with one indexer
	// on the host). With it the indexer's Kafka client id is
	// "aegis-indexer/<group>/<identity>", and an indexer that starts
	// removes the group member its identity left behind: a restart after
	// SIGKILL takes its partitions back at once instead of after
	// SessionTimeout, during which the group's rebalance waits for the dead
	// member. Of two running indexers with one identity, each that starts
	// removes the other's member (it rejoins). Default "": no removal,
	// franz-go's client id.
	Identity string
	// SessionTimeout is how long the group waits for a silent indexer
	// before giving its partitions to the others. Default 0: franz-go's
	// (45s); brokers must allow a lower one.
	SessionTimeout time.Duration
	// LagInterval is how often the consumer-lag metric is refreshed.
	// Default 5s.
	LagInterval time.Duration
	// Metrics, if set, receives the indexer's Prometheus metrics
	// (aegis_indexer_*). Default nil: not registered.
	Metrics prometheus.Registerer
	// Logger defaults to zap.NewNop().
	Logger *zap.Logger
}

// validate fills the defaults and reports every problem at once.
func (c *Config) validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("Brokers is required"))
	}
	if c.DynamoDB == nil {
		errs = append(errs, errors.New("DynamoDB is required"))
	}
	if c.CallTimeout < 0 || c.SessionTimeout < 0 || c.LagInterval < 0 || c.Workers < 0 {
		errs = append(errs, errors.New("CallTimeout, SessionTimeout, LagInterval and Workers must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("indexer config: %w", errors.Join(errs...))
	}
	if c.SealedTopic == "" {
		c.SealedTopic = "sealed"
	}
	if c.SealedPartitions == 0 {
		c.SealedPartitions = 6
	}
	if c.Group == "" {
		c.Group = "aegis-indexer"
	}
	if c.Table == "" {
		c.Table = "aegis-audit"
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.LagInterval == 0 {
		c.LagInterval = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return nil
}

type metrics struct {
	records   prometheus.Counter
	retries   prometheus.Counter
	highWater *prometheus.GaugeVec
	anomalies *prometheus.CounterVec
	lag       *prometheus.GaugeVec
	batch     prometheus.Histogram
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
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "aegis_indexer_consumer_lag",
			Help: "Offsets of the sealed topic not yet indexed and committed by the group, by partition this indexer owns (transaction markers included: 0 is caught up).",
		}, []string{"topic", "partition"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "aegis_indexer_batch_seconds", Help: "Time to index one partition batch of sealed records.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.records, m.retries, m.highWater, m.anomalies, m.lag, m.batch)
	}
	return m
}

// Indexer is one member of the indexer group.
type Indexer struct {
	cfg   Config
	index *Index
	log   *zap.Logger
	m     *metrics
	ready chan struct{}

	mu        sync.Mutex
	highWater map[string]uint64
	owned     map[int32]bool // partitions of the sealed topic assigned here
	// revoked lists the partitions revoked since the poll loop last took
	// them (takeRevoked).
	revoked   []int32
	readyOnce sync.Once
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
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ix := &Indexer{cfg: cfg, log: cfg.Logger, m: newMetrics(cfg.Metrics), highWater: map[string]uint64{}, owned: map[int32]bool{},
		ready: make(chan struct{})}
	ix.index = &Index{DB: timeoutDB{db: cfg.DynamoDB, d: cfg.CallTimeout}, Table: cfg.Table, Workers: cfg.Workers, OnAnomaly: func(a Anomaly) {
		ix.m.anomalies.WithLabelValues(string(a.Kind)).Inc()
		ix.log.Warn("index anomaly recorded", zap.String("kind", string(a.Kind)), zap.String("chain", a.Chain),
			zap.Uint64("seq", a.Seq), zap.Uint64("other_seq", a.OtherSeq), zap.String("detail", a.Detail))
	}}
	return ix, nil
}

// Ready is closed once the indexer has checked its table and joined the
// Kafka cluster (it may own no partition yet: a standby is ready too).
func (ix *Indexer) Ready() <-chan struct{} { return ix.ready }

// Run indexes until ctx is done.
func (ix *Indexer) Run(ctx context.Context) error {
	if ix.cfg.CreateTable {
		if err := layout.EnsureTable(ctx, ix.cfg.DynamoDB, ix.cfg.Table); err != nil {
			return err
		}
	} else if err := layout.CheckTable(ctx, ix.cfg.DynamoDB, ix.cfg.Table); err != nil {
		return err
	}
	logger := kgo.WithLogger(kafkaconn.Logger(ix.log))
	admin, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(ix.cfg.Brokers...), logger}, ix.cfg.KafkaOptions...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer admin.Close()
	if _, err = topics.Ensure(ctx, admin, ix.cfg.SealedTopic, ix.cfg.SealedPartitions); err != nil {
		return err
	}
	if ix.cfg.Identity != "" {
		ix.evictPredecessor(ctx, admin)
	}
	// Batches of the sealed topic past the decompression bounds are
	// passed over (kafkaconn.PassedOver), which learns of them from the
	// client's log too.
	var unreadable kafkaconn.PassedOver
	opts := []kgo.Opt{
		kgo.SeedBrokers(ix.cfg.Brokers...),
		kgo.ConsumerGroup(ix.cfg.Group),
		kgo.ConsumeTopics(ix.cfg.SealedTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.FetchMaxPartitionBytes(partitionBatchBytes),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			// Before any fetch of the partitions assigned: a stop logged
			// before was of an earlier assignment.
			unreadable.Assigned(ix.cfg.SealedTopic, a[ix.cfg.SealedTopic])
			ix.own(a, true)
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) { ix.own(r, false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) { ix.own(l, false) }),
	}
	if ix.cfg.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(ix.cfg.SessionTimeout), kgo.HeartbeatInterval(ix.cfg.SessionTimeout/4))
	}
	opts = append(opts, ix.cfg.KafkaOptions...)
	// After KafkaOptions, so that none of them lifts the decompression
	// bounds or hides franz-go's stops from PassedOver (its logger).
	opts = append(opts, kafkaconn.BoundedDecompression(0)...)
	opts = append(opts, kgo.WithLogger(unreadable.Logger(kafkaconn.Logger(ix.log))))
	if ix.cfg.Identity != "" {
		// Last, so that no KafkaOptions' client id can hide the identity
		// from the next start's eviction.
		opts = append(opts, kgo.ClientID(ix.clientID()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	ix.readyOnce.Do(func() { close(ix.ready) })
	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	go ix.watchLag(lagCtx, kadm.NewClient(admin))
	ix.log.Info("indexer running", zap.String("group", ix.cfg.Group), zap.String("topic", ix.cfg.SealedTopic), zap.String("table", ix.cfg.Table),
		zap.Int("workers", ix.cfg.Workers))
	// A stop asked for (ctx) is clean: what was indexed and not committed
	// is redelivered to the next owner and re-applied idempotently.
	stopped := func() error {
		ix.log.Info("indexer stopped", zap.String("group", ix.cfg.Group), zap.String("topic", ix.cfg.SealedTopic))
		return nil
	}
	for {
		// Fetches hold at most partitionBatchBytes of each partition, so a
		// poll spans the partitions, whose batches are indexed at once.
		pollCtx, cancelPoll := unreadable.PollContext(ctx)
		fetches := cl.PollRecords(pollCtx, 1000)
		cancelPoll()
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return stopped()
		}
		// Revoked before this poll's fetches (they run in the poll): a
		// batch noted before is reported again if the partition is
		// assigned again; one this poll reports is kept.
		for _, p := range ix.takeRevoked() {
			unreadable.Forget(ix.cfg.SealedTopic, p)
		}
		fetches.EachError(func(t string, p int32, err error) {
			if unreadable.Note(err) || errors.Is(err, context.DeadlineExceeded) { // the poll's own wait (PollContext)
				return
			}
			ix.log.Warn("fetch failed", zap.String("topic", t), zap.Int32("partition", p), zap.Error(err))
		})
		for _, tl := range unreadable.Pass(cl, fetches) {
			ix.log.Warn("passed over a record batch of the sealed topic that decompresses past what the indexer reads (the sealer never writes one: aegis index check finds anything missing)",
				zap.String("topic", tl.Topic), zap.Int32("partition", tl.Partition), zap.Int64("from_offset", tl.Offset), zap.Int64("to_offset", tl.NextOffset-1))
			// Committed past it, as past an indexed record: the records
			// before it were (every poll's are, before the next), and a
			// partition with nothing after it showed the batch as lag.
			past := map[string]map[int32]kgo.EpochOffset{tl.Topic: {tl.Partition: {Epoch: tl.Epoch, Offset: tl.NextOffset}}}
			cl.CommitOffsetsSync(ctx, past, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
				if err != nil && ctx.Err() == nil {
					ix.log.Warn("commit past a passed-over batch failed; it is passed over again after a restart", zap.Error(err))
				}
			})
		}
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
				if err := ix.indexPartition(ctx, p); err != nil {
					errs <- err
				}
			}()
		})
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			cl.AllowRebalance()
			if ctx.Err() != nil {
				return stopped()
			}
			return err
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
			ix.log.Warn("commit failed; records will be redelivered and re-applied idempotently", zap.Error(err))
		}
		cl.AllowRebalance()
	}
}

// takeRevoked returns the partitions revoked since it was last called.
func (ix *Indexer) takeRevoked() []int32 {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	r := ix.revoked
	ix.revoked = nil
	return r
}

// ClientID is the Kafka client id of the indexer with identity in group:
// what its group member shows (aegis index status) and what the next
// start with that identity removes.
func ClientID(group, identity string) string { return "aegis-indexer/" + group + "/" + identity }

// clientID is the Kafka client id of an indexer with an Identity.
func (ix *Indexer) clientID() string { return ClientID(ix.cfg.Group, ix.cfg.Identity) }

// evictPredecessor removes the group's members that carry this indexer's
// client id: a previous run that died without leaving the group. Failing to
// is not fatal: the member then expires with its session.
func (ix *Indexer) evictPredecessor(ctx context.Context, admin *kgo.Client) {
	n, err := topics.EvictClient(ctx, admin, ix.cfg.Group, ix.clientID())
	if err != nil {
		ix.log.Warn("could not remove the group member of this indexer's previous run; it expires with its session", zap.Error(err))
	}
	if n > 0 {
		ix.log.Info("removed the group member a previous run of this indexer left behind (killed?), so the group rebalances at once; "+
			"if an indexer with the same identity is still running, it rejoins: give each running indexer its own --identity",
			zap.String("client_id", ix.clientID()), zap.Int("members", n))
	}
}

// partitionBatchBytes bounds what one fetch takes of each partition (40 to
// 170 sealed records), so that a poll of 1,000 records spans the owned
// partitions instead of holding one partition's records while the others
// wait (franz-go's default, 1 MiB, filled a poll from one). A larger
// record still comes alone.
const partitionBatchBytes = 32 << 10

// indexPartition indexes one partition's batch of records, then raises the
// chain's high-water marks once.
func (ix *Indexer) indexPartition(ctx context.Context, p kgo.FetchTopicPartition) error {
	started := time.Now()
	var batch []Sealed
	for _, r := range p.Records {
		s, err := ix.read(ctx, r)
		if err != nil {
			return err
		}
		if s != nil {
			batch = append(batch, *s)
		}
	}
	first, last := p.Records[0].Offset, p.Records[len(p.Records)-1].Offset
	what := fmt.Sprintf("index %s/%d offsets %d-%d", p.Topic, p.Partition, first, last)
	// Every step is idempotent, so a failed batch is retried whole. Each
	// call has CallTimeout; the attempt as a whole gets one per record.
	err := ix.retryFor(ctx, what, ix.cfg.CallTimeout*time.Duration(len(batch)+2), func(ctx context.Context) error {
		_, err := ix.index.ApplyBatch(ctx, batch)
		return err
	})
	if err != nil {
		return err
	}
	ix.m.records.Add(float64(len(batch)))
	// The last entry of each chain in this batch: the chain's highest seq,
	// and how far this partition is indexed (for the contiguous high-water
	// of index status).
	lastOf := map[string]*shared.Entry{}
	for _, s := range batch {
		if e := s.Entry; lastOf[e.Chain] == nil || e.Seq > lastOf[e.Chain].Seq {
			lastOf[e.Chain] = e
		}
	}
	for chain, e := range lastOf {
		if err := ix.retry(ctx, "raise high-water seq", func(ctx context.Context) error {
			if err := ix.index.RaiseHighWater(ctx, chain, e.Seq, e.Hash); err != nil {
				return err
			}
			return ix.index.RecordPartition(ctx, chain, p.Topic, p.Partition, e.Seq, last)
		}); err != nil {
			return err
		}
		ix.raiseHighWater(chain, e.Seq)
	}
	ix.m.batch.Observe(time.Since(started).Seconds())
	return nil
}

// own records partitions assigned to (or taken from) this indexer, for the
// lag metric.
func (ix *Indexer) own(parts map[string][]int32, owned bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, ps := range parts[ix.cfg.SealedTopic] {
		if owned {
			ix.owned[ps] = true
		} else {
			delete(ix.owned, ps)
			ix.revoked = append(ix.revoked, ps)
			ix.m.lag.DeleteLabelValues(ix.cfg.SealedTopic, fmt.Sprint(ps))
		}
	}
}

// watchLag refreshes aegis_indexer_consumer_lag every LagInterval: for each
// partition this indexer owns, the partition's end offset less the group's
// committed offset, less the commit marker that ends every sealer
// transaction (consumers never receive or commit past it).
func (ix *Indexer) watchLag(ctx context.Context, adm *kadm.Client) {
	t := time.NewTicker(ix.cfg.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ends, err := adm.ListEndOffsets(ctx, ix.cfg.SealedTopic)
		if err != nil {
			continue
		}
		committed, err := adm.FetchOffsets(ctx, ix.cfg.Group)
		if err != nil {
			continue
		}
		ix.mu.Lock()
		ends.Each(func(end kadm.ListedOffset) {
			if !ix.owned[end.Partition] || end.Err != nil {
				return
			}
			at := int64(0)
			if c, ok := committed.Lookup(end.Topic, end.Partition); ok && c.Err == nil && c.At > 0 {
				at = c.At
			}
			ix.m.lag.WithLabelValues(end.Topic, fmt.Sprint(end.Partition)).Set(float64(max(0, end.Offset-1-at)))
		})
		ix.mu.Unlock()
	}
}

// read decodes and verifies one record. A record it cannot read is
// recorded as an unindexable anomaly and skipped (nil): one bad record must
// not stop the index for everything after it, and nothing is skipped
// silently.
func (ix *Indexer) read(ctx context.Context, r *kgo.Record) (*Sealed, error) {
	rec, e, why := readSealed(r.Value)
	if why == nil {
		return &Sealed{Entry: e, Record: rec}, nil
	}
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

// readSealed decodes a sealed-topic record, verifies its line and checks
// that it points where the sealer stores that line.
func readSealed(value []byte) (*shared.SealedRecord, *shared.Entry, error) {
	var rec shared.SealedRecord
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return nil, nil, fmt.Errorf("not a sealed record: %w", err)
	}
	e, err := shared.ParseLine(rec.Entry)
	if err == nil {
		err = rec.CheckPointer(e)
	}
	if err != nil {
		return &rec, nil, fmt.Errorf("sealed record %s line %d: %w", clipKey(rec.Object), rec.Line, err)
	}
	return &rec, e, nil
}

// retry runs fn with CallTimeout until it succeeds, fails permanently, or
// ctx ends, backing off between attempts.
func (ix *Indexer) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	return ix.retryFor(ctx, what, ix.cfg.CallTimeout, fn)
}

// retryFor is retry with each attempt bounded by timeout.
func (ix *Indexer) retryFor(ctx context.Context, what string, timeout time.Duration, fn func(context.Context) error) error {
	err := retry.Policy{
		Timeout: timeout, Initial: 50 * time.Millisecond, Max: 5 * time.Second, Final: permanent,
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
