// Package pipeline wires a sealer and indexers onto a local stack: the shared
// setup of `make run`, the end-to-end tests and the benchmarks.
package pipeline

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/sealer"
)

// Config names the resources of one pipeline on a stack.
type Config struct {
	Chain, Bucket, Table, SealedTopic string
	// Topic is the decisions topic. Empty: the sealer's default,
	// topics.Decisions(Chain), which Start stores here for producers.
	Topic string
	// SignerKey/VerifierKey: empty generates a new pair.
	SignerKey, VerifierKey string
	// Indexers is how many indexers run in the group. Default 2; negative
	// runs none.
	Indexers int
	// Sealer is applied to the sealer config last (batch limits etc.).
	Sealer func(*sealer.Config)
	Logger *zap.Logger
}

// Pipeline is a running sealer and indexer group.
type Pipeline struct {
	Cfg      Config
	Stack    *localstack.Stack
	S3       *s3.Client
	DynamoDB *dynamodb.Client
	Sealer   *sealer.Sealer
	Indexers []*indexer.Indexer
	Index    *indexer.Index
	// Reader reads the pipeline's table (the query side).
	Reader *query.Reader
	// Metrics holds the sealer's and indexers' metrics.
	Metrics *prometheus.Registry

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

// Defaults fills unset names with unique ones.
func (c *Config) defaults(st *localstack.Stack) error {
	uniq := func(s *string, p string) {
		if *s == "" {
			*s = localstack.Name(p)
		}
	}
	uniq(&c.Chain, "chain")
	if c.Bucket == "" {
		c.Bucket = st.Bucket("audit")
	}
	uniq(&c.Table, "index")
	uniq(&c.SealedTopic, "sealed")
	if c.Indexers == 0 {
		c.Indexers = 2
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.SignerKey == "" {
		skey, vkey, err := note.GenerateKey(rand.Reader, "aegis-"+c.Chain)
		if err != nil {
			return err
		}
		c.SignerKey, c.VerifierKey = skey, vkey
	}
	return nil
}

// Start creates the bucket and starts the sealer and indexers.
func Start(ctx context.Context, st *localstack.Stack, cfg Config) (*Pipeline, error) {
	if err := cfg.defaults(st); err != nil {
		return nil, err
	}
	p := &Pipeline{Cfg: cfg, Stack: st, Metrics: prometheus.NewRegistry()}
	var err error
	if p.S3, err = st.S3(ctx); err != nil {
		return nil, err
	}
	if p.DynamoDB, err = st.DynamoDB(ctx); err != nil {
		return nil, err
	}
	if err := localstack.CreateLockedBucket(ctx, p.S3, cfg.Bucket); err != nil {
		return nil, err
	}
	scfg := sealer.Config{
		Brokers: st.Brokers, Topic: cfg.Topic, SealedTopic: cfg.SealedTopic,
		Chain: cfg.Chain, S3: p.S3, Bucket: cfg.Bucket, Retention: 24 * time.Hour,
		SignerKey: cfg.SignerKey, VerifierKey: cfg.VerifierKey, Logger: cfg.Logger.Named("sealer"),
		BatchMaxAge: 200 * time.Millisecond, Metrics: p.Metrics,
	}
	if cfg.Sealer != nil {
		cfg.Sealer(&scfg)
	}
	if p.Sealer, err = sealer.New(ctx, scfg); err != nil {
		return nil, err
	}
	p.Cfg.Topic = p.Sealer.Topic()
	for i := range cfg.Indexers {
		var reg prometheus.Registerer
		if i == 0 {
			reg = p.Metrics // one indexer's figures; the others run alike
		}
		ix, err := indexer.New(ctx, indexer.Config{
			Metrics: reg,
			Brokers: st.Brokers, SealedTopic: cfg.SealedTopic, Group: p.IndexerGroup(),
			DynamoDB: p.DynamoDB, Table: cfg.Table, Logger: cfg.Logger.Named(fmt.Sprintf("indexer-%d", i)),
		})
		if err != nil {
			return nil, err
		}
		p.Indexers = append(p.Indexers, ix)
	}
	p.Index = &indexer.Index{DB: p.DynamoDB, Table: cfg.Table}
	p.Reader = &query.Reader{DB: p.DynamoDB, Table: cfg.Table, Chain: cfg.Chain}
	if err := layout.EnsureTable(ctx, p.DynamoDB, cfg.Table); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.run(func() error { return p.Sealer.Run(runCtx) })
	for _, ix := range p.Indexers {
		p.run(func() error { return ix.Run(runCtx) })
	}
	return p, nil
}

func (p *Pipeline) run(fn func() error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := fn(); err != nil {
			p.mu.Lock()
			p.errs = append(p.errs, err)
			p.mu.Unlock()
		}
	}()
}

// Err returns the errors services stopped with so far.
func (p *Pipeline) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs...)
}

