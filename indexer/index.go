package indexer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/shared"
)

// Index writes the single table (the item layout is package layout's; the
// query package reads it).
type Index struct {
	DB    DynamoAPI
	Table string
	// OnAnomaly, if set, is called for every anomaly recorded (the
	// indexer logs and counts them).
	OnAnomaly func(Anomaly)
	// Workers bounds the decisions ApplyBatch indexes at once. Default 8.
	Workers int
	// KafkaOptions are added to the Kafka clients of Status (TLS, SASL).
	KafkaOptions []kgo.Opt
}

// Apply indexes one sealed record and raises the high-water seq. It is
// idempotent: applying a record again, or records of one decision in any
// order, leaves the same items.
func (x *Index) Apply(ctx context.Context, rec *shared.SealedRecord) error {
	e, err := x.ApplyItems(ctx, rec)
	if err != nil {
		return err
	}
	return x.RaiseHighWater(ctx, e.Chain, e.Seq, e.Hash)
}

// ApplyItems is Apply without the high-water update, for callers that raise
// it once per batch. It returns the verified entry.
func (x *Index) ApplyItems(ctx context.Context, rec *shared.SealedRecord) (*shared.Entry, error) {
	e, err := shared.ParseLine(rec.Entry)
	if err != nil {
		return nil, fmt.Errorf("sealed record %s line %d: %w", rec.Object, rec.Line, err)
	}
	return e, x.ApplyEntry(ctx, e, rec)
}

// ApplyEntry writes the items of e, already parsed and verified from rec.
// An event whose event id was indexed before from another entry is one
// event sealed twice (a producer retry): the second is recorded as a
// duplicate anomaly, not indexed again. The same event id on a different
// event, and a decision id sealed with two different events, are indexed
// (both reachable) and recorded as conflict anomalies. Nothing the index
// leaves out or holds twice goes unrecorded.
func (x *Index) ApplyEntry(ctx context.Context, e *shared.Entry, rec *shared.SealedRecord) error {
	_, err := x.Apply1(ctx, e, rec)
	return err
}

// Apply1 is ApplyEntry that also reports whether e was a duplicate of an
// event indexed at a lower seq (and so not indexed again).
func (x *Index) Apply1(ctx context.Context, e *shared.Entry, rec *shared.SealedRecord) (dup bool, err error) {
	dups, err := x.ApplyBatch(ctx, []Sealed{{Entry: e, Record: rec}})
	return len(dups) == 1 && dups[0], err
}

// Sealed is one verified entry and the sealed record it was read from.
type Sealed struct {
	Entry  *shared.Entry
	Record *shared.SealedRecord
}

