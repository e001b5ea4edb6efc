package replayer_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// Verifying pruned chains against their Object Lock (FORMAT.md 6.1): the
// vectors hold no S3, so these put a vector's objects into an in-memory
// bucket with the locks each case needs.

// vectorNamed is the log vector of testdata/vectors called name.
func vectorNamed(t *testing.T, name string) logVector {
	t.Helper()
	for _, x := range logVectors(t, "../testdata/vectors/*.json") {
		if x.Name == name {
			return x
		}
	}
	t.Fatalf("no vector %s", name)
	return logVector{}
}

// objLock is how lockedLog stores one object: its lock mode ("" for
// none) and whether its retention has ended, or not at all (gone: its
// version deleted, no marker).
type objLock struct {
	mode  types.ObjectLockMode
	ended bool
	gone  bool
	hold  bool // a legal hold on it
}

var (
	live       = objLock{mode: types.ObjectLockModeCompliance}
	pastRetain = objLock{mode: types.ObjectLockModeCompliance, ended: true}
)

// lockedLog puts v's objects into a new bucket, each locked as lockOf
// says (live when it says nothing: ok false), retention ending a month
// after now or an hour before it.
func lockedLog(t *testing.T, v logVector, now time.Time, lockOf func(key string) (objLock, bool)) *s3mem.S3 {
	t.Helper()
	store := s3mem.New("audit")
	for _, o := range v.Objects {
		putLocked(t, store, o.Key, o.Body, now, lockOf)
	}
	return store
}

