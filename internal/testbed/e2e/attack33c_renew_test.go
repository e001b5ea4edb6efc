package e2e

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
)

// Two live sealers whose group members are taken from them in turn while
// records keep coming (batches in flight at every loss): each loss makes
// the other take over and, once a sealer that lost the partition is
// assigned it again, it renews its session (280ae81). Whatever each does,
// the chain must hold every event exactly once, verify, and be left with
// a sealer that seals on (README, "Running the roles yourself": "The
// chain stays correct either way: only one sealer seals at a time").
func TestAttack33cRenewsUnderLoadLoseAndDuplicateNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	short := func(c *sealer.Config) {
		c.SessionTimeout = time.Second
		c.Identity = "first"
		c.BatchMaxRecords = 5
		c.BatchMaxAge = 50 * time.Millisecond
	}
	// A sealer caught in a transaction when it loses the partition is
	// fenced and exits (README, "Running the roles yourself"): the
	// pipeline is stopped here, that exit allowed.
	first, err := pipeline.Start(ctx, stack, pipeline.Config{Indexers: -1, Sealer: short, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := first.Stop(); err != nil && !errors.Is(err, sealer.ErrFenced) {
			t.Errorf("pipeline stopped with: %v", err)
		}
	}()
	const n = 1500
	w := pipeline.NewWorkload(first.Cfg.Chain, first.Cfg.Chain, n, 0, 5, 33, time.Now())
	var otherErr error
	otherExited := false
	other, err := sealer.New(ctx, sealer.Config{Logger: zaptest.NewLogger(t).Named("other"),
		Brokers: stack.Brokers, Topic: first.Cfg.Topic, SealedTopic: first.Cfg.SealedTopic, Chain: first.Cfg.Chain, Identity: "other",
		S3: first.S3, Bucket: first.Cfg.Bucket, Retention: 24 * time.Hour, SignerKey: first.Cfg.SignerKey, VerifierKey: first.Cfg.VerifierKey,
		BatchMaxAge: 50 * time.Millisecond, BatchMaxRecords: 5, SessionTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	otherCtx, stopOther := context.WithCancel(ctx)
	otherDone := make(chan error, 1)
	go func() { otherDone <- other.Run(otherCtx) }()
	defer func() {
		stopOther()
		if !otherExited {
			<-otherDone
		}
	}()
	<-other.Ready()

	prod, err := first.Producer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var published atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i += 5 {
			if err := prod.Publish(ctx, w.Events[i:i+5]...); err != nil {
				t.Error(err)
				return
			}
			published.Add(5)
			time.Sleep(40 * time.Millisecond)
		}
	}()
	admin, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	group := "aegis-sealer-" + first.Cfg.Chain
	for i := 0; published.Load() < n && i < 30; i++ {
		id := "first"
		if i%2 == 1 {
			id = "other"
		}
		if _, err := topics.EvictClient(ctx, admin, group, "aegis-sealer/"+first.Cfg.Chain+"/"+id); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
	}
	wg.Wait()
	head := func() uint64 { return max(first.Sealer.Head().Seq, other.Head().Seq) }
	err = first.WaitFor(ctx, func() bool {
		select {
		case otherErr = <-otherDone:
			otherExited = true
		default:
		}
		return head() >= n || (first.Err() != nil && otherExited)
	})
	t.Logf("first: head %d, stats %+v, err %v; other: head %d, stats %+v, exited %v (%v)",
		first.Sealer.Head().Seq, first.Sealer.Stats(), first.Err(), other.Head().Seq, other.Stats(), otherExited, otherErr)
	if err != nil || head() < n {
		t.Fatalf("the chain's head is %d of %d events (%v): first %v, other exited %v (%v)", head(), n, err, first.Err(), otherExited, otherErr)
	}
	if errors.Is(otherErr, sealer.ErrFenced) || (first.Err() != nil && otherExited) {
		t.Fatalf("both sealers exited: first %v, other %v", first.Err(), otherErr)
	}
	entries := readChain(t, first)
	seen := map[string]int{}
	for _, e := range entries {
		if id := e.EventID(); id != "" {
			seen[id]++
		}
	}
	for _, ev := range w.Events {
		if seen[ev.EventID] != 1 {
			t.Errorf("event %s sealed %d times", ev.EventID, seen[ev.EventID])
		}
	}
	if _, err := first.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
