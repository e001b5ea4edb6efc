package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
)

// A sealer that loses the partition to the standby (a Kafka blip, a pause
// past its session) stays up as a standby, and takes the partition back
// when the other stops (README, "Running the roles yourself"). The other
// sealed meanwhile, which bumped the producer epoch of their shared
// transactional id: before, the first sealer's first transaction after
// taking back was fenced with the epoch its client still held, and it
// exited, leaving no sealer (outside trial h3). Now it starts a new
// session, whose transactions are the newest, and seals on.
func TestASealerTakesThePartitionBackAfterLosingIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	short := func(c *sealer.Config) { c.SessionTimeout = time.Second; c.Identity = "first"; c.BatchMaxRecords = 5 }
	first := startPipeline(t, pipeline.Config{Indexers: -1, Sealer: short})
	w := pipeline.NewWorkload(first.Cfg.Chain, first.Cfg.Chain, 40, 0, 5, 31, time.Now())
	publish(t, first, w.Events[:5])
	if err := first.WaitHead(ctx, 5); err != nil {
		t.Fatal(err)
	}
	other, err := sealer.New(ctx, sealer.Config{
		Brokers: stack.Brokers, Topic: first.Cfg.Topic, SealedTopic: first.Cfg.SealedTopic, Chain: first.Cfg.Chain, Identity: "other",
		S3: first.S3, Bucket: first.Cfg.Bucket, Retention: 24 * time.Hour, SignerKey: first.Cfg.SignerKey, VerifierKey: first.Cfg.VerifierKey,
		BatchMaxAge: 200 * time.Millisecond, BatchMaxRecords: 5, SessionTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	otherCtx, stopOther := context.WithCancel(ctx)
	otherDone := make(chan error, 1)
	go func() { otherDone <- other.Run(otherCtx) }()
	<-other.Ready()
	admin, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// Take the partition from the first sealer until the other seals.
	next := 5
	for other.Stats().Sealed == 0 {
		if next+5 > 30 {
			t.Fatal("the other sealer never took the partition over")
		}
		if _, err := topics.EvictClient(ctx, admin, "aegis-sealer-"+first.Cfg.Chain, "aegis-sealer/"+first.Cfg.Chain+"/first"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		publish(t, first, w.Events[next:next+5])
		next += 5
		time.Sleep(2 * time.Second)
	}
	stopOther()
	if err := <-otherDone; err != nil {
		t.Fatalf("the other sealer: %v", err)
	}
	publish(t, first, w.Events[next:])
	if err := first.WaitFor(ctx, func() bool { return first.Sealer.Head().Seq == 40 || first.Err() != nil }); err != nil || first.Err() != nil {
		t.Fatalf("the first sealer after taking the partition back: head %d, %v, %v", first.Sealer.Head().Seq, err, first.Err())
	}
	if _, err := first.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
