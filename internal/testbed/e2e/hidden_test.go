package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/s3refuse"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// A sealed object removed from versitygw's disk is refused by discover,
// rebuild and index check, naming it (a delete marker through the S3 API
// hides nothing: TestReadersReadTheSealedVersionUnderAKeyWrittenOver): each object
// left is fine on its own, and before, each answered without the hidden
// object's entries. So is a rebuild resumed after a kill at the chain's
// end: it reads every object again (before, it skipped the finished ones
// unread, and passed).
func TestReadersRefuseAHiddenObject(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, refs := sealedChain(t)
	head, err := p.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	table, resumed := p.Cfg.Table+"-hidden", p.Cfg.Table+"-hidden-resumed"
	for _, tb := range []string{table, resumed} {
		if err := layout.EnsureTable(ctx, p.DynamoDB, tb); err != nil {
			t.Fatal(err)
		}
	}
	// The chain's objects are of today (UTC), or of yesterday and today
	// when the test runs across midnight: the range holds both.
	now := time.Now().UTC()
	from, to := now.Truncate(24*time.Hour).AddDate(0, 0, -1), now.Truncate(24*time.Hour).AddDate(0, 0, 1)
	readers := map[string]func() error{
		"discover": func() error {
			_, err := replayer.Discover(ctx, replayer.DiscoverConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
				From: from, To: to}, func(replayer.Found) error { return nil })
			return err
		},
		"rebuild": func() error {
			_, err := replayer.Rebuild(ctx, replayer.RebuildConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
				Index: &indexer.Index{DB: p.DynamoDB, Table: table}})
			return err
		},
		"rebuild resumed after a kill at the chain's end": func() error {
			ix := &indexer.Index{DB: p.DynamoDB, Table: resumed}
			if err := ix.SetRebuildDone(ctx, p.Cfg.Chain, "all", head.Head.Seq); err != nil {
				return err
			}
			_, err := replayer.Rebuild(ctx, replayer.RebuildConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey, Index: ix})
			return err
		},
		"index check of the range": func() error {
			_, err := replayer.Check(ctx, replayer.RebuildConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
				Index: &indexer.Index{DB: p.DynamoDB, Table: table}, From: from, To: to})
			return err
		},
	}
	refuse := func(victim string, is error) {
		t.Helper()
		for name, read := range readers {
			if err := read(); !errors.Is(err, is) || !strings.Contains(err.Error(), victim) {
				t.Errorf("%s: %v; want %v naming %s", name, err, is, victim)
			}
		}
	}
	for name, read := range readers {
		if err := read(); err != nil {
			t.Fatalf("%s before hiding anything: %v", name, err)
		}
	}
	if stack.S3DataDir != "" { // the native stack: its disk can be edited
		victim := refs[1].Key
		if err := os.Remove(filepath.Join(stack.S3DataDir, p.Cfg.Bucket, filepath.FromSlash(victim))); err != nil {
			t.Fatal(err)
		}
		refuse(victim, replayer.ErrMissingObject)
		// verify, which reads the whole chain, fails at the object after
		// it (as the Python reference does) and says what is missing, not
		// only that the next one does not follow (operator trial).
		_, err := p.Verify(ctx)
		if want := "no object in the bucket holds seq"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("verify: %v; want %q", err, want)
		}
	}
}

