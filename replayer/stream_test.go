package replayer_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3pace"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

func decisionRecord(n, _, _ int, at string) string {
	return fmt.Sprintf(`{"type":"decision","event_id":"e%d","environment":"mem","occurred_at":%q,"decision":{"decision_id":"d%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u%d","session_id":"s"}}`,
		n, at, n, n%3)
}

// Verify reads the listing as it verifies: it asks for the next page of
// keys only when the objects listed before are read, so the keys it holds
// are a page and the objects in flight, whatever the chain's length.
// Before, it listed the whole prefix into memory first (every key listed
// before the first object was read); this test then fails.
func TestVerifyReadsTheListingAsItGoes(t *testing.T) {
	const page, parallelism = 5, 2
	defer func(n int32) { archive.ListPageSize = n }(archive.ListPageSize)
	archive.ListPageSize = page
	// 3 days of 40 objects of 2 entries.
	var dayOf []int
	for d := range 3 {
		for range 40 {
			dayOf = append(dayOf, d)
		}
	}
	store, vkey := memObjects(t, dayOf, 2, decisionRecord)
	paced := &s3pace.Pace{S3API: store}
	rep, err := replayer.Verify(context.Background(), replayer.Config{S3: paced, Bucket: "audit", Chain: "mem", VerifierKey: vkey, Parallelism: parallelism})
	if err != nil || rep.Entries != 241 || rep.Objects != 121 {
		t.Fatalf("verify: %v (%d entries in %d objects)", err, rep.Entries, rep.Objects)
	}
	if paced.Read != 120 || paced.Listed != 120 {
		t.Fatalf("%d batch objects read, %d listed, want 120 each", paced.Read, paced.Listed)
	}
	// In flight: 2*parallelism items (objects and checkpoints), one object
	// read ahead to place the checkpoints, and the page just listed.
	limit := page + 2*parallelism + 1
	if a := paced.MaxAhead(); a > limit {
		t.Fatalf("%d batch keys listed and not read (after each page: %v), want at most %d", a, paced.Ahead, limit)
	}
	// The survey lists every version a page at a time too.
	if want := (2*121 + page - 1) / page; paced.VersionPages < want {
		t.Fatalf("%d pages of versions listed, want at least %d", paced.VersionPages, want)
	}
}

// The Kafka timestamps went back across midnight: later seqs sit under
// earlier days. Verify reads the objects in seq order all the same, and a
// missing object among them is still named.
func TestVerifyFollowsSeqWhenDatesGoBack(t *testing.T) {
	defer func(n int32) { archive.ListPageSize = n }(archive.ListPageSize)
	archive.ListPageSize = 2
	dayOf := []int{0, 2, 1, 1, 3, 0, 4, 4, 2}
	store, vkey := memObjects(t, dayOf, 3, decisionRecord)
	cfg := replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey, Parallelism: 3}
	rep, err := replayer.Verify(context.Background(), cfg)
	if err != nil || rep.Entries != 28 || rep.CheckpointedSeq != 27 {
		t.Fatalf("verify: %v (%+v)", err, rep.LogReport)
	}
	// The object of seq 7 (day 1) removed from the storage itself, with
	// no delete marker: the object after it, of seq 10 (day 1), is named.
	store.Remove("audit", "audit/year=2026/month=11/day=02/env=mem/00000000000000000007.jsonl")
	_, err = replayer.Verify(context.Background(), cfg)
	var f *replayer.Failure
	if !errors.As(err, &f) || !f.HasSeq || f.Seq != 10 || !errors.Is(err, shared.ErrChainBroken) {
		t.Fatalf("verify without seq 7's object: %v, want a broken chain at seq 10", err)
	}
}

// Discover reads the listing of the range's days as it reads their
// objects: it asks for the next page of a day's keys only when the objects
// listed before are read, so the keys it holds are a page and the objects
// in flight, whatever the range's length. Before, it listed every day of
// the range into memory and sorted the keys before reading the first
// object; this test then fails.
func TestDiscoverReadsTheListingAsItGoes(t *testing.T) {
	const page, parallelism = 5, 2
	defer func(n int32) { archive.ListPageSize = n }(archive.ListPageSize)
	archive.ListPageSize = page
	// 4 days of 30 objects of 2 entries (at 08:00 and 08:01 of their day).
	var dayOf []int
	for d := range 4 {
		for range 30 {
			dayOf = append(dayOf, d)
		}
	}
	store, vkey := memObjects(t, dayOf, 2, decisionRecord)
	paced := &s3pace.Pace{S3API: store}
	// From the second entries of day 1 to the first entries of day 3.
	from := time.Date(2026, 11, 2, 8, 1, 0, 0, time.UTC)
	to := time.Date(2026, 11, 4, 8, 1, 0, 0, time.UTC)
	var last uint64
	rep, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: paced, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
		From: from, To: to, Parallelism: parallelism}, func(f replayer.Found) error {
		if f.Entry.Seq <= last {
			return fmt.Errorf("seq %d after seq %d", f.Entry.Seq, last)
		}
		last = f.Entry.Seq
		return nil
	})
	if err != nil || rep.Days != 3 || rep.Objects != 90 || rep.Matched != 30+60+30 {
		t.Fatalf("discover: %v (%+v)", err, rep)
	}
	if paced.Read != 90 || paced.Listed != 90 {
		t.Fatalf("%d batch objects read, %d listed, want the 90 of the range's days each once", paced.Read, paced.Listed)
	}
	// In flight: parallelism objects, the one being handed on, and the
	// page just listed.
	if limit := page + parallelism + 1; paced.MaxAhead() > limit {
		t.Fatalf("%d batch keys listed and not read (after each page: %v), want at most %d", paced.MaxAhead(), paced.Ahead, limit)
	}
}
