package replayer_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// What a bucket pruned by an S3 lifecycle rule holds between its runs
// (FORMAT.md 6.1, COMPLIANCE.md): an expiration acts at day granularity
// after the object's creation, and the sealer writes objects all day, so
// at any time some of the oldest objects that remain are past their
// retention and not yet deleted. aegis verify --pruned takes those, in a
// run from the start of what remains, and counts them; an object past
// its retention after one still under it fails, as without --pruned
// (found by an attack on --pruned: it failed every lifecycle-pruned
// chain). The delete markers a lifecycle expiration leaves are not
// covered here: README, Limits today.
func TestPrunedChainPastItsRetention(t *testing.T) {
	var v logVector
	for _, x := range logVectors(t, "../testdata/vectors/*.json") {
		if x.Name == "accept-log-pruned" {
			v = x
		}
	}
	now := time.Date(2033, 11, 28, 12, 0, 0, 0, time.UTC)
	verify := func(t *testing.T, expired map[string]bool) (replayer.Report, error) {
		store := s3mem.New("audit")
		for _, o := range v.Objects {
			until := now.Add(30 * 24 * time.Hour)
			if expired[o.Key] {
				until = now.Add(-time.Hour)
			}
			if _, err := store.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("audit"), Key: aws.String(o.Key),
				Body: bytes.NewReader([]byte(o.Body)), ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until)}); err != nil {
				t.Fatal(err)
			}
		}
		return replayer.Verify(context.Background(), replayer.Config{S3: store, Bucket: "audit", Prefix: v.Prefix, Chain: v.Chain,
			VerifierKey: v.VerifierKey, Pruned: true, Now: func() time.Time { return now }})
	}
	first := "audit/year=2026/month=11/day=28/env=prod/00000000000000000004.jsonl"
	rep, err := verify(t, map[string]bool{first: true, shared.CheckpointKey("audit", "prod", 6): true})
	if err != nil || rep.StartSeq != 4 || rep.PastRetention != 2 {
		t.Fatalf("the oldest object and its checkpoint past their retention: start %d, %d past retention: %v", rep.StartSeq, rep.PastRetention, err)
	}
	// The second object past its retention while the first is under its
	// own: not what pruning leaves.
	second := "audit/year=2026/month=11/day=29/env=prod/00000000000000000007.jsonl"
	if _, err := verify(t, map[string]bool{second: true}); err == nil || !strings.Contains(err.Error(), "retention ended") || !strings.Contains(err.Error(), second) {
		t.Fatalf("an object past its retention after one under it: %v", err)
	}
}
