package indexer_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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

// tableItems reads every item of the index's table as text, by key.
func tableItems(t *testing.T, ix *indexer.Index) map[string]string {
	t.Helper()
	out := map[string]string{}
	p := dynamodb.NewScanPaginator(ix.DB, &dynamodb.ScanInput{TableName: aws.String(ix.Table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			var m map[string]any
			if err := attributevalue.UnmarshalMap(it, &m); err != nil {
				t.Fatal(err)
			}
			out[fmt.Sprint(m["PK"], " ", m["SK"])] = fmt.Sprint(m)
		}
	}
	return out
}

// entriesOf parses sealed records into a batch.
func entriesOf(t *testing.T, recs []*shared.SealedRecord) []indexer.Sealed {
	t.Helper()
	out := make([]indexer.Sealed, len(recs))
	for i, r := range recs {
		e, err := shared.ParseLine(r.Entry)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = indexer.Sealed{Entry: e, Record: r}
	}
	return out
}

// The batched path (claims read and written in bulk, a new decision's
// items written blind) leaves exactly the items that indexing the same
// entries one by one leaves, in order or with overrides before their
// decisions (which then take the careful path): the same decisions,
// current states, overrides, claims, marks and anomalies. (Which of two
// entries with one event id holds it is the first indexed, so those keep
// their order.)
func TestBatchedAndOneByOneWriteTheSameItems(t *testing.T) {
	ctx := context.Background()
	first := decision("d1", "u1", "s1", "BLOCK", "2026-11-27T10:00:00Z")
	events := []string{
		first,
		override(1, "d1", "CHALLENGE", "2026-11-27T10:05:00Z"),
		decision("d2", "u1", "s2", "ALLOW", "2026-11-27T10:01:00Z"),
		first, // sealed twice
		override(2, "d1", "ALLOW", "2026-11-27T10:09:00Z"),
		strings.Replace(first, `"event_id":"e-d1"`, `"event_id":"e-d1-again"`, 1),                            // decision id reused
		strings.Replace(decision("d3", "u2", "s3", "REVIEW", "2026-11-27T10:02:00Z"), `"e-d3"`, `"e-d2"`, 1), // event id reused
		override(3, "d4", "BLOCK", "2026-11-27T10:03:00Z"),                                                   // an override whose decision comes later
		decision("d4", "u2", "s3", "ALLOW", "2026-11-27T10:02:30Z"),
	}
	for i := range 40 {
		id := fmt.Sprintf("many-%d", i)
		events = append(events, decision(id, "u3", "s4", "BLOCK", "2026-11-27T11:00:00Z"))
		if i%3 == 0 {
			events = append(events, override(100+i, id, "ALLOW", "2026-11-27T11:01:00Z"))
		}
	}
	entries := entriesOf(t, sealed(t, events...))
	// A dev service overrides prod's many-1 on its own chain, at a higher
	// seq: it changes nothing of prod's decision, batched or not.
	var dev [][]byte
	for i := range 80 {
		dev = append(dev, []byte(strings.Replace(decision(fmt.Sprint("dev-", i), "u9", "s9", "ALLOW", "2026-11-27T12:00:00Z"), `"prod"`, `"dev"`, 1)))
	}
	dev = append(dev, []byte(strings.Replace(override(999, "many-1", "ALLOW", "2026-11-27T12:01:00Z"), `"prod"`, `"dev"`, 1)))
	_, devRecs, err := pipeline.SealInMemory("dev", dev, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	devEntries := entriesOf(t, devRecs)
	entries = append(entries, devEntries[len(devEntries)-1])
	tables := map[string]map[string]string{}
	conflicts := 9 // the entries above: their order is kept
	for _, way := range []string{"one batch", "one by one", "overrides first", "batches of 7, twice"} {
		ix, _ := newIndex(t)
		var err error
		switch way {
		case "one batch":
			_, err = ix.ApplyBatch(ctx, entries)
		case "one by one":
			for _, s := range entries {
				if _, err = ix.ApplyBatch(ctx, []indexer.Sealed{s}); err != nil {
					break
				}
			}
		case "overrides first":
			if _, err = ix.ApplyBatch(ctx, entries[:conflicts]); err != nil {
				break
			}
			for i := len(entries) - 1; i >= conflicts && err == nil; i-- {
				_, err = ix.ApplyBatch(ctx, []indexer.Sealed{entries[i]})
			}
		default:
			for range 2 {
				for i := 0; i < len(entries) && err == nil; i += 7 {
					_, err = ix.ApplyBatch(ctx, entries[i:min(i+7, len(entries))])
				}
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", way, err)
		}
		tables[way] = tableItems(t, ix)
	}
	want := tables["one by one"]
	if n := len(want); n < 100 {
		t.Fatalf("only %d items", n)
	}
	for way, got := range tables {
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: item %s\n got  %s\n want %s", way, k, got[k], w)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s: extra item %s", way, k)
			}
		}
	}
	d1 := want["PK#DECISION#d1 SK#DECISION#2026-11-27T10:00:00.000000000Z#e-d1"]
	if !strings.Contains(d1, "current_action:ALLOW") || !strings.Contains(d1, "current_seq:5") {
		t.Fatalf("d1 %s: want current ALLOW from seq 5", d1)
	}
	if m1 := want["PK#DECISION#many-1 SK#DECISION#2026-11-27T11:00:00.000000000Z#e-many-1"]; !strings.Contains(m1, "current_action:BLOCK") {
		t.Fatalf("many-1 %s: a dev override changed a prod decision", m1)
	}
	// An override sealed before its decision sets its state, as the
	// latest by seq (docs/FORMAT.md section 11, whose bundles say so):
	// before 2026-12-01 it did not, and get --verify of the genuine
	// decision failed against its own bundle (an outside trial).
	if d4 := want["PK#DECISION#d4 SK#DECISION#2026-11-27T10:02:30.000000000Z#e-d4"]; !strings.Contains(d4, "current_action:BLOCK") ||
		!strings.Contains(d4, "current_sk:SK#OVERRIDE#2026-11-27T10:03:00.000000000Z#o-3") {
		t.Fatalf("d4 %s: an override sealed before its decision sets its state", d4)
	}
}

