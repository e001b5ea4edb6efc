package indexer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/internal/testbed/pipeline"
)

// stepDB numbers one writer's DynamoDB calls (from 0) and, before call
// number at, runs other once: another writer's whole batch between two
// steps of this one. With Workers 1 a writer's calls come one at a time,
// in the same order every run, so a number names the same step each
// time. Call number crashAt (none if negative) fails after it reached
// the table: a writer that dies after a write, its reply lost.
type stepDB struct {
	hookedDB
	mu      sync.Mutex
	ops     []string // the calls made, by number
	at      int
	other   func()
	fired   bool
	crashAt int
}

var errCrash = errors.New("the writer died after this call")

// step counts a call (op) and runs other before it if its number is at;
// it reports whether the call is to fail once made.
func (s *stepDB) step(op string) (crash bool) {
	s.mu.Lock()
	n := len(s.ops)
	s.ops = append(s.ops, op)
	run := n == s.at && s.other != nil && !s.fired
	s.fired = s.fired || run
	s.mu.Unlock()
	if run {
		s.other()
	}
	return n == s.crashAt
}

// crashed is out and err of a call, or errCrash if it is the one to fail.
func crashed[T any](crash bool, out T, err error) (T, error) {
	if crash {
		var none T
		return none, errCrash
	}
	return out, err
}

// newStepDB is db's calls numbered, other run before call number at.
func newStepDB(db indexer.DynamoAPI, at, crashAt int, other func()) *stepDB {
	s := &stepDB{at: at, crashAt: crashAt, other: other}
	s.hookedDB = hookedDB{DynamoAPI: db, before: s.step}
	return s
}

// hookedDB runs before ahead of each call it passes on to the table; a
// call before says to crash fails once made (the writer dies after it,
// its reply lost).
type hookedDB struct {
	indexer.DynamoAPI
	before func(op string) (crash bool)
}

// through makes the call op with f, before run ahead of it.
func through[In, Out any](h *hookedDB, op string, f func(context.Context, In, ...func(*dynamodb.Options)) (Out, error),
	ctx context.Context, in In, o []func(*dynamodb.Options)) (Out, error) {
	crash := h.before(op)
	out, err := f(ctx, in, o...)
	return crashed(crash, out, err)
}

func (h *hookedDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return through(h, "BatchGetItem", h.DynamoAPI.BatchGetItem, ctx, in, o)
}

func (h *hookedDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return through(h, "BatchWriteItem", h.DynamoAPI.BatchWriteItem, ctx, in, o)
}

func (h *hookedDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return through(h, "PutItem", h.DynamoAPI.PutItem, ctx, in, o)
}

func (h *hookedDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return through(h, "UpdateItem", h.DynamoAPI.UpdateItem, ctx, in, o)
}

func (h *hookedDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return through(h, "Query", h.DynamoAPI.Query, ctx, in, o)
}

func (h *hookedDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return through(h, "GetItem", h.DynamoAPI.GetItem, ctx, in, o)
}

