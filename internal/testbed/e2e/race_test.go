package e2e

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// deletingS3 puts delete markers on keys once, before the first listing
// of current keys: after the survey of every version, while the chain is
// read.
type deletingS3 struct {
	*s3.Client
	bucket string
	keys   []string
	once   sync.Once
	err    error
}

func (d *deletingS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	d.once.Do(func() {
		for _, k := range d.keys {
			if _, err := d.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(k)}); err != nil {
				d.err = err
			}
		}
	})
	return d.Client.ListObjectsV2(ctx, in, opts...)
}

// Security review of the streaming verifier: an insider who deletes the
// newest object and its checkpoint on versitygw while a verification
// runs (after the survey, before the folders are read) is named; before,
// the verification passed on the chain cut back by one object.
func TestTailDeletedDuringVerificationIsFound(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, refs := sealedChain(t)
	last := refs[len(refs)-1]
	st := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	cps, err := st.List(ctx, shared.CheckpointPrefix("audit", p.Cfg.Chain))
	if err != nil || len(cps) == 0 {
		t.Fatalf("checkpoints: %v %v", cps, err)
	}
	defer func(n int32) { archive.ListPageSize = n }(archive.ListPageSize)
	archive.ListPageSize = 2
	del := &deletingS3{Client: p.S3, bucket: p.Cfg.Bucket, keys: []string{last.Key, cps[len(cps)-1]}}
	_, err = replayer.Verify(ctx, replayer.Config{S3: del, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey, Parallelism: 2})
	if del.err != nil {
		t.Fatal(del.err)
	}
	var f *replayer.Failure
	if !errors.As(err, &f) || !errors.Is(err, archive.ErrListingChanged) {
		t.Fatalf("verify with the tail deleted while it read: %v, want the change of the listing named", err)
	}
	t.Logf("found: %v", err)
	// Verified again, the delete markers are named.
	_, err = replayer.Verify(ctx, replayer.Config{S3: p.S3, Bucket: p.Cfg.Bucket, Chain: p.Cfg.Chain, VerifierKey: p.Cfg.VerifierKey})
	if !errors.Is(err, replayer.ErrRewritten) {
		t.Fatalf("verify after: %v, want the delete markers named", err)
	}
}