// countingDB counts the DynamoDB calls by operation.
type countingDB struct {
	indexer.DynamoAPI
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingDB) count(op string) {
	c.mu.Lock()
	c.calls[op]++
	c.mu.Unlock()
}

func (c *countingDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.count("BatchGetItem")
	return c.DynamoAPI.BatchGetItem(ctx, in, o...)
}

func (c *countingDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	c.count("BatchWriteItem")
	return c.DynamoAPI.BatchWriteItem(ctx, in, o...)
}

func (c *countingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.count("PutItem")
	return c.DynamoAPI.PutItem(ctx, in, o...)
}

func (c *countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.count("UpdateItem")
	return c.DynamoAPI.UpdateItem(ctx, in, o...)
}

func (c *countingDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.count("Query")
	out, err := c.DynamoAPI.Query(ctx, in, o...)
	if err == nil {
		c.mu.Lock()
		c.calls["items queried"] += int(out.ScannedCount)
		c.mu.Unlock()
	}
	return out, err
}

func (c *countingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.count("GetItem")
	return c.DynamoAPI.GetItem(ctx, in, o...)
}

// New decisions and their overrides cost batched calls but for their
// claims: 200 decisions and 20 overrides (200 marks read twice, before the
// claims, with the 20 overrides' keys, and after the items, and 420 items
// written: the 220 entries' items, then the 200 marks) take 5 BatchGetItem
// (4 before the overrides' keys were read, see
// TestAnotherChainsEventCannotTakeAnItemsKey) and 9 + 8 BatchWriteItem
// calls; each of the
// 220 new event ids is claimed with a conditional PutItem (the one call
// per entry a claim's atomicity costs, without transactions), and no claim
// is read: none was held.
func TestNewDecisionsAreIndexedInBatchedCalls(t *testing.T) {
	ctx := context.Background()
	ix, rd := newIndex(t)
	db := &countingDB{DynamoAPI: ix.DB, calls: map[string]int{}}
	ix.DB = db
	var events []string
	for i := range 200 {
		id := fmt.Sprintf("b-%d", i)
		events = append(events, decision(id, "u1", "s1", "BLOCK", "2026-11-27T10:00:00Z"))
		if i%10 == 0 {
			events = append(events, override(i, id, "ALLOW", "2026-11-27T10:01:00Z"))
		}
	}
	if _, err := ix.ApplyBatch(ctx, entriesOf(t, sealed(t, events...))); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"BatchGetItem": 5, "BatchWriteItem": 17, "PutItem": 220}
	if fmt.Sprint(db.calls) != fmt.Sprint(want) {
		t.Fatalf("calls %v, want %v", db.calls, want)
	}
	d, err := rd.Decision(ctx, "b-10")
	if err != nil || d.CurrentAction != "ALLOW" || len(d.Overrides) != 1 {
		t.Fatalf("b-10: %+v %v", d, err)
	}
	pg, err := rd.ByUser(ctx, "u1", query.Range{Limit: 500})
	if err != nil || len(pg.Decisions) != 200 {
		t.Fatalf("user view: %d decisions, %v", len(pg.Decisions), err)
	}
	for _, d := range pg.Decisions {
		if want := map[bool]string{true: "ALLOW", false: "BLOCK"}[d.CurrentSeq != d.Proof.Seq]; d.CurrentAction != want {
			t.Fatalf("%s in the user view: current %s (seq %d)", d.DecisionID, d.CurrentAction, d.CurrentSeq)
		}
	}
}

