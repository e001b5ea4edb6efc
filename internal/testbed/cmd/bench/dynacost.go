package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/testbed/localstack"
)

// dynaliteCosts prints (`-dynalite-costs`) what dynalite spends, in CPU
// time per item, on each kind of call the indexer makes for a new
// decision: its item written in a BatchWriteItem (what the raw baseline
// does), its event-id claim written by a conditional PutItem (and, for
// comparison, unconditionally and in a BatchWriteItem), its decision id's
// mark written in a BatchWriteItem and read in a BatchGetItem. dynalite is
// one Node.js thread and the bottleneck of index_throughput and
// rebuild_throughput, so these figures bound their ratios; they move far
// less with the machine's load than wall time does.
func dynaliteCosts(ctx context.Context, st *localstack.Stack) error {
	const n, workers = 10_000, 8
	chain := localstack.Name("cost")
	entries, recs, err := sealedChain(chain, n*11/10, 2000)
	if err != nil {
		return err
	}
	var decisions, claims, marks, markKeys []map[string]types.AttributeValue
	for i, e := range entries {
		it, err := layout.EntryItem(e, recs[i])
		if err != nil {
			return err
		}
		d, ok := it.(layout.Decision)
		if !ok || len(decisions) == n {
			continue
		}
		sum := sha256.Sum256(e.Event)
		c := layout.EventClaim(chain, d.EventID)
		m := layout.DecisionMark(d.DecisionID)
		for _, add := range []struct {
			to *[]map[string]types.AttributeValue
			v  any
		}{{&decisions, d},
			{&claims, map[string]any{"PK": c.PK, "SK": c.SK, "seq": e.Seq, "event_sha256": hex.EncodeToString(sum[:])}},
			{&marks, map[string]any{"PK": m.PK, "SK": m.SK}}, {&markKeys, map[string]any{"PK": m.PK, "SK": m.SK}}} {
			av, err := attributevalue.MarshalMap(add.v)
			if err != nil {
				return err
			}
			*add.to = append(*add.to, av)
		}
	}
	db, err := st.DynamoDB(ctx)
	if err != nil {
		return err
	}
	cost := map[string]float64{} // dynalite CPU µs per item, by what
	measure := func(what string, fn func(table string) error) error {
		table := localstack.Name("cost")
		if err := layout.EnsureTable(ctx, db, table); err != nil {
			return err
		}
		node, start := childCPU("node"), time.Now()
		if err := fn(table); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		cost[what] = (childCPU("node") - node) / n * 1e6
		fmt.Printf("dynalite_cost %-44s %6.0f µs of dynalite CPU per item (%5.0f µs wall)\n", what,
			cost[what], float64(time.Since(start).Microseconds())/n)
		return nil
	}
	batched := func(items []map[string]types.AttributeValue) func(string) error {
		return func(table string) error { _, err := batchWriteRaw(ctx, db, table, items, workers); return err }
	}
	put := func(condition *string) func(string) error {
		return func(table string) error {
			return each(n, workers, func(i int) error {
				_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: claims[i], ConditionExpression: condition})
				return err
			})
		}
	}
	for _, m := range []struct {
		what string
		fn   func(string) error
	}{
		{"decision item, BatchWriteItem", batched(decisions)},
		{"claim, conditional PutItem", put(aws.String("attribute_not_exists(PK)"))},
		{"claim, unconditional PutItem", put(nil)},
		{"claim, BatchWriteItem", batched(claims)},
		{"mark, BatchWriteItem", batched(marks)},
		{"mark (absent), BatchGetItem of 100 keys", func(table string) error {
			return each(n/100, workers, func(i int) error {
				_, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
					table: {Keys: markKeys[i*100 : (i+1)*100], ConsistentRead: aws.Bool(true)}}})
				return err
			})
		}},
	} {
		if err := measure(m.what, m.fn); err != nil {
			return err
		}
	}
	// dynalite is one thread and the bottleneck, so an indexer's ratio to
	// the raw loop (which writes each decision's item alone, batched) is
	// at most the item's cost over what the indexer has dynalite do for
	// one new decision. An event id's claim must be written at least once
	// whatever else is saved, and conditionally so that two writers
	// cannot both own it (docs/ARCHITECTURE.md, indexer/).
	item := cost["decision item, BatchWriteItem"]
	for _, c := range []struct {
		what  string
		extra float64
	}{
		{"the item and a conditional claim (no mark)", cost["claim, conditional PutItem"]},
		{"the item and a claim batched blind (not safe)", cost["claim, BatchWriteItem"]},
		{"what the indexer does (conditional claim, mark written, its two reads)",
			cost["claim, conditional PutItem"] + cost["mark, BatchWriteItem"] + 2*cost["mark (absent), BatchGetItem of 100 keys"]},
	} {
		fmt.Printf("dynalite_cost ceiling of the ratio to the raw loop, %s: %.3f\n", c.what, item/(item+c.extra))
	}
	return nil
}

// each runs fn(0..n-1) on workers goroutines and returns the first error
// (the calls after it are skipped).
func each(n, workers int, fn func(int) error) error {
	work := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	failed := make(chan struct{})
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				select {
				case <-failed:
					continue
				default:
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err; close(failed) })
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return first
}
