package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
)

// probe is a readiness check that asks the dependencies themselves, at
// most once per interval, so that /readyz turns 503 when a dependency is
// lost and not only before the role started.
type probe struct {
	every time.Duration
	check func(context.Context) error

	mu   sync.Mutex
	last time.Time
	err  error
}

func (p *probe) ready() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) >= p.every {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p.err = p.check(ctx)
		cancel()
		p.last = time.Now()
	}
	return p.err
}

// indexerReadiness is the indexer's /readyz: it has started (started is
// closed once its table is checked and its Kafka client made), its table
// exists with its indexes and a Kafka broker answers.
func (c *common) indexerReadiness(started <-chan struct{}, db indexer.DynamoAPI, kafka *kgo.Client) func() error {
	p := &probe{every: 2 * time.Second, check: func(ctx context.Context) error {
		select {
		case <-started:
		default:
			return errors.New("starting: table check and Kafka client")
		}
		// Both are asked at once, each with the whole time: asked one
		// after the other, a hung DynamoDB used up the time and Kafka's
		// ping failed too, so /readyz blamed a broker that answers
		// ("kafka: context deadline exceeded", found by an outside trial
		// freezing dynalite, 2026-12-01).
		var tableErr, kafkaErr error
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			tableErr = layout.CheckTable(ctx, db, c.table)
		}()
		kafkaErr = kafka.Ping(ctx)
		wg.Wait()
		var errs []error
		if tableErr != nil {
			errs = append(errs, fmt.Errorf("dynamodb: %w", tableErr))
		}
		if kafkaErr != nil {
			errs = append(errs, fmt.Errorf("kafka: %w", kafkaErr))
		}
		return errors.Join(errs...)
	}}
	return p.ready
}