// memDB is a table in memory: enough of DynamoDB for ApplyBatch's claims.
// beforePut, if set, runs before each PutItem (a concurrent writer).
type memDB struct {
	indexer.DynamoAPI
	mu        sync.Mutex
	items     map[layout.ItemKey]map[string]types.AttributeValue
	beforePut func(*memDB)
}

func keyOf(av map[string]types.AttributeValue) layout.ItemKey {
	return layout.ItemKey{PK: av["PK"].(*types.AttributeValueMemberS).Value, SK: av["SK"].(*types.AttributeValueMemberS).Value}
}

func (m *memDB) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}}
	for table, ka := range in.RequestItems {
		for _, k := range ka.Keys {
			if it, ok := m.items[keyOf(k)]; ok {
				out.Responses[table] = append(out.Responses[table], it)
			}
		}
	}
	return out, nil
}

func (m *memDB) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	m.mu.Lock()
	for _, reqs := range in.RequestItems {
		for _, r := range reqs {
			m.items[keyOf(r.PutRequest.Item)] = r.PutRequest.Item
		}
	}
	m.mu.Unlock()
	return &dynamodb.BatchWriteItemOutput{}, nil
}

func (m *memDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if m.beforePut != nil {
		m.beforePut(m)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := keyOf(in.Item)
	if _, ok := m.items[k]; ok && in.ConditionExpression != nil {
		return nil, &types.ConditionalCheckFailedException{}
	}
	m.items[k] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

// A new claim taken by another writer first is judged against the
// winner: here the same event sealed at a lower seq, so the entry is a
// duplicate, recorded as such, and none of its items is written. Alone or
// in a batch, each claim is a conditional write and the other writer's
// claim is there first.
func TestClaimLostToAConcurrentWriterIsJudgedAgainstTheWinner(t *testing.T) {
	ev := func(id string) []byte {
		return []byte(fmt.Sprintf(`{"type":"decision","event_id":"e-%s","environment":"prod","occurred_at":"2026-11-27T10:00:00Z","decision":{"decision_id":"d%s","action":"BLOCK","confidence_score":0.8,"policy_version":"p","user_id":"u1","session_id":"s1"}}`, id, id))
	}
	// seq 1 and 2: one event sealed twice; seq 3 and 4: two others.
	entries, recs, err := pipeline.SealInMemory("prod", [][]byte{ev("1"), ev("1"), ev("2"), ev("3")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	claimKey := layout.EventClaim("prod", "e-1")
	winner := func(m *memDB) { // claims e-1 for seq 1 unless it holds it
		m.mu.Lock()
		defer m.mu.Unlock()
		if c, ok := m.items[claimKey]; !ok || c["seq"].(*types.AttributeValueMemberN).Value != "1" {
			m.items[claimKey] = map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: claimKey.PK},
				"SK": &types.AttributeValueMemberS{Value: claimKey.SK}, "seq": &types.AttributeValueMemberN{Value: "1"},
				"event_sha256": &types.AttributeValueMemberS{Value: fmt.Sprintf("%x", sha256.Sum256(entries[0].Event))}}
		}
	}
	for _, tc := range []struct {
		name      string
		batch     []int
		before    bool // the other writer claims before a conditional write
		dup       bool
		decisions int
	}{
		{name: "batch, no other writer", batch: []int{1, 2, 3}, decisions: 3},
		{name: "batch, the same event at a lower seq wins", batch: []int{1, 2, 3}, before: true, dup: true, decisions: 2},
		{name: "alone, the same event at a lower seq wins", batch: []int{1}, before: true, dup: true, decisions: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := &memDB{items: map[layout.ItemKey]map[string]types.AttributeValue{}}
			if tc.before {
				db.beforePut = winner
			}
			var anomalies []indexer.Anomaly
			x := &indexer.Index{DB: db, Table: "t", OnAnomaly: func(a indexer.Anomaly) { anomalies = append(anomalies, a) }}
			var batch []indexer.Sealed
			for _, i := range tc.batch {
				batch = append(batch, indexer.Sealed{Entry: entries[i], Record: recs[i]})
			}
			dups, err := x.ApplyBatch(context.Background(), batch)
			if err != nil {
				t.Fatal(err)
			}
			if dups[0] != tc.dup || (len(anomalies) == 1) != tc.dup {
				t.Fatalf("duplicate %v, anomalies %+v; want duplicate %v, and an anomaly if so", dups[0], anomalies, tc.dup)
			}
			if tc.dup && (anomalies[0].Kind != indexer.AnomalyDuplicateEvent || anomalies[0].Seq != 2 || anomalies[0].OtherSeq != 1) {
				t.Fatalf("anomaly %+v", anomalies[0])
			}
			decisions := 0
			for k := range db.items {
				if strings.HasPrefix(k.SK, layout.SKDecision) {
					decisions++
				}
			}
			if decisions != tc.decisions {
				t.Fatalf("%d decision items written, want %d", decisions, tc.decisions)
			}
		})
	}
}

// hookDB runs before once, before the first write it is asked for
// (PutItem or BatchWriteItem; with batchOnly, the first BatchWriteItem:
// after the writer's claims, before its items), as a concurrent writer
// would run between this writer's reads and its writes.
func hookDB(db indexer.DynamoAPI, batchOnly bool, before func()) *hookedDB {
	var once sync.Once
	return &hookedDB{DynamoAPI: db, before: func(op string) bool {
		if op == "BatchWriteItem" || op == "PutItem" && !batchOnly {
			once.Do(before)
		}
		return false
	}}
}

// Two writers claim the same three event ids, carried by different
// events, at the same moment (a reused event id on two partitions, or two
// indexers holding one partition during a rebalance): writer B has read
// the claims (none yet) when writer A claims and indexes all three. B's
// claims must then lose to A's, on the real server, and each reuse be
// recorded; claims written blind and read back let B overwrite A's and
// both index without an anomaly.
func TestConcurrentClaimsOfOneEventIDAreJudged(t *testing.T) {
	ctx := context.Background()
	var events []string
	for i := range 3 {
		events = append(events, decision(fmt.Sprint("a", i), "u1", "s1", "BLOCK", "2026-11-27T10:00:00Z"))
	}
	for i := range 3 { // the same event ids on other decisions
		ev := decision(fmt.Sprint("b", i), "u2", "s2", "ALLOW", "2026-11-27T10:00:00Z")
		events = append(events, strings.Replace(ev, fmt.Sprintf(`"e-b%d"`, i), fmt.Sprintf(`"e-a%d"`, i), 1))
	}
	entries := entriesOf(t, sealed(t, events...))
	a, rd := newIndex(t)
	var anomalies []indexer.Anomaly
	var mu sync.Mutex
	onAnomaly := func(an indexer.Anomaly) { mu.Lock(); anomalies = append(anomalies, an); mu.Unlock() }
	a.OnAnomaly = onAnomaly
	b := &indexer.Index{DB: hookDB(a.DB, false, func() {
		if _, err := a.ApplyBatch(ctx, entries[:3]); err != nil {
			t.Error(err)
		}
	}), Table: a.Table, OnAnomaly: onAnomaly}
	if _, err := b.ApplyBatch(ctx, entries[3:]); err != nil {
		t.Fatal(err)
	}
	reused := map[uint64]uint64{}
	for _, an := range anomalies {
		if an.Kind == indexer.AnomalyEventIDReused {
			reused[an.Seq] = an.OtherSeq
		}
	}
	if want := map[uint64]uint64{4: 1, 5: 2, 6: 3}; fmt.Sprint(reused) != fmt.Sprint(want) {
		t.Fatalf("event-id-reused anomalies (seq: other seq) %v, want %v; all anomalies %+v", reused, want, anomalies)
	}
	for i := range 3 {
		for _, id := range []string{fmt.Sprint("a", i), fmt.Sprint("b", i)} {
			if _, err := rd.Decision(ctx, id); err != nil {
				t.Fatalf("decision %s: %v; want both events of a reused id indexed", id, err)
			}
		}
		k := layout.EventClaim("prod", fmt.Sprint("e-a", i))
		out, err := a.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(a.Table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: k.PK}, "SK": &types.AttributeValueMemberS{Value: k.SK}}})
		if err != nil || out.Item["seq"].(*types.AttributeValueMemberN).Value != fmt.Sprint(i+1) {
			t.Fatalf("claim of e-a%d: %v %v; want held by seq %d, the first writer's", i, out.Item["seq"], err, i+1)
		}
	}
}

