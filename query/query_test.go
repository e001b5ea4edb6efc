package query_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/query"
)

var stack *localstack.Stack

func TestMain(m *testing.M) { os.Exit(localstack.RunTests(m, &stack)) }

// event is a decision (override when to != "") to seal.
type event struct {
	id, user, session, action, at, to string
}

func (ev event) json(chain string, n int) string {
	if ev.to != "" {
		return fmt.Sprintf(`{"type":"override","event_id":"o-%d","environment":%q,"occurred_at":%q,"override":{"decision_id":%q,"reviewer_id":"r","new_action":%q,"reason":"checked"}}`,
			n, chain, ev.at, ev.id, ev.to)
	}
	return fmt.Sprintf(`{"type":"decision","event_id":"e-%s","environment":%q,"occurred_at":%q,"decision":{"decision_id":%q,"action":%q,"confidence_score":0.8,"policy_version":"p","user_id":%q,"session_id":%q,"metadata":{"k":[1,"x"]}}}`,
		ev.id, chain, ev.at, ev.id, ev.action, ev.user, ev.session)
}

// index seals events on chain (from genesis) and indexes them into a new
// table with the indexer's own code; it returns a reader of the table.
func index(t *testing.T, chain string, events []event) *query.Reader {
	t.Helper()
	ctx := context.Background()
	db, err := stack.DynamoDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	table := localstack.Name("query")
	if err := layout.EnsureTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	apply(t, &indexer.Index{DB: db, Table: table}, chain, events)
	return &query.Reader{DB: db, Table: table, Chain: chain}
}

func apply(t *testing.T, ix *indexer.Index, chain string, events []event) {
	t.Helper()
	raws := make([]string, len(events))
	for i, ev := range events {
		raws[i] = ev.json(chain, i)
	}
	sealAndIndex(t, ix, chain, raws...)
}

func at(minute int) string { return fmt.Sprintf("2026-11-27T10:%02d:00Z", minute) }

// all reads every page of a view and checks each page's size.
func all(t *testing.T, read func(query.Range) (query.Page, error), rg query.Range) (ids []string, pages int) {
	t.Helper()
	for {
		pg, err := read(rg)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(pg.Decisions) > rg.Limit || (pg.Next != "" && len(pg.Decisions) != rg.Limit) {
			t.Fatalf("page %d has %d decisions (limit %d, next %q)", pages, len(pg.Decisions), rg.Limit, pg.Next)
		}
		ids = append(ids, pg.IDs()...)
		if pg.Next == "" {
			return ids, pages
		}
		if pages > 100 {
			t.Fatal("pagination does not end")
		}
		rg.Cursor = pg.Next
	}
}

// Users and sessions with 0, 1, page-size and page-size+1 decisions come
// back exactly, newest first, in the fewest pages (no empty last page).
func TestViewsReturnExactSetsAcrossPages(t *testing.T) {
	const pageSize = 4
	var events []event
	want := map[string][]string{} // user -> ids newest first
	for _, n := range []int{1, pageSize, pageSize + 1, 2*pageSize + 1} {
		user := fmt.Sprintf("u%d", n)
		for i := range n {
			id := fmt.Sprintf("%s-d%d", user, i)
			events = append(events, event{id: id, user: user, session: "s-" + user, action: "ALLOW", at: at(i)})
			want[user] = append([]string{id}, want[user]...)
		}
	}
	// Another chain's decision of the same user is not answered.
	rd := index(t, "prod", events)
	apply(t, &indexer.Index{DB: rd.DB.(indexer.DynamoAPI), Table: rd.Table}, "dev", []event{{id: "dev-d", user: "u1", session: "s-u1", action: "BLOCK", at: at(30)}})
	ctx := context.Background()
	for _, user := range []string{"u0", "u1", "u4", "u5", "u9"} {
		n := len(want[user])
		for name, read := range map[string]func(query.Range) (query.Page, error){
			"user":    func(rg query.Range) (query.Page, error) { return rd.ByUser(ctx, user, rg) },
			"session": func(rg query.Range) (query.Page, error) { return rd.BySession(ctx, "s-"+user, rg) },
		} {
			got, pages := all(t, read, query.Range{Limit: pageSize})
			if !slices.Equal(got, want[user]) {
				t.Fatalf("%s %s: %v, want %v", name, user, got, want[user])
			}
			if wantPages := max(1, (n+pageSize-1)/pageSize); pages != wantPages {
				t.Fatalf("%s %s: %d decisions in %d pages, want %d", name, user, n, pages, wantPages)
			}
		}
	}
	// A time range: since inclusive, until exclusive, across pages.
	since, _ := time.Parse(time.RFC3339, at(2))
	until, _ := time.Parse(time.RFC3339, at(7))
	got, _ := all(t, func(rg query.Range) (query.Page, error) { return rd.ByUser(ctx, "u9", rg) }, query.Range{Limit: 2, Since: since, Until: until})
	if !slices.Equal(got, []string{"u9-d6", "u9-d5", "u9-d4", "u9-d3", "u9-d2"}) {
		t.Fatalf("u9 from %s to %s: %v", since, until, got)
	}
}

