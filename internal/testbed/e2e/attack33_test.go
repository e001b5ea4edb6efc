package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// Attack 33: a hostile producer on the decisions topic.

// Someone allowed to alter the decisions topic (an attacker with more
// than Write, or an operator who "scales" it) adds a partition while the
// sealer runs, and records are produced to both. At its start the sealer
// refuses a topic of more than one partition (topics.EnsureSingle), but
// its group consumes every partition of the topic, and a partition added
// under it was sealed like the first: its records were chained into the
// same objects as partition 0's, offsets going back (FORMAT.md section 6:
// every entry of a chain is read from one partition, offsets rising), and
// signed, so that every verifier refuses the chain from there on, for
// good; the transaction then committed partition 0's offset at the
// highest offset polled of any partition, past records of partition 0 it
// never sealed; and the sealer stopped on a "topic lost". It must stop as
// at its start (topics.ErrNotSingle) with nothing of another partition
// sealed and no offset committed past what it sealed.
func TestAttack33APartitionAddedUnderTheSealer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first := startPipeline(t, pipeline.Config{Indexers: -1})
	w := pipeline.NewWorkload(first.Cfg.Chain, first.Cfg.Chain, 10, 0, 3, 33, time.Now())
	publish(t, first, w.Events[:5])
	if err := first.WaitHead(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	s, err := sealer.New(ctx, sealer.Config{
		Brokers: stack.Brokers, Topic: first.Cfg.Topic, SealedTopic: first.Cfg.SealedTopic, Chain: first.Cfg.Chain,
		S3: first.S3, Bucket: first.Cfg.Bucket, Retention: 24 * time.Hour,
		SignerKey: first.Cfg.SignerKey, VerifierKey: first.Cfg.VerifierKey, BatchMaxAge: 200 * time.Millisecond,
		// The client learns of a new partition at its next metadata
		// refresh (5 minutes by default): sooner here.
		KafkaOptions: []kgo.Opt{kgo.MetadataMinAge(250 * time.Millisecond), kgo.MetadataMaxAge(time.Second)},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	stopped := make(chan error, 1)
	go func() { stopped <- s.Run(runCtx) }()
	<-s.Ready()

	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreatePartitions(ctx, 1, first.Cfg.Topic); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the sealer's client sees the partition and its group takes it
	for round, e := range w.Events[5:] {
		v, err := e.Record()
		if err != nil {
			t.Fatal(err)
		}
		recs := []*kgo.Record{{Topic: first.Cfg.Topic, Partition: 0, Value: v}}
		for i := range 20 {
			recs = append(recs, &kgo.Record{Topic: first.Cfg.Topic, Partition: 1,
				Value: []byte(decisionRecord(first.Cfg.Chain, fmt.Sprint("p1-", round, "-", i), `{}`))})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var runErr error
	select {
	case runErr = <-stopped:
	case <-time.After(20 * time.Second):
		stop()
		runErr = <-stopped
	}

	head := s.Head()
	offsets := map[int64]int{}
	for _, e := range readChain(t, first)[1:] {
		if e.Source.Partition != 0 {
			t.Fatalf("seq %d was sealed from partition %d (offset %d) of the decisions topic: the chain breaks there for good",
				e.Seq, e.Source.Partition, e.Source.Offset)
		}
		offsets[e.Source.Offset]++
	}
	for off, n := range offsets {
		if n != 1 || off > head.Offset {
			t.Fatalf("offset %d sealed %d times (head offset %d)", off, n, head.Offset)
		}
	}
	if rep, err := first.Verify(ctx); err != nil || rep.Head != head {
		t.Fatalf("verify: %+v, %v; want the chain up to head %+v", rep.LogReport, err, head)
	}
	committed, err := kadm.NewClient(cl).FetchOffsets(ctx, "aegis-sealer-"+first.Cfg.Chain)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := committed.Lookup(first.Cfg.Topic, 0); ok && o.At > head.Offset+1 {
		t.Fatalf("the sealer's group committed offset %d of partition 0, past the head's offset %d: records in between are skipped for good", o.At, head.Offset)
	}
	if !errors.Is(runErr, topics.ErrNotSingle) {
		t.Fatalf("the sealer: %v; want it stopped on the topic's second partition (topics.ErrNotSingle), as at its start", runErr)
	}
}

// A record of about 900 KB, under the broker's 1 MB: an object with one
// member name of 450,000 U+0085 (a C1 control, two bytes of UTF-8 each)
// and no ':' after it. The reason of its INVALID entry quotes the name
// whole, Go-quoted (six bytes for each) and then JSON-escaped in the
// line: a sealed line of about 3 MB, which the sealer cannot publish to
// the sealed topic (a record over the broker's limit). The legitimate
// events after it must still be sealed, published and indexed.
func TestAttack33AReasonQuotingAHugeMemberNameIsPublished(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: 1})
	<-p.Sealer.Ready()
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.KafkaAddr), kgo.DefaultProduceTopic(p.Cfg.Topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	v := []byte(`{"` + strings.Repeat("\u0085", 450_000) + `"}`)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 5, 0, 3, 35, time.Now())
	publish(t, p, w.Events)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := p.WaitHead(wctx, 6); err != nil {
		t.Fatalf("the events after the record are not sealed and published: %v (head %+v, %d uncommitted)", err, p.Sealer.Head(), p.Sealer.Uncommitted())
	}
	if err := p.WaitIndexed(wctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range w.Decisions {
		if _, err := p.Reader.Decision(ctx, d.Decision.DecisionID); err != nil {
			t.Fatalf("decision %s after the record not indexed: %v", d.Decision.DecisionID, err)
		}
	}
	if _, err := p.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	if e := readChain(t, p)[1]; e.Type != shared.EntryInvalid || e.Invalid.Size != len(v) || len(e.Invalid.Reason) > shared.MaxInvalidReason+64 {
		t.Fatalf("the record sealed as %s, %+v; want INVALID of its %d bytes with a reason of at most %d bytes", e.Type, e.Invalid.Size, len(v), shared.MaxInvalidReason)
	}
}