// Writer A indexes a new decision (no mark, so its items go out blind
// with the state its batch gives them) while writer B, a rebalance's old
// owner or a rebuild beside the live indexer, indexes an override of it:
// B reads the marks after A did and raises the decision before A's item
// is written, so B finds no decision to raise. A must then find B's mark,
// written before B looked, and bring the decision up to the override:
// every view (by id, user and session) shows the override's action, and
// the table holds exactly the items of indexing both at once.
func TestABlindDecisionCatchesAnOverrideIndexedBesideIt(t *testing.T) {
	ctx := context.Background()
	entries := entriesOf(t, sealed(t,
		decision("d1", "u1", "s1", "BLOCK", "2026-11-27T10:00:00Z"),
		override(1, "d1", "ALLOW", "2026-11-27T10:05:00Z"),
	))
	b, rd := newIndex(t)
	var raisedNothing bool
	a := &indexer.Index{DB: hookDB(b.DB, true, func() {
		if _, err := b.ApplyBatch(ctx, entries[1:]); err != nil {
			t.Error(err)
		}
		items, err := layout.LoadDecisionItems(ctx, b.DB, b.Table, "d1")
		raisedNothing = err == nil && len(items) == 0
	}), Table: b.Table}
	if _, err := a.ApplyBatch(ctx, entries[:1]); err != nil {
		t.Fatal(err)
	}
	if !raisedNothing {
		t.Fatal("the interleaving did not happen: B found A's decision item, or failed")
	}
	d, err := rd.Decision(ctx, "d1")
	if err != nil || d.CurrentAction != "ALLOW" || d.CurrentSeq != 2 {
		t.Fatalf("decision d1: %+v %v, want ALLOW set by seq 2", d, err)
	}
	for name, view := range map[string]func(context.Context, string, query.Range) (query.Page, error){"user": rd.ByUser, "session": rd.BySession} {
		id := map[string]string{"user": "u1", "session": "s1"}[name]
		page, err := view(ctx, id, query.Range{})
		if err != nil || len(page.Decisions) != 1 || page.Decisions[0].CurrentAction != "ALLOW" {
			t.Fatalf("%s view: %+v %v, want d1 at ALLOW", name, page, err)
		}
	}
	both, _ := newIndex(t)
	if _, err := both.ApplyBatch(ctx, entries); err != nil {
		t.Fatal(err)
	}
	if got, want := tableItems(t, b), tableItems(t, both); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("items after the race:\n%v\nwant those of one batch:\n%v", got, want)
	}
}

