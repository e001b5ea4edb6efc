package main

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/platform/topics"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/shared"
)

// The read side's benchmarks (issue 9): lookups on a table of
// lookupDecisions decisions, and indexing throughput.
var (
	lookupDecisions = 100_000
	// lookupCount: the p99 of 2,000 lookups (the least) is the
	// 20th slowest, and moved the ratio by a quarter between quiet runs
	// (0.975 to 1.318: a few of dynalite's pauses more or less); of
	// 10,000 it is the 100th (docs/MEASUREMENTS.md, 2026-12-01).
	lookupCount  = 10_000
	indexRecords = 20_000
)

// sealedChain seals n events of chain in memory: decisions over users and
// sessions, one override for every tenth decision.
func sealedChain(chain string, n, users int) ([]*shared.Entry, []*shared.SealedRecord, error) {
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	var raws [][]byte
	add := func(ev map[string]any) {
		b, _ := json.Marshal(ev)
		raws = append(raws, b)
	}
	for i := 0; len(raws) < n; i++ {
		id := fmt.Sprintf("%s-dec-%07d", chain, i)
		at := shared.FormatTime(start.Add(time.Duration(len(raws)) * time.Second))
		u := i % users
		add(map[string]any{"type": "decision", "event_id": fmt.Sprintf("e-%d", i), "environment": chain, "occurred_at": at,
			"decision": map[string]any{"decision_id": id, "action": "BLOCK", "confidence_score": 0.5, "policy_version": "p",
				"user_id": fmt.Sprintf("user-%05d", u), "session_id": fmt.Sprintf("sess-%05d-%d", u, i/(users*4))}})
		if i%10 == 0 && len(raws) < n {
			add(map[string]any{"type": "override", "event_id": fmt.Sprintf("o-%d", i), "environment": chain, "occurred_at": at,
				"override": map[string]any{"decision_id": id, "reviewer_id": "r", "new_action": "ALLOW", "reason": "checked"}})
		}
	}
	return pipeline.SealInMemory(chain, raws, start)
}

// loadRaw writes the items of the entries into table with BatchWriteItem
// on workers goroutines, and returns the items written per second.
func loadRaw(ctx context.Context, db *dynamodb.Client, table string, entries []*shared.Entry, recs []*shared.SealedRecord, workers int) (float64, error) {
	items := make([]map[string]types.AttributeValue, 0, len(entries))
	for i, e := range entries {
		it, err := layout.EntryItem(e, recs[i])
		if err != nil {
			return 0, err
		}
		av, err := attributevalue.MarshalMap(it)
		if err != nil {
			return 0, err
		}
		items = append(items, av)
	}
	return batchWriteRaw(ctx, db, table, items, workers)
}

// batchWriteRaw writes items into table with a raw BatchWriteItem loop (25
// items per call, unprocessed items sent again) on workers goroutines, and
// returns the items written per second: the baseline of the write
// benchmarks.
func batchWriteRaw(ctx context.Context, db *dynamodb.Client, table string, items []map[string]types.AttributeValue, workers int) (float64, error) {
	start := time.Now()
	work := make(chan []map[string]types.AttributeValue)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var werr error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range work {
				reqs := make([]types.WriteRequest, len(batch))
				for i, it := range batch {
					reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
				}
				for len(reqs) > 0 {
					out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
					if err != nil {
						mu.Lock()
						werr = err
						mu.Unlock()
						return
					}
					reqs = out.UnprocessedItems[table]
				}
			}
		}()
	}
	for i := 0; i < len(items); i += 25 {
		work <- items[i:min(i+25, len(items))]
	}
	close(work)
	wg.Wait()
	return float64(len(items)) / time.Since(start).Seconds(), werr
}

// lookupTable is the table of lookupDecisions decisions the lookup
// benchmarks share.
type lookupTable struct {
	db                 *dynamodb.Client
	table, chain       string
	ids, users, sessns []string
}

var (
	lookupOnce sync.Once
	lookupTab  *lookupTable
	lookupErr  error
)

