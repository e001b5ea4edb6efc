package indexer_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/shared"
)

var stack *localstack.Stack

func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m, &stack)) }

func newIndex(t *testing.T) *indexer.Index {
	t.Helper()
	ctx := context.Background()
	db, err := stack.DynamoDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	table := localstack.Name("index")
	if err := indexer.EnsureTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	return &indexer.Index{DB: db, Table: table}
}

// sealed builds the sealed records of events chained from genesis.
func sealed(t *testing.T, events ...string) []*shared.SealedRecord {
	t.Helper()
	_, vkey, err := note.GenerateKey(rand.Reader, "k")
	if err != nil {
		t.Fatal(err)
	}
	g, err := shared.NewGenesis("prod", time.Now(), "k", vkey)
	if err != nil {
		t.Fatal(err)
	}
	head := shared.Head{Chain: "prod", Hash: g.Hash, Offset: -1}
	var out []*shared.SealedRecord
	for i, raw := range events {
		e, err := shared.SealRecord(head, shared.Source{Topic: "decisions", Offset: int64(i), Timestamp: time.Now()}, []byte(raw), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if e.Type != shared.EntryEvent {
			t.Fatalf("event %d sealed as %s: %s", i, e.Type, e.Invalid.Reason)
		}
		line, _ := e.Line()
		out = append(out, &shared.SealedRecord{Object: "audit/x.jsonl", Line: i + 1, Entry: line})
		head = head.Next(e)
	}
	return out
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
			ix := newIndex(t)
			for _, i := range order {
				if err := ix.Apply(ctx, recs[i]); err != nil {
					t.Fatal(err)
				}
			}
			d, err := ix.Decision(ctx, "d1")
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != "BLOCK" || d.CurrentAction != "ALLOW" || len(d.Overrides) != 2 || d.CurrentSeq != 3 {
				t.Fatalf("decision %+v: want BLOCK, now ALLOW (seq 3) after 2 overrides", d)
			}
			if d.Seq != 1 || d.Object != "audit/x.jsonl" || d.Line != 1 || d.Hash == "" {
				t.Fatalf("proof pointer %+v", d.Proof)
			}
			hw, ok, err := ix.HighWater(ctx, "prod")
			if err != nil || !ok || hw != 3 {
				t.Fatalf("high-water %d %v %v, want 3", hw, ok, err)
			}
		})
	}
}

func TestViewsAreNewestFirstAndPaginated(t *testing.T) {
	ctx := context.Background()
	ix := newIndex(t)
	var evs []string
	for i := range 12 {
		evs = append(evs, decision(fmt.Sprintf("d%02d", i), "u1", fmt.Sprintf("s%d", i%2), "ALLOW", fmt.Sprintf("2026-11-27T10:%02d:00Z", i)))
	}
	evs = append(evs, decision("other", "u2", "s0", "ALLOW", "2026-11-27T11:00:00Z"))
	for _, r := range sealed(t, evs...) {
		if err := ix.Apply(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		pg, err := ix.ByUser(ctx, "u1", 5, cursor)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, pg.IDs()...)
		if pg.Next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		cursor = pg.Next
	}
	if len(got) != 12 || got[0] != "d11" || got[11] != "d00" {
		t.Fatalf("user view %v: want d11..d00", got)
	}
	pg, err := ix.BySession(ctx, "s0", 50, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(pg.Decisions) != 7 || pg.Decisions[0].DecisionID != "other" {
		t.Fatalf("session view %v: want 7, newest first", pg.IDs())
	}
	if _, err := ix.ByUser(ctx, "u1", 5, "not-a-cursor!"); err == nil {
		t.Fatal("a bad cursor was accepted")
	}
	if _, err := ix.Decision(ctx, "missing"); !errors.Is(err, indexer.ErrNotFound) {
		t.Fatalf("missing decision: %v", err)
	}
}

// The index never differs from S3 silently: an event sealed twice is held
// once and listed; a reused event id or decision id keeps both versions
// reachable and is listed as a conflict.
func TestDuplicatesAndConflictsAreRecorded(t *testing.T) {
	ctx := context.Background()
	ix := newIndex(t)
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
	d, err := ix.Decision(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Seq != 1 || d.EventID != "e-d1" || len(d.Conflicting) != 1 || d.Conflicting[0].Seq != 3 || d.Conflicting[0].Action != "ALLOW" {
		t.Fatalf("decision d1: %+v; want seq 1 with seq 3 conflicting, and the duplicate at seq 2 not indexed", d)
	}
	if d2, err := ix.Decision(ctx, "d2"); err != nil || d2.Seq != 4 {
		t.Fatalf("decision d2 (event id reused): %+v %v, want indexed", d2, err)
	}
	pg, err := ix.ByUser(ctx, "u1", 10, "")
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