// A producer that overrides one decision many times costs the index a
// bounded amount of work per override, not a read of every override
// before it: each of 80 batches holding overrides of one decision reads at
// most its decision items (here one) and makes a bounded number of calls,
// however many overrides came before. The state and the items are what
// indexing the same entries in one batch (as a rebuild does) leaves.
func TestOverrideSpamCostsBoundedWorkPerOverride(t *testing.T) {
	ctx := context.Background()
	events := []string{decision("spam", "u1", "s1", "BLOCK", "2026-11-27T10:00:00Z")}
	actions := []string{"ALLOW", "CHALLENGE", "REVIEW"}
	for i := range 160 {
		events = append(events, override(i, "spam", actions[i%3], fmt.Sprintf("2026-11-27T10:%02d:%02dZ", 1+i/60, i%60)))
	}
	entries := entriesOf(t, sealed(t, events...))
	ix, rd := newIndex(t)
	db := &countingDB{DynamoAPI: ix.DB, calls: map[string]int{}}
	ix.DB = db
	if _, err := ix.ApplyBatch(ctx, entries[:1]); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(entries); i += 2 {
		db.calls = map[string]int{}
		if _, err := ix.ApplyBatch(ctx, entries[i:i+2]); err != nil {
			t.Fatal(err)
		}
		calls := 0
		for op, n := range db.calls {
			if op != "items queried" {
				calls += n
			}
		}
		if db.calls["items queried"] > 1 || calls > 6 {
			t.Fatalf("batch %d (overrides %d and %d of 160): %v; want at most the decision item queried and 6 calls", i/2, i, i+1, db.calls)
		}
	}
	d, err := rd.Decision(ctx, "spam")
	if err != nil || d.CurrentSeq != uint64(len(entries)) || d.CurrentAction != actions[159%3] {
		t.Fatalf("spam: current %s (seq %d), %v; want %s (seq %d)", d.CurrentAction, d.CurrentSeq, err, actions[159%3], len(entries))
	}
	one, _ := newIndex(t)
	if _, err := one.ApplyBatch(ctx, entries); err != nil {
		t.Fatal(err)
	}
	got, want := tableItems(t, ix), tableItems(t, one)
	if len(got) != len(want) {
		t.Fatalf("%d items, one batch leaves %d", len(got), len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("item %s\n got  %s\n want %s", k, got[k], w)
		}
	}
}

// A decision item written before the indexer kept the sort key of the
// override that set its state (current_sk) gains it when its entries are
// indexed again (a rebuild over the table, a redelivery), without its
// state moving.
func TestOlderDecisionItemsGainTheCurrentOverridesKey(t *testing.T) {
	ctx := context.Background()
	ix, _ := newIndex(t)
	entries := entriesOf(t, sealed(t,
		decision("d1", "u1", "s1", "BLOCK", "2026-11-27T10:00:00Z"),
		override(1, "d1", "ALLOW", "2026-11-27T10:05:00Z"),
	))
	if _, err := ix.ApplyBatch(ctx, entries); err != nil {
		t.Fatal(err)
	}
	before := tableItems(t, ix)
	part, err := layout.LoadDecisionItems(ctx, ix.DB, ix.Table, "d1")
	if err != nil || len(part) != 1 || part[0].CurrentSK == "" || part[0].CurrentSeq != 2 {
		t.Fatalf("decision items %+v %v", part, err)
	}
	editItem(t, ix, part[0], "REMOVE current_sk", nil)
	if _, err := ix.ApplyBatch(ctx, entries); err != nil {
		t.Fatal(err)
	}
	after := tableItems(t, ix)
	for k, w := range before {
		if after[k] != w {
			t.Fatalf("item %s\n got  %s\n want %s", k, after[k], w)
		}
	}
}