func loadLookupTable(ctx context.Context, st *localstack.Stack) (*lookupTable, error) {
	lookupOnce.Do(func() {
		lt := &lookupTable{table: localstack.Name("lookup"), chain: localstack.Name("lookup")}
		if lt.db, lookupErr = st.DynamoDB(ctx); lookupErr != nil {
			return
		}
		if lookupErr = layout.EnsureTable(ctx, lt.db, lt.table); lookupErr != nil {
			return
		}
		entries, recs, err := sealedChain(lt.chain, lookupDecisions*11/10, 5000)
		if err != nil {
			lookupErr = err
			return
		}
		users, sessions := map[string]bool{}, map[string]bool{}
		for _, e := range entries {
			env, _ := e.Envelope()
			if d := env.Decision; d != nil {
				lt.ids = append(lt.ids, d.DecisionID)
				users[d.UserID], sessions[d.SessionID] = true, true
			}
		}
		for u := range users {
			lt.users = append(lt.users, u)
		}
		for s := range sessions {
			lt.sessns = append(lt.sessns, s)
		}
		started := time.Now()
		rate, err := loadRaw(ctx, lt.db, lt.table, entries, recs, 8)
		if err != nil {
			lookupErr = err
			return
		}
		fmt.Printf("lookup table: %d decisions (%d items, %d users, %d sessions) loaded in %s (%.0f items/s)\n",
			len(lt.ids), len(entries), len(users), len(sessions), time.Since(started).Round(time.Second), rate)
		lookupTab = lt
	})
	return lookupTab, lookupErr
}

// lookupP99 measures the 99th percentile latency (ms) of lookupCount
// lookups through package query, and of the same reads made with the raw
// SDK, interleaved so that both see the same load.
func lookupP99(kind string) benchmark {
	return func(ctx context.Context, st *localstack.Stack) (result, error) {
		lt, err := loadLookupTable(ctx, st)
		if err != nil {
			return result{}, err
		}
		rd := &query.Reader{DB: lt.db, Table: lt.table, Chain: lt.chain}
		r := mrand.New(mrand.NewPCG(9, uint64(len(kind))))
		var ours, raw []time.Duration
		for i := range lookupCount {
			var err error
			var viaQuery, viaSDK func() error
			switch kind {
			case "id":
				id := lt.ids[r.IntN(len(lt.ids))]
				viaQuery = func() error { _, err := rd.Decision(ctx, id); return err }
				viaSDK = func() error {
					_, err := lt.db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(lt.table), ConsistentRead: aws.Bool(true),
						KeyConditionExpression:    aws.String("PK = :pk"),
						ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: layout.DecisionPK(id)}}})
					return err
				}
			default:
				index, attr, pk, key := layout.GSI1, layout.AttrGSI1PK, "", ""
				if kind == "user" {
					key = lt.users[r.IntN(len(lt.users))]
					pk = layout.UserPK(key)
					viaQuery = func() error { _, err := rd.ByUser(ctx, key, query.Range{}); return err }
				} else {
					index, attr = layout.GSI2, layout.AttrGSI2PK
					key = lt.sessns[r.IntN(len(lt.sessns))]
					pk = layout.SessionPK(key)
					viaQuery = func() error { _, err := rd.BySession(ctx, key, query.Range{}); return err }
				}
				viaSDK = func() error {
					_, err := lt.db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(lt.table), IndexName: aws.String(index),
						KeyConditionExpression:    aws.String(attr + " = :pk"),
						ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
						ScanIndexForward:          aws.Bool(false), Limit: aws.Int32(query.DefaultLimit + 1)})
					return err
				}
			}
			// Alternate which goes first.
			first, second, a, b := viaQuery, viaSDK, &ours, &raw
			if i%2 == 1 {
				first, second, a, b = viaSDK, viaQuery, &raw, &ours
			}
			t := time.Now()
			if err = first(); err != nil {
				return result{}, err
			}
			*a = append(*a, time.Since(t))
			t = time.Now()
			if err = second(); err != nil {
				return result{}, err
			}
			*b = append(*b, time.Since(t))
		}
		p99, rawP99 := p99ms(ours), p99ms(raw) // sorts both
		fmt.Printf("lookup_by_%s: p50 %.2f ms, p90 %.2f, p99 %.2f, max %.2f; raw p50 %.2f, p90 %.2f, p99 %.2f, max %.2f (%d lookups each)\n", kind,
			ms(ours[len(ours)/2]), ms(ours[len(ours)*9/10]), p99, ms(ours[len(ours)-1]),
			ms(raw[len(raw)/2]), ms(raw[len(raw)*9/10]), rawP99, ms(raw[len(raw)-1]), len(ours))
		return result{value: p99, baseline: rawP99, unit: "ms"}, nil
	}
}

