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

// The scope's objects come in seq order, the genesis left out, whatever
// the days they are filed on: the stream merges the folders a key at a
// time. (A resumed rebuild reads them all too: rebuild.go.)
func TestScopeObjectsComeInSeqOrder(t *testing.T) {
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
	objects, err := surveyScope(context.Background(), store, "mem", time.Time{}, time.Time{})
	if err != nil || objects.Objects != 4 {
		t.Fatalf("survey: %v (%d objects, want 4)", err, objects.Objects)
	}
	var read []uint64
	for err == nil {
		var ref archive.BatchRef
		var ok bool
		if ref, ok, err = objects.next(context.Background()); !ok {
			break
		}
		read = append(read, ref.FirstSeq)
	}
	if err != nil || fmt.Sprint(read) != fmt.Sprint([]uint64{1, 3, 5, 7}) {
		t.Fatalf("read %v (%v), want [1 3 5 7]", read, err)
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