// A decision item whose current state the table's own overrides
// contradict (what two writers racing on a new decision and its override
// could leave before ApplyBatch read the marks again, or a hand edit) is
// "different" to Compare, which index check reports, and Repair
// (rebuild --only-missing) mends it.
func TestCompareFindsAStaleCurrentState(t *testing.T) {
	ctx := context.Background()
	ix, rd := newIndex(t)
	entries := entriesOf(t, sealed(t,
		decision("d1", "u1", "s1", "BLOCK", "2026-11-27T10:00:00Z"),
		override(1, "d1", "ALLOW", "2026-11-27T10:05:00Z"),
		decision("d2", "u1", "s1", "CHALLENGE", "2026-11-27T10:06:00Z"),
	))
	if _, err := ix.ApplyBatch(ctx, entries); err != nil {
		t.Fatal(err)
	}
	for _, s := range entries {
		if diff, err := ix.Compare(ctx, s.Entry, s.Record); err != nil || diff != nil {
			t.Fatalf("seq %d of a consistent index: %+v %v", s.Entry.Seq, diff, err)
		}
	}
	items, err := layout.LoadDecisionItems(ctx, ix.DB, ix.Table, "d1")
	if err != nil || len(items) != 1 {
		t.Fatalf("decision items %+v %v", items, err)
	}
	// The state the racing decision writer leaves: its own action.
	editItem(t, ix, items[0], "SET current_action = :a, current_seq = :s REMOVE current_sk", map[string]types.AttributeValue{
		":a": &types.AttributeValueMemberS{Value: "BLOCK"}, ":s": &types.AttributeValueMemberN{Value: "1"}})
	diff, err := ix.Compare(ctx, entries[0].Entry, entries[0].Record)
	if err != nil || diff == nil || diff.Kind != "different" || !strings.Contains(diff.Detail, "current state") ||
		!strings.Contains(diff.Detail, "ALLOW") {
		t.Fatalf("a stale current state: %+v %v, want a difference naming the current state ALLOW", diff, err)
	}
	if err := ix.Repair(ctx, entries[0].Entry, entries[0].Record); err != nil {
		t.Fatal(err)
	}
	if diff, err := ix.Compare(ctx, entries[0].Entry, entries[0].Record); err != nil || diff != nil {
		t.Fatalf("after Repair: %+v %v", diff, err)
	}
	d, err := rd.Decision(ctx, "d1")
	if err != nil || d.CurrentAction != "ALLOW" || d.CurrentSeq != 2 {
		t.Fatalf("after Repair: %+v %v, want ALLOW set by seq 2", d, err)
	}
	// An item written before current_sk was kept: the state is right, the
	// pointer to its override is missing, and check says exactly that.
	editItem(t, ix, items[0], "REMOVE current_sk", nil)
	diff, err = ix.Compare(ctx, entries[0].Entry, entries[0].Record)
	if err != nil || diff == nil || !strings.Contains(diff.Detail, "current_sk") || strings.Contains(diff.Detail, "make it") {
		t.Fatalf("an item without current_sk: %+v %v, want a difference naming current_sk only", diff, err)
	}
}

// editItem changes the item at d's key behind the indexer's back (what a
// race, an older version or a hand edit leaves).
func editItem(t *testing.T, ix *indexer.Index, d layout.Decision, expr string, values map[string]types.AttributeValue) {
	t.Helper()
	if _, err := ix.DB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{TableName: aws.String(ix.Table),
		Key:              map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: d.PK}, "SK": &types.AttributeValueMemberS{Value: d.SK}},
		UpdateExpression: aws.String(expr), ExpressionAttributeValues: values}); err != nil {
		t.Fatal(err)
	}
}

// onChain is raw (of chain prod) as an event of chain.
func onChain(chain, raw string) string {
	return strings.Replace(raw, `"environment":"prod"`, fmt.Sprintf(`"environment":%q`, chain), 1)
}