// raceEntries are the entries the interleavings are built from, by name.
// On chain prod: decision d1 (seq 1) and its overrides o1 (CHALLENGE)
// and o2 (ALLOW); d1 sealed again (a producer's retry, seq 4); decision
// d0 (seq 6), and an override of d1 carrying d0's event id (seq 7: an
// event id reused, so its item goes out with a conditional PutItem).
func raceEntries(t *testing.T) map[string]indexer.Sealed {
	t.Helper()
	d1 := decision("d1", "u1", "s1", "BLOCK", "2026-11-27T10:00:00Z")
	prod := entriesOf(t, sealed(t,
		d1,
		override(1, "d1", "CHALLENGE", "2026-11-27T10:05:00Z"),
		override(2, "d1", "ALLOW", "2026-11-27T10:06:00Z"),
		d1,
		strings.Replace(decision("d1", "u1", "s1", "REVIEW", "2026-11-27T10:07:00Z"), `"event_id":"e-d1"`, `"event_id":"e-d1-again"`, 1),
		decision("d0", "u0", "s0", "BLOCK", "2026-11-27T09:00:00Z"),
		strings.Replace(override(3, "d1", "REVIEW", "2026-11-27T10:08:00Z"), `"o-3"`, `"e-d0"`, 1),
	))
	out := map[string]indexer.Sealed{}
	for i, n := range []string{"d1", "o1", "o2", "d1 resealed", "d1 reused", "d0", "o3 reusing e-d0"} {
		out[n] = prod[i]
	}
	// On chain dev: a decision reusing prod's decision id d1.
	_, devRecs, err := pipeline.SealInMemory("dev", [][]byte{
		[]byte(strings.Replace(decision("d1", "u9", "s9", "ALLOW", "2026-11-27T12:00:00Z"), `"prod"`, `"dev"`, 1)),
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out["dev d1"] = entriesOf(t, devRecs)[0]
	return out
}

// raceCase is two or three writers indexing batches of one decision id
// at once, after pre was indexed.
type raceCase struct {
	name    string
	pre     []string
	a, b, c []string
	// crash: "first write", a dies after its first BatchWriteItem (the
	// items written, not the marks), "every call", after each call of
	// its batch in turn; then it indexes its batch again.
	crash string
}

// pick is the entries of names, in their order.
func pick(all map[string]indexer.Sealed, names []string) []indexer.Sealed {
	var out []indexer.Sealed
	for _, n := range names {
		out = append(out, all[n])
	}
	return out
}

// serialTables are the tables that indexing c's entries leaves when
// nothing runs at once: all in one batch (the first), and each writer's
// batch whole, one after the other, in every order (which of two entries
// with one event id holds it is the first indexed, so orders may differ).
func serialTables(t *testing.T, all map[string]indexer.Sealed, c raceCase) []map[string]string {
	t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	var names []string
	for _, n := range append(append(append([]string{}, c.a...), c.b...), c.c...) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	one := pick(all, names)
	sort.Slice(one, func(i, j int) bool {
		if one[i].Entry.Chain != one[j].Entry.Chain {
			return one[i].Entry.Chain < one[j].Entry.Chain
		}
		return one[i].Entry.Seq < one[j].Entry.Seq
	})
	ws := [][]indexer.Sealed{pick(all, c.a), pick(all, c.b), pick(all, c.c)}
	orders := [][][]indexer.Sealed{{one}, {ws[0], ws[1]}, {ws[1], ws[0]}}
	if c.c != nil {
		orders = orders[:1]
		for _, p := range [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
			orders = append(orders, [][]indexer.Sealed{ws[p[0]], ws[p[1]], ws[p[2]]})
		}
	}
	var out []map[string]string
	for _, batches := range orders {
		ix, _ := newIndex(t)
		for _, b := range append([][]indexer.Sealed{pick(all, c.pre)}, batches...) {
			if _, err := ix.ApplyBatch(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, tableItems(t, ix))
	}
	return out
}

// diffTables says how got differs from want, item by item ("" if not).
func diffTables(got, want map[string]string) string {
	var lines []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			lines = append(lines, "missing "+k)
		} else if g != w {
			lines = append(lines, fmt.Sprintf("item %s\n    got  %s\n    want %s", k, g, w))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			lines = append(lines, "extra "+k)
		}
	}
	sort.Strings(lines)
	if len(lines) == 0 {
		return ""
	}
	return "\n  " + strings.Join(lines, "\n  ")
}

// crashPoints are the numbers of a's calls after which it dies, in turn
// (none: -1 alone).
func crashPoints(t *testing.T, all map[string]indexer.Sealed, c raceCase) []int {
	t.Helper()
	if c.crash == "" {
		return []int{-1}
	}
	ctx := context.Background()
	ix, _ := newIndex(t)
	if _, err := ix.ApplyBatch(ctx, pick(all, c.pre)); err != nil {
		t.Fatal(err)
	}
	db := newStepDB(ix.DB, -1, -1, nil)
	if _, err := (&indexer.Index{DB: db, Table: ix.Table, Workers: 1}).ApplyBatch(ctx, pick(all, c.a)); err != nil {
		t.Fatal(err)
	}
	var out []int
	for n, op := range db.ops {
		if c.crash == "every call" || op == "BatchWriteItem" {
			out = append(out, n)
			if c.crash == "first write" {
				break
			}
		}
	}
	return out
}

// interleavings runs c's writers once for each call of a before which
// b's whole batch runs, and once with b after a; with three writers, for
// each of those and each call of b before which c's whole batch runs;
// with a crash, for each of those and each point a dies at. It returns
// how many runs it made and how those that left a table no serial order
// of the batches leaves differ from the one batch of all the entries.
func interleavings(t *testing.T, all map[string]indexer.Sealed, c raceCase) (runs int, failed []string) {
	t.Helper()
	ctx := context.Background()
	wants := serialTables(t, all, c)
	for _, crashAt := range crashPoints(t, all, c) {
		for k := 0; ; k++ {
			var aFired bool
			for j := 0; ; j++ {
				ix, _ := newIndex(t)
				if _, err := ix.ApplyBatch(ctx, pick(all, c.pre)); err != nil {
					t.Fatal(err)
				}
				index := func(db indexer.DynamoAPI, batch []string) error {
					_, err := (&indexer.Index{DB: db, Table: ix.Table, Workers: 1}).ApplyBatch(ctx, pick(all, batch))
					return err
				}
				bdb := newStepDB(ix.DB, j, -1, nil)
				if c.c != nil {
					bdb.other = func() {
						if err := index(ix.DB, c.c); err != nil {
							t.Error(err)
						}
					}
				}
				runB := func() { // and c after it, if not run yet
					if err := index(bdb, c.b); err != nil {
						t.Error(err)
					}
					if c.c != nil && !bdb.fired {
						bdb.other()
					}
				}
				adb := newStepDB(ix.DB, k, crashAt, runB)
				err := index(adb, c.a)
				if crashAt >= 0 {
					if !errors.Is(err, errCrash) {
						t.Fatalf("a dying after call %d: %v", crashAt, err)
					}
					err = index(adb, c.a) // the batch indexed again
				}
				if err != nil {
					t.Fatal(err)
				}
				if aFired = adb.fired; !aFired {
					runB()
				}
				runs++
				got := tableItems(t, ix)
				diff := diffTables(got, wants[0])
				for _, w := range wants[1:] {
					if diff != "" {
						diff = diffTables(got, w)
					}
				}
				if diff != "" {
					failed = append(failed, fmt.Sprintf("a dying after call %d, b before a's call %d (ops %v), c before b's call %d; against one batch:%s",
						crashAt, k, adb.ops, j, diffTables(got, wants[0])))
				}
				if c.c == nil || !bdb.fired {
					break
				}
			}
			if !aFired {
				break
			}
		}
	}
	return runs, failed
}

// runInterleavings runs the cases' interleavings and fails each case
// with a run whose table no serial order of its batches leaves.
func runInterleavings(t *testing.T, cases []raceCase) {
	all := raceEntries(t)
	var mu sync.Mutex
	total := 0
	t.Cleanup(func() { t.Logf("%d interleavings in all", total) })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			runs, failed := interleavings(t, all, c)
			mu.Lock()
			total += runs
			mu.Unlock()
			t.Logf("%d interleavings, %d failed, %v", runs, len(failed), time.Since(start).Round(time.Millisecond))
			for _, f := range failed {
				t.Error(f)
			}
		})
	}
}

