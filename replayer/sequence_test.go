package replayer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// memDay is the key of memChain's object of day d (0: 2026-11-01), of
// perDay entries an object.
func memDay(d, perDay int) string {
	return shared.BatchKey("audit", &shared.Entry{Type: shared.EntryEvent, Chain: "mem", Seq: uint64(1 + d*perDay),
		Source: &shared.Source{Timestamp: time.Date(2026, 11, 1+d, 8, 0, 0, 0, time.UTC)}})
}

// discoverDays runs Discover over days first to last of memChain (0:
// 2026-11-01) and returns the decision ids found.
func discoverDays(t *testing.T, s3 archive.S3API, vkey string, first, last int) ([]string, replayer.DiscoverReport, error) {
	t.Helper()
	var got []string
	rep, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: s3, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
		From: time.Date(2026, 11, 1+first, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 2+last, 0, 0, 0, 0, time.UTC)},
		func(f replayer.Found) error { got = append(got, f.Entry.DecisionID()); return nil })
	return got, rep, err
}

// Someone with write access to the storage but not the signing key hides a
// sealed object of a discovery's range by removing it from the storage.
// Each object left is fine on its own; before, discover answered without
// the hidden object's entries and without a word. Now it is refused,
// naming the hidden object, wherever it sits in the range. (A delete
// marker hides nothing: the sealed version under it is read, below.)
func TestDiscoverRefusesARangeWithAHiddenObject(t *testing.T) {
	for _, tc := range []struct {
		name  string
		day   int // the day of the object hidden; the range is days 3 to 5
		hide  func(s *s3mem.S3, key string)
		is    error
		named string // besides the hidden key
	}{
		{"the middle object removed from the storage", 4, func(s *s3mem.S3, k string) { s.Remove("audit", k) }, replayer.ErrMissingObject, "as the object before " + memDay(5, 6)},
		{"the first object removed from the storage", 3, func(s *s3mem.S3, k string) { s.Remove("audit", k) }, replayer.ErrMissingObject, "as the object before " + memDay(4, 6)},
		{"the last object removed from the storage", 5, func(s *s3mem.S3, k string) { s.Remove("audit", k) }, replayer.ErrMissingObject, "as the object after " + memDay(4, 6)},
		{"the newest object of the chain removed from the storage", 9, func(s *s3mem.S3, k string) { s.Remove("audit", k) }, replayer.ErrMissingObject, "as the object after " + memDay(8, 6)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, vkey := memChain(t, 10, 6)
			key := memDay(tc.day, 6)
			tc.hide(store, key)
			first, last := 3, 5
			if tc.day == 9 {
				first, last = 8, 9
			}
			got, _, err := discoverDays(t, store, vkey, first, last)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), tc.named) {
				t.Fatalf("discover answered %v, %v; want %v naming %s and %q", got, err, tc.is, key, tc.named)
			}
		})
	}
}

