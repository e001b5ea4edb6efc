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

// The run past retention that verify --pruned takes (FORMAT.md 6.1) runs
// from the start up to the first object still under its retention. When
// no object is under it (an idle chain, or one verified long after), the
// run is the whole chain: nothing is under Object Lock any more, so
// anyone with write access to the bucket can delete the newest versions
// (the last objects and their checkpoints; no delete marker) and the
// truncated chain verified. Before 1ea5200 verify --pruned refused any
// object past its retention; what 6.1 lets pass is what pruning deletes
// next, which presumes an object still under retention after it: the
// head must be.
func TestPrunedAllPastRetentionTailDeleted(t *testing.T) {
	var v logVector
	for _, x := range logVectors(t, "../testdata/vectors/*.json") {
		if x.Name == "accept-log-pruned" {
			v = x
		}
	}
	now := time.Date(2033, 11, 28, 12, 0, 0, 0, time.UTC)
	verify := func(t *testing.T, deleted func(key string) bool) (replayer.Report, error) {
		store := s3mem.New("audit")
		for _, o := range v.Objects {
			if deleted(o.Key) {
				continue // its version deleted once its retention ended: no marker
			}
			if _, err := store.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("audit"), Key: aws.String(o.Key),
				Body: bytes.NewReader([]byte(o.Body)), ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(now.Add(-time.Hour))}); err != nil {
				t.Fatal(err)
			}
		}
		return replayer.Verify(context.Background(), replayer.Config{S3: store, Bucket: "audit", Prefix: v.Prefix, Chain: v.Chain,
			VerifierKey: v.VerifierKey, Pruned: true, Now: func() time.Time { return now }})
	}
	// The last object (seqs 7-9) and its checkpoint deleted.
	rep, err := verify(t, func(key string) bool {
		return strings.HasSuffix(key, "/00000000000000000007.jsonl") || strings.HasSuffix(key, "/00000000000000000009.note")
	})
	if err == nil || !strings.Contains(err.Error(), "retention ended") {
		t.Fatalf("every object past its retention, the newest deleted: verified to head %d (%d past retention): %v", rep.Head.Seq, rep.PastRetention, err)
	}
	// Nothing deleted: still no object under retention to say so.
	if _, err := verify(t, func(string) bool { return false }); err == nil || !strings.Contains(err.Error(), "retention ended") {
		t.Fatalf("every object past its retention: %v", err)
	}
}
