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
)

// What the run past retention of verify --pruned (FORMAT.md 6.1) must
// not let through, on a whole chain (genesis 0, objects 1 and 4, their
// checkpoints 0, 3 and 6): only COMPLIANCE objects and checkpoints past
// their retention before the first object under it; GOVERNANCE or
// unlocked ones fail wherever they are, and so does anything past its
// retention without --pruned, and in Discover (which rebuild and index
// check read through).
func TestPrunedRunPastRetentionBounds(t *testing.T) {
	var v logVector
	for _, x := range logVectors(t, "../testdata/vectors/*.json") {
		if x.Name == "accept-log" {
			v = x
		}
	}
	now := time.Date(2033, 11, 28, 12, 0, 0, 0, time.UTC)
	const (
		genesis = "/genesis/env=prod/00000000000000000000.jsonl"
		obj1    = "/env=prod/00000000000000000001.jsonl"
		obj4    = "/env=prod/00000000000000000004.jsonl"
		cp0     = "/checkpoints/env=prod/00000000000000000000.note"
		cp3     = "/checkpoints/env=prod/00000000000000000003.note"
		cp6     = "/checkpoints/env=prod/00000000000000000006.note"
	)
	type lock struct {
		mode  types.ObjectLockMode // "" unlocked
		ended bool
	}
	ended := lock{types.ObjectLockModeCompliance, true}
	governance := lock{types.ObjectLockModeGovernance, true}
	governanceLive := lock{types.ObjectLockModeGovernance, false}
	unlocked := lock{}
	put := func(t *testing.T, locks map[string]lock, again ...string) *s3mem.S3 {
		store := s3mem.New("audit")
		p := func(key, body string) {
			l := lock{types.ObjectLockModeCompliance, false}
			for suffix, x := range locks {
				if strings.HasSuffix(key, suffix) {
					l = x
				}
			}
			in := &s3.PutObjectInput{Bucket: aws.String("audit"), Key: aws.String(key), Body: bytes.NewReader([]byte(body))}
			if l.mode != "" {
				until := now.Add(30 * 24 * time.Hour)
				if l.ended {
					until = now.Add(-time.Hour)
				}
				in.ObjectLockMode, in.ObjectLockRetainUntilDate = l.mode, aws.Time(until)
			}
			if _, err := store.PutObject(context.Background(), in); err != nil {
				t.Fatal(err)
			}
		}
		for _, o := range v.Objects {
			p(o.Key, o.Body)
		}
		// A key written again (same bytes, under retention: what anyone
		// with write access can put).
		for _, suffix := range again {
			for _, o := range v.Objects {
				if strings.HasSuffix(o.Key, suffix) && strings.Contains(o.Key, "env=prod") {
					delete(locks, suffix)
					p(o.Key, o.Body)
				}
			}
		}
		return store
	}
	verify := func(t *testing.T, pruned bool, locks map[string]lock, again ...string) (replayer.Report, error) {
		return replayer.Verify(context.Background(), replayer.Config{S3: put(t, locks, again...), Bucket: "audit", Prefix: v.Prefix, Chain: v.Chain,
			VerifierKey: v.VerifierKey, Pruned: pruned, Now: func() time.Time { return now }})
	}
	for _, c := range []struct {
		name   string
		pruned bool
		locks  map[string]lock
		again  []string
		past   int    // accepted, with this many past retention
		reason string // or fails, saying this
	}{
		{name: "genesis and its checkpoint past retention", pruned: true, locks: map[string]lock{genesis: ended, cp0: ended}, past: 2},
		{name: "a run of two objects and their checkpoints", pruned: true, locks: map[string]lock{genesis: ended, cp0: ended, obj1: ended, cp3: ended}, past: 4},
		{name: "without --pruned", locks: map[string]lock{genesis: ended}, reason: "retention ended"},
		{name: "a checkpoint without --pruned", locks: map[string]lock{cp0: ended}, reason: "retention ended"},
		{name: "a GOVERNANCE genesis past retention", pruned: true, locks: map[string]lock{genesis: governance}, reason: "GOVERNANCE"},
		{name: "a GOVERNANCE genesis under retention", pruned: true, locks: map[string]lock{genesis: governanceLive}, reason: "GOVERNANCE"},
		{name: "an unlocked genesis", pruned: true, locks: map[string]lock{genesis: unlocked}, reason: "want COMPLIANCE"},
		{name: "a GOVERNANCE checkpoint in the run", pruned: true, locks: map[string]lock{genesis: ended, cp0: governance}, reason: "GOVERNANCE"},
		{name: "an unlocked checkpoint in the run", pruned: true, locks: map[string]lock{genesis: ended, cp0: unlocked}, reason: "want COMPLIANCE"},
		{name: "an object past retention after one under it", pruned: true, locks: map[string]lock{obj1: ended}, reason: "retention ended"},
		{name: "a gap in the run", pruned: true, locks: map[string]lock{genesis: ended, obj4: ended}, reason: "retention ended"},
		{name: "the checkpoint of an object under retention", pruned: true, locks: map[string]lock{genesis: ended, cp3: ended}, reason: "retention ended"},
		{name: "the head's checkpoint", pruned: true, locks: map[string]lock{cp6: ended}, reason: "retention ended"},
		{name: "every object past retention", pruned: true, locks: map[string]lock{genesis: ended, cp0: ended, obj1: ended, cp3: ended, obj4: ended, cp6: ended}, reason: "retention ended"},
		{name: "an object of the run written again", pruned: true, locks: map[string]lock{genesis: ended, obj1: ended}, again: []string{obj1}, reason: "written again"},
		{name: "the object after the run written again", pruned: true, locks: map[string]lock{genesis: ended}, again: []string{obj1}, reason: "written again"},
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
		_, err := replayer.Discover(context.Background(), replayer.DiscoverConfig{S3: put(t, map[string]lock{key: ended}), Bucket: "audit", Prefix: v.Prefix,
			Chain: v.Chain, VerifierKey: v.VerifierKey, From: time.Unix(0, 0), To: now, Now: func() time.Time { return now }}, func(replayer.Found) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "retention ended") {
			t.Fatalf("discover of a chain with %s past its retention: %v", key, err)
		}
	}
}
