package query_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/query"
)

// The user and session indexes hold every chain's decisions (their keys
// have no chain), and a reader of one chain filters the others out. A
// producer of another chain (a dev token of aegis ingest) chooses user
// and session ids freely: 400 dev decisions of a prod user, newer than
// its prod decision, made a page of that user's prod decisions cost one
// Query per limit + 1 dev items skipped (201 Queries for limit 1), so
// that each lookup of the user cost what the other chain chose to write.
// A page now reads the skipped items in as few Queries as DynamoDB's
// answer size allows.
func TestAnotherChainsDecisionsDoNotMultiplyAViewsQueries(t *testing.T) {
	ctx := context.Background()
	rd := index(t, "prod", []event{{id: "p1", user: "victim", session: "vs", action: "BLOCK", at: at(0)}})
	var spam []event
	for i := range 400 {
		spam = append(spam, event{id: fmt.Sprintf("x%d", i), user: "victim", session: "vs", action: "ALLOW", at: at(1 + i%50)})
	}
	apply(t, &indexer.Index{DB: rd.DB.(indexer.DynamoAPI), Table: rd.Table}, "dev", spam)
	counter := &scanCounter{DynamoAPI: rd.DB}
	r := *rd
	r.DB = counter
	for name, read := range map[string]func() (query.Page, error){
		"user":    func() (query.Page, error) { return r.ByUser(ctx, "victim", query.Range{Limit: 1}) },
		"session": func() (query.Page, error) { return r.BySession(ctx, "vs", query.Range{Limit: 1}) },
	} {
		counter.calls, counter.items = 0, 0
		pg, err := read()
		if err != nil || len(pg.Decisions) != 1 || pg.Decisions[0].DecisionID != "p1" || pg.Next != "" {
			t.Fatalf("%s: %+v %v; want prod's p1 alone", name, pg, err)
		}
		if counter.calls > 3 {
			t.Errorf("%s: a page of limit 1 made %d Queries reading %d items, past 400 of another chain; want at most 3", name, counter.calls, counter.items)
		}
	}
}

// The same for a decision's overrides: another chain's overrides of the
// decision id share its partition, and a page of the decision's own
// overrides read them a page's worth (limit + 3) at a time, keeping every
// one of them in memory and filtering the whole lot again after each
// Query (400 dev overrides: 101 Queries for a page of limit 1).
func TestAnotherChainsOverridesDoNotMultiplyAHistorysQueries(t *testing.T) {
	ctx := context.Background()
	rd := index(t, "prod", []event{{id: "d1", user: "u", session: "s", action: "BLOCK", at: at(0)}, {id: "d1", at: at(59), to: "ALLOW"}})
	var spam []event
	for i := range 400 {
		spam = append(spam, event{id: "d1", at: at(1 + i%50), to: "REVIEW"})
	}
	apply(t, &indexer.Index{DB: rd.DB.(indexer.DynamoAPI), Table: rd.Table}, "dev", spam)
	counter := &scanCounter{DynamoAPI: rd.DB}
	r := *rd
	r.DB = counter
	h, err := r.DecisionPage(ctx, "d1", query.OverridePage{Limit: 1})
	if err != nil || len(h.Overrides) != 1 || h.Overrides[0].NewAction != "ALLOW" || h.Next != "" || h.CurrentAction != "ALLOW" {
		t.Fatalf("%+v %v; want prod's d1 with its ALLOW override alone", h, err)
	}
	if counter.calls > 3 {
		t.Errorf("a page of limit 1 made %d Queries reading %d items, past 400 overrides of another chain; want at most 3", counter.calls, counter.items)
	}
}

// Another chain's decision events of the decision id (each with its own
// event id: a dev producer reusing a prod decision id as often as it
// likes, each reuse an anomaly of dev's) share the partition too, and
// sort before every override: a page of prod's decision, first or later,
// held every one of them, however few overrides it showed. A page now
// holds its chain's decision items, and one of each other chain's to name
// it.
func TestAnotherChainsDecisionsOfTheIDAreNotHeldByAHistory(t *testing.T) {
	ctx := context.Background()
	rd := index(t, "prod", []event{{id: "d1", user: "u", session: "s", action: "BLOCK", at: at(0)}, {id: "d1", at: at(58), to: "ALLOW"}, {id: "d1", at: at(59), to: "REVIEW"}})
	var spam []string
	for i := range 300 {
		spam = append(spam, decisionOn("dev", fmt.Sprintf("x-%d", i), "d1", "ALLOW", at(1+i%50)))
	}
	sealAndIndex(t, &indexer.Index{DB: rd.DB.(indexer.DynamoAPI), Table: rd.Table}, "dev", spam...)
	h, err := rd.DecisionPage(ctx, "d1", query.OverridePage{Limit: 1})
	if err != nil || h.Action != "BLOCK" || len(h.Conflicting) != 0 || len(h.Overrides) != 1 || h.Next == "" {
		t.Fatalf("%+v %v; want prod's d1 with a page of one override", h, err)
	}
	next := h.Next
	if h, err = rd.DecisionPage(ctx, "d1", query.OverridePage{Limit: 1, Cursor: next}); err != nil || len(h.Overrides) != 1 || h.Overrides[0].NewAction != "REVIEW" {
		t.Fatalf("second page %+v %v; want prod's REVIEW override", h, err)
	}
	first, _, err := layout.LoadHistory(ctx, rd.DB, rd.Table, "d1", "prod", "", 1)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := layout.LoadHistory(ctx, rd.DB, rd.Table, "d1", "prod", first.Overrides[0].SK, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Decisions) > 2 || len(second.Decisions) > 2 {
		t.Errorf("pages of limit 1 held %d and %d decision items past 300 dev decisions of the id; want prod's and one of dev's", len(first.Decisions), len(second.Decisions))
	}
	stage := &query.Reader{DB: rd.DB, Table: rd.Table, Chain: "stage"}
	var nf *query.NotFoundError
	if _, err := stage.DecisionPage(ctx, "d1", query.OverridePage{}); !errors.As(err, &nf) || len(nf.OtherChains) != 2 {
		t.Fatalf("d1 looked up on chain stage: %v; want not found, naming prod and dev", err)
	}
}