// Index check of a chain whose events found their item keys held by
// another chain's items (item-key-taken: the keys hold no chain) does not
// ask for them to be written: rebuild --only-missing of dev rewrote each
// "different" dev item with an unconditional PutItem, over prod's decision
// and override that held the keys (prod's history lost its override, its
// decision was dev's), and prod's own rebuild then wrote them back, each
// chain's check undoing the other's. Such an entry is left out, as the
// indexer leaves it; check lists it only while its anomaly is missing (a
// table indexed before the anomaly existed), and mending it records the
// anomaly, writing no item.
func TestCheckOfAChainWhoseKeysAnotherChainHoldsLeavesThem(t *testing.T) {
	ctx := context.Background()
	ix, _ := newIndex(t)
	rd := &query.Reader{DB: ix.DB, Table: ix.Table, Chain: "prod"}
	d1 := decision("d1", "u1", "s1", "BLOCK", "2026-11-27T10:00:00Z")
	o1 := override(1, "d1", "ALLOW", "2026-11-27T10:05:00Z")
	if _, err := ix.ApplyBatch(ctx, entriesOf(t, sealed(t, d1, o1))); err != nil {
		t.Fatal(err)
	}
	_, devRecs, err := pipeline.SealInMemory("dev", [][]byte{
		[]byte(onChain("dev", strings.Replace(d1, "BLOCK", "ALLOW", 1))), []byte(onChain("dev", strings.Replace(o1, "ALLOW", "REVIEW", 1)))}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dev := entriesOf(t, devRecs)
	if _, err := ix.ApplyBatch(ctx, dev); err != nil {
		t.Fatal(err)
	}
	prodIntact := func(when string) {
		t.Helper()
		h, err := rd.Decision(ctx, "d1")
		if err != nil || h.Action != "BLOCK" || h.CurrentAction != "ALLOW" || len(h.Overrides) != 1 || h.Overrides[0].NewAction != "ALLOW" {
			t.Fatalf("prod's d1 %s: %+v %v; want BLOCK, overridden to ALLOW by its one override", when, h, err)
		}
	}
	prodIntact("after dev's events with its keys")
	mend := func(when string) {
		t.Helper()
		for _, s := range dev {
			diff, err := ix.Compare(ctx, s.Entry, s.Record)
			if err != nil {
				t.Fatal(err)
			}
			if diff != nil {
				if err := ix.Repair(ctx, s.Entry, s.Record); err != nil { // what rebuild --only-missing does
					t.Fatal(err)
				}
			}
		}
		prodIntact(when)
	}
	mend("after a check and mend of dev")
	for _, s := range dev {
		if diff, err := ix.Compare(ctx, s.Entry, s.Record); err != nil || diff != nil {
			t.Fatalf("dev seq %d, its key prod's and its anomaly recorded: %+v %v; want no difference", s.Entry.Seq, diff, err)
		}
	}
	// A table indexed before the anomaly existed: check lists the entries,
	// and mending records the anomalies, not the items.
	as, err := ix.Anomalies(ctx, "dev")
	if err != nil || len(as) != 2 {
		t.Fatalf("dev's anomalies %+v %v; want its two item-key-taken", as, err)
	}
	for _, a := range as {
		if _, err := ix.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(ix.Table), Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: layout.PKAnomaly + "dev"},
			"SK": &types.AttributeValueMemberS{Value: fmt.Sprintf("SK#%020d#%s#%020d#", a.Seq, a.Kind, a.OtherSeq)}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range dev {
		if diff, err := ix.Compare(ctx, s.Entry, s.Record); err != nil || diff == nil || !strings.Contains(diff.Detail, "prod") {
			t.Fatalf("dev seq %d, its key prod's and no anomaly: %+v %v; want a difference naming prod", s.Entry.Seq, diff, err)
		}
	}
	mend("after a check and mend of dev without its anomalies")
	if as, err := ix.Anomalies(ctx, "dev"); err != nil || len(as) != 2 || as[0].Kind != indexer.AnomalyItemKeyTaken {
		t.Fatalf("dev's anomalies after the mend %+v %v; want its two item-key-taken", as, err)
	}
}

// A prod decision whose item key a dev decision holds (item-key-taken)
// is recorded so also when its batch failed after its claim (a timeout,
// a throttled call, the indexer killed) and is indexed again: the claim
// is then its own already, not fresh, and the failed conditional write
// was taken for a redelivery's, so the decision stayed out of the index
// with no anomaly.
func TestAKeyTakenIsRecordedWhenTheBatchIsRetried(t *testing.T) {
	ctx := context.Background()
	ix, _ := newIndex(t)
	d9 := decision("d9", "u1", "s1", "BLOCK", "2026-11-27T10:00:00Z")
	_, devRecs, err := pipeline.SealInMemory("dev", [][]byte{[]byte(onChain("dev", d9))}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ix.ApplyBatch(ctx, entriesOf(t, devRecs)); err != nil {
		t.Fatal(err)
	}
	prod := entriesOf(t, sealed(t, d9))
	var once sync.Once
	failing := *ix
	failing.DB = &hookedDB{DynamoAPI: ix.DB, before: func(op string) (crash bool) {
		if op == "GetItem" { // the read of whose item holds the key
			once.Do(func() { crash = true })
		}
		return crash
	}}
	if _, err := failing.ApplyBatch(ctx, prod); !errors.Is(err, errCrash) {
		t.Fatalf("the batch with its read failing: %v, want it failed", err)
	}
	if _, err := ix.ApplyBatch(ctx, prod); err != nil {
		t.Fatal(err)
	}
	as, err := ix.Anomalies(ctx, "prod")
	if err != nil || len(as) != 1 || as[0].Kind != indexer.AnomalyItemKeyTaken {
		t.Fatalf("prod's anomalies after its batch was retried: %+v %v; want its decision's item-key-taken", as, err)
	}
}

// A table indexed before the decision marks has none: a dev decision
// carrying a prod decision's id, event id and occurred_at finds no mark,
// takes the blind path and writes over the prod decision's item, with no
// anomaly (docs/LIMITS.md). Indexing prod's entries again, as
// `aegis rebuild` does, writes the marks, and then the dev event is
// refused and recorded item-key-taken.
func TestAKeyTakenNeedsTheMarksOfAnOlderTable(t *testing.T) {
	ctx := context.Background()
	ix, _ := newIndex(t)
	rd := &query.Reader{DB: ix.DB, Table: ix.Table, Chain: "prod"}
	d9 := decision("d9", "u1", "s1", "BLOCK", "2026-11-27T10:00:00Z")
	prod := entriesOf(t, sealed(t, d9))
	if _, err := ix.ApplyBatch(ctx, prod); err != nil {
		t.Fatal(err)
	}
	m := layout.DecisionMark("d9")
	unmark := func(ix *indexer.Index) {
		if _, err := ix.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(ix.Table), Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: m.PK}, "SK": &types.AttributeValueMemberS{Value: m.SK}}}); err != nil {
			t.Fatal(err)
		}
	}
	unmark(ix)
	_, devRecs, err := pipeline.SealInMemory("dev", [][]byte{[]byte(onChain("dev", d9))}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dev := entriesOf(t, devRecs)
	if _, err := ix.ApplyBatch(ctx, dev); err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Decision(ctx, "d9"); !errors.Is(err, query.ErrNotFound) {
		t.Fatalf("prod's d9 in a table without marks, after dev's: %v; the limit README states is gone, say so", err)
	}
	// The same table rebuilt before dev's event: prod's entries indexed
	// again (their claims held: the careful path, which writes the mark).
	ix2, _ := newIndex(t)
	if _, err := ix2.ApplyBatch(ctx, prod); err != nil {
		t.Fatal(err)
	}
	unmark(ix2)
	if _, err := ix2.ApplyBatch(ctx, prod); err != nil { // aegis rebuild
		t.Fatal(err)
	}
	if _, err := ix2.ApplyBatch(ctx, dev); err != nil {
		t.Fatal(err)
	}
	rd2 := &query.Reader{DB: ix2.DB, Table: ix2.Table, Chain: "prod"}
	if h, err := rd2.Decision(ctx, "d9"); err != nil || h.Action != "BLOCK" {
		t.Fatalf("prod's d9 in a rebuilt table, after dev's: %+v %v; want it", h, err)
	}
	if as, err := ix2.Anomalies(ctx, "dev"); err != nil || len(as) != 1 || as[0].Kind != indexer.AnomalyItemKeyTaken {
		t.Fatalf("dev's anomalies: %+v %v; want its item-key-taken", as, err)
	}
}

