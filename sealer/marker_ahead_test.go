package sealer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// A delete marker costs nothing on S3, and anyone with write access to the
// bucket can put one at a key the sealer has not written yet: the next
// batch key and the next checkpoint key are known to whoever reads the
// topic and the head. S3 (versitygw, and the in-memory S3 as it) answers
// the sealer's conditional PUT there 412, the key being taken; the sealer
// then found nothing there to adopt or compare, failed the session ("not
// found"), and started over at the same key for as long as the marker
// stood. A key that only delete markers hold is written past them: the
// first version written there counts, as the conditional PUT would have
// made it.
func TestDeleteMarkersAheadOfTheSealerDoNotStopIt(t *testing.T) {
	for _, at := range []string{"the next batch key", "the next checkpoint key", "both"} {
		t.Run(at, func(t *testing.T) {
			s, store, clock := unitSealer(t)
			recs := records(0, 3, clock.t)
			batchKey, cpKey := nextKeys(t, s, recs, clock)
			if at != "the next checkpoint key" {
				store.Delete("audit", batchKey)
			}
			if at != "the next batch key" {
				store.Delete("audit", cpKey)
			}
			if err := sealOnce(s, recs); err != nil {
				t.Fatalf("sealing past a delete marker at %s: %v", at, err)
			}
			if got := s.Head().Seq; got != 3 {
				t.Fatalf("head %d, want 3", got)
			}
			if err := sealOnce(s, records(3, 1, clock.t)); err != nil {
				t.Fatal(err)
			}
			restarted, err := New(context.Background(), s.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := restarted.recoverHead(context.Background()); err != nil || restarted.Head() != s.Head() {
				t.Fatalf("a restart: head %d (err %v), want %d", restarted.Head().Seq, err, s.Head().Seq)
			}
			// The marker is someone's write at a key of the chain: aegis
			// verify reports it (a marker is not locked; deleting its
			// version clears the report).
			_, err = replayer.Verify(context.Background(), replayer.Config{S3: store, Bucket: "audit", Chain: "unit", VerifierKey: s.cfg.VerifierKey,
				Now: func() time.Time { return time.Now() }})
			var f *replayer.Failure
			if !errors.Is(err, replayer.ErrRewritten) || !errors.As(err, &f) || (f.Key != batchKey && f.Key != cpKey) {
				t.Fatalf("verify: %v, want the marker's key reported as written again", err)
			}
		})
	}
}

// lostResponse stores the first PutObject at a checkpoint key, then lets a
// bucket writer put a version of their own over it, and answers the
// sealer with an error, as if the response were lost: the sealer's retry
// finds the key taken.
type lostResponse struct {
	*s3mem.S3
	lost bool
}

func (l *lostResponse) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	out, err := l.S3.PutObject(ctx, in, opts...)
	if err != nil || l.lost || !strings.Contains(aws.ToString(in.Key), "/checkpoints/") {
		return out, err
	}
	l.lost = true
	l.S3.PutVersion("audit", aws.ToString(in.Key), []byte("not a checkpoint\n"))
	return nil, errors.New("connection reset by peer")
}

// A checkpoint's key found taken on the retry after a lost response was
// judged by its current version: one a bucket writer put over the
// sealer's in that moment made it a fork, and the sealer stopped for good.
// The key's first version counts (putFirst).
func TestAVersionOverACheckpointBeforeTheRetryIsNoFork(t *testing.T) {
	s, store, clock := unitSealer(t)
	s.store.S3 = &lostResponse{S3: store}
	if err := sealOnce(s, records(0, 3, clock.t)); err != nil {
		t.Fatalf("a version over the checkpoint between a lost response and the retry: %v", err)
	}
	if got := s.Head().Seq; got != 3 {
		t.Fatalf("head %d, want 3", got)
	}
}

// nextKeys are the keys of the batch s seals next from recs (one batch)
// and of its checkpoint.
func nextKeys(t *testing.T, s *Sealer, recs []*kgo.Record, clock *fakeClock) (batch, checkpoint string) {
	t.Helper()
	e, err := shared.SealRecord(s.Head(), source(recs[0]), recs[0].Value, clock.t)
	if err != nil {
		t.Fatal(err)
	}
	return shared.BatchKey("audit", e), shared.CheckpointKey("audit", "unit", e.Seq+uint64(len(recs))-1)
}

// sealOnce seals recs as one job of s's sealing stage.
func sealOnce(s *Sealer, recs []*kgo.Record) error {
	st := s.startStage(context.Background())
	st.jobs <- sealJob{records: recs, upTo: recs[len(recs)-1].Offset}
	r := <-st.results
	st.stop()
	return r.err
}
