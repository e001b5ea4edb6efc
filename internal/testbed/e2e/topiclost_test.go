package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// A decisions topic that lost the records the chain sealed (deleted and
// made again, or Kafka's data lost) stops the sealer with ErrTopicLost
// before it seals or drops anything: whether the new topic ends before
// the sealed head's offset or already holds more records than the chain.
// Before, the sealer took the new records at sealed offsets for sealed
// ones (it republished the chain's entries in their place) and sealed
// nothing, while ingest answered 201 and aegis verify passed (found by
// the operators' trial).
func TestSealerStopsWhenTheTopicLostItsRecords(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after int // records published to the new topic before the restart
	}{
		{"the new topic ends before the head", 5},
		{"the new topic runs past the head", 130},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			first := startPipeline(t, pipeline.Config{Indexers: 1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 40 }})
			w := pipeline.NewWorkload(first.Cfg.Chain, first.Cfg.Chain, 300, 20, 10, 5, time.Now())
			publish(t, first, w.Events[:100])
			if err := first.WaitHead(ctx, 100); err != nil {
				t.Fatal(err)
			}
			if err := first.Stop(); err != nil {
				t.Fatal(err)
			}
			head := first.Sealer.Head()

			cl, err := kgo.NewClient(kgo.SeedBrokers(stack.Brokers...))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if _, err := kadm.NewClient(cl).DeleteTopics(ctx, first.Cfg.Topic); err != nil {
				t.Fatal(err)
			}
			if err := first.WaitFor(ctx, func() bool { return topics.EnsureSingle(ctx, cl, first.Cfg.Topic) == nil }); err != nil {
				t.Fatalf("make the topic again: %v", err)
			}
			publish(t, first, w.Events[100:100+tc.after])

			err = sealerStopsUnsealed(ctx, t, first, first.Cfg.Topic, head)
			if !errors.Is(err, sealer.ErrTopicLost) {
				t.Fatalf("the sealer over the new topic: %v, want ErrTopicLost", err)
			}
			t.Logf("stopped: %v", err)
			rep, err := first.Verify(ctx)
			if err != nil || rep.Head.Seq != head.Seq {
				t.Fatalf("the chain: %+v, %v; want it as it was, head seq %d", rep.LogReport, err, head.Seq)
			}
		})
	}
}

