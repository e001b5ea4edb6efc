package indexer_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/shared"
)

var stack *localstack.Stack

func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m, &stack)) }

func newIndex(t *testing.T) (*indexer.Index, *query.Reader) {
	t.Helper()
	ctx := context.Background()
	db, err := stack.DynamoDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	table := localstack.Name("index")
	if err := layout.EnsureTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	return &indexer.Index{DB: db, Table: table}, &query.Reader{DB: db, Table: table}
}

// sealed builds the sealed records of events chained from genesis.
func sealed(t *testing.T, events ...string) []*shared.SealedRecord {
	t.Helper()
	raws := make([][]byte, len(events))
	for i, ev := range events {
		raws[i] = []byte(ev)
	}
	_, recs, err := pipeline.SealInMemory("prod", raws, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func decision(id, user, session, action, at string) string {
	return fmt.Sprintf(`{"type":"decision","event_id":"e-%s","environment":"prod","occurred_at":%q,"decision":{"decision_id":%q,"action":%q,"confidence_score":0.8,"policy_version":"p","user_id":%q,"session_id":%q}}`,
		id, at, id, action, user, session)
}

func override(n int, id, action, at string) string {
	return fmt.Sprintf(`{"type":"override","event_id":"o-%d","environment":"prod","occurred_at":%q,"override":{"decision_id":%q,"reviewer_id":"r","new_action":%q,"reason":"checked"}}`,
		n, at, id, action)
}

func TestApplyIsIdempotentAndOrderFree(t *testing.T) {
	recs := sealed(t,
		decision("d1", "u1", "s1", "BLOCK", "2026-11-27T10:00:00Z"),
		override(1, "d1", "CHALLENGE", "2026-11-27T10:05:00Z"),
		override(2, "d1", "ALLOW", "2026-11-27T10:09:00Z"),
	)
	orders := map[string][]int{
		"in order":                  {0, 1, 2},
		"overrides first":           {2, 1, 0},
		"redelivered":               {0, 1, 1, 2, 0, 2},
		"latest override in middle": {2, 0, 1},
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ix, rd := newIndex(t)
			for _, i := range order {
				if err := ix.Apply(ctx, recs[i]); err != nil {
					t.Fatal(err)
				}
			}
			d, err := rd.Decision(ctx, "d1")
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != "BLOCK" || d.CurrentAction != "ALLOW" || len(d.Overrides) != 2 || d.CurrentSeq != 3 {
				t.Fatalf("decision %+v: want BLOCK, now ALLOW (seq 3) after 2 overrides", d)
			}
			if d.Proof.Seq != 1 || !strings.HasSuffix(d.Proof.Object, "/env=prod/00000000000000000001.jsonl") || d.Proof.Line != 1 || d.Proof.Hash == "" {
				t.Fatalf("proof pointer %+v", d.Proof)
			}
			hw, ok, err := ix.HighWater(ctx, "prod")
			if err != nil || !ok || hw != 3 {
				t.Fatalf("high-water %d %v %v, want 3", hw, ok, err)
			}
		})
	}
}

