package replayer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/internal/testbed/s3mem"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// putForgedAfter is what someone with write access to the bucket (no
// key) writes after the entry at seq of the object at key: one entry of
// its own, linked to that entry, at the batch key of day (a key of its
// own), locked in COMPLIANCE until a month after now. It returns its key.
func putForgedAfter(t *testing.T, store *s3mem.S3, key string, firstSeq uint64, day, now time.Time) string {
	t.Helper()
	sealed, _, err := shared.ParseObject(key, firstSeq, store.Objects("audit")[key])
	if err != nil {
		t.Fatal(err)
	}
	last := sealed[len(sealed)-1]
	head := shared.Head{Chain: last.Chain, Seq: last.Seq, Hash: last.Hash, Offset: last.Source.Offset}
	raw := `{"type":"decision","event_id":"forged","environment":"prod","occurred_at":"2026-11-29T08:00:00Z","decision":{"decision_id":"forged","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`
	e, err := shared.SealRecord(head, shared.Source{Topic: last.Source.Topic, Partition: last.Source.Partition, Offset: last.Source.Offset + 1, Timestamp: day}, []byte(raw), day)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := e.Line()
	forged := shared.BatchKey("audit", e)
	if _, err := store.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("audit"), Key: aws.String(forged), Body: bytes.NewReader(append(l, '\n')),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(now.Add(30 * 24 * time.Hour))}); err != nil {
		t.Fatal(err)
	}
	return forged
}

// A chain whose every object is past its retention fails verify --pruned
// (FORMAT.md 6.1): nothing is locked any more, so its newest objects and
// checkpoints could have been deleted without a trace. Someone with write
// access to the bucket (no key) took that rule away with one object: the
// head's object and checkpoint put under delete markers (or their
// versions deleted: their retention has ended), and an object of their
// own, under a retention of their own, linked to the entry before at a
// key of its own. The run past retention then ended at a live object, so
// the chain passed with the forged entry as its unsigned head (exit 2, 0
// with --allow-unsigned), and the entries the head's checkpoint signed
// gone without a word. An object an attacker can put is no evidence that
// the chain is still sealed: what counts is one under its retention that
// a checkpoint signs.
func TestPrunedDeadChainNotRevivedByAnUnsignedObject(t *testing.T) {
	v := vectorNamed(t, "accept-log") // genesis 0, objects 1-3 (11-27) and 4-6 (11-28), checkpoints 0, 3, 6
	now := time.Date(2033, 11, 28, 12, 0, 0, 0, time.UTC)
	first, second := "audit/year=2026/month=11/day=27/env=prod/00000000000000000001.jsonl", "audit/year=2026/month=11/day=28/env=prod/00000000000000000004.jsonl"
	cp6 := shared.CheckpointKey("audit", "prod", 6)
	all := map[string]objLock{}
	for _, o := range v.Objects {
		all[o.Key] = pastRetain
	}
	for _, how := range []string{"delete markers", "versions deleted"} {
		t.Run(how, func(t *testing.T) {
			store := lockedLog(t, v, now, bySuffix(all))
			if _, err := verifyAt(store, v, now, true); err == nil || !strings.Contains(err.Error(), "no object of the chain is still under its retention") {
				t.Fatalf("the whole chain past its retention: %v", err)
			}
			for _, k := range []string{second, cp6} {
				if how == "delete markers" {
					store.Delete("audit", k)
				} else {
					store.Remove("audit", k)
				}
			}
			forged := putForgedAfter(t, store, first, 1, time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC), now)
			rep, err := verifyAt(store, v, now, true)
			if err == nil || !strings.Contains(err.Error(), "no object of the chain that a checkpoint signs is still under its retention") {
				t.Fatalf("head cut and %s appended: %v (head %d, signed to %d, %d unsigned), want the chain refused as one nothing locks",
					forged, err, rep.Head.Seq, rep.CheckpointedSeq, rep.Unsigned)
			}
		})
	}
	// A chain still sealed keeps an object under its retention that a
	// checkpoint signs: an object put after its head is its unsigned
	// tail (FORMAT.md 7.3), as before.
	live := map[string]objLock{shared.GenesisKey("audit", "prod"): pastRetain, first: pastRetain, shared.CheckpointKey("audit", "prod", 0): pastRetain, shared.CheckpointKey("audit", "prod", 3): pastRetain}
	store := lockedLog(t, v, now, bySuffix(live))
	putForgedAfter(t, store, second, 4, time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC), now)
	if rep, err := verifyAt(store, v, now, true); err != nil || rep.Unsigned != 1 || rep.CheckpointedSeq != 6 || rep.PastRetention != 4 {
		t.Fatalf("a chain under its retention with an unsigned tail: %v (signed to %d, %d unsigned, %d past retention)", err, rep.CheckpointedSeq, rep.Unsigned, rep.PastRetention)
	}
}