// Two writers index entries of one decision id at the same moment (a
// rebalance's old owner still finishing the partition, a rebuild beside
// the live indexer): the second writer's whole batch runs before each
// call of the first in turn (the first writer's calls come one at a
// time: Workers 1), and after it. Whatever the interleaving, the table
// must hold what indexing the batches one after the other does: here,
// what indexing all the entries in one batch does. Before ApplyBatch read
// a blind decision's mark again after its items (d589884), the first four
// cases failed: the decision written blind and an override indexed beside
// it missed each other, the override written blind, with the careful
// path's conditional PutItem (its event id reused), or beside a
// redelivery of the decision. The last
// guards the window the mark read again opened: a writer dying with the
// decision's items written and its mark not, then indexing the batch
// again.
func TestInterleavingsOfTwoWritersLeaveTheItemsOfOneBatch(t *testing.T) {
	runInterleavings(t, []raceCase{
		{name: "decision, override", a: []string{"d1"}, b: []string{"o1"}},
		{name: "decision with an override, a later override", a: []string{"d1", "o1"}, b: []string{"o2"}},
		{name: "decision, override with a reused event id", pre: []string{"d0"}, a: []string{"d1"}, b: []string{"o3 reusing e-d0"}},
		{name: "decision, decision redelivered with an override", a: []string{"d1"}, b: []string{"d1", "o1"}},
		{name: "decision dying after its items, override", a: []string{"d1"}, b: []string{"o1"}, crash: "first write"},
	})
}