func putLocked(t *testing.T, store *s3mem.S3, key, body string, now time.Time, lockOf func(key string) (objLock, bool)) {
	t.Helper()
	l, ok := lockOf(key)
	if !ok {
		l = live
	}
	if l.gone {
		return
	}
	in := &s3.PutObjectInput{Bucket: aws.String("audit"), Key: aws.String(key), Body: bytes.NewReader([]byte(body))}
	if l.mode != "" {
		until := now.Add(30 * 24 * time.Hour)
		if l.ended {
			until = now.Add(-time.Hour)
		}
		in.ObjectLockMode, in.ObjectLockRetainUntilDate = l.mode, aws.Time(until)
	}
	if l.hold {
		in.ObjectLockLegalHoldStatus = types.ObjectLockLegalHoldStatusOn
	}
	if _, err := store.PutObject(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

// bySuffix is a lockOf of the keys ending in each suffix given.
func bySuffix(locks map[string]objLock) func(string) (objLock, bool) {
	return func(key string) (objLock, bool) {
		for suffix, l := range locks {
			if strings.HasSuffix(key, suffix) {
				return l, true
			}
		}
		return objLock{}, false
	}
}

// verifyAt verifies v's chain in store at now.
func verifyAt(store *s3mem.S3, v logVector, now time.Time, pruned bool) (replayer.Report, error) {
	return replayer.Verify(context.Background(), replayer.Config{S3: store, Bucket: "audit", Prefix: v.Prefix, Chain: v.Chain,
		VerifierKey: v.VerifierKey, Pruned: pruned, Now: func() time.Time { return now }})
}

// What a bucket pruned by an S3 lifecycle rule holds between its runs
// (FORMAT.md 6.1, COMPLIANCE.md): an expiration acts at day granularity
// after the object's creation, and the sealer writes objects all day, so
// at any time some of the oldest objects that remain are past their
// retention and not yet deleted. aegis verify --pruned takes those, in a
// run from the start of what remains, and counts them; an object past
// its retention after one still under it fails, as without --pruned
// (found by an attack on --pruned: it failed every lifecycle-pruned
// chain). The delete markers a lifecycle expiration leaves are not
// covered here: docs/LIMITS.md, "Pruned chains".
func TestPrunedChainPastItsRetention(t *testing.T) {
	v := vectorNamed(t, "accept-log-pruned")
	now := time.Date(2033, 11, 28, 12, 0, 0, 0, time.UTC)
	first := "audit/year=2026/month=11/day=28/env=prod/00000000000000000004.jsonl"
	rep, err := verifyAt(lockedLog(t, v, now, bySuffix(map[string]objLock{first: pastRetain, shared.CheckpointKey("audit", "prod", 6): pastRetain})), v, now, true)
	if err != nil || rep.StartSeq != 4 || rep.PastRetention != 2 {
		t.Fatalf("the oldest object and its checkpoint past their retention: start %d, %d past retention: %v", rep.StartSeq, rep.PastRetention, err)
	}
	// The second object past its retention while the first is under its
	// own: not what pruning leaves.
	second := "audit/year=2026/month=11/day=29/env=prod/00000000000000000007.jsonl"
	if _, err := verifyAt(lockedLog(t, v, now, bySuffix(map[string]objLock{second: pastRetain})), v, now, true); err == nil ||
		!strings.Contains(err.Error(), "retention ended") || !strings.Contains(err.Error(), second) {
		t.Fatalf("an object past its retention after one under it: %v", err)
	}
}

// A checkpoint left below the start of a pruned chain is one whose
// retention has ended: it was written with the objects that were deleted
// after theirs (a lifecycle rule that deletes the batch folders and keeps
// the checkpoints, or that has not reached them yet). It signs no entry
// that remains (FORMAT.md section 6.1: not counted), so the end of its
// retention is no reason to refuse the chain; before, every pruned chain
// that kept such a checkpoint failed ("object lock retention ended")
// until the checkpoint too was deleted. The retention of what remains
// from the start on is still checked.
func TestPrunedCheckpointBelowStartPastRetention(t *testing.T) {
	now := time.Date(2033, 11, 27, 12, 0, 0, 0, time.UTC)
	verify := func(name, suffix string) (replayer.Report, error) {
		v := vectorNamed(t, name)
		return verifyAt(lockedLog(t, v, now, bySuffix(map[string]objLock{suffix: pastRetain})), v, now, true)
	}
	below := "/checkpoints/env=prod/00000000000000000003.note" // seq 3, the start (4) minus 1
	rep, err := verify("accept-log-pruned-checkpoint-kept", below)
	if err != nil {
		t.Fatalf("the checkpoint of seq 3, below the start, past its retention: %v", err)
	}
	if rep.StartSeq != 4 || rep.CheckpointedSeq != 9 {
		t.Fatalf("report %+v", rep.LogReport)
	}
	// Past its retention, it is still checked as 6.1 says: one that signs
	// another hash than the start's prev fails.
	if _, err := verify("reject-log-pruned-checkpoint-mismatch", below); err == nil || !strings.Contains(err.Error(), "not of one chain") {
		t.Fatalf("a checkpoint of seq 3 past its retention that signs another hash: %v", err)
	}
	// A checkpoint from the start on past its retention still fails.
	if _, err := verify("accept-log-pruned-checkpoint-kept", "/checkpoints/env=prod/00000000000000000006.note"); err == nil ||
		!strings.Contains(err.Error(), "retention ended") {
		t.Fatalf("the checkpoint of seq 6, after the start, past its retention: %v", err)
	}
}

// The run past retention that verify --pruned takes (FORMAT.md 6.1) runs
// from the start up to the first object still under its retention. When
// no object is under it (an idle chain, or one verified long after), the
// run is the whole chain: nothing is under Object Lock any more, so
// anyone with write access to the bucket can delete the newest versions
// (the last objects and their checkpoints; no delete marker) and the
// truncated chain verified. Before 1ea5200 verify --pruned refused any
// object past its retention; what 6.1 lets pass is what pruning deletes
// next, which presumes an object still under retention after it: the
// head must be.
func TestPrunedAllPastRetentionTailDeleted(t *testing.T) {
	v := vectorNamed(t, "accept-log-pruned")
	now := time.Date(2033, 11, 28, 12, 0, 0, 0, time.UTC)
	allPast := func(deleted ...string) func(string) (objLock, bool) {
		return func(key string) (objLock, bool) {
			for _, d := range deleted {
				if strings.HasSuffix(key, d) {
					return objLock{gone: true}, true // its version deleted once its retention ended: no marker
				}
			}
			return pastRetain, true
		}
	}
	// The last object (seqs 7-9) and its checkpoint deleted.
	rep, err := verifyAt(lockedLog(t, v, now, allPast("/00000000000000000007.jsonl", "/00000000000000000009.note")), v, now, true)
	if err == nil || !strings.Contains(err.Error(), "retention ended") {
		t.Fatalf("every object past its retention, the newest deleted: verified to head %d (%d past retention): %v", rep.Head.Seq, rep.PastRetention, err)
	}
	// Nothing deleted: still no object under retention to say so.
	if _, err := verifyAt(lockedLog(t, v, now, allPast()), v, now, true); err == nil || !strings.Contains(err.Error(), "retention ended") {
		t.Fatalf("every object past its retention: %v", err)
	}
}

// What the run past retention of verify --pruned (FORMAT.md 6.1) must
// not let through, on a whole chain (genesis 0, objects 1 and 4, their
// checkpoints 0, 3 and 6): only COMPLIANCE objects and checkpoints past
// their retention before the first object under it; GOVERNANCE or
// unlocked ones fail wherever they are, and so does anything past its
// retention without --pruned, and in Discover (which rebuild and index
// check read through).
func TestPrunedRunPastRetentionBounds(t *testing.T) {
	v := vectorNamed(t, "accept-log")
	now := time.Date(2033, 11, 28, 12, 0, 0, 0, time.UTC)
	const (
		genesis = "/genesis/env=prod/00000000000000000000.jsonl"
		obj1    = "/env=prod/00000000000000000001.jsonl"
		obj4    = "/env=prod/00000000000000000004.jsonl"
		cp0     = "/checkpoints/env=prod/00000000000000000000.note"
		cp3     = "/checkpoints/env=prod/00000000000000000003.note"
		cp6     = "/checkpoints/env=prod/00000000000000000006.note"
	)
	ended, unlocked := pastRetain, objLock{}
	governance := objLock{mode: types.ObjectLockModeGovernance, ended: true}
	governanceLive := objLock{mode: types.ObjectLockModeGovernance}
	// put is the chain locked as locks say; each key of again is written
	// again (same bytes, under retention: what anyone with write access
	// can put).
	put := func(t *testing.T, locks map[string]objLock, again ...string) *s3mem.S3 {
		store := lockedLog(t, v, now, bySuffix(locks))
		for _, suffix := range again {
			for _, o := range v.Objects {
				if strings.HasSuffix(o.Key, suffix) && strings.Contains(o.Key, "env=prod") {
					putLocked(t, store, o.Key, o.Body, now, bySuffix(nil))
				}
			}
		}
		return store
	}
	verify := func(t *testing.T, pruned bool, locks map[string]objLock, again ...string) (replayer.Report, error) {
		return verifyAt(put(t, locks, again...), v, now, pruned)
	}
	for _, c := range []struct {
		name   string
		pruned bool
		locks  map[string]objLock
		again  []string
		past   int    // accepted, with this many past retention
		reason string // or fails, saying this
	}{
		{name: "genesis and its checkpoint past retention", pruned: true, locks: map[string]objLock{genesis: ended, cp0: ended}, past: 2},
		{name: "a run of two objects and their checkpoints", pruned: true, locks: map[string]objLock{genesis: ended, cp0: ended, obj1: ended, cp3: ended}, past: 4},
		{name: "without --pruned", locks: map[string]objLock{genesis: ended}, reason: "retention ended"},
		{name: "a checkpoint without --pruned", locks: map[string]objLock{cp0: ended}, reason: "retention ended"},
		{name: "a GOVERNANCE genesis past retention", pruned: true, locks: map[string]objLock{genesis: governance}, reason: "GOVERNANCE"},
		{name: "a GOVERNANCE genesis under retention", pruned: true, locks: map[string]objLock{genesis: governanceLive}, reason: "GOVERNANCE"},
		{name: "an unlocked genesis", pruned: true, locks: map[string]objLock{genesis: unlocked}, reason: "want COMPLIANCE"},
		{name: "a GOVERNANCE checkpoint in the run", pruned: true, locks: map[string]objLock{genesis: ended, cp0: governance}, reason: "GOVERNANCE"},
		{name: "an unlocked checkpoint in the run", pruned: true, locks: map[string]objLock{genesis: ended, cp0: unlocked}, reason: "want COMPLIANCE"},
		{name: "an object past retention after one under it", pruned: true, locks: map[string]objLock{obj1: ended}, reason: "retention ended"},
		{name: "a gap in the run", pruned: true, locks: map[string]objLock{genesis: ended, obj4: ended}, reason: "retention ended"},
		{name: "the checkpoint of an object under retention", pruned: true, locks: map[string]objLock{genesis: ended, cp3: ended}, reason: "retention ended"},
		{name: "the head's checkpoint", pruned: true, locks: map[string]objLock{cp6: ended}, reason: "retention ended"},
		{name: "every object past retention", pruned: true, locks: map[string]objLock{genesis: ended, cp0: ended, obj1: ended, cp3: ended, obj4: ended, cp6: ended}, reason: "retention ended"},
		{name: "an object of the run written again", pruned: true, locks: map[string]objLock{genesis: ended, obj1: ended}, again: []string{obj1}, reason: "written again"},
		{name: "the object after the run written again", pruned: true, locks: map[string]objLock{genesis: ended}, again: []string{obj1}, reason: "written again"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, err := verify(t, c.pruned, c.locks, c.again...)
			if c.reason == "" {
				if err != nil || rep.PastRetention != c.past {
					t.Fatalf("%d past retention (want %d): %v", rep.PastRetention, c.past, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("want a failure saying %q: %v", c.reason, err)
			}
		})
	}
	// Discover (and rebuild and index check, through the same read) takes
	// no batch object past its retention, first or not (it reads no
	// genesis body).
	for _, key := range []string{obj1, obj4} {
		_, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: put(t, map[string]objLock{key: ended}), Bucket: "audit", Prefix: v.Prefix,
			Chain: v.Chain, VerifierKey: v.VerifierKey, From: time.Unix(0, 0), To: now, Now: func() time.Time { return now }}, func(replayer.Found) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "retention ended") {
			t.Fatalf("discover of a chain with %s past its retention: %v", key, err)
		}
	}
}

// An S3 lifecycle rule prunes with delete markers: its expiration puts a
// marker over each object and checkpoint it expires, and a noncurrent
// version expiration deletes the version under it once the retention
// allows (then, with ExpiredObjectDeleteMarker, the marker). Between the
// two, verify --pruned failed on every marker ("a delete marker hides the
// sealed object"), so a chain pruned that way failed every day. A marker
// whose versions are all past their COMPLIANCE retention (or gone) is now
// taken as the key's deletion (FORMAT.md 6.1); one over a version still
// under retention is not pruning and fails, as does a marker that leaves
// a hole or cuts the chain's newest object off.
func TestPrunedByDeleteMarkers(t *testing.T) {
	v := vectorNamed(t, "accept-log") // genesis 0, objects 1-3 and 4-6, checkpoints 0, 3, 6
	now := time.Date(2033, 11, 28, 12, 0, 0, 0, time.UTC)
	genesis, first, second := shared.GenesisKey("audit", "prod"), "audit/year=2026/month=11/day=27/env=prod/00000000000000000001.jsonl",
		"audit/year=2026/month=11/day=28/env=prod/00000000000000000004.jsonl"
	cp := func(seq uint64) string { return shared.CheckpointKey("audit", "prod", seq) }
	for _, tc := range []struct {
		name     string
		past     []string // versions past their retention
		marked   []string // keys under a delete marker
		lone     []string // keys whose versions were deleted under their marker
		pruned   bool
		want     string // "" verifies
		markers  int
		startSeq uint64
	}{
		{"expired: the oldest object, the genesis and its checkpoint", []string{genesis, first, cp(0)}, []string{genesis, first, cp(0)}, nil, true, "", 3, 4},
		{"not asked", []string{genesis, first, cp(0)}, []string{genesis, first, cp(0)}, nil, false, "a delete marker", 0, 0},
		{"the checkpoint before the start expired too", []string{genesis, first, cp(0), cp(3)}, []string{genesis, first, cp(0), cp(3)}, nil, true, "", 4, 4},
		{"versions already deleted under their markers", nil, []string{genesis, first, cp(0)}, []string{genesis, first, cp(0)}, true, "", 3, 4},
		{"a marker over a version under retention", []string{genesis, cp(0)}, []string{genesis, first, cp(0)}, nil, true, "pruning cannot have deleted", 0, 0},
		{"a marker over a version on legal hold", []string{genesis, first + "#hold", cp(0)}, []string{genesis, first, cp(0)}, nil, true, "a legal hold is on it", 0, 0},
		{"a marker over the newest object", []string{second}, []string{second}, nil, true, "entries are missing", 0, 0},
		{"a marker leaving a hole after the genesis", []string{first}, []string{first}, nil, true, "no object in the bucket holds seqs 1 to 3", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			locks := map[string]objLock{}
			for _, k := range tc.past {
				if k, held := strings.CutSuffix(k, "#hold"); held {
					locks[k] = objLock{mode: types.ObjectLockModeCompliance, ended: true, hold: true}
					continue
				}
				locks[k] = pastRetain
			}
			store := lockedLog(t, v, now, bySuffix(locks))
			for _, k := range tc.lone {
				store.Remove("audit", k)
			}
			for _, k := range tc.marked {
				store.Delete("audit", k)
			}
			rep, err := verifyAt(store, v, now, tc.pruned)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%v, want a failure saying %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.PrunedMarkers != tc.markers || rep.StartSeq != tc.startSeq || rep.Head.Seq != 6 {
				t.Fatalf("%d keys under markers taken as pruned, start %d, head %d; want %d, %d, 6", rep.PrunedMarkers, rep.StartSeq, rep.Head.Seq, tc.markers, tc.startSeq)
			}
		})
	}
}