// Stop shuts the services down in order and returns their errors.
func (p *Pipeline) Stop() error {
	p.cancel()
	p.wg.Wait()
	return p.Err()
}

// Producer returns a producer for the pipeline's chain and topics; each
// option changes its config.
func (p *Pipeline) Producer(ctx context.Context, opts ...func(*producer.Config)) (*producer.Producer, error) {
	cfg := producer.Config{Brokers: p.Stack.Brokers, Topic: p.Cfg.Topic, SealedTopic: p.Cfg.SealedTopic,
		Environment: p.Cfg.Chain, Logger: p.Cfg.Logger.Named("producer")}
	for _, o := range opts {
		o(&cfg)
	}
	return producer.New(ctx, cfg)
}

// WaitSealed waits until the sealer has committed n records since start.
func (p *Pipeline) WaitSealed(ctx context.Context, n int64) error {
	return p.WaitFor(ctx, func() bool { return p.Sealer.Stats().Committed >= n })
}

// WaitHead waits until the chain head in S3 reaches seq and its records are
// committed (published to the sealed topic).
func (p *Pipeline) WaitHead(ctx context.Context, seq uint64) error {
	return p.WaitFor(ctx, func() bool { return p.Sealer.Head().Seq >= seq && p.Sealer.Uncommitted() == 0 })
}

// WaitIndexed waits until the indexer group has committed every record of
// the sealed topic (lag zero): each one is in DynamoDB.
func (p *Pipeline) WaitIndexed(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Stack.Brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	return p.WaitFor(ctx, func() bool {
		ends, err := adm.ListEndOffsets(ctx, p.Cfg.SealedTopic)
		if err != nil || ends.Error() != nil {
			return false
		}
		committed, err := adm.FetchOffsets(ctx, p.IndexerGroup())
		if err != nil || committed.Error() != nil {
			return false
		}
		caughtUp := true
		ends.Each(func(end kadm.ListedOffset) {
			if end.Offset == 0 {
				return
			}
			// The sealed topic is written only in transactions, so its last
			// offset is a commit (or abort) marker, which consumers never
			// receive or commit past: end-1 is caught up.
			c, ok := committed.Lookup(end.Topic, end.Partition)
			if !ok || c.At < end.Offset-1 {
				caughtUp = false
			}
		})
		return caughtUp
	})
}

// IndexerGroup is the consumer group of the pipeline's indexers (one per table).
func (p *Pipeline) IndexerGroup() string { return "indexer-" + p.Cfg.Table }

// WaitFor polls done until it holds, a service fails, or ctx ends.
func (p *Pipeline) WaitFor(ctx context.Context, done func() bool) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !done() {
		if err := p.Err(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Verify runs the replayer's verification of the pipeline's chain.
func (p *Pipeline) Verify(ctx context.Context) (replayer.Report, error) {
	return replayer.Verify(ctx, replayer.Config{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey})
}
