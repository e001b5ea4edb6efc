package e2e

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
)

// flakyS3 fails writes while down is set, as an S3 outage would.
type flakyS3 struct {
	archive.S3API
	down   atomic.Bool
	failed atomic.Int64
}

func (f *flakyS3) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if f.down.Load() {
		f.failed.Add(1)
		return nil, errors.New("injected: S3 unavailable")
	}
	return f.S3API.PutObject(ctx, in, opts...)
}

// During an S3 outage the sealer retries, commits nothing, skips nothing,
// and carries on when S3 is back.
func TestS3OutageDelaysButLosesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	flaky := &flakyS3{}
	p := startPipeline(t, pipeline.Config{Indexers: 1, Sealer: func(c *sealer.Config) {
		flaky.S3API = c.S3
		c.S3 = flaky
		c.BatchMaxRecords = 30
	}})
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 100, 5, 10, 8, time.Now())
	publish(t, p, w.Events[:40])
	if err := p.WaitHead(ctx, 40); err != nil {
		t.Fatal(err)
	}
	flaky.down.Store(true)
	publish(t, p, w.Events[40:])
	if err := p.WaitFor(ctx, func() bool { return flaky.failed.Load() >= 3 }); err != nil {
		t.Fatal(err)
	}
	if h := p.Sealer.Head().Seq; h != 40 {
		t.Fatalf("head moved to %d while S3 was down", h)
	}
	if c := p.Sealer.Stats().Committed; c != 40 {
		t.Fatalf("%d records committed while S3 was down, want the 40 sealed before", c)
	}
	// An operator sees it: past the grace, the sealer is not healthy
	// (its /readyz), and the records waiting are counted.
	if err := p.WaitFor(ctx, func() bool { return p.Sealer.Healthy() != nil }); err != nil {
		t.Fatal("the sealer still says it is healthy well into the outage")
	}
	t.Logf("during the outage: %v", p.Sealer.Healthy())
	if lag := metricValue(t, p, "aegis_sealer_lag_records", ""); lag < 1 {
		t.Fatalf("aegis_sealer_lag_records %v during the outage, want the records waiting", lag)
	}
	flaky.down.Store(false)
	if err := p.WaitHead(ctx, uint64(len(w.Events))); err != nil {
		t.Fatal(err)
	}
	// Caught up, and nothing new comes: nothing waits, and the metric
	// says so (it kept the count of the last fetch, whose records were
	// then sealed, and an alert on it paged on idle chains).
	if lag := metricValue(t, p, "aegis_sealer_lag_records", ""); lag != 0 {
		t.Fatalf("aegis_sealer_lag_records %v with every record sealed, want 0", lag)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	checkOnce(t, p, w.Events)
	if r := metricValue(t, p, "aegis_sealer_s3_retries_total", ""); r < 3 {
		t.Fatalf("s3 retries metric %v, want at least 3", r)
	}
	if err := p.Sealer.Healthy(); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	if at := metricValue(t, p, "aegis_sealer_last_sealed_timestamp_seconds", ""); time.Since(time.Unix(int64(at), 0)) > time.Minute {
		t.Fatalf("aegis_sealer_last_sealed_timestamp_seconds %v, want the last batch's time", at)
	}
}

// While S3 is down the sealer stops fetching once its batches in flight
// fill MaxInFlight, and the lag metric kept the last fetch's count while
// records piled up on the topic, so AegisSealerBacklog could not fire in
// an outage (the operators' outside trial: 4,002 shown, about 30,000
// waiting). The sealer asks the brokers for the topic's end when no fetch
// has said it for a few seconds.
func TestSealerLagCountsRecordsPublishedWhileS3IsDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	flaky := &flakyS3{}
	p := startPipeline(t, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) {
		flaky.S3API = c.S3
		c.S3 = flaky
		c.BatchMaxRecords, c.MaxInFlight = 10, 1
	}})
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 60, 0, 10, 9, time.Now())
	publish(t, p, w.Events[:10])
	if err := p.WaitHead(ctx, 10); err != nil {
		t.Fatal(err)
	}
	flaky.down.Store(true)
	publish(t, p, w.Events[10:30])
	if err := p.WaitFor(ctx, func() bool { return flaky.failed.Load() >= 2 }); err != nil {
		t.Fatal(err)
	}
	// Published while the one batch in flight waits on S3; the wait is a
	// few probes' worth.
	publish(t, p, w.Events[30:])
	waitCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	if err := p.WaitFor(waitCtx, func() bool { return metricValue(t, p, "aegis_sealer_lag_records", "") == 50 }); err != nil {
		t.Fatalf("aegis_sealer_lag_records %v with 50 records waiting", metricValue(t, p, "aegis_sealer_lag_records", ""))
	}
	flaky.down.Store(false)
	if err := p.WaitHead(ctx, 60); err != nil {
		t.Fatal(err)
	}
}
