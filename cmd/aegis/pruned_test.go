package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/shared"
)

// aegis verify on a chain whose genesis and first object were deleted
// (as a lifecycle rule would after their retention): without --pruned it
// fails and says --pruned exists; with it, it passes and says where the
// chain starts, when that entry was sealed and which seqs are gone.
func TestVerifyPrunedCommand(t *testing.T) {
	if stack.S3DataDir == "" {
		t.Fatal("this test edits the local S3's disk: run it on the native stack")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := sealedChain(ctx, t, 30, 37)
	refs, err := (&archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}).Batches(ctx, p.Cfg.Chain)
	if err != nil || len(refs) < 3 {
		t.Fatalf("%d objects: %v", len(refs), err)
	}
	for _, key := range []string{refs[0].Key, refs[1].Key, shared.CheckpointKey("audit", p.Cfg.Chain, 0)} {
		if err := os.Remove(filepath.Join(stack.S3DataDir, p.Cfg.Bucket, filepath.FromSlash(key))); err != nil {
			t.Fatal(err)
		}
	}
	setStackEnv(t)
	pub := writeFile(t, "chain.pub", p.Cfg.VerifierKey)
	args := []string{"verify", "--chain", p.Cfg.Chain, "--bucket", p.Cfg.Bucket, "--s3-endpoint", stack.S3Endpoint, "--verifier-key-file", pub}
	if code, out := aegis(t, args...); code != 1 || !strings.Contains(out, "no genesis object") || !strings.Contains(out, "pruned chain") {
		t.Fatalf("a pruned chain without --pruned: exit %d: %s", code, out)
	}
	start := refs[2].FirstSeq
	code, out := aegis(t, append(args, "--pruned")...)
	want := []string{"OK chain", "pruned: the chain that remains starts at seq " + strconv.FormatUint(start, 10), refs[2].Key, "sealed at",
		"seqs 0 to " + strconv.FormatUint(start-1, 10) + " were deleted"}
	for _, s := range want {
		if code != 0 || !strings.Contains(out, s) {
			t.Fatalf("--pruned: exit %d, want %q in: %s", code, s, out)
		}
	}

	// discover, the same: no such chain and a hint without --pruned;
	// with it, the entries from the start and where it is.
	day := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02") // the chain's day, also across midnight
	next := time.Now().UTC().AddDate(0, 0, 2).Format("2006-01-02")
	args[0] = "discover"
	args = append(args, "--from", day, "--to", next, "--json")
	if code, out := aegis(t, args...); code != 1 || !strings.Contains(out, "no such chain") || !strings.Contains(out, "--pruned") {
		t.Fatalf("discover of a pruned chain without --pruned: exit %d: %s", code, out)
	}
	code, out = aegis(t, append(args, "--pruned")...)
	if code != 0 || !strings.Contains(out, "pruned: the chain that remains starts at seq "+strconv.FormatUint(start, 10)+" ("+refs[2].Key+")") ||
		!strings.Contains(out, `{"seq":`+strconv.FormatUint(start, 10)+`,`) || strings.Contains(out, `{"seq":`+strconv.FormatUint(start-1, 10)+`,`) {
		t.Fatalf("discover --pruned: exit %d: %s", code, out)
	}
}