// p99ms sorts ds and returns its 99th percentile in ms.
func p99ms(ds []time.Duration) float64 {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ms(ds[len(ds)*99/100])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// indexThroughput: sealed records indexed per second from a pre-loaded
// six-partition sealed topic by n indexers (in process, one consumer
// group, a new table). Baseline: a raw BatchWriteItem loop of the same
// items with n workers into another new table.
func indexThroughput(n int) benchmark {
	return func(ctx context.Context, st *localstack.Stack) (result, error) {
		chain := localstack.Name("ix")
		entries, recs, err := sealedChain(chain, indexRecords, 2000)
		if err != nil {
			return result{}, err
		}
		db, err := st.DynamoDB(ctx)
		if err != nil {
			return result{}, err
		}
		raw := localstack.Name("raw")
		if err := layout.EnsureTable(ctx, db, raw); err != nil {
			return result{}, err
		}
		var rawCalls, ourCalls callCounter
		baseline, err := loadRaw(ctx, rawCalls.counted(db), raw, entries, recs, n)
		if err != nil {
			return result{}, err
		}
		fmt.Println(rawCalls.report("index_throughput raw", len(entries)))

		topic := localstack.Name("sealed")
		cl, err := kgo.NewClient(kgo.SeedBrokers(st.KafkaAddr), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
		if err != nil {
			return result{}, err
		}
		defer cl.Close()
		if _, err := topics.Ensure(ctx, cl, topic, 6); err != nil {
			return result{}, err
		}
		var records []*kgo.Record
		for i, e := range entries {
			env, _ := e.Envelope()
			v, _ := json.Marshal(recs[i])
			records = append(records, &kgo.Record{Key: []byte(env.DecisionID()), Value: v})
		}
		if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
			return result{}, err
		}
		table := localstack.Name("indexed")
		if err := layout.EnsureTable(ctx, db, table); err != nil {
			return result{}, err
		}
		group := localstack.Name("bench-indexers")
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		start := time.Now()
		ours := ourCalls.counted(db)
		for range n {
			ix, err := indexer.New(ctx, indexer.Config{Brokers: []string{st.KafkaAddr}, SealedTopic: topic, Group: group, DynamoDB: ours, Table: table})
			if err != nil {
				return result{}, err
			}
			wg.Add(1)
			go func() { defer wg.Done(); errs <- ix.Run(runCtx) }()
		}
		adm := kadm.NewClient(cl)
		for {
			done, err := groupCaughtUp(ctx, adm, topic, group)
			if err != nil {
				return result{}, err
			}
			if done {
				break
			}
			select {
			case err := <-errs:
				return result{}, fmt.Errorf("an indexer stopped: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
		}
		value := float64(len(entries)) / time.Since(start).Seconds()
		stop()
		wg.Wait()
		fmt.Println(ourCalls.report(fmt.Sprintf("index_throughput %d indexer(s)", n), len(entries)))
		return result{value: value, baseline: baseline, unit: "items/s"}, nil
	}
}

// groupCaughtUp reports whether group has committed every record of topic.
func groupCaughtUp(ctx context.Context, adm *kadm.Client, topic, group string) (bool, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return false, err
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, nil // the group does not exist yet
	}
	done := true
	ends.Each(func(end kadm.ListedOffset) {
		c, ok := committed.Lookup(topic, end.Partition)
		if end.Offset > 0 && (!ok || c.At < end.Offset) {
			done = false
		}
	})
	return done, nil
}
