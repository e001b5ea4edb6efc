package indexer_test

import (
	"strings"
	"testing"

	"github.com/aegisai/audit/indexer"
)

// earlyEntries: on chain prod, two overrides of decision dx sealed before
// it (o1 CHALLENGE at seq 1, o2 ALLOW at seq 2: its producer spooled dx
// through an outage while a review console recorded them), dx itself
// (BLOCK, seq 3), and an override after it (o3 REVIEW, seq 4).
func earlyEntries(t *testing.T) map[string]indexer.Sealed {
	t.Helper()
	prod := entriesOf(t, sealed(t,
		override(1, "dx", "CHALLENGE", "2026-11-27T10:05:00Z"),
		override(2, "dx", "ALLOW", "2026-11-27T10:04:00Z"), // an earlier time, a later seq
		decision("dx", "ux", "sx", "BLOCK", "2026-11-27T10:00:00Z"),
		override(3, "dx", "REVIEW", "2026-11-27T10:06:00Z"),
	))
	out := map[string]indexer.Sealed{}
	for i, n := range []string{"o1 early", "o2 early", "dx", "o3 late"} {
		out[n] = prod[i]
	}
	return out
}

// Attack (trial 32, item 1): the decision and the overrides sealed before
// it, indexed by two or three writers at once (a rebalance, a rebuild
// beside the live indexer), in separate batches, redelivered, or with a
// writer dying after its first write. Every interleaving must leave what
// one batch of them all leaves, and that must be the latest override by
// seq (docs/FORMAT.md section 11; README, "When things fail").
func TestAttack32InterleavingsOfOverridesSealedBeforeTheirDecision(t *testing.T) {
	all := earlyEntries(t)
	want := func(names []string) string { // the latest override by seq among names
		best, at := "BLOCK", uint64(0)
		for _, n := range names {
			if e := all[n]; strings.HasPrefix(n, "o") && e.Entry.Seq > at {
				best, at = map[string]string{"o1 early": "CHALLENGE", "o2 early": "ALLOW", "o3 late": "REVIEW"}[n], e.Entry.Seq
			}
		}
		return best
	}
	cases := []raceCase{
		{name: "decision, an early override", a: []string{"dx"}, b: []string{"o1 early"}},
		{name: "an early override, decision", a: []string{"o1 early"}, b: []string{"dx"}},
		{name: "decision with an early override, the later early override", a: []string{"dx", "o1 early"}, b: []string{"o2 early"}},
		{name: "the later early override, decision with the earlier", a: []string{"o2 early"}, b: []string{"dx", "o1 early"}},
		{name: "after an early override: decision, the later early override", pre: []string{"o1 early"}, a: []string{"dx"}, b: []string{"o2 early"}},
		{name: "after both: decision, the first redelivered", pre: []string{"o1 early", "o2 early"}, a: []string{"dx"}, b: []string{"o1 early"}},
		{name: "after all: the early ones redelivered apart", pre: []string{"o1 early", "o2 early", "dx"}, a: []string{"o1 early"}, b: []string{"o2 early"}},
		{name: "decision, a late override, an early one", a: []string{"dx"}, b: []string{"o3 late"}, c: []string{"o1 early"}},
		{name: "decision dying after its items, an early override", a: []string{"dx"}, b: []string{"o2 early"}, crash: "first write"},
		{name: "an early override dying after its items, decision", pre: []string{"o1 early"}, a: []string{"o2 early"}, b: []string{"dx"}, crash: "first write"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runs, failed := interleavings(t, all, c)
			t.Logf("%d interleavings, %d failed", runs, len(failed))
			for i, f := range failed {
				if i == 3 {
					t.Errorf("and %d more", len(failed)-3)
					break
				}
				t.Error(f)
			}
			names := append(append(append(append([]string{}, c.pre...), c.a...), c.b...), c.c...)
			one := serialTables(t, all, c)[0]
			for k, v := range one {
				if strings.HasPrefix(k, "PK#DECISION#dx SK#DECISION#") && !strings.Contains(v, "current_action:"+want(names)+" ") {
					t.Errorf("%s: one batch of %v leaves %s, want the latest override's state %s", c.name, names, v, want(names))
				}
			}
		})
	}
}
