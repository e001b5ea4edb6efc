package sealer

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
)

// currentOnly answers If-None-Match: * against the key's current version
// alone, as AWS S3 documents it ("the HTTP If-None-Match header only
// applies to the current version of an object in a versioned bucket"):
// over a delete marker the conditional PUT is stored.
type currentOnly struct{ *s3mem.S3 }

func (c currentOnly) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if aws.ToString(in.IfNoneMatch) == "*" {
		if vs := c.Versions(aws.ToString(in.Bucket), aws.ToString(in.Key)); len(vs) > 0 && vs[len(vs)-1].DeleteMarker {
			plain := *in
			plain.IfNoneMatch = nil
			return c.S3.PutObject(ctx, &plain, opts...)
		}
	}
	return c.S3.PutObject(ctx, in, opts...)
}

// TestAnUnsignedObjectWrittenOverIsStillAdopted on a server that answers
// a conditional PUT over a delete marker as AWS S3 documents: the next
// sealer's conditional PUT over the marker is stored, a second version,
// and signed, where the first version (the killed sealer's object) is
// the one the chain's rules count: aegis verify reports the key for the
// retention period (both versions are locked), and once the key that
// signs it is retired its checkpoint counts only over the key's first
// version (FORMAT.md 7.4), so the entries lose their proof.
func TestAMarkerOverAnUnsignedObjectOnACurrentVersionServer(t *testing.T) {
	s, store, clock := unitSealer(t)
	recs := records(0, 4, clock.t)
	prepared, err := s.prepare(recs)
	if err != nil {
		t.Fatal(err)
	}
	_, tasks, err := s.write(context.Background(), recs, prepared) // killed before the checkpoint
	if err != nil || len(tasks) != 1 {
		t.Fatalf("write: %d objects, %v", len(tasks), err)
	}
	first := store.Versions("audit", tasks[0].key)[0].ID
	store.Delete("audit", tasks[0].key)
	clock.advance(3)
	cfg := s.cfg
	cfg.S3 = currentOnly{store}
	_, refs, _ := sealAgainAfterAKill(t, cfg, recs, prepared)
	if got := refs[0].rec.VersionID; got != first {
		n := 0
		for _, v := range store.Versions("audit", tasks[0].key) {
			if !v.DeleteMarker {
				n++
			}
		}
		t.Fatalf("the next sealer signed version %s of %s (%d versions of one PUT there), want the killed sealer's %s, the key's first", got, tasks[0].key, n, first)
	}
}

// sealAgainAfterAKill starts a sealer with cfg where one was killed after
// writing an object, before its checkpoint, and has it seal recs again.
func sealAgainAfterAKill(t *testing.T, cfg Config, recs []*kgo.Record, prepared []*shared.Entry) (*Sealer, []*sealedRef, []checkpointTask) {
	t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.recoverHead(context.Background()); err != nil {
		t.Fatal(err)
	}
	refs, tasks, err := s.write(context.Background(), recs, prepared)
	if err != nil {
		t.Fatalf("the next sealer, over the unsigned object: %v", err)
	}
	if err := s.checkpoint(context.Background(), tasks); err != nil {
		t.Fatal(err)
	}
	return s, refs, tasks
}
