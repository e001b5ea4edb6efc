package indexer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/internal/localstack"
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
	g, err := shared.NewGenesis("prod", time.Now(), "k", "")
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