// A newest object that no version reads as sealed (a byte of it changed on
// the server's disk) leaves nothing to hold the head's record against:
// the sealer seals on from the signed checkpoint, as it did before the
// record check (which stopped every session on it).
func TestSealerSealsOnWhenItsNewestObjectCannotBeReadAsSealed(t *testing.T) {
	if stack.S3DataDir == "" {
		t.Skip("changes a byte on the S3 server's disk: needs the native stack (the containers path has no data dir)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first, w := sealedAndStopped(ctx, t, 9, 30)
	refs, err := (&archive.Store{S3: first.S3, Bucket: first.Cfg.Bucket}).Batches(ctx, first.Cfg.Chain)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(stack.S3DataDir, first.Cfg.Bucket, filepath.FromSlash(refs[len(refs)-1].Key))
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body[len(body)/2] ^= 0x01
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	second := startPipeline(t, first.Cfg)
	publish(t, second, w.Events[30:])
	if err := second.WaitHead(ctx, uint64(len(w.Events))); err != nil {
		t.Fatalf("the sealer did not seal on: %v (head %d)", err, second.Sealer.Head().Seq)
	}
}

// sealerStopsUnsealed runs a sealer of first's chain over topic (for at
// most 45 s) and returns why it stopped; it fails the test if the sealer
// moved the head from head, sealed or published anything.
func sealerStopsUnsealed(ctx context.Context, t *testing.T, first *pipeline.Pipeline, topic string, head shared.Head) error {
	t.Helper()
	s, err := sealer.New(ctx, sealer.Config{
		Brokers: stack.Brokers, Topic: topic, SealedTopic: first.Cfg.SealedTopic, Chain: first.Cfg.Chain,
		S3: first.S3, Bucket: first.Cfg.Bucket, Retention: 24 * time.Hour,
		SignerKey: first.Cfg.SignerKey, VerifierKey: first.Cfg.VerifierKey, BatchMaxAge: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithTimeout(ctx, 45*time.Second)
	defer stop()
	err = s.Run(runCtx)
	if got := s.Head(); got != head || s.Stats().Sealed != 0 || s.Stats().Committed != 0 {
		t.Fatalf("head %+v (was %+v), stats %+v: want nothing sealed or published (the sealer stopped with: %v)", got, head, s.Stats(), err)
	}
	return err
}

// sealedAndStopped seals the first n events of a workload of 40 decisions
// (seed) in batches of 10, without indexers, and stops the pipeline.
func sealedAndStopped(ctx context.Context, t *testing.T, seed, n int) (*pipeline.Pipeline, *pipeline.Workload) {
	t.Helper()
	first := startPipeline(t, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 10 }})
	w := pipeline.NewWorkload(first.Cfg.Chain, first.Cfg.Chain, 40, 0, 5, seed, time.Now())
	publish(t, first, w.Events[:n])
	if err := first.WaitHead(ctx, uint64(n)); err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	return first, w
}

// copyTopic writes every record of from to to (a fresh topic), with its
// value and Kafka time, at the same offsets: a topic restored under
// another name.
func copyTopic(ctx context.Context, t *testing.T, from, to string) {
	t.Helper()
	src, err := kgo.NewClient(kgo.SeedBrokers(stack.Brokers...), kgo.ConsumeTopics(from), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ends, err := kadm.NewClient(src).ListEndOffsets(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(from, 0)
	dst, err := kgo.NewClient(kgo.SeedBrokers(stack.Brokers...), kgo.DefaultProduceTopic(to))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := topics.EnsureSingle(ctx, dst, to); err != nil {
		t.Fatal(err)
	}
	for next := int64(0); next < end.Offset; {
		fs := src.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		for _, r := range fs.Records() {
			out, err := dst.ProduceSync(ctx, &kgo.Record{Value: r.Value, Timestamp: r.Timestamp}).First()
			if err != nil || out.Offset != r.Offset {
				t.Fatalf("copy of offset %d: at %d, %v", r.Offset, out.Offset, err)
			}
			next = r.Offset + 1
		}
	}
}

// A sealer started with another topic than the one its chain was sealed
// from stops with ErrTopicChanged before it seals anything, even when
// that topic holds the same records at the same offsets (a restore under
// a new name). A chain is sealed from one topic (FORMAT.md section 6):
// before, the sealer sealed on, and every verifier refused the chain from
// its next entry on, for good (found by the test of chains older builds
// sealed, whose topic was restored under a new name).
func TestSealerStopsOnAnotherTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first, w := sealedAndStopped(ctx, t, 11, 25)
	head := first.Sealer.Head()
	renamed := first.Cfg.Topic + "-restored"
	copyTopic(ctx, t, first.Cfg.Topic, renamed)
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.Brokers...), kgo.DefaultProduceTopic(renamed))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, ev := range w.Events[25:] {
		b, err := ev.Record()
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	err = sealerStopsUnsealed(ctx, t, first, renamed, head)
	if !errors.Is(err, sealer.ErrTopicChanged) || !strings.Contains(err.Error(), "sealed from topic "+first.Cfg.Topic+" partition 0") {
		t.Fatalf("the sealer over %s: %v, want ErrTopicChanged naming %s", renamed, err, first.Cfg.Topic)
	}
	if rep, err := first.Verify(ctx); err != nil || rep.Head.Seq != head.Seq {
		t.Fatalf("the chain: %+v, %v; want it as it was, head seq %d", rep.LogReport, err, head.Seq)
	}
}

// A sealer whose group has no committed offsets (a new Kafka cluster with
// the topic restored, a deleted group, or offsets Kafka dropped after the
// sealer was down past offsets.retention.minutes) seals on: it publishes
// again the sealed entries whose records the topic still holds, and no
// others. Before, kfake's GROUP_ID_NOT_FOUND failed every session (the
// sealer sealed nothing, found by the test of chains older builds
// sealed), and entries of records the topic no longer held were kept in
// memory for good (the whole chain, without a commit).
func TestSealerWithoutACommittedOffsetSealsOn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first, w := sealedAndStopped(ctx, t, 13, 30)
	// The topic's retention took the records below offset 20.
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	del, err := kadm.NewClient(cl).DeleteRecords(ctx, kadm.Offsets{first.Cfg.Topic: {0: {Topic: first.Cfg.Topic, Partition: 0, At: 20}}})
	if err != nil || del.Error() != nil {
		t.Fatalf("delete records below 20: %v %v", err, del.Error())
	}

	cfg := first.Cfg
	cfg.Sealer = func(c *sealer.Config) { c.BatchMaxRecords = 10; c.Group = "aegis-sealer-new-" + first.Cfg.Chain }
	second := startPipeline(t, cfg)
	publish(t, second, w.Events[30:])
	if err := second.WaitHead(ctx, uint64(len(w.Events))); err != nil {
		t.Fatalf("the sealer without a committed offset did not seal on: %v (head %d)", err, second.Sealer.Head().Seq)
	}
	if err := second.WaitSealed(ctx, int64(10+len(w.Events)-30)); err != nil {
		t.Fatalf("published again and sealed: %v (stats %+v)", err, second.Sealer.Stats())
	}
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
	left, _, err := pipeline.MetricValue(second.Metrics, "aegis_sealer_uncommitted_entries", "")
	if err != nil || left != 0 {
		t.Fatalf("entries still held as uncommitted: %v (%v); want none (those of offsets 0 to 19 can never be read again)", left, err)
	}
	if rep, err := second.Verify(ctx); err != nil || rep.Head.Seq != uint64(len(w.Events)) {
		t.Fatalf("the chain: %+v, %v", rep.LogReport, err)
	}
}
