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
)

// A checkpoint left below the start of a pruned chain is one whose
// retention has ended: it was written with the objects that were deleted
// after theirs (a lifecycle rule that deletes the batch folders and keeps
// the checkpoints, or that has not reached them yet). It signs no entry
// that remains (FORMAT.md section 6.1: not counted), so the end of its
// retention is no reason to refuse the chain; before, every pruned chain
// that kept such a checkpoint failed ("object lock retention ended")
// until the checkpoint too was deleted. The retention of what remains
// from the start on is still checked.
func TestPrunedCheckpointBelowStartPastRetention(t *testing.T) {
	vector := func(name string) logVector {
		for _, x := range logVectors(t, "../testdata/vectors/*.json") {
			if x.Name == name {
				return x
			}
		}
		t.Fatalf("no vector %s", name)
		return logVector{}
	}
	v := vector("accept-log-pruned-checkpoint-kept")
	now := time.Date(2033, 11, 27, 12, 0, 0, 0, time.UTC)
	verify := func(expired func(key string) bool) (replayer.Report, error) {
		store := s3mem.New("audit")
		for _, o := range v.Objects {
			until := now.Add(30 * 24 * time.Hour)
			if expired(o.Key) {
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
	below := "/checkpoints/env=prod/00000000000000000003.note" // seq 3, the start (4) minus 1
	rep, err := verify(func(key string) bool { return strings.HasSuffix(key, below) })
	if err != nil {
		t.Fatalf("the checkpoint of seq 3, below the start, past its retention: %v", err)
	}
	if rep.StartSeq != 4 || rep.CheckpointedSeq != 9 {
		t.Fatalf("report %+v", rep.LogReport)
	}
	// Past its retention, it is still checked as 6.1 says: one that signs
	// another hash than the start's prev fails.
	v = vector("reject-log-pruned-checkpoint-mismatch")
	if _, err := verify(func(key string) bool { return strings.HasSuffix(key, below) }); err == nil || !strings.Contains(err.Error(), "not of one chain") {
		t.Fatalf("a checkpoint of seq 3 past its retention that signs another hash: %v", err)
	}
	// A checkpoint from the start on past its retention still fails.
	v = vector("accept-log-pruned-checkpoint-kept")
	if _, err := verify(func(key string) bool {
		return strings.HasSuffix(key, "/checkpoints/env=prod/00000000000000000006.note")
	}); err == nil ||
		!strings.Contains(err.Error(), "retention ended") {
		t.Fatalf("the checkpoint of seq 6, after the start, past its retention: %v", err)
	}
}
