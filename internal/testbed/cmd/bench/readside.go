package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

var rebuildEntries = 20000

// rebuildThroughput: index items per second rebuilt from S3 into DynamoDB
// (dynalite). Baseline: a raw BatchWriteItem loop of the same items (25 per
// call) with the same concurrency, into another empty table.
func rebuildThroughput(ctx context.Context, st *localstack.Stack) (result, error) {
	bc, err := buildChain(ctx, st, rebuildEntries, 1000, 2)
	if err != nil {
		return result{}, err
	}
	s3c, err := st.S3(ctx)
	if err != nil {
		return result{}, err
	}
	db, err := st.DynamoDB(ctx)
	if err != nil {
		return result{}, err
	}
	const workers = 8
	// The items, as the indexer makes them.
	store := &archive.Store{S3: s3c, Bucket: bc.bucket}
	l, err := store.Log(ctx, bc.chain)
	if err != nil {
		return result{}, err
	}
	var items []map[string]types.AttributeValue
	for _, ref := range l.Batches[1:] {
		obj, err := store.Get(ctx, ref.Key, "")
		if err != nil {
			return result{}, err
		}
		entries, lines, err := shared.ParseObject(ref.Key, ref.FirstSeq, obj.Body)
		if err != nil {
			return result{}, err
		}
		for i, e := range entries {
			it, err := layout.EntryItem(e, &shared.SealedRecord{Object: ref.Key, VersionID: obj.VersionID, Line: i + 1, Entry: lines[i]})
			if err != nil {
				return result{}, err
			}
			av, err := attributevalue.MarshalMap(it)
			if err != nil {
				return result{}, err
			}
			items = append(items, av)
		}
	}
	raw := localstack.Name("raw")
	if err := layout.EnsureTable(ctx, db, raw); err != nil {
		return result{}, err
	}
	var rawCalls, ourCalls callCounter
	baseline, err := batchWriteRaw(ctx, rawCalls.counted(db), raw, items, workers)
	if err != nil {
		return result{}, err
	}
	fmt.Println(rawCalls.report("rebuild_throughput raw", len(items)))

	table := localstack.Name("rebuilt")
	if err := layout.EnsureTable(ctx, db, table); err != nil {
		return result{}, err
	}
	start := time.Now()
	rep, err := replayer.Rebuild(ctx, replayer.RebuildConfig{S3: s3c, Bucket: bc.bucket, Chain: bc.chain, VerifierKey: bc.vkey,
		Index: &indexer.Index{DB: ourCalls.counted(db), Table: table}, Workers: workers})
	if err != nil {
		return result{}, err
	}
	took := time.Since(start)
	value := float64(rep.Applied) / took.Seconds()
	fmt.Println(ourCalls.report("rebuild_throughput rebuild", int(rep.Applied)))
	if err := resumeCost(ctx, replayer.RebuildConfig{S3: s3c, Bucket: bc.bucket, Chain: bc.chain, VerifierKey: bc.vkey,
		Index: &indexer.Index{DB: db, Table: table}, Workers: workers}, rep.HeadSeq, took); err != nil {
		return result{}, err
	}
	return result{value: value, baseline: baseline, unit: "items/s"}, nil
}

// resumeCost prints what a rebuild resumed after a kill at its last
// object costs: it reads and verifies every object again (so that it
// refuses what a full rebuild refuses) and writes none; against full, the
// rebuild that wrote them.
func resumeCost(ctx context.Context, cfg replayer.RebuildConfig, head uint64, full time.Duration) error {
	if err := cfg.Index.SetRebuildDone(ctx, cfg.Chain, "all", head); err != nil {
		return err
	}
	start := time.Now()
	rep, err := replayer.Rebuild(ctx, cfg)
	if err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Printf("rebuild_throughput resumed at its last object: %d objects (%d entries) read and verified again, %d items written, in %.2f s: %.1f%% of the full rebuild's %.2f s\n",
		rep.Resumed, rep.Entries, rep.Applied, took.Seconds(), 100*took.Seconds()/full.Seconds(), full.Seconds())
	return nil
}

// discoverOneDay: seconds to find one user's entries in one day of a
// 30-day chain. Baseline: listing and reading the whole chain (every
// object's bytes), which is what a scan without the day prefixes costs.
func discoverOneDay(ctx context.Context, st *localstack.Stack) (result, error) {
	bc, err := buildChain(ctx, st, verifyEntries/4, 1000, 30)
	if err != nil {
		return result{}, err
	}
	s3c, err := st.S3(ctx)
	if err != nil {
		return result{}, err
	}
	store := &archive.Store{S3: s3c, Bucket: bc.bucket}
	start := time.Now()
	l, err := store.Log(ctx, bc.chain)
	if err != nil {
		return result{}, err
	}
	for _, ref := range l.Batches {
		if _, err := store.Get(ctx, ref.Key, ""); err != nil {
			return result{}, err
		}
	}
	baseline := float64(time.Since(start).Milliseconds())
	day := time.Date(2026, 10, 15, 0, 0, 0, 0, time.UTC)
	// A user with decisions that day: the one of the day's middle entry.
	user := fmt.Sprintf("user-%d", (bc.entries*29/60)%5000)
	start = time.Now()
	found := 0
	rep, err := replayer.Discover(ctx, replayer.DiscoverConfig{S3: s3c, Bucket: bc.bucket, Chain: bc.chain, VerifierKey: bc.vkey,
		From: day, To: day.AddDate(0, 0, 1), UserID: user}, func(replayer.Found) error { found++; return nil })
	if err != nil {
		return result{}, err
	}
	value := float64(time.Since(start).Milliseconds())
	fmt.Printf("discover_one_day: %d entries of %s on %s, %d of %d objects read (%d days listed)\n",
		found, user, day.Format("2006-01-02"), rep.Objects, len(l.Batches), rep.Days)
	if found == 0 {
		return result{}, fmt.Errorf("found nothing: the benchmark's chain has no %s that day", user)
	}
	return result{value: value, baseline: baseline, unit: "ms"}, nil
}
