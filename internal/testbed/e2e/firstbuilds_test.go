package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

// A sealer started over a chain the first builds sealed (2026-11-27 to
// 2026-11-29 03:46 UTC: checkpoints without a root line) stops on it as
// on a fork, and its error says which builds sealed it
// (shared.ErrFirstBuildsCheckpoint, which make run's demo turns into "make
// clean-data starts a new one"). Before, it said only that the checkpoint
// is not the 8 lines of one, read as tampering. These are the genesis, its
// checkpoint and the keys commit 69b141c's make run wrote (test keys).
func TestASealerOverAFirstBuildsChainSaysSo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const (
		genesis    = "{\"chain\":\"demo\",\"genesis\":{\"created_at\":\"2026-12-01T02:18:33.938619789Z\",\"key_name\":\"aegis-demo\",\"verifier_key\":\"aegis-demo+bc6918a6+AeeB66DPFaRBT2yOkyYBYREUmN1WiQbTgvlnv4+41dM6\"},\"hash\":\"4c482a4e7af14cff9fd697b804555293e42266c4da1f424356f1d402479e64ca\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"sealed_at\":\"2026-12-01T02:18:33.938619789Z\",\"seq\":0,\"type\":\"genesis\",\"v\":1}\n"
		checkpoint = "aegis-audit/checkpoint/v1\nchain demo\nseq 0\nhash 4c482a4e7af14cff9fd697b804555293e42266c4da1f424356f1d402479e64ca\nobject audit/genesis/env=demo/00000000000000000000.jsonl\ntime 2026-12-01T02:18:33.944146189Z\n\n\u2014 aegis-demo vGkYpvRlqU60d9smb9HS5+F2M+QDaXtu84Shzna7MYnGNPsYqD6p5TgXf5CPBtj6JIoKVUONFYDXN7oyEk/OOdLFLAc=\n"
		signer     = "PRIVATE+KEY+aegis-demo+bc6918a6+AckIFpPzP7k3LyK662E90pztcAPfN8psbcKh/gNE8WjH"
		verifier   = "aegis-demo+bc6918a6+AeeB66DPFaRBT2yOkyYBYREUmN1WiQbTgvlnv4+41dM6"
	)
	cl, err := stack.S3(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bucket := stack.Bucket("first-builds")
	if err := localstack.CreateLockedBucket(ctx, cl, bucket); err != nil {
		t.Fatal(err)
	}
	store := &archive.Store{S3: cl, Bucket: bucket}
	for key, body := range map[string]string{shared.GenesisKey("audit", "demo"): genesis, shared.CheckpointKey("audit", "demo", 0): checkpoint} {
		if _, err := store.Put(ctx, key, []byte(body), time.Now().Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := sealer.New(ctx, sealer.Config{
		Brokers: stack.Brokers, Topic: localstack.Name("decisions"), SealedTopic: localstack.Name("sealed"), Chain: "demo",
		S3: cl, Bucket: bucket, Retention: 24 * time.Hour, SignerKey: signer, VerifierKey: verifier,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(ctx)
	if !errors.Is(err, sealer.ErrChainForked) || !errors.Is(err, shared.ErrFirstBuildsCheckpoint) {
		t.Fatalf("a sealer over a first build's chain: %v; want a fork naming the first builds", err)
	}
}
