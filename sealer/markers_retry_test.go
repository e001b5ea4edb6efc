package sealer

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/internal/testbed/s3mem"
)

// lostPastMarkers stores the first plain PUT (no If-None-Match: the
// sealer's write past delete markers) at key and answers it with an
// error, as if the response were lost: the sealer's retry finds its own
// version there.
type lostPastMarkers struct {
	*s3mem.S3
	key  string
	lost bool
}

func (l *lostPastMarkers) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	out, err := l.S3.PutObject(ctx, in, opts...)
	if err != nil || l.lost || in.IfNoneMatch != nil || aws.ToString(in.Key) != l.key {
		return out, err
	}
	l.lost = true
	return nil, errors.New("connection reset by peer")
}

// A key of the chain that holds only delete markers is written past them
// with a plain PUT, which S3 lets write as often as it is asked. Its
// response lost (the write stored), the retry wrote the same bytes again:
// a second version, locked COMPLIANCE for the retention like the first,
// so the key showed as written again to aegis verify for years, where
// deleting the marker's version was to clear the report (docs/LIMITS.md).
// Before the plain PUT is sent again, the key is listed again: a version
// of one PUT there is judged as the first, as after the conditional PUT.
func TestALostResponsePastMarkersWritesTheKeyOnce(t *testing.T) {
	for _, at := range []string{"the next batch key", "the next checkpoint key"} {
		t.Run(at, func(t *testing.T) {
			s, store, clock := unitSealer(t)
			recs := records(0, 3, clock.t)
			key, cpKey := nextKeys(t, s, recs, clock)
			if at == "the next checkpoint key" {
				key = cpKey
			}
			store.Delete("audit", key)
			s.store.S3 = &lostPastMarkers{S3: store, key: key}
			if err := sealOnce(s, recs); err != nil {
				t.Fatalf("sealing past a delete marker at %s with the PUT's response lost: %v", at, err)
			}
			n := 0
			for _, v := range store.Versions("audit", key) {
				if !v.DeleteMarker {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%s holds %d versions written by the sealer, want 1: the lost response's retry wrote it again, locked", at, n)
			}
		})
	}
}
