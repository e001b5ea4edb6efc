// Regression tests from an attack on the readers' sealed-version reading
// (discover, rebuild, index check and prove), fifth session of 2026-11-29.

package replayer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

func a17Discover(t *testing.T, store *s3mem.S3, vkey string, first, last int) ([]string, []string, time.Duration, error) {
	t.Helper()
	var got, warnings []string
	var mu sync.Mutex
	start := time.Now()
	_, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
		From: time.Date(2026, 11, 1+first, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 2+last, 0, 0, 0, 0, time.UTC),
		Warn: func(w string) { mu.Lock(); warnings = append(warnings, w); mu.Unlock() }},
		func(f replayer.Found) error { got = append(got, f.Entry.DecisionID()); return nil })
	return got, warnings, time.Since(start), err
}

// (a) The chain's newest object, sealed and signed, written over by a
// version that is the sealed lines plus one forged line chained after
// them (no key needed: entries are only hash-chained). Its last seq has
// no checkpoint and none after it: is the forged version passed on (as
// unsigned) in place of the signed sealed version under it?
func TestTheNewestObjectWrittenOverWithALineMoreIsReadSealed(t *testing.T) {
	store, vkey := memChain(t, 10, 6)
	key := memDay(9, 6)
	body := store.Objects("audit")[key]
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	last, err := shared.ParseLine([]byte(lines[len(lines)-1]))
	if err != nil {
		t.Fatal(err)
	}
	head := shared.Head{Chain: "mem", Seq: last.Seq, Hash: last.Hash, Offset: last.Source.Offset}
	src := *last.Source
	src.Offset++
	src.Timestamp = src.Timestamp.Add(time.Second)
	forgedEntry, err := shared.SealRecord(head, src, []byte(`{"type":"decision","event_id":"forged","environment":"mem","occurred_at":"2026-11-10T08:00:00Z","decision":{"decision_id":"FORGED","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`), last.SealedAt)
	if err != nil {
		t.Fatal(err)
	}
	fl, _ := forgedEntry.Line()
	store.PutVersion("audit", key, append([]byte(body), append(fl, '\n')...))
	var found []replayer.Found
	var warnings []string
	var mu sync.Mutex
	_, err = replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
		From: time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC),
		Warn: func(w string) { mu.Lock(); warnings = append(warnings, w); mu.Unlock() }},
		func(f replayer.Found) error { found = append(found, f); return nil })
	var ids []string
	for _, f := range found {
		ids = append(ids, fmt.Sprintf("%s(signed=%v)", f.Entry.DecisionID(), f.Signed))
	}
	t.Logf("discover: %v; warnings %q; found %v", err, warnings, ids)
	if err != nil || len(found) != 6 || len(warnings) != 1 {
		t.Errorf("discover: %v, %d entries, %d warnings; want the sealed version's 6, signed, and a warning", err, len(found), len(warnings))
	}
	if err == nil {
		for _, f := range found {
			if f.Entry.DecisionID() == "FORGED" || !f.Signed {
				t.Errorf("the newest object's sealed, signed version is under the forged one; discover passes on %s signed=%v without error", f.Entry.DecisionID(), f.Signed)
			}
		}
	}
	// verify, for comparison
	_, verr := replayer.Verify(context.Background(), replayer.Config{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey})
	t.Logf("verify: %v", verr)
	// rebuild and index check of that day: the index is reached only for
	// an object taken as signed (errIndexReached, race_test.go).
	day := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	rrep, rerr := replayer.Rebuild(context.Background(), replayer.RebuildConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
		Index: &indexer.Index{DB: indexAfterProgress{}, Table: "t"}, From: day, To: day.AddDate(0, 0, 1)})
	t.Logf("rebuild: %v, %d entries, %d unsigned (not indexed)", rerr, rrep.Entries, rrep.Unsigned)
	if rerr == nil {
		t.Errorf("rebuild indexes none of the 6 signed entries of the newest object, without error")
	}
	crep, cerr := replayer.Check(context.Background(), replayer.RebuildConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
		Index: &indexer.Index{DB: indexAfterProgress{}, Table: "t"}, From: day, To: day.AddDate(0, 0, 1)})
	t.Logf("index check: %v, %d entries, %d unsigned", cerr, crep.Entries, crep.Unsigned)
	if cerr == nil {
		t.Errorf("index check checks none of the 6 signed entries of the newest object, without error")
	}
}

// (c) A delete marker on the genesis object (the sealed version stays
// under it): discover, rebuild and index check of a range far from it.
func TestADeleteMarkerOnTheGenesisStopsNoReader(t *testing.T) {
	store, vkey := memChain(t, 10, 6)
	store.Delete("audit", shared.GenesisKey("audit", "mem"))
	got, warnings, _, err := a17Discover(t, store, vkey, 3, 5)
	t.Logf("discover: %d entries, warnings %q, %v", len(got), warnings, err)
	if err != nil {
		t.Errorf("a delete marker on the genesis key stops discover: %v", err)
	}
	day := time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)
	_, cerr := replayer.Check(context.Background(), replayer.RebuildConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
		Index: &indexer.Index{DB: indexAfterProgress{}, Table: "t"}, From: day, To: day.AddDate(0, 0, 1)})
	t.Logf("index check: %v", cerr)
	if errors.Is(cerr, replayer.ErrNoChain) {
		t.Errorf("a delete marker on the genesis key stops index check: %v", cerr)
	}
	_, rerr := replayer.Rebuild(context.Background(), replayer.RebuildConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
		Index: &indexer.Index{DB: indexAfterProgress{}, Table: "t"}, From: day, To: day.AddDate(0, 0, 1)})
	t.Logf("rebuild: %v", rerr)
	if errors.Is(rerr, replayer.ErrNoChain) {
		t.Errorf("a delete marker on the genesis key stops rebuild: %v", rerr)
	}
}

