package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
)

var startObjects = flag.Int("start-objects", 3000, "sealer_start_long_chain: objects (one decision each) of the long chain")

// sealerStartLongChain: milliseconds from a sealer's start to its readiness
// (head recovered from S3, uncommitted entries loaded, partition assigned)
// on a chain of --start-objects objects, median of 3 starts. Baseline: the
// same on a chain of 30 objects in the same run, so the ratio shows how a
// start grows with the chain's length (a start that read every checkpoint
// took about 3 s at 3,000 objects).
func sealerStartLongChain(ctx context.Context, st *localstack.Stack) (result, error) {
	short, err := sealerStart(ctx, st, 30)
	if err != nil {
		return result{}, err
	}
	long, err := sealerStart(ctx, st, *startObjects)
	if err != nil {
		return result{}, err
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return result{value: ms(long), baseline: ms(short), unit: "ms"}, nil
}

// sealerStart seals a chain of n objects of one decision each, stops the
// sealer, and returns the median of three starts of a new one.
func sealerStart(ctx context.Context, st *localstack.Stack, n int) (time.Duration, error) {
	var scfg sealer.Config
	p, err := pipeline.Start(ctx, st, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 1; scfg = *c }})
	if err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddr), kgo.DefaultProduceTopic(p.Cfg.Topic))
	if err != nil {
		return 0, err
	}
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, `{"type":"decision","event_id":"evt-%d","environment":%q,"occurred_at":"2026-11-27T09:00:00Z","decision":{"decision_id":"dec-%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`, i, p.Cfg.Chain, i)}, nil)
	}
	err = cl.Flush(ctx)
	cl.Close()
	if err != nil {
		return 0, err
	}
	if err := p.WaitHead(ctx, uint64(n)); err != nil {
		return 0, err
	}
	if err := p.Stop(); err != nil {
		return 0, err
	}
	scfg.Metrics = nil
	var took []time.Duration
	for range 3 {
		s, err := sealer.New(ctx, scfg)
		if err != nil {
			return 0, err
		}
		runCtx, stop := context.WithCancel(ctx)
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- s.Run(runCtx) }()
		select {
		case <-s.Ready():
		case err := <-done:
			stop()
			return 0, fmt.Errorf("sealer on a chain of %d objects: %w", n, err)
		}
		took = append(took, time.Since(start))
		stop()
		<-done
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	fmt.Printf("sealer_start_long_chain: %d objects: starts took %v\n", n, took)
	return took[1], nil
}
