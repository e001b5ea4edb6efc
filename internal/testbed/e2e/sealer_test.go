package e2e

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// checkOnce asserts the chain in S3 verifies and holds each event exactly
// once, in publish order.
func checkOnce(t *testing.T, p *pipeline.Pipeline, events []*shared.Envelope) {
	t.Helper()
	ctx := context.Background()
	rep, err := p.Verify(ctx)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Events != uint64(len(events)) || rep.Entries != uint64(len(events))+1 {
		t.Fatalf("chain holds %d events in %d entries, want %d events", rep.Events, rep.Entries, len(events))
	}
	var got []string
	for _, e := range readChain(t, p) {
		if env, err := e.Envelope(); err == nil {
			got = append(got, env.EventID)
		}
	}
	for i, ev := range events {
		if got[i] != ev.EventID {
			t.Fatalf("chain position %d holds %s, want %s", i, got[i], ev.EventID)
		}
	}
}

func TestRestartContinuesTheChain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := pipeline.Config{Indexers: 1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 40 }}
	first, err := pipeline.Start(ctx, stack, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := pipeline.NewWorkload(first.Cfg.Chain, first.Cfg.Chain, 200, 10, 10, 3, time.Now())
	publish(t, first, w.Events[:100])
	if err := first.WaitHead(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	headBefore := first.Sealer.Head()

	// Same names and keys: a new process with nothing in memory.
	second := startPipeline(t, first.Cfg)
	publish(t, second, w.Events[100:])
	if err := second.WaitHead(ctx, uint64(len(w.Events))); err != nil {
		t.Fatal(err)
	}
	if err := second.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	checkOnce(t, second, w.Events)
	entries := readChain(t, second)
	if entries[headBefore.Seq+1].Prev != headBefore.Hash {
		t.Fatalf("the second run does not link to the first run's head")
	}
	for _, d := range w.Decisions {
		if _, err := second.Reader.Decision(ctx, d.Decision.DecisionID); err != nil {
			t.Fatalf("decision %s: %v", d.Decision.DecisionID, err)
		}
	}
}

// A sealer that dies after its batch is in S3 but before its Kafka
// transaction commits loses nothing and duplicates nothing: the next one
// recovers the head from S3 and republishes the uncommitted entries.
func TestCrashBetweenS3AndCommit(t *testing.T) { crashBetweenS3AndCommit(t, nil) }

// The same, with the uncommitted object deleted (a delete marker) or
// written over with a locked version of someone else's before the next
// sealer starts: it republishes its entries from the sealed version
// (before, it could not start at all).
func TestCrashBetweenS3AndCommitWithTheObjectWrittenOver(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rewrite func(p *pipeline.Pipeline, key string)
	}{
		{"a locked version of someone else's", func(p *pipeline.Pipeline, key string) {
			putVersion(t, p, key, []byte("{\"forged\":true}\n"), true)
		}},
		{"a delete marker", func(p *pipeline.Pipeline, key string) {
			if _, err := p.S3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(p.Cfg.Bucket), Key: aws.String(key)}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			crashBetweenS3AndCommit(t, func(p *pipeline.Pipeline) {
				refs, err := (&archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}).Batches(context.Background(), p.Cfg.Chain)
				if err != nil || len(refs) != 2 {
					t.Fatalf("objects %v, %v: want the genesis and one batch", refs, err)
				}
				tc.rewrite(p, refs[1].Key)
			})
		})
	}
}

// crashBetweenS3AndCommit runs the crash, and rewrite (if any) between
// the crash and the restart.
func crashBetweenS3AndCommit(t *testing.T, rewrite func(*pipeline.Pipeline)) {
	stack.NeedsInProcessKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := pipeline.Config{Indexers: 1, Sealer: func(c *sealer.Config) {
		c.BatchMaxRecords, c.BatchMaxAge, c.TransactionTimeout = 1000, 300*time.Millisecond, 2*time.Second
	}}
	first, err := pipeline.Start(ctx, stack, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Every commit of this sealer's transactions fails at the broker until
	// the "crash"; aborts and other clients pass through.
	txnID := "aegis-sealer-" + first.Cfg.Chain
	var blocking atomic.Bool
	blocking.Store(true)
	var refused atomic.Int32
	stack.Kafka.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if !blocking.Load() {
			stack.Kafka.DropControl()
			return nil, nil, false
		}
		stack.Kafka.KeepControl()
		r := req.(*kmsg.EndTxnRequest)
		if r.TransactionalID != txnID || !r.Commit {
			return nil, nil, false
		}
		refused.Add(1)
		resp := r.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.InvalidTxnState.Code
		return resp, nil, true
	})
	w := pipeline.NewWorkload(first.Cfg.Chain, first.Cfg.Chain, 150, 10, 10, 4, time.Now())
	publish(t, first, w.Events)
	if err := first.WaitFor(ctx, func() bool { return first.Sealer.Head().Seq == uint64(len(w.Events)) && refused.Load() > 0 }); err != nil {
		t.Logf("first sealer: %v", err)
	}
	stopStart := time.Now()
	_ = first.Stop() // the crash: whatever it says, nothing of it is committed
	t.Logf("first pipeline stopped in %s", time.Since(stopStart))
	blocking.Store(false)
	if st := first.Sealer.Stats(); first.Sealer.Head().Seq != uint64(len(w.Events)) || st.Committed != 0 || st.Sealed != int64(len(w.Events)) {
		t.Fatalf("before the restart: head %d, stats %+v; want all %d sealed in S3 once and none committed",
			first.Sealer.Head().Seq, st, len(w.Events))
	}

	if rewrite != nil {
		rewrite(first)
	}
	restart := time.Now()
	second := startPipeline(t, first.Cfg)
	if err := second.WaitHead(ctx, uint64(len(w.Events))); err != nil {
		t.Fatal(err)
	}
	t.Logf("second sealer republished everything %s after its start", time.Since(restart))
	if err := second.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	if st := second.Sealer.Stats(); st.Sealed != 0 || st.Committed != int64(len(w.Events)) {
		t.Fatalf("second sealer %+v: want nothing sealed again and all %d republished", st, len(w.Events))
	}
	if rewrite == nil {
		checkOnce(t, second, w.Events)
	} else if _, err := second.Verify(ctx); !errors.Is(err, replayer.ErrRewritten) {
		t.Fatalf("verify: %v, want the rewritten key reported", err)
	}
	for _, d := range w.Decisions {
		if _, err := second.Reader.Decision(ctx, d.Decision.DecisionID); err != nil {
			t.Fatalf("decision %s not indexed after the republish: %v", d.Decision.DecisionID, err)
		}
	}
}

