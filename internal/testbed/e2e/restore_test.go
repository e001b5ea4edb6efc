package e2e

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
)

// A sealer started on a bucket restored from a backup older than its
// group's committed offset (found by an outside trial, 2026-12-01): the
// records sealed after the backup were consumed and committed, and the
// restored chain lacks them. The sealer went on from the commit, and those
// acknowledged records were never sealed again, without a word. It stops
// now (sealer.ErrCommitPastHead), sealing nothing; with the group's offset
// set to the head's offset + 1 (README, "When things fail"), it seals
// them again, then the rest.
func TestSealerStopsOnACommitPastARestoredHead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	first := startPipeline(t, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 10 }})
	w := pipeline.NewWorkload(first.Cfg.Chain, first.Cfg.Chain, 40, 0, 5, 71, time.Now())
	publish(t, first, w.Events[:20])
	if err := first.WaitHead(ctx, 20); err != nil {
		t.Fatal(err)
	}
	backup := t.TempDir() // taken at seq 20
	if err := pipeline.Download(ctx, &archive.Store{S3: first.S3, Bucket: first.Cfg.Bucket}, backup); err != nil {
		t.Fatal(err)
	}
	publish(t, first, w.Events[20:30])
	if err := first.WaitHead(ctx, 30); err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	// The bucket is lost and restored from the backup.
	restored := stack.Bucket("restored")
	if err := localstack.CreateLockedBucket(ctx, first.S3, restored); err != nil {
		t.Fatal(err)
	}
	store := &archive.Store{S3: first.S3, Bucket: restored}
	err := filepath.WalkDir(backup, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(backup, path)
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = store.Put(ctx, filepath.ToSlash(rel), body, time.Now().Add(time.Hour))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sealer.New(ctx, sealer.Config{
		Brokers: stack.Brokers, Topic: first.Cfg.Topic, SealedTopic: first.Cfg.SealedTopic, Chain: first.Cfg.Chain,
		S3: first.S3, Bucket: restored, Retention: 24 * time.Hour, SignerKey: first.Cfg.SignerKey, VerifierKey: first.Cfg.VerifierKey,
		BatchMaxAge: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithTimeout(ctx, 45*time.Second)
	err = s.Run(runCtx)
	stop()
	head := s.Head()
	if !errors.Is(err, sealer.ErrCommitPastHead) || head.Seq != 20 || s.Stats().Sealed != 0 {
		t.Fatalf("a sealer on the restored bucket: %v (head seq %d, stats %+v), want it stopped on the commit past the head at seq 20, nothing sealed", err, head.Seq, s.Stats())
	}

	// The operator sets the group's offset after the restored head: the
	// records the restored chain lacks are sealed again, then new ones.
	cl, err := kgo.NewClient(kgo.SeedBrokers(stack.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	group := "aegis-sealer-" + first.Cfg.Chain
	var offsets kadm.Offsets
	offsets.Add(kadm.Offset{Topic: first.Cfg.Topic, Partition: 0, At: head.Offset + 1, LeaderEpoch: -1})
	if resp, err := kadm.NewClient(cl).CommitOffsets(ctx, group, offsets); err != nil || resp.Error() != nil {
		t.Fatalf("set the group's offset: %v %v", err, resp.Error())
	}
	cfg := first.Cfg
	cfg.Bucket = restored
	second := startPipeline(t, cfg)
	publish(t, second, w.Events[30:])
	if err := second.WaitHead(ctx, 40); err != nil {
		t.Fatalf("the sealer after the reset: %v (head %d)", err, second.Sealer.Head().Seq)
	}
	if rep, err := second.Verify(ctx); err != nil || rep.Head.Seq != 40 {
		t.Fatalf("the restored chain sealed on: %+v, %v", rep.LogReport, err)
	}
}

// A sealer started with a --bucket (or --prefix) that is not its chain's,
// holding nothing yet, while its group has committed the records the chain
// sealed (found by the operators' outside trial, h1: a wrong --prefix): it
// wrote a genesis there and sealed the records after the commit as seq 1
// on of a second chain, committing them, while the chain's own bucket
// stopped growing and aegis verify and index status of it said all was
// well. It stops now, as on a bucket restored from an older backup
// (sealer.ErrCommitPastHead), sealing nothing.
func TestSealerStopsOnAnEmptyBucketItsGroupCommittedPast(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	first := startPipeline(t, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 10 }})
	w := pipeline.NewWorkload(first.Cfg.Chain, first.Cfg.Chain, 30, 0, 5, 72, time.Now())
	publish(t, first, w.Events[:20])
	if err := first.WaitHead(ctx, 20); err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	publish(t, first, w.Events[20:]) // acknowledged while no sealer runs

	wrong := stack.Bucket("wrong")
	if err := localstack.CreateLockedBucket(ctx, first.S3, wrong); err != nil {
		t.Fatal(err)
	}
	s, err := sealer.New(ctx, sealer.Config{
		Brokers: stack.Brokers, Topic: first.Cfg.Topic, SealedTopic: first.Cfg.SealedTopic, Chain: first.Cfg.Chain,
		S3: first.S3, Bucket: wrong, Retention: 24 * time.Hour, SignerKey: first.Cfg.SignerKey, VerifierKey: first.Cfg.VerifierKey,
		BatchMaxAge: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithTimeout(ctx, 20*time.Second)
	err = s.Run(runCtx)
	stop()
	if !errors.Is(err, sealer.ErrCommitPastHead) || s.Head().Seq != 0 || s.Stats().Sealed != 0 {
		t.Fatalf("a sealer on an empty bucket its group committed past: %v (head seq %d, stats %+v), want it stopped on the commit past the genesis, nothing sealed",
			err, s.Head().Seq, s.Stats())
	}

	// The chain's own sealer seals what waits, from the commit.
	second := startPipeline(t, first.Cfg)
	if err := second.WaitHead(ctx, 30); err != nil {
		t.Fatalf("the chain's sealer after: %v (head %d)", err, second.Sealer.Head().Seq)
	}
}