// The interleavings above and more: batches in both orders, three
// writers, a writer dying after each of its calls. Minutes, not seconds:
// make test-interleavings (AEGIS_INTERLEAVINGS=all).
func TestInterleavingsAll(t *testing.T) {
	if os.Getenv("AEGIS_INTERLEAVINGS") != "all" {
		t.Skip("AEGIS_INTERLEAVINGS=all runs it")
	}
	runInterleavings(t, []raceCase{
		{name: "decision, override", a: []string{"d1"}, b: []string{"o1"}},
		{name: "override, decision", a: []string{"o1"}, b: []string{"d1"}},
		{name: "decision with an override, a later override", a: []string{"d1", "o1"}, b: []string{"o2"}},
		{name: "a later override, decision with an override", a: []string{"o2"}, b: []string{"d1", "o1"}},
		{name: "decision with an override, the override redelivered", a: []string{"d1", "o1"}, b: []string{"o1"}},
		{name: "decision, override with a reused event id", pre: []string{"d0"}, a: []string{"d1"}, b: []string{"o3 reusing e-d0"}},
		{name: "override with a reused event id, decision", pre: []string{"d0"}, a: []string{"o3 reusing e-d0"}, b: []string{"d1"}},
		{name: "decision twice", a: []string{"d1"}, b: []string{"d1"}},
		{name: "decision, decision redelivered with an override", a: []string{"d1"}, b: []string{"d1", "o1"}},
		{name: "decision, decision sealed twice with an override", a: []string{"d1"}, b: []string{"d1 resealed", "o1"}},
		{name: "decision, two overrides", a: []string{"d1"}, b: []string{"o1"}, c: []string{"o2"}},
		{name: "override, decision, override", a: []string{"o1"}, b: []string{"d1"}, c: []string{"o2"}},
		{name: "decision dying, override", a: []string{"d1"}, b: []string{"o1"}, crash: "every call"},
		{name: "decision with an override dying, a later override", a: []string{"d1", "o1"}, b: []string{"o2"}, crash: "every call"},
		{name: "override dying, decision", a: []string{"o1"}, b: []string{"d1"}, crash: "every call"},
	})
}

// gate lets one DynamoDB call of one writer at a time through, the
// writer a schedule chooses among those waiting.
type gate struct {
	events  chan gateEvent
	release []chan struct{}
}

// gateEvent: writer w waits at a call, or is done.
type gateEvent struct {
	w    int
	done bool
}

// gateDB is writer w's table behind g: each call waits for g to let it
// through. With dieAfterWrite, its first BatchWriteItem fails once made
// (the writer dies; it indexes its batch again).
func gateDB(db indexer.DynamoAPI, g *gate, w int, dieAfterWrite bool) *hookedDB {
	died := false
	return &hookedDB{DynamoAPI: db, before: func(op string) bool {
		g.events <- gateEvent{w: w}
		<-g.release[w]
		die := op == "BatchWriteItem" && dieAfterWrite && !died
		died = died || die
		return die
	}}
}