// Decisions of the same time come out by seq (newest first), not by id.
func TestSameTimeIsOrderedBySeq(t *testing.T) {
	ids := []string{"m", "z", "a", "q"} // sealed in this order, all at one time
	var events []event
	for _, id := range ids {
		events = append(events, event{id: id, user: "u", session: "s", action: "ALLOW", at: at(5)})
	}
	rd := index(t, "prod", events)
	got, _ := all(t, func(rg query.Range) (query.Page, error) { return rd.ByUser(context.Background(), "u", rg) }, query.Range{Limit: 3})
	if !slices.Equal(got, []string{"q", "a", "z", "m"}) {
		t.Fatalf("same-time decisions %v, want by seq, newest first: q a z m", got)
	}
}

func TestDecisionWithHistory(t *testing.T) {
	rd := index(t, "prod", []event{
		{id: "d1", user: "u", session: "s", action: "BLOCK", at: at(0)},
		{id: "d1", at: at(3), to: "CHALLENGE"},
		{id: "d1", at: at(3), to: "ALLOW"},
	})
	ctx := context.Background()
	h, err := rd.Decision(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if h.Action != "BLOCK" || h.CurrentAction != "ALLOW" || h.CurrentSeq != 3 || len(h.Overrides) != 2 ||
		h.Overrides[0].NewAction != "CHALLENGE" || h.Overrides[1].Proof.Seq != 3 || string(h.Metadata) != `{"k":[1,"x"]}` {
		t.Fatalf("history %+v", h)
	}
	for _, p := range []query.Proof{h.Proof, h.Overrides[0].Proof, h.Overrides[1].Proof} {
		if p.Seq == 0 || len(p.Hash) != 64 || p.Object == "" || p.Line == 0 {
			t.Fatalf("proof pointer %+v", p)
		}
	}
	if refs := h.Refs(); len(refs) != 3 || refs[0].Seq != 1 || refs[2].Seq != 3 {
		t.Fatalf("refs %+v", refs)
	}
	if _, err := rd.Decision(ctx, "nope"); !errors.Is(err, query.ErrNotFound) {
		t.Fatalf("unknown decision: %v", err)
	}
	other := *rd
	other.Chain = "dev"
	if _, err := other.Decision(ctx, "d1"); !errors.Is(err, query.ErrNotFound) {
		t.Fatalf("decision of another chain: %v, want not found", err)
	}
}

// Bad parameters and forged cursors are *ParamErrors naming the field,
// never a DynamoDB error or a crash.
func TestBadParametersAndForgedCursors(t *testing.T) {
	var events []event
	for i := range 5 {
		events = append(events, event{id: fmt.Sprintf("d%d", i), user: "u", session: "s", action: "ALLOW", at: at(i)})
		events = append(events, event{id: fmt.Sprintf("x%d", i), user: "v", session: "s2", action: "ALLOW", at: at(i)})
	}
	rd := index(t, "prod", events)
	ctx := context.Background()
	first, err := rd.ByUser(ctx, "u", query.Range{Limit: 2})
	if err != nil || first.Next == "" {
		t.Fatalf("first page %+v %v", first, err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(first.Next)
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	early, _ := time.Parse(time.RFC3339, at(4))
	cases := []struct {
		name  string
		field string
		call  func() error
	}{
		{"empty user", "user_id", func() error { _, err := rd.ByUser(ctx, "", query.Range{}); return err }},
		{"control character", "session_id", func() error { _, err := rd.BySession(ctx, "s\n", query.Range{}); return err }},
		{"long id", "decision_id", func() error { _, err := rd.Decision(ctx, strings.Repeat("x", 257)); return err }},
		{"limit too big", "limit", func() error { _, err := rd.ByUser(ctx, "u", query.Range{Limit: query.MaxLimit + 1}); return err }},
		{"negative limit", "limit", func() error { _, err := rd.ByUser(ctx, "u", query.Range{Limit: -1}); return err }},
		{"until before since", "until", func() error {
			_, err := rd.ByUser(ctx, "u", query.Range{Since: early, Until: early.Add(-time.Second)})
			return err
		}},
		{"year 10000", "since", func() error {
			_, err := rd.ByUser(ctx, "u", query.Range{Since: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
			return err
		}},
		{"garbage cursor", "cursor", func() error { _, err := rd.ByUser(ctx, "u", query.Range{Cursor: "not a cursor!"}); return err }},
		{"other JSON", "cursor", func() error { _, err := rd.ByUser(ctx, "u", query.Range{Cursor: enc(`{"a":1}`)}); return err }},
		{"trailing data", "cursor", func() error { _, err := rd.ByUser(ctx, "u", query.Range{Cursor: enc(string(raw) + "{}")}); return err }},
		{"another user's cursor", "cursor", func() error { _, err := rd.ByUser(ctx, "v", query.Range{Cursor: first.Next}); return err }},
		{"a user cursor for a session", "cursor", func() error { _, err := rd.BySession(ctx, "s", query.Range{Cursor: first.Next}); return err }},
		{"outside the range", "cursor", func() error {
			_, err := rd.ByUser(ctx, "u", query.Range{Cursor: first.Next, Until: early.Add(-time.Minute)}) // the cursor is at 10:03
			return err
		}},
		{"forged keys", "cursor", func() error {
			forged := strings.Replace(string(raw), `"pk":"PK#DECISION#`, `"pk":"PK#CHAIN#`, 1)
			_, err := rd.ByUser(ctx, "u", query.Range{Cursor: enc(forged)})
			return err
		}},
		{"forged view key", "cursor", func() error {
			forged := strings.Replace(string(raw), `"vs":"2026`, `"vs":"x2026`, 1)
			_, err := rd.ByUser(ctx, "u", query.Range{Cursor: enc(forged)})
			return err
		}},
		{"huge", "cursor", func() error {
			_, err := rd.ByUser(ctx, "u", query.Range{Cursor: strings.Repeat("A", 5000)})
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			var pe *query.ParamError
			if !errors.As(err, &pe) || pe.Field != c.field {
				t.Fatalf("got %v, want a parameter error on %s", err, c.field)
			}
		})
	}
	// The real cursor still works, and ends the view.
	next, err := rd.ByUser(ctx, "u", query.Range{Limit: 2, Cursor: first.Next})
	if err != nil || !slices.Equal(next.IDs(), []string{"d2", "d1"}) {
		t.Fatalf("second page %v %v", next.IDs(), err)
	}
}

// A producer allowed to write only dev seals, on the dev chain, an override
// of a prod decision's id. Decision ids are not unique across chains, so
// the items share one partition; the prod decision's current state, its
// history and its proof must not change: an override only overrides a
// decision of its own chain.
func TestOverrideOfAnotherChainChangesNothing(t *testing.T) {
	ctx := context.Background()
	rd := index(t, "prod", []event{{id: "d1", user: "u", session: "s", action: "BLOCK", at: at(0)}})
	ix := &indexer.Index{DB: rd.DB.(indexer.DynamoAPI), Table: rd.Table}
	// Enough dev entries that the dev override's seq is above the prod
	// decision's.
	apply(t, ix, "dev", []event{
		{id: "x1", user: "u", session: "s", action: "ALLOW", at: at(1)},
		{id: "x2", user: "u", session: "s", action: "ALLOW", at: at(1)},
		{id: "d1", at: at(2), to: "ALLOW"},
	})
	h, err := rd.Decision(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if h.CurrentAction != "BLOCK" || h.CurrentSeq != h.Proof.Seq || len(h.Overrides) != 0 {
		t.Fatalf("prod decision d1 after a dev override of d1: current %s (seq %d), %d overrides; want BLOCK as decided, none",
			h.CurrentAction, h.CurrentSeq, len(h.Overrides))
	}
	// Read without a chain filter, the decision shown is one chain's, and
	// so are its overrides.
	anyChain := &query.Reader{DB: rd.DB, Table: rd.Table}
	h, err = anyChain.Decision(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if h.Environment != "prod" || h.CurrentAction != "BLOCK" || len(h.Overrides) != 0 {
		t.Fatalf("unfiltered read of d1: %s decision, current %s, %d overrides; want prod's, BLOCK, none", h.Environment, h.CurrentAction, len(h.Overrides))
	}
	// The dev override is still found, for dev.
	dev := &query.Reader{DB: rd.DB, Table: rd.Table, Chain: "dev"}
	_, err = dev.Decision(ctx, "d1")
	if !errors.Is(err, query.ErrNotFound) {
		t.Fatalf("dev has no decision d1: %v", err)
	}
	// Issues 12 and 22: the not-found answer says that dev holds an
	// override of d1 and that prod holds the decision; its message names
	// the override, not the other chain.
	var nf *query.NotFoundError
	if !errors.As(err, &nf) || nf.Chain != "dev" || nf.Overrides != 1 || nf.MoreOverrides || !slices.Equal(nf.OtherChains, []string{"prod"}) {
		t.Fatalf("dev's not-found answer for d1: %#v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "of chain dev, but 1 override of it is") || strings.Contains(msg, "prod") {
		t.Fatalf("message %q", msg)
	}
	if _, err := rd.Decision(ctx, "nope"); !errors.As(err, &nf) || nf.Overrides != 0 || len(nf.OtherChains) != 0 || strings.Contains(err.Error(), "overrides") {
		t.Fatalf("unknown decision: %#v", err)
	}
	// A decision of dev with the id too: read without a chain filter, the
	// id names two decisions, and the answer says so instead of choosing
	// one by seqs that do not compare across chains.
	apply(t, ix, "dev", []event{{id: "d1", user: "u", session: "s", action: "CHALLENGE", at: at(3)}})
	var pe *query.ParamError
	if _, err := anyChain.Decision(ctx, "d1"); !errors.As(err, &pe) || pe.Field != "chain" || !strings.Contains(pe.Reason, "held by chains") {
		t.Fatalf("unfiltered read of a decision id two chains hold: %v", err)
	}
	if h, err := rd.Decision(ctx, "d1"); err != nil || h.Environment != "prod" || h.Action != "BLOCK" {
		t.Fatalf("prod's d1 beside dev's: %+v, %v", h, err)
	}
}

// Someone who can edit the table copies decision d2's item, unchanged,
// into d1's partition and deletes d1's own. The copy's proof is genuine (it
// is d2's entry), so a verification of it passes; the reader must not
// answer it as d1.
func TestAnotherDecisionsItemIsNotTheAnswer(t *testing.T) {
	ctx := context.Background()
	rd := index(t, "prod", []event{
		{id: "d1", user: "u", session: "s", action: "BLOCK", at: at(0)},
		{id: "d2", user: "u", session: "s", action: "ALLOW", at: at(1)},
	})
	db := rd.DB.(indexer.DynamoAPI)
	out, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(rd.Table), KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :d)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: layout.DecisionPK("d2")},
			":d": &types.AttributeValueMemberS{Value: layout.SKDecision}}})
	if err != nil || len(out.Items) != 1 {
		t.Fatalf("d2's items: %d (%v)", len(out.Items), err)
	}
	copied := out.Items[0]
	copied[layout.AttrPK] = &types.AttributeValueMemberS{Value: layout.DecisionPK("d1")}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(rd.Table), Item: copied}); err != nil {
		t.Fatal(err)
	}
	h, err := rd.Decision(ctx, "d1")
	if err != nil || h.DecisionID != "d1" || h.Action != "BLOCK" || len(h.Conflicting) != 0 {
		t.Fatalf("d1 with d2's item in its partition: %+v %v; want d1's own decision only", h, err)
	}
	own, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(rd.Table), KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :d)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: layout.DecisionPK("d1")},
			":d": &types.AttributeValueMemberS{Value: "SK#DECISION#" + at(0)[:4]}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range own.Items {
		if id := it["decision_id"].(*types.AttributeValueMemberS).Value; id == "d1" {
			if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(rd.Table),
				Key: map[string]types.AttributeValue{layout.AttrPK: it[layout.AttrPK], layout.AttrSK: it[layout.AttrSK]}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if h, err := rd.Decision(ctx, "d1"); !errors.Is(err, query.ErrNotFound) {
		t.Fatalf("d1's item deleted, d2's copied in its place: %+v %v; want not found", h, err)
	}
}

// scanCounter counts the Query calls a reader makes and the items they
// read.
type scanCounter struct {
	query.DynamoAPI
	calls, items int
}

func (s *scanCounter) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := s.DynamoAPI.Query(ctx, in, o...)
	if err == nil {
		s.calls++
		s.items += int(out.ScannedCount)
	}
	return out, err
}

