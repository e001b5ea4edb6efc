package sealer

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/internal/testbed/s3mem"
)

// racePastMarkers runs another sealer's whole write (object and
// checkpoint) when this one sends its plain PUT past the markers at key,
// after both found only markers there: the other's version is stored
// first.
type racePastMarkers struct {
	*s3mem.S3
	key   string
	other func()
}

func (r *racePastMarkers) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if in.IfNoneMatch == nil && aws.ToString(in.Key) == r.key && r.other != nil {
		other := r.other
		r.other = nil
		other()
	}
	return r.S3.PutObject(ctx, in, opts...)
}

// Two sealers (a zombie and the active one) that both find only delete
// markers at the next batch key both write past them, each with its own
// sealed_at: the one stored first counts, and the other adopts it and
// signs the same checkpoint. No fork, one head.
func TestTwoSealersWritingPastMarkersAgreeOnTheFirst(t *testing.T) {
	s, store, clock := unitSealer(t)
	recs := records(0, 3, clock.t)
	key, _ := nextKeys(t, s, recs, clock)
	store.Delete("audit", key)
	zcfg := s.cfg
	zcfg.Now = func() time.Time { return clock.t.Add(time.Second) }
	zombie, err := New(context.Background(), zcfg)
	if err != nil {
		t.Fatal(err)
	}
	zombie.setHead(s.Head())
	var zerr error
	s.store.S3 = &racePastMarkers{S3: store, key: key, other: func() {
		st := zombie.startStage(context.Background())
		st.jobs <- sealJob{records: recs, upTo: recs[len(recs)-1].Offset}
		zerr = (<-st.results).err
		st.stop()
	}}
	st := s.startStage(context.Background())
	st.jobs <- sealJob{records: recs, upTo: recs[len(recs)-1].Offset}
	r := <-st.results
	st.stop()
	if zerr != nil || r.err != nil {
		t.Fatalf("zombie: %v; active: %v", zerr, r.err)
	}
	if s.Head() != zombie.Head() {
		t.Fatalf("two heads: %v and %v", s.Head(), zombie.Head())
	}
	if s.Stats().Adopted != 1 {
		t.Fatalf("the active sealer adopted %d objects, want the zombie's, stored first", s.Stats().Adopted)
	}
}