// What is not hidden is not reported: an object removed outside the range,
// and a range whose days hold objects that do not follow one another
// (Kafka timestamps went back, so objects of other days sit between them).
func TestDiscoverAcceptsARangeWhoseObjectsAreAllThere(t *testing.T) {
	t.Run("an object removed outside the range", func(t *testing.T) {
		store, vkey := memChain(t, 10, 6)
		store.Remove("audit", memDay(7, 6))
		got, rep, err := discoverDays(t, store, vkey, 3, 5)
		if err != nil || len(got) != 18 || rep.Objects != 3 {
			t.Fatalf("discover: %v, %d entries in %d objects; want 18 in 3", err, len(got), rep.Objects)
		}
	})
	t.Run("dates that go back", func(t *testing.T) {
		// Objects 1 to 6 on days 2, 0, 2, 2, 1, 2: the range of day 2 holds
		// objects 1, 3, 4 and 6, and objects 1, 3 and 6 are named as
		// following an object of another day.
		dayOf := []int{2, 0, 2, 2, 1, 2}
		store, vkey := memObjects(t, dayOf, 4, func(n, _, _ int, at string) string {
			return fmt.Sprintf(`{"type":"decision","event_id":"e%d","environment":"mem","occurred_at":%q,"decision":{"decision_id":"d%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`, n, at, n)
		})
		got, rep, err := discoverDays(t, store, vkey, 2, 2)
		if err != nil || strings.Join(got, " ") != "d0 d1 d2 d3 d8 d9 d10 d11 d12 d13 d14 d15 d20 d21 d22 d23" || rep.Objects != 4 {
			t.Fatalf("discover: %v, %v in %d objects", err, got, rep.Objects)
		}
		object := func(i int) string { // object i, 1 to 6
			return shared.BatchKey("audit", &shared.Entry{Type: shared.EntryEvent, Chain: "mem", Seq: uint64(1 + 4*(i-1)),
				Source: &shared.Source{Timestamp: time.Date(2026, 11, 1+dayOf[i-1], 8, 0, 0, 0, time.UTC)}})
		}
		// Object 3 is named by object 4, which follows it; object 4 by
		// the checkpoint after object 3, its neighbour before.
		for _, i := range []int{3, 4} {
			body := store.Objects("audit")[object(i)]
			store.Remove("audit", object(i))
			if _, _, err := discoverDays(t, store, vkey, 2, 2); !errors.Is(err, replayer.ErrMissingObject) || !strings.Contains(err.Error(), object(i)) {
				t.Fatalf("discover after object %d was removed: %v, want ErrMissingObject naming it", i, err)
			}
			store.PutVersion("audit", object(i), body)
		}
		// Object 6 between object 5 (day 1) and the head has no neighbour
		// in the range: discover cannot see it is gone (the documented
		// limit); verify, reading the whole chain, does.
		store.Remove("audit", object(6))
		if _, err := replayer.Verify(context.Background(), replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey}); err == nil {
			t.Fatal("verify accepts the chain without its newest object")
		}
	})
	t.Run("a delete marker on a sealed object", func(t *testing.T) {
		// The S3 API allows one under Object Lock. Before, it failed the
		// range (ErrRewritten), for as long as the marker stays: now the
		// sealed version under it is read, and the reader is told.
		for _, day := range []int{3, 4, 5} {
			store, vkey := memChain(t, 10, 6)
			key := memDay(day, 6)
			store.Delete("audit", key)
			var warnings []string
			var warnMu sync.Mutex // Warn is called from the readers' goroutines
			var got []string
			rep, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
				From: time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 7, 0, 0, 0, 0, time.UTC),
				Warn: func(w string) { warnMu.Lock(); warnings = append(warnings, w); warnMu.Unlock() }},
				func(f replayer.Found) error { got = append(got, f.Entry.DecisionID()); return nil })
			if err != nil || len(got) != 18 || rep.Objects != 3 || len(warnings) != 1 || !strings.Contains(warnings[0], key+": the current version (a delete marker)") {
				t.Fatalf("day %d: discover: %v, %d entries in %d objects, warnings %q; want 18 in 3 and the key named", day, err, len(got), rep.Objects, warnings)
			}
		}
	})
	t.Run("a delete marker on a key that never held an object", func(t *testing.T) {
		// Anyone with write access can put one on any key: it hides
		// nothing and is passed over, with a warning (it stopped the
		// run before).
		store, vkey := memChain(t, 10, 6)
		ghost := shared.BatchKey("audit", &shared.Entry{Type: shared.EntryEvent, Chain: "mem", Seq: 27,
			Source: &shared.Source{Timestamp: time.Date(2026, 11, 5, 9, 0, 0, 0, time.UTC)}})
		store.Delete("audit", ghost)
		var warnings []string
		var warnMu sync.Mutex // Warn is called from the readers' goroutines
		n := 0
		_, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
			From: time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 7, 0, 0, 0, 0, time.UTC),
			Warn: func(w string) { warnMu.Lock(); warnings = append(warnings, w); warnMu.Unlock() }}, func(replayer.Found) error { n++; return nil })
		if err != nil || n != 18 || len(warnings) != 1 || !strings.Contains(warnings[0], ghost+": a delete marker with no object under it") {
			t.Fatalf("discover: %v, %d entries, warnings %q", err, n, warnings)
		}
		// A sealed object removed from the storage and its key then
		// marked deleted is still missing, named by its neighbours.
		key := memDay(4, 6)
		store.Remove("audit", key)
		store.Delete("audit", key)
		if _, _, err := discoverDays(t, store, vkey, 3, 5); !errors.Is(err, replayer.ErrMissingObject) || !strings.Contains(err.Error(), key) {
			t.Fatalf("discover with a sealed object removed under a marker: %v, want ErrMissingObject naming %s", err, key)
		}
	})
	t.Run("a key written again, its current version the sealed one", func(t *testing.T) {
		store, vkey := memChain(t, 10, 6)
		key := memDay(4, 6)
		body := store.Objects("audit")[key]
		store.PutVersion("audit", key, []byte("forged\n"))
		store.PutVersion("audit", key, body)
		got, rep, err := discoverDays(t, store, vkey, 3, 5)
		if err != nil || len(got) != 18 || rep.Rewritten != 1 || rep.FirstRewritten != key {
			t.Fatalf("discover: %v, %d entries, %d rewritten (%s); want 18 entries and %s reported", err, len(got), rep.Rewritten, rep.FirstRewritten, key)
		}
	})
}