// itemsDB counts the items the table's Query answers hand back.
type itemsDB struct {
	indexer.DynamoAPI
	items int
}

func (c *itemsDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := c.DynamoAPI.Query(ctx, in, o...)
	if err == nil {
		c.items += len(out.Items)
	}
	return out, err
}

// Index check compares a decision's current state with its chain's
// overrides in the table, and read them with every other chain's under
// the same decision id, all held at once: a dev producer that overrides a
// prod decision id as often as it likes (its overrides change nothing of
// prod's) made prod's check of that decision hand back, and hold, every
// one of them. The check now keeps only its chain's latest override.
func TestCheckOfADecisionDoesNotHoldAnotherChainsOverrides(t *testing.T) {
	ctx := context.Background()
	ix, _ := newIndex(t)
	prod := entriesOf(t, sealed(t,
		decision("d1", "u1", "s1", "BLOCK", "2026-11-27T10:00:00Z"),
		override(1, "d1", "ALLOW", "2026-11-27T10:05:00Z")))
	if _, err := ix.ApplyBatch(ctx, prod); err != nil {
		t.Fatal(err)
	}
	var spam [][]byte
	for i := range 300 {
		spam = append(spam, []byte(onChain("dev", override(1000+i, "d1", "REVIEW", fmt.Sprintf("2026-11-27T10:%02d:%02dZ", i/60, i%60)))))
	}
	_, devRecs, err := pipeline.SealInMemory("dev", spam, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ix.ApplyBatch(ctx, entriesOf(t, devRecs)); err != nil {
		t.Fatal(err)
	}
	db := &itemsDB{DynamoAPI: ix.DB}
	check := &indexer.Index{DB: db, Table: ix.Table}
	if diff, err := check.Compare(ctx, prod[0].Entry, prod[0].Record); err != nil || diff != nil {
		t.Fatalf("prod's d1: %+v %v; want no difference", diff, err)
	}
	if db.items > 10 {
		t.Fatalf("prod's check of d1 was handed %d items past 300 dev overrides of d1; want its own (a few)", db.items)
	}
}