// An S3 lifecycle rule (README's) leaves a delete marker over every
// object and checkpoint it expired until, a day or two later, the
// versions under them and then the markers alone are deleted: a chain
// that seals a few hundred objects a day (the sealer seals one a second
// under steady traffic) has more than archive.MaxRewrittenKept keys under
// markers at any time. verify --pruned judges at most that many in a run
// and fails the rest ("more keys were written again or deleted than one
// run judges"), so such a chain pruned by that rule fails every day, as
// before revision 2026-11-30.4. Here the versions under the markers of
// the oldest day are deleted already, the markers not yet.
func TestPrunedByMoreDeleteMarkersThanOneRunKeeps(t *testing.T) {
	store, v, now := manyMarkers(t)
	rep, err := verifyAt(store, v, now, true)
	if err != nil || rep.StartSeq != 4 || rep.PrunedMarkers != archive.MaxRewrittenKept+3 {
		t.Fatalf("%v: start %d, %d keys under markers taken as pruned", err, rep.StartSeq, rep.PrunedMarkers)
	}
}

// Every key of a chain under a delete marker over versions past their
// retention (an attacker's markers, or an expiration of the whole
// chain): verify --pruned said that no such chain exists and to check
// --chain, --bucket and --prefix, as for a name given wrong. The chain
// was there: the markers are named.
func TestPrunedEveryKeyUnderAMarkerIsNotNoSuchChain(t *testing.T) {
	v := vectorNamed(t, "accept-log")
	now := time.Date(2033, 11, 28, 12, 0, 0, 0, time.UTC)
	all := map[string]objLock{}
	for _, o := range v.Objects {
		all[o.Key] = pastRetain
	}
	store := lockedLog(t, v, now, bySuffix(all))
	for _, o := range v.Objects {
		if strings.Contains(o.Key, "env=prod") {
			store.Delete("audit", o.Key)
		}
	}
	_, err := verifyAt(store, v, now, true)
	if err == nil || errors.Is(err, replayer.ErrNoChain) || !strings.Contains(err.Error(), "delete marker") {
		t.Fatalf("%v, want the delete markers named, not no such chain", err)
	}
}

// manyMarkers is accept-log pruned to seq 4 by delete markers over
// versions past their retention, with MaxRewrittenKept more markers over
// keys whose versions are gone, and the time it is verified at.
func manyMarkers(t *testing.T) (*s3mem.S3, logVector, time.Time) {
	t.Helper()
	v := vectorNamed(t, "accept-log")
	now := time.Date(2033, 11, 28, 12, 0, 0, 0, time.UTC)
	genesis, first, cp0 := shared.GenesisKey("audit", "prod"), "audit/year=2026/month=11/day=27/env=prod/00000000000000000001.jsonl", shared.CheckpointKey("audit", "prod", 0)
	store := lockedLog(t, v, now, bySuffix(map[string]objLock{genesis: pastRetain, first: pastRetain, cp0: pastRetain}))
	for _, k := range []string{genesis, first, cp0} {
		store.Delete("audit", k)
	}
	for i := range archive.MaxRewrittenKept {
		store.Delete("audit", fmt.Sprintf("audit/year=2026/month=11/day=26/env=prod/%020d.jsonl", i+100))
	}
	return store, v, now
}

// The keys under delete markers are judged from the versions the listing
// pass gave (markersOfPruning): each was listed again alone before, a
// ListObjectVersions a marker (1,003 more here). `go test -run
// TestPrunedMarkersAreJudgedFromTheListing -v ./replayer` prints the
// requests.
func TestPrunedMarkersAreJudgedFromTheListing(t *testing.T) {
	store, v, now := manyMarkers(t)
	ops := map[string]int{}
	store.Fail = func(op, _ string) error { ops[op]++; return nil }
	rep, err := verifyAt(store, v, now, true)
	if err != nil || rep.PrunedMarkers != archive.MaxRewrittenKept+3 {
		t.Fatalf("%v, %d keys under markers taken as pruned", err, rep.PrunedMarkers)
	}
	t.Logf("verify --pruned with %d keys under markers: %v", rep.PrunedMarkers, ops)
	if ops["ListObjectVersions"] >= rep.PrunedMarkers {
		t.Fatalf("%d version listings for %d keys under markers: one a key", ops["ListObjectVersions"], rep.PrunedMarkers)
	}
}