// schedule runs the batches of writers (one writer each, Workers 1) on
// ix with their calls interleaved as choices says: at the nth point where
// writers wait, the one of rank choices[n] among them (0 past the end)
// goes on. It returns how many writers waited at each point, and the
// order the calls went in (writer numbers).
func schedule(t *testing.T, ix *indexer.Index, writers [][]indexer.Sealed, dieAfterWrite bool, choices []int) (waiting []int, order string) {
	g := &gate{events: make(chan gateEvent)}
	for range writers {
		g.release = append(g.release, make(chan struct{}))
	}
	for w, batch := range writers {
		go func() {
			db := gateDB(ix.DB, g, w, dieAfterWrite && w == 0)
			x := &indexer.Index{DB: db, Table: ix.Table, Workers: 1}
			_, err := x.ApplyBatch(context.Background(), batch)
			if errors.Is(err, errCrash) {
				_, err = x.ApplyBatch(context.Background(), batch)
			}
			if err != nil {
				t.Error(err)
			}
			g.events <- gateEvent{w: w, done: true}
		}()
	}
	at := map[int]bool{}
	live := len(writers)
	for n := 0; ; n++ {
		for len(at) < live {
			if ev := <-g.events; ev.done {
				live--
			} else {
				at[ev.w] = true
			}
		}
		if live == 0 {
			return waiting, order
		}
		var ws []int
		for w := range at {
			ws = append(ws, w)
		}
		sort.Ints(ws)
		c := 0
		if n < len(choices) {
			c = choices[n]
		}
		waiting = append(waiting, len(ws))
		order += fmt.Sprint(ws[c])
		delete(at, ws[c])
		g.release[ws[c]] <- struct{}{}
	}
}

// everySchedule runs c's writers (a, b and c; a dies after its first
// BatchWriteItem if c.crash is "first write") in every interleaving of
// their calls, one call at a time, depth first, and reports the runs and
// the failures (as interleavings does).
func everySchedule(t *testing.T, all map[string]indexer.Sealed, c raceCase) (runs int, failed []string) {
	t.Helper()
	ctx := context.Background()
	wants := serialTables(t, all, c)
	writers := [][]indexer.Sealed{pick(all, c.a), pick(all, c.b)}
	if c.c != nil {
		writers = append(writers, pick(all, c.c))
	}
	var choices []int
	for {
		ix, _ := newIndex(t)
		if _, err := ix.ApplyBatch(ctx, pick(all, c.pre)); err != nil {
			t.Fatal(err)
		}
		waiting, order := schedule(t, ix, writers, c.crash == "first write", choices)
		runs++
		got := tableItems(t, ix)
		diff := diffTables(got, wants[0])
		for _, w := range wants[1:] {
			if diff != "" {
				diff = diffTables(got, w)
			}
		}
		if diff != "" {
			failed = append(failed, fmt.Sprintf("calls in the order %s (0: a, 1: b, 2: c); against one batch:%s", order, diffTables(got, wants[0])))
		}
		for len(choices) < len(waiting) {
			choices = append(choices, 0)
		}
		n := len(waiting) - 1
		for n >= 0 && choices[n]+1 >= waiting[n] {
			n--
		}
		if n < 0 {
			return runs, failed
		}
		choices[n]++
		choices = choices[:n+1]
	}
}

// Every interleaving of two writers' calls, one call at a time (not only
// one writer's whole batch between two calls of the other): from 277 to
// 2,519 runs a case, ten minutes in all: make test-interleavings
// (AEGIS_INTERLEAVINGS=all).
func TestEveryScheduleOfTwoWriters(t *testing.T) {
	if os.Getenv("AEGIS_INTERLEAVINGS") != "all" {
		t.Skip("AEGIS_INTERLEAVINGS=all runs it")
	}
	all := raceEntries(t)
	for _, c := range []raceCase{
		{name: "decision, override", a: []string{"d1"}, b: []string{"o1"}},
		{name: "decision with an override, a later override", a: []string{"d1", "o1"}, b: []string{"o2"}},
		{name: "decision, override with a reused event id", pre: []string{"d0"}, a: []string{"d1"}, b: []string{"o3 reusing e-d0"}},
		{name: "decision, decision redelivered with an override", a: []string{"d1"}, b: []string{"d1", "o1"}},
		{name: "decision dying after its items, override", a: []string{"d1"}, b: []string{"o1"}, crash: "first write"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			runs, failed := everySchedule(t, all, c)
			t.Logf("%d schedules, %d failed, %v", runs, len(failed), time.Since(start).Round(time.Millisecond))
			for i, f := range failed {
				if i == 3 {
					t.Errorf("and %d more", len(failed)-3)
					break
				}
				t.Error(f)
			}
		})
	}
}
