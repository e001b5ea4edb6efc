package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/internal/localstack"
	"github.com/aegisai/audit/internal/pipeline"
	"github.com/aegisai/audit/internal/topics"
	"github.com/aegisai/audit/sealer"
)

var benchRecords = 20000

// sealThroughput: decisions per second sealed end to end (chained, written
// to S3 under Object Lock, checkpointed, published and committed in Kafka
// transactions) from a pre-loaded topic. Baseline: franz-go consuming the
// same records raw from the same topic.
func sealThroughput(ctx context.Context, st *localstack.Stack) (result, error) {
	chain := localstack.Name("bench")
	topic := localstack.Name("decisions")
	w := pipeline.NewWorkload(chain, chain, benchRecords, 0, 1000, 7, time.Now())

	cl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddr), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return result{}, err
	}
	defer cl.Close()
	if err := topics.EnsureSingle(ctx, cl, topic); err != nil {
		return result{}, err
	}
	recs := make([]*kgo.Record, len(w.Events))
	for i, e := range w.Events {
		v, err := json.Marshal(e)
		if err != nil {
			return result{}, err
		}
		recs[i] = &kgo.Record{Value: v}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return result{}, fmt.Errorf("preload: %w", err)
	}

	// Baseline: raw consumption of the same records.
	raw, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	for n := 0; n < len(recs); {
		f := raw.PollFetches(ctx)
		if err := f.Err0(); err != nil {
			raw.Close()
			return result{}, err
		}
		n += f.NumRecords()
	}
	baseline := float64(len(recs)) / time.Since(start).Seconds()
	raw.Close()

	// The sealer, from start (head recovery, genesis) to the last commit.
	start = time.Now()
	p, err := pipeline.Start(ctx, st, pipeline.Config{
		Chain: chain, Topic: topic, Indexers: -1,
		Sealer: func(c *sealer.Config) {
			c.BatchMaxAge = time.Second
			if v, err := strconv.Atoi(os.Getenv("BENCH_INFLIGHT")); err == nil {
				c.MaxInFlight = v
			}
			if v, err := strconv.Atoi(os.Getenv("BENCH_BATCH")); err == nil {
				c.BatchMaxRecords = v
			}
		},
	})
	if err != nil {
		return result{}, err
	}
	defer p.Stop()
	if err := p.WaitHead(ctx, uint64(len(recs))); err != nil {
		return result{}, err
	}
	value := float64(len(recs)) / time.Since(start).Seconds()
	return result{value: value, baseline: baseline, unit: "decisions/s"}, nil
}
