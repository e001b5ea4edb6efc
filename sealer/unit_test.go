package sealer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// unitSealer is a sealer on an in-memory S3 with its genesis written, and
// a clock that moves only when told.
func unitSealer(t *testing.T) (*Sealer, *s3mem.S3, *fakeClock) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "aegis-unit")
	if err != nil {
		t.Fatal(err)
	}
	store := s3mem.New("audit")
	clock := &fakeClock{t: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
	s, err := New(context.Background(), Config{Brokers: []string{"unused:9092"}, Chain: "unit", S3: store, Bucket: "audit",
		SignerKey: skey, VerifierKey: vkey, Now: clock.now, Topic: "decisions"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.genesis(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, store, clock
}

func records(from, n int, at time.Time) []*kgo.Record {
	out := make([]*kgo.Record, n)
	for i := range out {
		off := from + i
		out[i] = &kgo.Record{Topic: "decisions", Offset: int64(off), Timestamp: at.Add(time.Duration(i) * time.Millisecond),
			Value: []byte(fmt.Sprintf(`{"type":"decision","event_id":"e%d","environment":"unit","occurred_at":"2026-11-27T09:00:00Z","decision":{"decision_id":"d%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`, off, off))}
	}
	return out
}

func verifyUnit(t *testing.T, s *Sealer, store *s3mem.S3) replayer.Report {
	t.Helper()
	rep, err := replayer.Verify(context.Background(), replayer.Config{S3: store, Bucket: "audit", Chain: "unit", VerifierKey: s.cfg.VerifierKey,
		Now: func() time.Time { return time.Now() }})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// The sealing stage (the in-flight window): jobs come back in order, each
// only once its objects and checkpoints are in S3; objects are written one
// per day, in seq order; the log verifies.
func TestStageSealsInOrderAndSignsBeforeAnswering(t *testing.T) {
	s, store, clock := unitSealer(t)
	st := s.startStage(context.Background())
	day := clock.t
	jobs := [][]*kgo.Record{records(0, 5, day), records(5, 3, day.Add(14*time.Hour-time.Millisecond)), records(8, 4, day.Add(30*time.Hour))}
	for _, recs := range jobs {
		st.jobs <- sealJob{records: recs, upTo: recs[len(recs)-1].Offset}
		st.inflight++
	}
	var seqs []uint64
	for range jobs {
		r := <-st.results
		st.inflight--
		if r.err != nil {
			t.Fatal(r.err)
		}
		for _, ref := range r.refs {
			e, err := shared.ParseLine(ref.rec.Entry)
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, e.Seq)
			// Signed before it is handed back.
			if _, err := (&archive.Store{S3: store, Bucket: "audit"}).Get(context.Background(),
				shared.CheckpointKey("audit", "unit", lastSeqOf(t, store, ref.rec.Object)), ""); err != nil {
				t.Fatalf("seq %d handed back before its object's checkpoint: %v", e.Seq, err)
			}
		}
	}
	if err := st.stop(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs) != "[1 2 3 4 5 6 7 8 9 10 11 12]" {
		t.Fatalf("seqs %v", seqs)
	}
	rep := verifyUnit(t, s, store)
	// Job 2 crosses midnight: one record at 23:59:59.999, two after.
	if rep.Objects != 5 || rep.Unsigned != 0 {
		t.Fatalf("%d objects (%+v), want genesis + 4 day objects, all signed", rep.Objects, rep.LogReport)
	}
}

func lastSeqOf(t *testing.T, store *s3mem.S3, key string) uint64 {
	t.Helper()
	obj, err := (&archive.Store{S3: store, Bucket: "audit"}).Get(context.Background(), key, "")
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := shared.ParseObject(key, 0, obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	return entries[len(entries)-1].Seq
}

// A failed S3 write stops the stage for that job and every later one:
// nothing is written past a gap.
func TestStageStopsAtTheFirstFailure(t *testing.T) {
	s, store, clock := unitSealer(t)
	s.cfg.CallTimeout = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	store.Fail = func(op, key string) error {
		if op == "PutObject" && strings.HasSuffix(key, ".jsonl") {
			return errors.New("injected: S3 down")
		}
		return nil
	}
	st := s.startStage(ctx)
	for i := range 3 {
		recs := records(i*2, 2, clock.t)
		st.jobs <- sealJob{records: recs, upTo: recs[1].Offset}
		st.inflight++
	}
	for range 3 {
		r := <-st.results
		st.inflight--
		if r.err == nil || len(r.refs) > 0 {
			t.Fatalf("a job after the failure came back as sealed: %+v", r)
		}
	}
	st.stop()
	store.Fail = nil
	if n := len(store.Objects("audit")); n != 2 { // genesis and its checkpoint
		t.Fatalf("%d objects: something was written past the failure", n)
	}
}

// Adoption: an object at the next key is adopted only if every line is
// what this sealer seals from the same records; the sealed_at times may
// differ. Anything else is ErrChainForked, counted, and never signed.
func TestAdoptionChecksEveryLine(t *testing.T) {
	for _, tc := range []struct {
		name   string
		forge  func(lines []string) []string
		forked bool
	}{
		{"a zombie's object (only sealed_at differs)", func(l []string) []string { return l }, false},
		{"a line changed", func(l []string) []string {
			l[1] = strings.Replace(l[1], `"action":"ALLOW"`, `"action":"BLOCK"`, 1)
			return l
		}, true},
		{"a line dropped", func(l []string) []string { return append(l[:1], l[2:]...) }, true},
		{"lines swapped", func(l []string) []string { l[0], l[1] = l[1], l[0]; return l }, true},
		{"not JSON", func(l []string) []string { return []string{"garbage"} }, true},
		{"more lines than the topic holds, none JSON", func(l []string) []string {
			return strings.Split(strings.Repeat("x\n", 100_000), "\n")[:100_000]
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, store, clock := unitSealer(t)
			recs := records(0, 3, clock.t)
			// Another writer's object at the next key, sealed a second later.
			head := s.Head()
			var lines []string
			for _, r := range recs {
				e, err := shared.SealRecord(head, source(r), r.Value, clock.t.Add(time.Second))
				if err != nil {
					t.Fatal(err)
				}
				l, _ := e.Line()
				lines = append(lines, string(l))
				head = head.Next(e)
			}
			first, _ := shared.ParseLine([]byte(lines[0]))
			key := shared.BatchKey("audit", first)
			theirs := tc.forge(lines)
			// Locked as a sealer locks its objects (a zombie's is).
			if _, err := store.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("audit"), Key: aws.String(key),
				Body: strings.NewReader(strings.Join(theirs, "\n") + "\n"), ObjectLockMode: types.ObjectLockModeCompliance,
				ObjectLockRetainUntilDate: aws.Time(s.retainUntil())}); err != nil {
				t.Fatal(err)
			}
			prepared, err := s.prepare(recs)
			if err != nil {
				t.Fatal(err)
			}
			refs, _, err := s.write(context.Background(), recs, prepared)
			switch {
			case tc.forked && !errors.Is(err, ErrChainForked):
				t.Fatalf("write: %v, want ErrChainForked", err)
			case tc.forked:
				if !strings.Contains(err.Error(), key) {
					t.Fatalf("the fork does not name the object: %v", err)
				}
				if _, gerr := (&archive.Store{S3: store, Bucket: "audit"}).Get(context.Background(), shared.CheckpointKey("audit", "unit", 3), ""); !errors.Is(gerr, archive.ErrNotFound) {
					t.Fatal("a checkpoint signs the forged object")
				}
			case err != nil:
				t.Fatalf("write: %v", err)
			case len(refs) != 3 || s.Stats().Adopted != 1:
				t.Fatalf("%d entries, stats %+v: want the object adopted", len(refs), s.Stats())
			}
		})
	}
}

// A genesis object signed by another key is a fork, not a chain to sign.
func TestGenesisOfAnotherKeyIsAFork(t *testing.T) {
	other, _, _ := unitSealer(t)
	s, _, _ := unitSealer(t)
	s.cfg.S3, s.store.S3 = other.cfg.S3, other.cfg.S3
	if err := s.genesis(context.Background()); !errors.Is(err, ErrChainForked) {
		t.Fatalf("genesis over another key's genesis: %v, want ErrChainForked", err)
	}
}

// Recovery passes over an object at a checkpoint key that the trusted key
// did not sign, counting it, and takes the head from the last valid one.
func TestRecoveryPassesOverUnsignedCheckpoints(t *testing.T) {
	s, store, clock := unitSealer(t)
	st := s.startStage(context.Background())
	recs := records(0, 4, clock.t)
	st.jobs <- sealJob{records: recs, upTo: 3}
	st.inflight++
	if r := <-st.results; r.err != nil {
		t.Fatal(r.err)
	}
	st.inflight--
	st.stop()
	want := s.Head()
	store.PutVersion("audit", shared.CheckpointKey("audit", "unit", 99), []byte("not a checkpoint\n"))
	s.setHead(shared.Head{})
	if _, err := s.recoverHead(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.Head(); got != want {
		t.Fatalf("recovered %+v, want %+v", got, want)
	}
}

// countingS3 counts the reads and listings made through it.
type countingS3 struct {
	archive.S3API
	gets, lists atomic.Int64
}

func (c *countingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	c.gets.Add(1)
	return c.S3API.GetObject(ctx, in, opts...)
}

func (c *countingS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	c.lists.Add(1)
	return c.S3API.ListObjectsV2(ctx, in, opts...)
}

// ListObjectVersions counts as a listing request too: a start lists by
// version the copy of a hand-over's KEY entry, the checkpoint keys past
// the newest current one and the newest checkpoint's key.
func (c *countingS3) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opts ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	c.lists.Add(1)
	return c.S3API.ListObjectVersions(ctx, in, opts...)
}

// A sealer starting (or taking over) on a long chain reads its newest
// checkpoints and a few listing pages, not every checkpoint: before, it
// read all of them, one GET each, so a takeover grew with the chain's age.
// The checkpoints before the newest are read as they are asked for, in
// order.
func TestStartReadsAFewCheckpointsOfALongChain(t *testing.T) {
	s, store, clock := unitSealer(t)
	st := s.startStage(context.Background())
	const objects = 2500
	for i := range objects {
		st.jobs <- sealJob{records: records(i, 1, clock.t), upTo: int64(i)}
		if r := <-st.results; r.err != nil {
			t.Fatal(r.err)
		}
	}
	st.stop()
	want := s.Head()
	if want.Seq != objects {
		t.Fatalf("head %d, want %d: one object a job", want.Seq, objects)
	}
	counted := &countingS3{S3API: store}
	s.store.S3 = counted
	s.setHead(shared.Head{})
	cps, err := s.recoverHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Head(); got != want {
		t.Fatalf("recovered %+v, want %+v", got, want)
	}
	t.Logf("start: %d GETs and %d listing requests on a chain of %d checkpoints", counted.gets.Load(), counted.lists.Load(), objects+1)
	if counted.gets.Load() > 2 || counted.lists.Load() > 40 {
		t.Fatal("want at most 2 GETs and 40 listing requests")
	}
	for i := range 40 {
		c, ok, err := cps.at(context.Background(), i)
		if err != nil || !ok || c.cp.Seq != want.Seq-uint64(i) {
			t.Fatalf("checkpoint %d back: %+v %v %v, want seq %d", i, c.cp, ok, err, want.Seq-uint64(i))
		}
	}
}

// A delete marker is free on S3 and anyone with write access to the
// bucket may put one over a sealed checkpoint (Object Lock keeps the
// version under it). A start lists the checkpoints' current keys, which
// leave out a key under a marker: one marker over the newest checkpoint
// made the start take the one before as the head, and the sealer then
// stopped at the next batch's key (its checkpoint "not found" when it
// read it back), at every start, for as long as the marker stood. Keys
// past the newest current one are listed by version too.
func TestStartSeesCheckpointsUnderDeleteMarkers(t *testing.T) {
	for _, tc := range []struct {
		name string
		hide func(seqs []uint64) []uint64 // the checkpoints' seqs to put a marker over
	}{
		{"the newest", func(seqs []uint64) []uint64 { return seqs[len(seqs)-1:] }},
		{"the two newest", func(seqs []uint64) []uint64 { return seqs[len(seqs)-2:] }},
		{"every one, the genesis's too", func(seqs []uint64) []uint64 { return seqs }},
		// A key past the head that is current but no checkpoint: the keys
		// past the newest current one hid none.
		{"the newest, with junk at a key past it", func(seqs []uint64) []uint64 { return seqs[len(seqs)-1:] }},
		{"one in the middle", func(seqs []uint64) []uint64 { return seqs[1:2] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, store, clock := unitSealer(t)
			st := s.startStage(context.Background())
			seqs := []uint64{0}
			for _, recs := range [][]*kgo.Record{records(0, 5, clock.t), records(5, 3, clock.t), records(8, 2, clock.t)} {
				st.jobs <- sealJob{records: recs, upTo: recs[len(recs)-1].Offset}
				if r := <-st.results; r.err != nil {
					t.Fatal(r.err)
				}
				seqs = append(seqs, s.Head().Seq)
			}
			st.stop()
			want := s.Head()
			for _, seq := range tc.hide(seqs) {
				store.Delete("audit", shared.CheckpointKey("audit", "unit", seq))
			}
			if strings.Contains(tc.name, "junk") {
				store.PutVersion("audit", shared.CheckpointKey("audit", "unit", 1000), []byte("not a checkpoint\n"))
			}
			s2, err := New(context.Background(), s.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s2.recoverHead(context.Background()); err != nil || s2.Head() != want {
				t.Fatalf("head at seq %d (err %v), want %d", s2.Head().Seq, err, want.Seq)
			}
		})
	}
}
