package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/pipeline"
)

// What versitygw answers a conditional PUT (If-None-Match: *) at a key
// whose current version is a delete marker over a version: 412, as the
// in-memory S3 does. AWS S3 documents the header as applying to the
// current version only (docs/LIMITS.md): there it is stored, and the
// sealer's TestAMarkerOverAnUnsignedObjectOnACurrentVersionServer holds.
func TestConditionalPutOverAMarkerOverAVersion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := startPipeline(t, pipeline.Config{Indexers: -1})
	store := &archive.Store{S3: p.S3, Bucket: p.Cfg.Bucket}
	key := "probe/marker-over-a-version.jsonl"
	if _, err := store.Put(ctx, key, []byte("first\n"), time.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.Cfg.Bucket), Key: aws.String(key)}); err != nil {
		t.Fatal(err)
	}
	_, err := store.Put(ctx, key, []byte("second\n"), time.Now().Add(24*time.Hour))
	if !errors.Is(err, archive.ErrExists) {
		t.Fatalf("a conditional PUT over a delete marker over a version: %v, want 412 (ErrExists)", err)
	}
}