// Someone with write access to the bucket (not the signing key) writes a
// locked version of their own over a sealed object and over another
// object's checkpoint, and puts a delete marker on a third object.
// Discover, rebuild and index check read the sealed versions underneath
// (only they pass the trusted checkpoint's signature), say so, and answer
// as before; aegis verify still reports the keys. Before, each stopped at
// the first: "hash mismatch" for as long as the bad version's lock lasts
// (outside trial 8, finding 2), the delete marker for as long as it stays.
// One write stopped the index from ever being rebuilt.
func TestReadersReadTheSealedVersionUnderAKeyWrittenOver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, refs := sealedChain(t)
	store := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	now := time.Now().UTC()
	from, to := now.Truncate(24*time.Hour).AddDate(0, 0, -1), now.Truncate(24*time.Hour).AddDate(0, 0, 1)
	discover := func(warn func(string)) (int, error) {
		n := 0
		_, err := replayer.Discover(ctx, replayer.DiscoverConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
			From: from, To: to, Warn: warn}, func(replayer.Found) error { n++; return nil })
		return n, err
	}
	before, err := discover(nil)
	if err != nil || before < 40 {
		t.Fatalf("discover before: %d entries, %v", before, err)
	}

	// A copy of a sealed object with one byte of its first line changed,
	// and garbage over the checkpoint of another.
	victim := refs[1].Key
	obj, err := store.Get(ctx, victim, "")
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Clone(obj.Body)
	forged[bytes.Index(forged, []byte(`"decision_id":"`))+15] ^= 0x01
	putVersion(t, p, victim, forged, true)
	cpVictim := shared.CheckpointKey("audit", p.Cfg.Chain, refs[3].FirstSeq-1)
	putVersion(t, p, cpVictim, []byte("not a checkpoint\n"), true)
	deleted := refs[3].Key // a delete marker, which the S3 API allows under Object Lock
	if _, err := p.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.Cfg.Bucket), Key: aws.String(deleted)}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(ctx); !errors.Is(err, replayer.ErrRewritten) {
		t.Fatalf("verify: %v, want the keys written over reported", err)
	}

	warned := func(t *testing.T, warnings []string) {
		t.Helper()
		all := strings.Join(warnings, "\n")
		for _, k := range []string{victim, cpVictim, deleted} {
			if !strings.Contains(all, k+": the current version") {
				t.Errorf("no warning names %s: %q", k, warnings)
			}
		}
	}
	t.Run("discover", func(t *testing.T) {
		var warnings []string
		var warnMu sync.Mutex // Warn is called from the readers' goroutines
		n, err := discover(func(w string) { warnMu.Lock(); warnings = append(warnings, w); warnMu.Unlock() })
		if err != nil || n != before {
			t.Fatalf("%d entries (%d before the rewrite), %v", n, before, err)
		}
		warned(t, warnings)
	})
	// A version S3 will not give over a sealed key (an archive storage
	// class, another's KMS key): read past the same way (found by an
	// attack: it was not).
	t.Run("discover past a version S3 will not give", func(t *testing.T) {
		unreadable := refs[2].Key
		s3c := s3refuse.Client(t, stack.S3Endpoint, localstack.AccessKey, localstack.SecretKey, unreadable, s3refuse.Archived[0], s3refuse.Archived[1])
		var warnings []string
		var warnMu sync.Mutex
		n := 0
		_, err := replayer.Discover(ctx, replayer.DiscoverConfig{S3: s3c, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
			From: from, To: to, Warn: func(w string) { warnMu.Lock(); warnings = append(warnings, w); warnMu.Unlock() }},
			func(replayer.Found) error { n++; return nil })
		if err != nil || n != before {
			t.Fatalf("%d entries (%d before), %v", n, before, err)
		}
		if all := strings.Join(warnings, "\n"); !strings.Contains(all, unreadable+": the current version") {
			t.Fatalf("no warning names %s: %q", unreadable, warnings)
		}
	})
	t.Run("rebuild and index check", func(t *testing.T) {
		table := p.Cfg.Table + "-written-over"
		if err := layout.EnsureTable(ctx, p.DynamoDB, table); err != nil {
			t.Fatal(err)
		}
		var warnings []string
		var warnMu sync.Mutex // Warn is called from the readers' goroutines
		cfg := replayer.RebuildConfig{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey,
			Index: &indexer.Index{DB: p.DynamoDB, Table: table}, Warn: func(w string) { warnMu.Lock(); warnings = append(warnings, w); warnMu.Unlock() }}
		rep, err := replayer.Rebuild(ctx, cfg)
		if err != nil || rep.Entries != uint64(before) {
			t.Fatalf("rebuild: %d entries, %v; want %d", rep.Entries, err, before)
		}
		warned(t, warnings)
		warnings = nil
		cfg.From, cfg.To = from, to
		rep, err = replayer.Check(ctx, cfg)
		if err != nil || rep.DifferenceCount() != 0 {
			t.Fatalf("index check: %d differences %v, %v", rep.DifferenceCount(), rep.Differences, err)
		}
		warned(t, warnings)
	})
}
