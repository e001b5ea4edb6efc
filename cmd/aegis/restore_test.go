package main

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
)

// A bucket restored from a backup older than the index (found by an
// outside trial, 2026-12-01): the index holds entries S3 lacks. index
// status said "gap 0" and exited 0, and index check found no difference
// (items past the entries it read were passed over as sealed since its
// listing), while get --verify of those decisions failed. The sealer
// publishes an entry only once its checkpoint is in S3, so an index past
// S3's signed head, read after it, is a desync: index status now fails
// naming it, and index check lists each such item as extra.
func TestAnIndexPastARestoredBucketsHead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pipeline.ForTest(t, stack, pipeline.Config{Indexers: 1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 20 }})
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 60, 0, 5, 67, time.Now())
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
	backup := t.TempDir() // the backup, taken at seq 40
	if err := pipeline.Download(ctx, &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}, backup); err != nil {
		t.Fatal(err)
	}
	if err := prod.Publish(ctx, w.Events[40:]...); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitHead(ctx, 60); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}

	// The bucket is lost and restored from the backup.
	stored := map[string]time.Time{}
	at := time.Now()
	err = filepath.WalkDir(backup, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(backup, path)
			at = at.Add(time.Millisecond)
			stored[filepath.ToSlash(rel)] = at
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	restored, _ := uploadStored(ctx, t, backup, stored, false)
	setStackEnv(t)
	pub := writeFile(t, "chain.pub", p.Cfg.VerifierKey)
	args := []string{"--chain", p.Cfg.Chain, "--bucket", restored, "--table", p.Cfg.Table, "--brokers", stack.KafkaAddr,
		"--sealed-topic", p.Cfg.SealedTopic, "--s3-endpoint", stack.S3Endpoint, "--dynamodb-endpoint", stack.DynamoEndpoint, "--verifier-key-file", pub}
	code, out := aegis(t, append([]string{"index", "status", "--group", p.IndexerGroup()}, args...)...)
	if code != 1 || !strings.Contains(out, "the index holds entries up to seq 60, 20 past S3's signed head (seq 40)") ||
		!strings.Contains(out, "S3 signed head seq 40") || !strings.Contains(out, "the index is 20 past it") || strings.Contains(out, "gap 0") {
		t.Fatalf("index status over the restored bucket: exit %d: %s", code, out)
	}
	code, out = aegis(t, append([]string{"index", "check"}, args...)...)
	if code == 0 || strings.Count(out, "past its signed head (seq 40)") != 20 {
		t.Fatalf("index check over the restored bucket: exit %d, %d items past S3's head named (want the 20 entries S3 lacks): %s",
			code, strings.Count(out, "past its signed head (seq 40)"), out)
	}
	// The bucket the index was written from: nothing to say.
	args[3] = p.Cfg.Bucket
	if code, out := aegis(t, append([]string{"index", "status", "--group", p.IndexerGroup()}, args...)...); code != 0 || !strings.Contains(out, "gap 0") {
		t.Fatalf("index status over the indexer's bucket: exit %d: %s", code, out)
	}
	if code, out := aegis(t, append([]string{"index", "check"}, args...)...); code != 0 {
		t.Fatalf("index check over the indexer's bucket: exit %d: %s", code, out)
	}

	// The sealer's group committed the records of seqs 41 to 60 (offsets
	// 40 to 59), which the restored bucket lacks: aegis rewind-sealer
	// sets its offset to the restored head's record + 1, refusing while a
	// sealer is in the group, and changing nothing without --execute.
	rewind := []string{"rewind-sealer", "--chain", p.Cfg.Chain, "--bucket", restored, "--brokers", stack.KafkaAddr, "--topic", p.Cfg.Topic,
		"--s3-endpoint", stack.S3Endpoint, "--verifier-key-file", pub}
	if code, out := aegis(t, append(rewind, "--execute")...); code != 1 || !strings.Contains(out, "stop every sealer of chain") {
		t.Fatalf("rewind-sealer with the sealer running: exit %d: %s", code, out)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a dry run changes nothing
		if code, out := aegis(t, rewind...); code != 0 || !strings.Contains(out, "group aegis-sealer-"+p.Cfg.Chain+" has committed offset 60") ||
			!strings.Contains(out, "records 40 to 59 of "+p.Cfg.Topic+":0") || !strings.Contains(out, "dry run: nothing was changed") {
			t.Fatalf("rewind-sealer, a dry run: exit %d: %s", code, out)
		}
	}
	if code, out := aegis(t, append(rewind, "--execute")...); code != 0 || !strings.Contains(out, "set to 40 (was 60)") {
		t.Fatalf("rewind-sealer --execute: exit %d: %s", code, out)
	}
	if code, out := aegis(t, rewind...); code != 0 || !strings.Contains(out, "nothing to rewind") {
		t.Fatalf("rewind-sealer after the rewind: exit %d: %s", code, out)
	}
	cfg := p.Cfg
	cfg.Bucket, cfg.Indexers = restored, -1
	again := pipeline.ForTest(t, stack, cfg)
	if err := again.WaitHead(ctx, 60); err != nil {
		t.Fatalf("the sealer on the restored bucket after the rewind: %v (head %d)", err, again.Sealer.Head().Seq)
	}
	if rep, err := again.Verify(ctx); err != nil || rep.Head.Seq != 60 {
		t.Fatalf("the restored chain sealed again: %+v, %v", rep.LogReport, err)
	}
}
