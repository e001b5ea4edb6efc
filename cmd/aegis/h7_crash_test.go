package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// Outside trial h7: a sealer killed after writing two objects and before
// either checkpoint (the sealing stage writes object n+1 while the
// checkpoint of n is written: sealer/pipeline.go), restarted more than
// five minutes later. Each object is the sealer's own, locked for
// --retention from when it was written; the restarted sealer must seal
// on over them.
func TestH7TwoUnsignedObjectsAfterALateRestart(t *testing.T) {
	if stack.S3DataDir == "" {
		t.Skip("edits the local S3's disk")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pipeline.ForTest(t, stack, pipeline.Config{Indexers: -1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 20 }})
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 60, 0, 5, 73, time.Now())
	prod, err := p.Producer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.Publish(ctx, w.Events[:40]...); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitHead(ctx, 40); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	// The crash: neither checkpoint was stored, nor the offsets committed.
	for _, seq := range []uint64{20, 40} {
		if err := os.Remove(filepath.Join(stack.S3DataDir, p.Cfg.Bucket, filepath.FromSlash(shared.CheckpointKey("audit", p.Cfg.Chain, seq)))); err != nil {
			t.Fatal(err)
		}
	}
	setStackEnv(t)
	pub := writeFile(t, "chain.pub", p.Cfg.VerifierKey)
	code, out := aegis(t, "rewind-sealer", "--execute", "--chain", p.Cfg.Chain, "--bucket", p.Cfg.Bucket, "--brokers", stack.KafkaAddr, "--topic", p.Cfg.Topic,
		"--s3-endpoint", stack.S3Endpoint, "--verifier-key-file", pub)
	if code != 0 {
		t.Fatalf("rewind-sealer (standing in for offsets never committed): exit %d: %s", code, out)
	}
	for _, late := range []time.Duration{10 * time.Minute} {
		cfg := p.Cfg
		cfg.Indexers = -1
		cfg.Sealer = func(c *sealer.Config) {
			c.BatchMaxRecords = 20
			c.Now = func() time.Time { return time.Now().Add(late) }
		}
		again := pipeline.ForTest(t, stack, cfg)
		if err := prod.Publish(ctx, w.Events[40:]...); err != nil {
			t.Fatal(err)
		}
		if err := again.WaitHead(ctx, 60); err != nil {
			t.Fatalf("restarted %v after the crash: %v (head %d, %v)", late, err, again.Sealer.Head().Seq, again.Err())
		}
		if rep, err := again.Verify(ctx); err != nil || rep.Head.Seq != 60 {
			t.Fatalf("verify: %+v %v", rep.LogReport, err)
		}
	}
}