// (c) A version larger than any batch written over a sealed object, or
// over a sealed checkpoint (the sealed version stays under it, locked).
func TestAVersionTooLargeOverASealedKeyIsPassedOver(t *testing.T) {
	for _, which := range []string{"object", "checkpoint"} {
		t.Run(which, func(t *testing.T) {
			store, vkey := memChain(t, 10, 6)
			key := memDay(4, 6)
			if which == "checkpoint" {
				key = shared.CheckpointKey("audit", "mem", 24) // the checkpoint of the object of day 3
			}
			store.PutVersion("audit", key, make([]byte, archive.DefaultMaxObjectBytes+1))
			got, warnings, took, err := a17Discover(t, store, vkey, 3, 5)
			t.Logf("discover: %d entries, warnings %q, %v, in %v", len(got), warnings, err, took)
			if err != nil || len(got) != 18 {
				t.Errorf("one oversized version over the sealed %s %s stops discover: %v", which, key, err)
			}
		})
	}
}

// A twin of a sealed batch, filed a day later, with every later checkpoint
// written over by garbage or hidden under a delete marker: the guard
// "only the newest object may be unsigned" (signedCheckpointAfter) must
// see the sealed versions of those checkpoints, as the readers do. It
// read current versions only, and listed no key under a marker: the
// twin's forged entry was passed on as the unsigned newest (found by an
// attack on this session's sealed-version reading).
func TestATwinIsRefusedWhateverHidesTheLaterCheckpoints(t *testing.T) {
	for _, how := range []string{"garbage version", "delete marker"} {
		for _, firstDay := range []int{6, 5} {
			t.Run(fmt.Sprintf("%s, range Nov %d-6", how, firstDay), func(t *testing.T) { a17Twin(t, how, firstDay) })
		}
	}
}

func a17Twin(t *testing.T, how string, firstDay int) {
	store, vkey := memChain(t, 10, 6)
	before := store.Objects("audit")[memDay(3, 6)] // seqs 19-24, Nov 4
	lines := strings.Split(strings.TrimSuffix(string(before), "\n"), "\n")
	last, _ := shared.ParseLine([]byte(lines[len(lines)-1]))
	src := *last.Source
	src.Offset += 1000
	src.Timestamp = time.Date(2026, 11, 6, 7, 0, 0, 0, time.UTC) // filed on Nov 6, beside the sealed object of seqs 31-36
	e, err := shared.SealRecord(shared.Head{Chain: "mem", Seq: last.Seq, Hash: last.Hash, Offset: last.Source.Offset}, src,
		[]byte(`{"type":"decision","event_id":"forged","environment":"mem","occurred_at":"2026-11-06T07:00:00Z","decision":{"decision_id":"FORGED","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`), last.SealedAt)
	if err != nil {
		t.Fatal(err)
	}
	fl, _ := e.Line()
	twin := shared.BatchKey("audit", e)
	store.PutVersion("audit", twin, append(fl, '\n'))
	for seq := 30; seq <= 60; seq += 6 {
		if how == "delete marker" {
			store.Delete("audit", shared.CheckpointKey("audit", "mem", uint64(seq)))
		} else {
			store.PutVersion("audit", shared.CheckpointKey("audit", "mem", uint64(seq)), []byte("garbage\n"))
		}
	}
	var found []replayer.Found
	var warnings []string
	var mu sync.Mutex
	rep, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey,
		From: time.Date(2026, 11, firstDay, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 7, 0, 0, 0, 0, time.UTC),
		Warn: func(w string) { mu.Lock(); warnings = append(warnings, w); mu.Unlock() }},
		func(f replayer.Found) error { found = append(found, f); return nil })
	var ids []string
	for _, f := range found {
		ids = append(ids, fmt.Sprintf("%d:%s(signed=%v)", f.Entry.Seq, f.Entry.DecisionID(), f.Signed))
	}
	t.Logf("twin %s; discover: %v; report %+v; %d warnings; found %v", twin, err, rep, len(warnings), ids)
	if !errors.Is(err, shared.ErrChainBroken) {
		t.Errorf("discover: %v, want the twin refused", err)
	}
	if err == nil {
		for _, f := range found {
			if f.Entry.DecisionID() == "FORGED" {
				t.Errorf("discover passes on a twin's forged entry (seq %d, unsigned) in the middle of the chain, without error", f.Entry.Seq)
			}
		}
	}
}

// (c) prove (aegis prove, the query service's proofs, the page): one
// oversized version over the sealed object or its checkpoint.
func TestProvePassesOverAVersionTooLarge(t *testing.T) {
	for _, which := range []string{"object", "checkpoint"} {
		t.Run(which, func(t *testing.T) {
			store, vkey := memChain(t, 3, 5)
			key := shared.BatchKey("audit", &shared.Entry{Type: shared.EntryEvent, Chain: "mem", Seq: 6,
				Source: &shared.Source{Timestamp: time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)}})
			target := key
			if which == "checkpoint" {
				target = shared.CheckpointKey("audit", "mem", 10)
			}
			store.PutVersion("audit", target, make([]byte, archive.DefaultMaxObjectBytes+1))
			_, _, err := replayer.Prove(context.Background(), replayer.ProveConfig{S3: store, Bucket: "audit", Chain: "mem", VerifierKey: vkey},
				"d7", []replayer.EntryRef{{Seq: 8, Object: key, Line: 3}})
			if err != nil {
				t.Errorf("one oversized version over the sealed %s %s stops prove: %v", which, target, err)
			}
		})
	}
}
