package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// Outside trial h7: the README's restore procedure end to end (backup,
// seal more, lose the bucket, restore, rewind-sealer, seal again, then
// index status / index check / rebuild --only-missing), checking that
// every acknowledged event is sealed exactly once in the restored chain,
// verified and indexed. unsigned: the backup was taken between the
// newest object's PUT and its checkpoint's (the checkpoint is not in it).
func TestH7RestoreProcedureEndToEnd(t *testing.T) {
	for name, unsigned := range map[string]int{"signed": 0, "unsigned-newest": 1, "two-unsigned": 2} {
		t.Run(name, func(t *testing.T) { h7Restore(t, unsigned) })
	}
}

// A restore from a copy that holds the newest checkpoint and not its
// object (S3 Replication keeps no order between keys): rewind-sealer
// rewound the group to the record after that checkpoint, the sealer sealed
// on past the hole, the object's 20 acknowledged decisions were never
// sealed again, and every verifier refused the chain from seq 41 on, for
// good. rewind-sealer now refuses, naming the object.
func TestH7RewindRefusesAHeadWhoseObjectIsMissing(t *testing.T) { h7Restore(t, -1) }

func h7Restore(t *testing.T, unsigned int) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := pipeline.ForTest(t, stack, pipeline.Config{Indexers: 1, Sealer: func(c *sealer.Config) { c.BatchMaxRecords = 20 }})
	w := pipeline.NewWorkload(p.Cfg.Chain, p.Cfg.Chain, 60, 0, 5, 71, time.Now())
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
	if err := p.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	backup := t.TempDir()
	if err := pipeline.Download(ctx, &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}, backup); err != nil {
		t.Fatal(err)
	}
	// The newest checkpoints were not stored yet when the backup listed
	// the checkpoint keys (a copy in key order lists audit/checkpoints/
	// before audit/year=...).
	if unsigned < 0 {
		// A replica (S3 Replication does not keep the order of writes)
		// that holds the newest checkpoint and not yet its object.
		matches, err := filepath.Glob(filepath.Join(backup, "audit", "year=*", "month=*", "day=*", "env=*", "00000000000000000021.jsonl"))
		if err != nil || len(matches) != 1 {
			t.Fatalf("the newest object in the backup: %v %v", matches, err)
		}
		if err := os.Remove(matches[0]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range max(unsigned, 0) {
		if err := os.Remove(filepath.Join(backup, filepath.FromSlash(shared.CheckpointKey("audit", p.Cfg.Chain, uint64(40-20*i))))); err != nil {
			t.Fatal(err)
		}
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
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	setStackEnv(t)
	pub := writeFile(t, "chain.pub", p.Cfg.VerifierKey)
	kept := filepath.Join(t.TempDir(), "kept.note")
	if code, out := aegis(t, "verify", "--chain", p.Cfg.Chain, "--bucket", p.Cfg.Bucket, "--verifier-key-file", pub, "--save-checkpoint", kept); code != 0 {
		t.Fatalf("verify --save-checkpoint before the loss: exit %d: %s", code, out)
	}

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
	args := []string{"--chain", p.Cfg.Chain, "--bucket", restored, "--table", p.Cfg.Table, "--brokers", stack.KafkaAddr,
		"--sealed-topic", p.Cfg.SealedTopic, "--s3-endpoint", stack.S3Endpoint, "--dynamodb-endpoint", stack.DynamoEndpoint, "--verifier-key-file", pub}
	code, out := aegis(t, append([]string{"index", "status", "--group", p.IndexerGroup()}, args...)...)
	t.Logf("index status after the restore: exit %d: %s", code, out)
	code, out = aegis(t, append([]string{"verify", "--allow-unsigned"}, args...)...)
	t.Logf("verify of the restored bucket: exit %d: %s", code, firstLines(out, 6))

	rewind := []string{"rewind-sealer", "--chain", p.Cfg.Chain, "--bucket", restored, "--brokers", stack.KafkaAddr, "--topic", p.Cfg.Topic,
		"--s3-endpoint", stack.S3Endpoint, "--verifier-key-file", pub}
	if unsigned < 0 {
		for _, dry := range []bool{true, false} {
			a := rewind
			if !dry {
				a = append(a, "--execute")
			}
			code, out := aegis(t, a...)
			if code != 1 || !strings.Contains(out, "signs object audit/year=") || !strings.Contains(out, "00000000000000000021.jsonl, which s3://"+restored+" does not hold") ||
				!strings.Contains(out, "not rewound") {
				t.Fatalf("rewind-sealer (dry run %v) over a restore without the head's object: exit %d: %s", dry, code, out)
			}
		}
		if code, out := aegis(t, rewind...); code != 1 || strings.Contains(out, "set to") {
			t.Fatalf("rewind-sealer changed the group: exit %d: %s", code, out)
		}
		return
	}
	code, out = aegis(t, append(rewind, "--execute")...)
	t.Logf("rewind-sealer --execute: exit %d: %s", code, out)
	if code != 0 {
		t.Fatalf("rewind-sealer --execute: exit %d: %s", code, out)
	}
	cfg := p.Cfg
	cfg.Bucket, cfg.Indexers = restored, 1
	again := pipeline.ForTest(t, stack, cfg)
	if err := again.WaitHead(ctx, 60); err != nil {
		t.Fatalf("the sealer on the restored bucket after the rewind: %v (head %d, errs %v)", err, again.Sealer.Head().Seq, again.Err())
	}
	if err := again.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := again.Stop(); err != nil {
		t.Fatal(err)
	}

	// Every event exactly once in the restored chain.
	copyDir := t.TempDir()
	if err := pipeline.Download(ctx, &archive.Store{S3: p.S3, Bucket: restored}, copyDir); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var maxSeq uint64
	err = filepath.WalkDir(copyDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".jsonl") {
			return err
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lines, err := shared.SplitLines(body)
		if err != nil {
			return err
		}
		for _, l := range lines {
			e, err := shared.ParseLineLenient(l)
			if err != nil {
				return err
			}
			maxSeq = max(maxSeq, e.Seq)
			if e.Type != shared.EntryEvent {
				continue
			}
			var ev struct {
				EventID string `json:"event_id"`
			}
			if err := json.Unmarshal(e.Event, &ev); err != nil {
				return err
			}
			seen[ev.EventID]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range w.Events {
		if seen[ev.EventID] != 1 {
			t.Errorf("event %s sealed %d times in the restored chain", ev.EventID, seen[ev.EventID])
		}
	}
	if len(seen) != len(w.Events) || maxSeq != 60 {
		t.Errorf("restored chain: %d distinct events (want %d), head seq %d (want 60)", len(seen), len(w.Events), maxSeq)
	}

	code, out = aegis(t, append([]string{"verify"}, args...)...)
	if code != 0 {
		t.Errorf("verify after the reseal: exit %d: %s", code, firstLines(out, 8))
	}
	code, out = aegis(t, "verify", "--chain", p.Cfg.Chain, "--bucket", restored, "--verifier-key-file", pub, "--known-checkpoint", kept)
	t.Logf("verify --known-checkpoint (kept from the lost bucket) of the restored chain: exit %d: %s", code, firstLines(out, 8))
	code, out = aegis(t, append([]string{"index", "status", "--group", p.IndexerGroup()}, args...)...)
	t.Logf("index status after the reseal: exit %d: %s", code, out)
	if code != 0 {
		t.Errorf("index status after the reseal: exit %d: %s", code, out)
	}
	code, out = aegis(t, append([]string{"index", "check"}, args...)...)
	t.Logf("index check after the reseal: exit %d: %s", code, firstLines(out, 12))
	code, out = aegis(t, append([]string{"rebuild", "--only-missing"}, args...)...)
	t.Logf("rebuild --only-missing: exit %d: %s", code, firstLines(out, 12))
	if code != 0 {
		t.Errorf("rebuild --only-missing: exit %d: %s", code, out)
	}
	code, out = aegis(t, append([]string{"index", "check"}, args...)...)
	if code != 0 {
		t.Errorf("index check after rebuild --only-missing: exit %d: %s", code, firstLines(out, 12))
	}
	// each decision's index item names the restored bucket's object
	for _, ev := range w.Events[40:45] {
		if ev.Decision == nil {
			continue
		}
		code, out = aegis(t, append([]string{"get", ev.Decision.DecisionID, "--verify"}, args...)...)
		if code != 0 {
			t.Errorf("get %s --verify: exit %d: %s", ev.Decision.DecisionID, code, out)
		}
	}
}

func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}