// ApplyBatch indexes entries (in any order; redeliveries allowed) and
// reports which were duplicates of an event indexed at a lower seq. It does
// what ApplyEntry does for each, in three steps that keep every guarantee:
//
//  1. For each decision id, in seq order, each event's id is claimed with a
//     conditional write (a decision's entries are handled by one worker;
//     different decisions by up to Workers at once).
//  2. Items whose every attribute is a function of their own entry
//     (overrides, invalid entries) are written with BatchWriteItem,
//     retrying unprocessed items; decision items, whose current state other
//     entries change, are written only if absent.
//  3. Each decision touched is reconciled once: its current state is raised
//     to its latest override, never lowered.
func (x *Index) ApplyBatch(ctx context.Context, batch []Sealed) ([]bool, error) {
	dups := make([]bool, len(batch))
	// Entries by decision id ("" for invalid entries), each group by seq.
	groups := map[string][]int{}
	items := make([]any, len(batch))
	for i, s := range batch {
		item, err := layout.EntryItem(s.Entry, s.Record)
		if err != nil {
			return nil, err
		}
		items[i] = item
		var id string
		switch it := item.(type) {
		case layout.Decision:
			id = it.DecisionID
		case layout.Override:
			id = it.DecisionID
		}
		groups[id] = append(groups[id], i)
	}
	var (
		mu      sync.Mutex
		blind   []any // written with BatchWriteItem
		touched = map[string]bool{}
	)
	err := x.each(ctx, groups, func(ctx context.Context, id string, idx []int) error {
		sort.Slice(idx, func(a, b int) bool { return batch[idx[a]].Entry.Seq < batch[idx[b]].Entry.Seq })
		for _, i := range idx {
			e := batch[i].Entry
			switch it := items[i].(type) {
			case nil:
			case layout.Invalid:
				mu.Lock()
				blind = append(blind, it)
				mu.Unlock()
			case layout.Decision, layout.Override:
				env, err := e.Envelope()
				if err != nil {
					return err
				}
				c, err := x.claimEvent(ctx, e, env, proofOf(it))
				if err != nil {
					return err
				}
				if c == claimDuplicate {
					dups[i] = true
					continue
				}
				_, isOverride := it.(layout.Override)
				if isOverride && c == claimOwned {
					// The only entry with this event id: its item's key is
					// its own, and every attribute comes from the entry.
					mu.Lock()
					blind = append(blind, it)
					mu.Unlock()
				} else if err := x.putOnce(ctx, it); err != nil {
					return err
				}
				mu.Lock()
				touched[id] = true
				mu.Unlock()
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := x.batchPut(ctx, blind); err != nil {
		return nil, err
	}
	reconcile := map[string][]int{}
	for id := range touched {
		reconcile[id] = nil
	}
	err = x.each(ctx, reconcile, func(ctx context.Context, id string, _ []int) error {
		return x.reconcile(ctx, id)
	})
	return dups, err
}

// proofOf is the proof pointer of a Decision or Override item.
func proofOf(item any) layout.Proof {
	switch it := item.(type) {
	case layout.Decision:
		return it.Proof
	case layout.Override:
		return it.Proof
	}
	return layout.Proof{}
}

// each runs fn for every group on up to Workers goroutines and returns the
// first error.
func (x *Index) each(ctx context.Context, groups map[string][]int, fn func(context.Context, string, []int) error) error {
	workers := x.Workers
	if workers <= 0 {
		workers = 8
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan string)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(workers, len(groups)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				if err := fn(ctx, id, groups[id]); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
	for id := range groups {
		select {
		case work <- id:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// maxBatchWrite is DynamoDB's limit of items per BatchWriteItem.
const maxBatchWrite = 25

// batchPut writes items with BatchWriteItem, 25 at a time, until none is
// left unprocessed: DynamoDB may leave some (throttling), which are sent
// again after a short backoff. Only items that may be overwritten by
// themselves belong here; two items with one key are written once.
func (x *Index) batchPut(ctx context.Context, items []any) error {
	seen := map[layout.ItemKey]bool{}
	var reqs []types.WriteRequest
	for _, it := range items {
		k, _ := layout.KeyOf(it)
		if seen[k] {
			continue
		}
		seen[k] = true
		av, err := attributevalue.MarshalMap(it)
		if err != nil {
			return fmt.Errorf("encode item: %w", err)
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
	}
	for len(reqs) > 0 {
		n := min(len(reqs), maxBatchWrite)
		chunk := reqs[:n]
		reqs = reqs[n:]
		for wait := 10 * time.Millisecond; len(chunk) > 0; wait = min(2*wait, time.Second) {
			out, err := x.DB.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{x.Table: chunk}})
			if err != nil {
				return fmt.Errorf("batch write %d items: %w", len(chunk), err)
			}
			chunk = out.UnprocessedItems[x.Table]
			if len(chunk) == 0 {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	return nil
}

// eventClaim is the item that makes one event id one event in a chain.
type eventClaim struct {
	PK          string `dynamodbav:"PK"`
	SK          string `dynamodbav:"SK"`
	Seq         uint64 `dynamodbav:"seq"`
	EventSHA256 string `dynamodbav:"event_sha256"`
}

// claim is what claimEvent found.
type claim int

const (
	// claimOwned: the event id is this entry's (claimed now, or by an
	// earlier delivery of the same entry).
	claimOwned claim = iota
	// claimDuplicate: another entry with the same event bytes holds it:
	// the same event sealed twice, not to be indexed again.
	claimDuplicate
	// claimReused: another entry with other bytes holds it: both are
	// indexed and an anomaly recorded.
	claimReused
)

// claimEvent records that e carries its event id and says who holds it.
func (x *Index) claimEvent(ctx context.Context, e *shared.Entry, env *shared.Envelope, proof layout.Proof) (claim, error) {
	sum := sha256.Sum256(e.Event)
	c := eventClaim{PK: layout.PKEvent + e.Chain + "#" + env.EventID, SK: layout.SKEvent, Seq: e.Seq, EventSHA256: hex.EncodeToString(sum[:])}
	created, err := x.putIfAbsent(ctx, c)
	if err != nil || created {
		return claimOwned, err
	}
	out, err := x.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(x.Table), ConsistentRead: aws.Bool(true), Key: key(c.PK, c.SK),
	})
	if err != nil {
		return claimOwned, fmt.Errorf("read claim of event %s: %w", env.EventID, err)
	}
	var first eventClaim
	if err := attributevalue.UnmarshalMap(out.Item, &first); err != nil {
		return claimOwned, fmt.Errorf("decode claim of event %s: %w", env.EventID, err)
	}
	if first.Seq == e.Seq {
		return claimOwned, nil // a redelivery of the claiming entry
	}
	lo, hi := min(first.Seq, e.Seq), max(first.Seq, e.Seq)
	if first.EventSHA256 == c.EventSHA256 {
		return claimDuplicate, x.RecordAnomaly(ctx, Anomaly{Chain: e.Chain, Kind: AnomalyDuplicateEvent, Seq: hi, OtherSeq: lo,
			EventID: env.EventID, DecisionID: env.DecisionID(), Object: proof.Object, Line: proof.Line,
			Detail: fmt.Sprintf("event %s was sealed at seq %d and again, identical, at seq %d; the index holds it once (seq %d)", env.EventID, lo, hi, lo)})
	}
	return claimReused, x.RecordAnomaly(ctx, Anomaly{Chain: e.Chain, Kind: AnomalyEventIDReused, Seq: hi, OtherSeq: lo,
		EventID: env.EventID, DecisionID: env.DecisionID(), Object: proof.Object, Line: proof.Line,
		Detail: fmt.Sprintf("event id %s is carried by two different events, seq %d and seq %d; both are indexed", env.EventID, lo, hi)})
}

// putOnce writes item unless an item with its key exists (a redelivery).
func (x *Index) putOnce(ctx context.Context, item any) error {
	_, err := x.putIfAbsent(ctx, item)
	return err
}

// putIfAbsent writes item unless an item with its key exists, and reports
// whether it wrote it.
func (x *Index) putIfAbsent(ctx context.Context, item any) (bool, error) {
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return false, fmt.Errorf("encode item: %w", err)
	}
	_, err = x.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(x.Table), Item: av,
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("put item: %w", err)
	}
	return true, nil
}

// reconcile sets every decision item's current action from the latest
// override (by seq) of the decision's own chain, and records a conflict
// when the decision id holds more than one decision event of one chain.
// Whichever of a decision and its override is written second brings the
// decision up to date, so the order they arrive in does not matter; the
// update is conditional on a lower current seq, so a late or repeated
// reconcile never lowers it. Each chain that used the id is reconciled
// apart: seqs of different chains are not comparable, and an override
// sealed on one chain never changes another chain's decision.
func (x *Index) reconcile(ctx context.Context, decisionID string) error {
	all, err := layout.LoadDecision(ctx, x.DB, x.Table, decisionID)
	if err != nil {
		return err // none indexed yet: it reconciles when one is
	}
	for _, chain := range all.Chains() {
		if err := x.reconcileChain(ctx, chain, decisionID, all.Of(chain)); err != nil {
			return err
		}
	}
	return nil
}

func (x *Index) reconcileChain(ctx context.Context, chain, decisionID string, part layout.Partition) error {
	d := part.Decisions[0]
	for _, c := range part.Decisions[1:] {
		err := x.RecordAnomaly(ctx, Anomaly{Chain: chain, Kind: AnomalyDecisionIDReused, Seq: c.Seq, OtherSeq: d.Seq,
			EventID: c.EventID, DecisionID: decisionID, Object: c.Object, Line: c.Line,
			Detail: fmt.Sprintf("decision %s was sealed by event %s at seq %d and by event %s at seq %d; both are indexed, the first is the decision",
				decisionID, d.EventID, d.Seq, c.EventID, c.Seq)})
		if err != nil {
			return err
		}
	}
	latest := part.Latest()
	if latest == nil {
		return nil
	}
	for _, item := range part.Decisions {
		if latest.Seq <= item.CurrentSeq {
			continue
		}
		_, err := x.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:           aws.String(x.Table),
			Key:                 key(item.PK, item.SK),
			UpdateExpression:    aws.String("SET current_action = :a, current_seq = :s"),
			ConditionExpression: aws.String("current_seq < :s"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":a": str(latest.NewAction), ":s": num(latest.Seq),
			},
		})
		var ccf *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &ccf) {
			return fmt.Errorf("update current action of %s: %w", decisionID, err)
		}
	}
	return nil
}

// RaiseHighWater records seq as the highest seq indexed for chain, unless a
// higher one is recorded.
func (x *Index) RaiseHighWater(ctx context.Context, chain string, seq uint64, hash shared.Hash) error {
	_, err := x.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(x.Table),
		Key:                       key(layout.PKChain+chain, layout.SKHead),
		UpdateExpression:          aws.String("SET #seq = :s, #hash = :h"),
		ConditionExpression:       aws.String("attribute_not_exists(#seq) OR #seq < :s"),
		ExpressionAttributeNames:  map[string]string{"#seq": "seq", "#hash": "hash"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": num(seq), ":h": str(hash.String())},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("raise high-water seq: %w", err)
	}
	return nil
}

// HighWater returns the highest seq indexed for chain (ok false when none).
// Entries are indexed in parallel across partitions, so seqs below it may
// still be in flight; compare with the S3 head to detect a desync.
func (x *Index) HighWater(ctx context.Context, chain string) (seq uint64, ok bool, err error) {
	out, err := x.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(x.Table),
		Key:            key(layout.PKChain+chain, layout.SKHead),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, false, fmt.Errorf("get high-water seq: %w", err)
	}
	if out.Item == nil {
		return 0, false, nil
	}
	var h struct {
		Seq uint64 `dynamodbav:"seq"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &h); err != nil {
		return 0, false, fmt.Errorf("decode high-water seq: %w", err)
	}
	return h.Seq, true, nil
}