// hidingS3 leaves key out of every listing, as a listing made before a
// sealer wrote it does, while the object itself can be read.
type hidingS3 struct {
	archive.S3API
	key string
}

func (h hidingS3) ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opts ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error) {
	out, err := h.S3API.ListObjectVersions(ctx, in, opts...)
	if err != nil {
		return out, err
	}
	cp := *out
	cp.Versions = nil
	for _, v := range out.Versions {
		if aws.ToString(v.Key) != h.key {
			cp.Versions = append(cp.Versions, v)
		}
	}
	return &cp, nil
}

func (h hidingS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	out, err := h.S3API.ListObjectsV2(ctx, in, opts...)
	if err != nil {
		return out, err
	}
	cp := *out
	cp.Contents = nil
	for _, o := range out.Contents {
		if aws.ToString(o.Key) != h.key {
			cp.Contents = append(cp.Contents, o)
		}
	}
	return &cp, nil
}

// An object that is there but was not listed was written after the
// listing: the chain's newest object, by the sealer at work, is no
// failure (the answer is as of the listing); one before an object that
// was listed means the listing changed under the reader.
func TestDiscoverTellsAnObjectWrittenAfterItsListingFromAHiddenOne(t *testing.T) {
	store, vkey := memChain(t, 10, 6)
	got, _, err := discoverDays(t, hidingS3{store, memDay(9, 6)}, vkey, 8, 9)
	if err != nil || len(got) != 6 {
		t.Fatalf("discover with the newest object written after the listing: %v, %d entries; want day 8's 6", err, len(got))
	}
	_, _, err = discoverDays(t, hidingS3{store, memDay(8, 6)}, vkey, 7, 9)
	if !errors.Is(err, archive.ErrListingChanged) || !strings.Contains(err.Error(), memDay(8, 6)) {
		t.Fatalf("discover with a middle object left out of the listing: %v, want ErrListingChanged naming it", err)
	}
}

// Files a bucket writer puts at checkpoint keys after the range (garbage,
// or a genuine checkpoint copied to another seq's key) do not name the
// object after the range: they are passed over, as the sealer passes them
// over, and the checkpoint that verifies at its own key is read. Before,
// either failed every discovery of the range.
func TestDiscoverPassesOverForgedCheckpointsAfterTheRange(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(s *s3mem.S3)
	}{
		{"garbage", func(s *s3mem.S3) {
			s.PutVersion("audit", shared.CheckpointKey("audit", "mem", 37), []byte("not a checkpoint\n"))
		}},
		{"a checkpoint copied to another seq's key", func(s *s3mem.S3) {
			s.PutVersion("audit", shared.CheckpointKey("audit", "mem", 37), s.Objects("audit")[shared.CheckpointKey("audit", "mem", 24)])
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, vkey := memChain(t, 10, 6)
			tc.plant(store)
			got, _, err := discoverDays(t, store, vkey, 3, 5)
			if err != nil || len(got) != 18 {
				t.Fatalf("discover: %v, %d entries; want 18", err, len(got))
			}
			// The object after the range, hidden, is still found through
			// the checkpoint that verifies.
			store.Remove("audit", memDay(5, 6))
			if _, _, err := discoverDays(t, store, vkey, 3, 5); !errors.Is(err, replayer.ErrMissingObject) {
				t.Fatalf("discover with day 5's object removed: %v, want ErrMissingObject", err)
			}
		})
	}
}

// The newest object, not signed yet (a sealer between the object and its
// checkpoint, or stopped there), is passed on as unsigned even when a
// bucket writer put garbage at a later checkpoint key: only a checkpoint
// that verifies says the object should have been signed. Before, the
// garbage made the object a twin and failed the discovery.
func TestDiscoverKeepsTheNewestUnsignedObjectDespiteGarbageAfterIt(t *testing.T) {
	store, vkey := memChain(t, 10, 6)
	store.Remove("audit", shared.CheckpointKey("audit", "mem", 60))
	store.PutVersion("audit", shared.CheckpointKey("audit", "mem", 99), []byte("not a checkpoint\n"))
	got, rep, err := discoverDays(t, store, vkey, 8, 9)
	if err != nil || len(got) != 12 || rep.Unsigned != 6 {
		t.Fatalf("discover: %v, %d entries, %d unsigned; want 12, the newest 6 unsigned", err, len(got), rep.Unsigned)
	}
}