// Two sealers on one chain (a zombie that was not fenced: another group and
// transactional id) cannot fork it: If-None-Match makes one write each
// batch key and the other adopt it.
func TestTwoSealersCannotFork(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	small := func(c *sealer.Config) { c.BatchMaxRecords = 25; c.BatchMaxAge = 50 * time.Millisecond }
	p := startPipeline(t, pipeline.Config{Indexers: 1, Sealer: small})
	zcfg := p.Cfg
	zcfg.Indexers = -1
	zcfg.Sealer = func(c *sealer.Config) {
		small(c)
		c.Group, c.TransactionalID, c.SealedTopic = "zombie-"+p.Cfg.Chain, "zombie-"+p.Cfg.Chain, "zombie-"+p.Cfg.SealedTopic
		c.BatchMaxRecords = 40
	}
	zombie := startPipeline(t, zcfg)

	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 400, 20, 20, 5, time.Now())
	for i := 0; i < len(w.Events); i += 60 {
		publish(t, p, w.Events[i:min(i+60, len(w.Events))])
		time.Sleep(20 * time.Millisecond)
	}
	n := uint64(len(w.Events))
	if err := p.WaitHead(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := zombie.WaitHead(ctx, n); err != nil {
		t.Fatal(err)
	}
	a, z := p.Sealer.Stats(), zombie.Sealer.Stats()
	t.Logf("sealer %+v, zombie %+v", a, z)
	if a.Adopted+z.Adopted == 0 {
		t.Fatalf("the two sealers never met at a batch key; the test did not exercise the race")
	}
	if p.Sealer.Head() != zombie.Sealer.Head() {
		t.Fatalf("heads differ: %+v vs %+v", p.Sealer.Head(), zombie.Sealer.Head())
	}
	checkOnce(t, p, w.Events)
	if err := errors.Join(p.Err(), zombie.Err()); err != nil {
		t.Fatal(err)
	}
}

// Two sealers in one group (a standby): when the active one leaves, the
// standby is assigned the partition, recovers the head from S3 and goes on
// with the same chain.
func TestStandbySealerTakesOver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.TransactionalID = "active-" + c.Chain; c.BatchMaxRecords = 30 }}
	active, err := pipeline.Start(ctx, stack, cfg)
	if err != nil {
		t.Fatal(err)
	}
	scfg := active.Cfg
	scfg.Sealer = func(c *sealer.Config) { c.TransactionalID = "standby-" + c.Chain; c.BatchMaxRecords = 30 }
	standby := startPipeline(t, scfg)

	w := pipeline.NewWorkload(active.Cfg.Chain, active.Cfg.Chain, 200, 10, 10, 9, time.Now())
	publish(t, active, w.Events[:100])
	both := func() uint64 { return max(active.Sealer.Head().Seq, standby.Sealer.Head().Seq) }
	if err := active.WaitFor(ctx, func() bool { return both() >= 100 }); err != nil {
		t.Fatal(err)
	}
	owner, other := active, standby
	if standby.Sealer.Stats().Sealed > 0 {
		owner, other = standby, active
	}
	if err := owner.Stop(); err != nil {
		t.Fatal(err)
	}
	publish(t, other, w.Events[100:])
	if err := other.WaitHead(ctx, uint64(len(w.Events))); err != nil {
		t.Fatalf("after the owner left: %v (head %+v, stats %+v)", err, other.Sealer.Head(), other.Sealer.Stats())
	}
	checkOnce(t, other, w.Events)
	if owner != active {
		_ = active.Stop()
	}
}