// The index never differs from S3 silently: an event sealed twice is held
// once and listed; a reused event id or decision id keeps both versions
// reachable and is listed as a conflict.
func TestDuplicatesAndConflictsAreRecorded(t *testing.T) {
	ctx := context.Background()
	ix, rd := newIndex(t)
	var seen []indexer.Anomaly
	ix.OnAnomaly = func(a indexer.Anomaly) { seen = append(seen, a) }
	first := decision("d1", "u1", "s1", "BLOCK", "2026-11-27T10:00:00Z")
	// The same decision id and time under a new event id: a second decision.
	second := strings.Replace(first, `"event_id":"e-d1"`, `"event_id":"e-d1-again"`, 1)
	second = strings.Replace(second, `"action":"BLOCK"`, `"action":"ALLOW"`, 1)
	// Another event under event id e-d1: an event id reused.
	reused := strings.Replace(decision("d2", "u1", "s1", "ALLOW", "2026-11-27T10:01:00Z"), `"event_id":"e-d2"`, `"event_id":"e-d1"`, 1)
	recs := sealed(t, first, first, second, reused)
	for _, order := range [][]int{{0, 1, 2, 3}, {0, 1, 2, 3, 1, 0, 3}} {
		for _, i := range order {
			if err := ix.Apply(ctx, recs[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	d, err := rd.Decision(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Proof.Seq != 1 || d.EventID != "e-d1" || len(d.Conflicting) != 1 || d.Conflicting[0].Proof.Seq != 3 || d.Conflicting[0].Action != "ALLOW" {
		t.Fatalf("decision d1: %+v; want seq 1 with seq 3 conflicting, and the duplicate at seq 2 not indexed", d)
	}
	if d2, err := rd.Decision(ctx, "d2"); err != nil || d2.Proof.Seq != 4 {
		t.Fatalf("decision d2 (event id reused): %+v %v, want indexed", d2, err)
	}
	pg, err := rd.ByUser(ctx, "u1", query.Range{Limit: 10})
	if err != nil || len(pg.Decisions) != 3 {
		t.Fatalf("user view %v %v: want the three decisions (d1 twice, d2)", pg.IDs(), err)
	}
	got, err := ix.Anomalies(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[indexer.AnomalyKind]uint64{}
	for _, a := range got {
		kinds[a.Kind] = a.Seq
	}
	want := map[indexer.AnomalyKind]uint64{indexer.AnomalyDuplicateEvent: 2, indexer.AnomalyDecisionIDReused: 3, indexer.AnomalyEventIDReused: 4}
	if len(got) != 3 || fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("anomalies %+v, want %v", got, want)
	}
	if len(seen) != 3 {
		t.Fatalf("OnAnomaly called %d times for 3 anomalies applied twice", len(seen))
	}
}

// Overrides delivered out of order, in batches of any split, and delivered
// again never lower a decision's current state: after every batch it is
// the latest override applied so far (by seq), or higher.
func TestBatchesNeverRegressCurrentState(t *testing.T) {
	recs := sealed(t,
		decision("d1", "u1", "s1", "BLOCK", "2026-11-27T10:00:00Z"),
		override(1, "d1", "CHALLENGE", "2026-11-27T10:05:00Z"),
		override(2, "d1", "ALLOW", "2026-11-27T10:09:00Z"),
		override(3, "d1", "REVIEW", "2026-11-27T10:09:00Z"), // same time as the one before: seq decides
		decision("d2", "u1", "s1", "ALLOW", "2026-11-27T10:00:00Z"),
	)
	actions := []string{"BLOCK", "CHALLENGE", "ALLOW", "REVIEW"}
	entries := make([]indexer.Sealed, len(recs))
	for i, r := range recs {
		e, err := shared.ParseLine(r.Entry)
		if err != nil {
			t.Fatal(err)
		}
		entries[i] = indexer.Sealed{Entry: e, Record: r}
	}
	deliveries := map[string][][]int{
		"newest override first, alone":      {{3}, {0}, {1, 2}, {0, 1, 2, 3, 4}},
		"all at once, reversed, twice":      {{4, 3, 2, 1, 0, 3, 2, 1, 0}},
		"decision last":                     {{2, 1}, {3}, {0, 4}},
		"older overrides after the newest":  {{0, 3}, {1}, {2}, {1, 2, 3, 4}},
		"one by one, redelivered each time": {{0}, {0, 1}, {1, 2}, {2, 3}, {3, 4}},
	}
	for name, batches := range deliveries {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ix, rd := newIndex(t)
			applied := map[int]bool{}
			var lastSeq uint64
			for _, b := range batches {
				var batch []indexer.Sealed
				for _, i := range b {
					batch = append(batch, entries[i])
					applied[i] = true
				}
				if _, err := ix.ApplyBatch(ctx, batch); err != nil {
					t.Fatal(err)
				}
				if !applied[0] {
					continue
				}
				d, err := rd.Decision(ctx, "d1")
				if err != nil {
					t.Fatal(err)
				}
				want := uint64(1) // the decision's own seq, or its latest override's
				for i := 1; i <= 3; i++ {
					if applied[i] {
						want = uint64(i + 1)
					}
				}
				if d.CurrentSeq < lastSeq || d.CurrentSeq != want || d.CurrentAction != actions[want-1] {
					t.Fatalf("after batch %v: current %s (seq %d), before seq %d; want %s (seq %d)", b, d.CurrentAction, d.CurrentSeq, lastSeq, actions[want-1], want)
				}
				lastSeq = d.CurrentSeq
				if d.Action != "BLOCK" {
					t.Fatalf("decision %+v: its own action changed", d)
				}
			}
			d, err := rd.Decision(ctx, "d1")
			if err != nil || len(d.Overrides) != 3 || d.CurrentAction != "REVIEW" {
				t.Fatalf("final %+v %v: want 3 overrides, REVIEW", d, err)
			}
			if d2, err := rd.Decision(ctx, "d2"); err != nil || d2.CurrentAction != "ALLOW" || len(d2.Overrides) != 0 {
				t.Fatalf("d2 %+v %v", d2, err)
			}
		})
	}
}
