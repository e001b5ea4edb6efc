package replayer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/shared"
)

// A rebuild killed after finishing seq done skips, on its next run, the
// objects before the one holding seq done+1, by the rule of the list the
// stream replaced: the first object is skipped while the next one's first
// seq is at most done+1. The objects are filed on days that go back, so
// the stream merges folders to give them in seq order.
func TestScopeObjectsResumeByTheListsRule(t *testing.T) {
	defer func(n int32) { archive.ListPageSize = n }(archive.ListPageSize)
	archive.ListPageSize = 1
	s := s3mem.New("audit")
	s.PutVersion("audit", shared.GenesisKey("audit", "mem"), []byte("genesis"))
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// Objects of two entries: first seqs 1, 3, 5, 7 on days 2, 0, 1, 0.
	for i, d := range []int{2, 0, 1, 0} {
		key := fmt.Sprintf("%s%020d.jsonl", shared.DayFolder("audit", "mem", day.AddDate(0, 0, d)), 1+2*i)
		s.PutVersion("audit", key, []byte("batch"))
	}
	store := &archive.Store{S3: s, Bucket: "audit"}
	for _, tc := range []struct {
		done    uint64
		skipped int
		rest    []uint64
	}{
		{0, 0, []uint64{1, 3, 5, 7}}, // the first object was not finished
		{2, 1, []uint64{3, 5, 7}},    // it was
		{3, 1, []uint64{3, 5, 7}},    // the second was begun: read again
		{4, 2, []uint64{5, 7}},       // and finished
		{100, 3, []uint64{7}},        // the last object is read again
	} {
		objects, err := surveyScope(context.Background(), store, "mem", time.Time{}, time.Time{})
		if err != nil || objects.Objects != 4 {
			t.Fatalf("survey: %v (%d objects, want 4)", err, objects.Objects)
		}
		skipped, err := objects.resume(context.Background(), tc.done)
		var rest []uint64
		for err == nil {
			var ref archive.BatchRef
			var ok bool
			if ref, ok, err = objects.next(context.Background()); !ok {
				break
			}
			rest = append(rest, ref.FirstSeq)
		}
		if err != nil || skipped != tc.skipped || fmt.Sprint(rest) != fmt.Sprint(tc.rest) {
			t.Fatalf("done %d: skipped %d then read %v (%v), want %d then %v", tc.done, skipped, rest, err, tc.skipped, tc.rest)
		}
	}
}

// A key in the scope's folders that is none of the chain's fails the read
// before any object is fetched, named, as the lists it replaced did.
func TestScopeObjectsRefuseAStray(t *testing.T) {
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, stray, want string
		from              time.Time
	}{
		{"whole chain", shared.CheckpointPrefix("audit", "mem") + "latest.note", "is not a key of chain mem (1 such objects)", time.Time{}},
		{"a range", shared.DayFolder("audit", "mem", day) + "notes.txt", "is not a batch key of chain mem (1 such objects)", day},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := s3mem.New("audit")
			s.PutVersion("audit", shared.GenesisKey("audit", "mem"), []byte("genesis"))
			s.PutVersion("audit", shared.DayFolder("audit", "mem", day)+"00000000000000000001.jsonl", []byte("batch"))
			s.PutVersion("audit", tc.stray, []byte("stray"))
			store := &archive.Store{S3: s, Bucket: "audit"}
			_, err := surveyScope(context.Background(), store, "mem", tc.from, tc.from.Add(time.Hour))
			var f *Failure
			if !errors.As(err, &f) || f.Key != tc.stray || !errors.Is(err, shared.ErrChainBroken) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("survey with %s: %v, want it named: %s", tc.stray, err, tc.want)
			}
		})
	}
}