// A decision overridden 120 times is answered a page at a time: a page
// reads about a page of items whatever the count (one Query, and one
// more for the override that set the current state when it is on a later
// page), every override comes back once across the pages, in time order,
// and each page names the override of the current state. It holds for
// overrides indexed with their decision and for overrides indexed later,
// one batch each, and for a decision item written before the indexer kept
// the current override's key (read the old way, every override).
func TestDecisionOverridesArePaged(t *testing.T) {
	const n, limit = 120, 7
	actions := []string{"ALLOW", "CHALLENGE", "REVIEW", "BLOCK"}
	events := []event{{id: "d", user: "u", session: "s", action: "BLOCK", at: at(0)}}
	var want []string // overrides' actions, in time order
	for i := range n {
		at := fmt.Sprintf("2026-11-27T10:%02d:%02dZ", 1+i/60, i%60)
		events = append(events, event{id: "d", at: at, to: actions[i%4]})
		want = append(want, actions[i%4])
	}
	rd := index(t, "prod", events)
	ctx := context.Background()
	late := index(t, "prod", nil)
	raws := make([][]byte, len(events))
	for i, ev := range events {
		raws[i] = []byte(ev.json("prod", i))
	}
	entries, recs, err := pipeline.SealInMemory("prod", raws, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	lateIx := &indexer.Index{DB: late.DB.(*dynamodb.Client), Table: late.Table}
	for i := range entries { // one entry a batch, as a spammed indexer meets them
		if _, err := lateIx.ApplyBatch(ctx, []indexer.Sealed{{Entry: entries[i], Record: recs[i]}}); err != nil {
			t.Fatal(err)
		}
	}
	for name, rd := range map[string]*query.Reader{"in one batch": rd, "one by one": late} {
		t.Run(name, func(t *testing.T) {
			counter := &scanCounter{DynamoAPI: rd.DB}
			r := *rd
			r.DB = counter
			var got []string
			cursor := ""
			for pages := 1; ; pages++ {
				counter.calls, counter.items = 0, 0
				h, err := r.DecisionPage(ctx, "d", query.OverridePage{Limit: limit, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				if counter.calls > 3 || counter.items > limit+4 {
					t.Fatalf("page %d: %d Queries read %d items; want a page's worth", pages, counter.calls, counter.items)
				}
				if h.CurrentAction != want[n-1] || h.CurrentSeq != n+1 {
					t.Fatalf("page %d: current %s (seq %d), want %s (seq %d)", pages, h.CurrentAction, h.CurrentSeq, want[n-1], n+1)
				}
				if onPage := len(h.Overrides) > 0 && h.Overrides[len(h.Overrides)-1].Proof.Seq == h.CurrentSeq; onPage != (h.CurrentOverride == nil) ||
					(!onPage && h.CurrentOverride.Proof.Seq != h.CurrentSeq) {
					t.Fatalf("page %d: current override %+v, on the page %v", pages, h.CurrentOverride, onPage)
				}
				if refs := h.Refs(); len(refs) != 1+len(h.Overrides)+map[bool]int{true: 1}[h.CurrentOverride != nil] {
					t.Fatalf("page %d: refs %+v", pages, refs)
				}
				for _, o := range h.Overrides {
					got = append(got, o.NewAction)
				}
				if h.Next == "" {
					break
				}
				if len(h.Overrides) != limit || pages > n {
					t.Fatalf("page %d: %d overrides and a next page", pages, len(h.Overrides))
				}
				cursor = h.Next
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("overrides across the pages:\n got  %v\n want %v", got, want)
			}
			// The whole history (what aegis prove proves) holds every
			// override, whatever the page size.
			for _, size := range []int{limit, query.MaxLimit} {
				h, err := query.WholeHistoryPaged(&r, ctx, "d", size)
				if err != nil {
					t.Fatal(err)
				}
				var all []string
				for _, o := range h.Overrides {
					all = append(all, o.NewAction)
				}
				if fmt.Sprint(all) != fmt.Sprint(want) || h.Next != "" || h.CurrentOverride != nil || h.CurrentAction != want[n-1] ||
					len(h.Refs()) != n+1 {
					t.Fatalf("whole history, pages of %d: %d overrides, next %q, current override %v, current %s, %d refs; want all %d",
						size, len(all), h.Next, h.CurrentOverride, h.CurrentAction, len(h.Refs()), n)
				}
			}
		})
	}
	// An item written before current_sk was kept.
	part, err := layout.LoadDecisionItems(ctx, late.DB, late.Table, "d")
	if err != nil || len(part) != 1 || part[0].CurrentSK == "" {
		t.Fatalf("decision items %+v %v: want one, with the current override's key", part, err)
	}
	if _, err := late.DB.(*dynamodb.Client).UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(late.Table),
		Key:              map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: part[0].PK}, "SK": &types.AttributeValueMemberS{Value: part[0].SK}},
		UpdateExpression: aws.String("REMOVE current_sk")}); err != nil {
		t.Fatal(err)
	}
	h, err := late.DecisionPage(ctx, "d", query.OverridePage{Limit: limit})
	if err != nil || h.CurrentOverride == nil || h.CurrentOverride.Proof.Seq != n+1 || h.CurrentOverride.NewAction != want[n-1] {
		t.Fatalf("an older item: %+v %v; want its current override found", h, err)
	}
	if _, err := late.DecisionPage(ctx, "d", query.OverridePage{Limit: query.MaxLimit + 1}); err == nil {
		t.Fatal("a limit over the maximum is accepted")
	}
}
