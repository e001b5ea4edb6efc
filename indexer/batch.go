package indexer

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/shared"
)

// pending is one decision or override entry of a batch on its way into
// the table.
type pending struct {
	i     int // its place in the batch
	e     *shared.Entry
	env   *shared.Envelope
	item  any // layout.Decision or layout.Override
	claim eventClaim
	// status is who holds its event id; fresh: this batch claimed it
	// (nothing of the entry was in the table before).
	status claim
	fresh  bool
	// taken: its item's key holds another chain's item (an override's,
	// seen by claimAll's read; a decision's, by its conditional write), or
	// is the key of an event of another chain before it in the batch
	// (sharedKeys).
	taken bool
}

// ApplyBatch indexes entries (in any order; redeliveries allowed) and
// reports which were duplicates of an event indexed at a lower seq. It does
// what ApplyEntry does for each, with as few round trips as the guarantees
// allow (dynalite and DynamoDB charge per call far more than per item):
//
//  1. Claims: the decision ids' marks are read in one BatchGetItem (100
//     keys a call); each event id is claimed with a conditional PutItem
//     (all at once, up to Workers in flight), and an entry whose claim was
//     held already (a redelivery, a reused id, a concurrent writer first)
//     is judged against the holder, read back in one BatchGetItem. Each entry is then owned, a duplicate (not
//     indexed again) or a reused id (indexed, anomaly recorded).
//     An entry whose item's key another chain's item holds, or another
//     chain's entry before it in the batch, is not indexed: it is recorded
//     as item-key-taken (claimAll, sharedKeys).
//  2. A decision id with no mark whose entries here are all freshly claimed
//     and include its decision has nothing in the table yet: its items are
//     written blind, the decision's current state computed from the
//     batch's own overrides, and two decision events of the id recorded as
//     a conflict. Every other decision id (a redelivery, an override of a
//     decision indexed earlier, a claim lost or reused) takes the careful
//     path: decision items written only if absent, overrides blind, then
//     the current state raised, never lowered. A decision id with only
//     overrides here reads its decision items alone (raise), so each
//     override costs the same however many came before it; one with a
//     decision entry reads its partition (reconcile).
//  3. Every blind item (fresh decisions, overrides, invalid entries, the
//     marks of decision ids on the careful path) goes out with
//     BatchWriteItem, 25 a call, on up to Workers calls at once,
//     unprocessed items sent again.
//  4. The marks of the decision ids written blind in step 2 are read
//     again (one BatchGetItem) and written only then: an id whose mark
//     another writer wrote in the meantime is reconciled, since that
//     writer may hold an override that missed the decision (markWritten).
//
// Claims are written before any item, so a batch cut short by a crash is
// redone on the careful path. A claim is never written blind: two writers
// claiming one event id at the same moment (a reused event id on two
// partitions, two indexers holding one partition during a rebalance)
// cannot both own it, so the reuse is always recorded.
func (x *Index) ApplyBatch(ctx context.Context, batch []Sealed) ([]bool, error) {
	dups := make([]bool, len(batch))
	var blind []any
	var events []*pending
	for i, s := range batch {
		item, err := layout.EntryItem(s.Entry, s.Record)
		if err != nil {
			return nil, err
		}
		switch it := item.(type) {
		case layout.Invalid:
			blind = append(blind, it)
		case layout.Decision, layout.Override:
			env, err := s.Entry.Envelope()
			if err != nil {
				return nil, err
			}
			digest := contentDigest(s.Entry, env)
			k := layout.EventClaim(s.Entry.Chain, env.EventID)
			events = append(events, &pending{i: i, e: s.Entry, env: env, item: it,
				claim: eventClaim{PK: k.PK, SK: k.SK, Seq: s.Entry.Seq, EventSHA256: digest}})
		}
	}
	sort.SliceStable(events, func(a, b int) bool { return events[a].e.Seq < events[b].e.Seq })
	marked, err := x.claimAll(ctx, events)
	if err != nil {
		return nil, err
	}
	if err := x.sharedKeys(ctx, events); err != nil {
		return nil, err
	}
	groups := map[string][]*pending{}
	var ids []string
	for _, p := range events {
		if p.status == claimDuplicate {
			dups[p.i] = true
			continue
		}
		if p.taken {
			if err := x.RecordAnomaly(ctx, keyTaken(p)); err != nil {
				return nil, err
			}
			continue
		}
		id := p.env.DecisionID()
		if groups[id] == nil {
			ids = append(ids, id)
		}
		groups[id] = append(groups[id], p)
	}
	var careful, unmarked []string
	for _, id := range ids {
		if marked[id] || !fresh(groups[id]) {
			if !marked[id] {
				k := layout.DecisionMark(id)
				blind = append(blind, decisionMark{PK: k.PK, SK: k.SK})
			}
			careful = append(careful, id)
			continue
		}
		items, err := x.freshItems(ctx, id, groups[id])
		if err != nil {
			return nil, err
		}
		blind = append(blind, items...)
		unmarked = append(unmarked, id)
	}
	var mu sync.Mutex
	err = x.parallel(ctx, len(careful), func(ctx context.Context, n int) error {
		for _, p := range groups[careful[n]] {
			if _, isOverride := p.item.(layout.Override); isOverride && p.status == claimOwned {
				// The only entry of its chain with this event id, and no
				// other chain's item at its key (claimAll read it): every
				// attribute comes from the entry.
				mu.Lock()
				blind = append(blind, p.item)
				mu.Unlock()
				continue
			}
			written, err := x.putIfAbsent(ctx, p.item)
			if err != nil {
				return err
			}
			if !written && p.status == claimOwned {
				// Its event id is its own in its chain (claimed now, or by
				// an earlier try of this batch that failed before it was
				// recorded here, or it is a redelivery): whose the item at
				// its key is, is read.
				other, err := x.chainOfItem(ctx, p.item)
				if err != nil {
					return err
				}
				if other != p.e.Chain {
					if err := x.RecordAnomaly(ctx, keyTaken(p)); err != nil {
						return err
					}
				}
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
	raced, err := x.markWritten(ctx, unmarked)
	if err != nil {
		return nil, err
	}
	ownWork := len(careful) // the ids after it were raced: reconciled whole
	careful = append(careful, raced...)
	err = x.parallel(ctx, len(careful), func(ctx context.Context, n int) error {
		id := careful[n]
		if n >= ownWork {
			return x.reconcile(ctx, id)
		}
		var overrides []layout.Override
		for _, p := range groups[id] {
			o, ok := p.item.(layout.Override)
			if !ok {
				// A decision entry: read the partition, to bring it up to
				// overrides indexed before it and to see a reused id.
				return x.reconcile(ctx, id)
			}
			overrides = append(overrides, o)
		}
		return x.raise(ctx, id, overrides)
	})
	return dups, err
}

// markWritten writes the marks of the decision ids whose items step 2
// wrote blind, now that their items are in the table, and returns the ids
// whose mark is there already: another writer wrote it since the claims
// read the marks, and it may hold an override of the id that missed the
// blind decision item. Reading the mark after writing the items is what
// closes that race: an override's writer writes the override, and the
// mark when it found none, before it reads the decision items (raise),
// so either that read sees the blind item or this read sees a mark, and
// the id is then reconciled (its partition read, the override with it).
// A crash between the items and the mark leaves the claims held, so the
// batch redone takes the careful path. Two writers that both write one
// id blind (a reused decision id) can each read before the other writes,
// and then neither reconciles: docs/LIMITS.md.
func (x *Index) markWritten(ctx context.Context, ids []string) ([]string, error) {
	keys := make([]layout.ItemKey, len(ids))
	for i, id := range ids {
		keys[i] = layout.DecisionMark(id)
	}
	got, err := x.batchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	var raced []string
	var marks []any
	for i, k := range keys {
		if _, ok := got[k]; ok {
			raced = append(raced, ids[i])
		} else {
			marks = append(marks, decisionMark{PK: k.PK, SK: k.SK})
		}
	}
	return raced, x.batchPut(ctx, marks)
}

// decisionMark is the item of layout.DecisionMark.
type decisionMark struct {
	PK string `dynamodbav:"PK"`
	SK string `dynamodbav:"SK"`
}

// fresh: every entry was claimed by this batch and one is the decision.
func fresh(ps []*pending) bool {
	decision := false
	for _, p := range ps {
		if !p.fresh || p.status != claimOwned {
			return false
		}
		_, ok := p.item.(layout.Decision)
		decision = decision || ok
	}
	return decision
}

// freshItems are the items of a decision id the table holds nothing of:
// its decision items with the current state their overrides here give
// them (the latest by seq of the decision's own chain, layout.Decision's
// Overrides), and the overrides. A second decision event of the id in one
// chain is recorded as a conflict, as reconcile does.
func (x *Index) freshItems(ctx context.Context, id string, ps []*pending) ([]any, error) {
	first := map[string]layout.Decision{}   // by chain
	latest := map[string]*layout.Override{} // by chain
	var decisions []layout.Decision
	var items []any
	for _, p := range ps { // by seq
		switch it := p.item.(type) {
		case layout.Decision:
			decisions = append(decisions, it)
		case layout.Override:
			latest[it.Chain()] = &it
			items = append(items, it)
		}
	}
	for _, d := range decisions {
		if f, ok := first[d.Environment]; !ok {
			first[d.Environment] = d
		} else if d.Seq != f.Seq {
			if err := x.RecordAnomaly(ctx, decisionReused(d.Environment, id, f, d)); err != nil {
				return nil, err
			}
		}
		if o := latest[d.Environment]; o != nil && d.Overrides(*o) {
			d.CurrentAction, d.CurrentSeq, d.CurrentSK = o.NewAction, o.Seq, o.SK
		}
		items = append(items, d)
	}
	return items, nil
}

// sharedKeys marks taken the events whose item's key an event of another
// chain has that comes before them in the batch (on the topic), or whose
// key the table holds for another chain. The sealed topic is shared by
// every chain and keyed by decision id, so one batch may hold two chains'
// events with one key (the keys hold no chain); left alone, the batch's
// write kept the first of them by seq, and seqs do not compare across
// chains (a young chain's are low), with no anomaly. The keys so shared
// are read (one BatchGetItem; a batch without them reads nothing more).
func (x *Index) sharedKeys(ctx context.Context, events []*pending) error {
	byKey := map[layout.ItemKey][]*pending{}
	for _, p := range events {
		if p.status == claimDuplicate || p.taken {
			continue
		}
		k, _ := layout.KeyOf(p.item)
		byKey[k] = append(byKey[k], p)
	}
	var shared []layout.ItemKey
	for k, ps := range byKey {
		for _, p := range ps[1:] {
			if p.e.Chain != ps[0].e.Chain {
				shared = append(shared, k)
				break
			}
		}
	}
	if len(shared) == 0 {
		return nil
	}
	got, err := x.batchGet(ctx, shared)
	if err != nil {
		return err
	}
	for _, k := range shared {
		ps := byKey[k]
		holder := slices.MinFunc(ps, func(a, b *pending) int { return cmp.Compare(a.i, b.i) }).e.Chain
		if av, ok := got[k]; ok {
			holder = itemChain(av)
		}
		for _, p := range ps {
			p.taken = p.e.Chain != holder
		}
	}
	return nil
}

// chainOfItem reads the chain of the item at item's key (itemChain; ""
// when there is no item).
func (x *Index) chainOfItem(ctx context.Context, item any) (string, error) {
	key, err := attributevalue.MarshalMap(item)
	if err != nil {
		return "", fmt.Errorf("encode item: %w", err)
	}
	out, err := x.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(x.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"PK": key["PK"], "SK": key["SK"]}})
	if err != nil {
		return "", fmt.Errorf("get item: %w", err)
	}
	return itemChain(out.Item), nil
}

// itemChain is the chain of a decision or override item: its
// environment, or for an item written without one, the chain of its
// object's key ("" when there is none).
func itemChain(av map[string]types.AttributeValue) string {
	var held struct {
		Environment string `dynamodbav:"environment"`
		layout.Proof
	}
	if err := attributevalue.UnmarshalMap(av, &held); err != nil || held.Environment != "" {
		return held.Environment
	}
	return held.Proof.Chain()
}

// keyTaken is the anomaly of an entry whose item's key another chain's
// item holds.
func keyTaken(p *pending) Anomaly {
	proof := proofOf(p.item)
	return Anomaly{Chain: p.e.Chain, Kind: AnomalyItemKeyTaken, Seq: p.e.Seq, EventID: p.env.EventID, DecisionID: p.env.DecisionID(),
		Object: proof.Object, Line: proof.Line,
		Detail: fmt.Sprintf("event %s (decision id %s) is not indexed: its item's key is held by another chain's item with the same decision id, time and event id (the table's keys hold no chain)",
			p.env.EventID, p.env.DecisionID())}
}

// decisionReused is the anomaly of decision id held by decision d and by a
// later decision event c.
func decisionReused(chain, id string, d, c layout.Decision) Anomaly {
	return Anomaly{Chain: chain, Kind: AnomalyDecisionIDReused, Seq: c.Seq, OtherSeq: d.Seq,
		EventID: c.EventID, DecisionID: id, Object: c.Object, Line: c.Line,
		Detail: fmt.Sprintf("decision %s was sealed by event %s at seq %d and by event %s at seq %d; both are indexed, the first is the decision",
			id, d.EventID, d.Seq, c.EventID, c.Seq)}
}

// claimAll settles who holds the event id of every entry (events, by seq)
// and returns the decision ids that have a mark. See ApplyBatch, step 1.
func (x *Index) claimAll(ctx context.Context, events []*pending) (map[string]bool, error) {
	// The marks, and in the same read the items at the overrides' keys:
	// an override is written blind, and its key may hold another chain's
	// override (the keys hold no chain; see pending.taken).
	var keys []layout.ItemKey
	for _, p := range events {
		keys = append(keys, layout.DecisionMark(p.env.DecisionID()))
		if o, ok := p.item.(layout.Override); ok {
			keys = append(keys, layout.ItemKey{PK: o.PK, SK: o.SK})
		}
	}
	got, err := x.batchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	marked := map[string]bool{}
	for k := range got {
		if k.SK == layout.SKIndexed {
			marked[k.PK[len(layout.PKDecision):]] = true
		}
	}
	for _, p := range events {
		if o, ok := p.item.(layout.Override); ok {
			if av, held := got[layout.ItemKey{PK: o.PK, SK: o.SK}]; held {
				other, err := layout.DecodeOverride(av)
				p.taken = err == nil && other.Chain() != p.e.Chain
			}
		}
	}
	// The lowest seq of each event id here claims it. The claims are not
	// read first: the conditional write says whether the id was free, and
	// an id already held (a redelivery, a reused id) costs the same
	// PutItem plus its share of one BatchGetItem, while a new id, the
	// common case, is spared a key read.
	holders := map[layout.ItemKey]eventClaim{}
	claimed := map[layout.ItemKey]bool{}
	var claims []eventClaim
	for _, p := range events {
		k := layout.ItemKey{PK: p.claim.PK, SK: p.claim.SK}
		if _, held := holders[k]; !held {
			holders[k], claimed[k] = p.claim, true
			claims = append(claims, p.claim)
		}
	}
	// Each claim is a conditional PutItem, all of them at once: the write
	// that creates the claim is the only one that owns it, so two writers
	// claiming one event id at the same moment never both win (dynalite
	// has no transactions, and a BatchWriteItem has no conditions). The
	// claims lost are read back in one call and judged against their
	// holder.
	var lostMu sync.Mutex
	var lost []layout.ItemKey
	err = x.parallel(ctx, len(claims), func(ctx context.Context, n int) error {
		created, err := x.putIfAbsent(ctx, claims[n])
		if err != nil || created {
			return err
		}
		lostMu.Lock()
		lost = append(lost, layout.ItemKey{PK: claims[n].PK, SK: claims[n].SK})
		lostMu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(lost) > 0 {
		got, err := x.batchGet(ctx, lost)
		if err != nil {
			return nil, err
		}
		for _, k := range lost {
			c, err := decodeClaim(k, got[k])
			if err != nil {
				return nil, err
			}
			holders[k], claimed[k] = c, false
		}
	}
	for _, p := range events {
		k := layout.ItemKey{PK: p.claim.PK, SK: p.claim.SK}
		var err error
		if p.status, err = x.judge(ctx, p.e, p.env, proofOf(p.item), holders[k]); err != nil {
			return nil, err
		}
		p.fresh = claimed[k] && p.status == claimOwned
	}
	return marked, nil
}

// decodeClaim reads the claim item at k (an error when absent).
func decodeClaim(k layout.ItemKey, av map[string]types.AttributeValue) (eventClaim, error) {
	var c eventClaim
	if err := attributevalue.UnmarshalMap(av, &c); err != nil || c.PK != k.PK {
		return c, fmt.Errorf("claim %s: not read back (%v)", k.PK, err)
	}
	return c, nil
}

// maxBatchGet is DynamoDB's limit of keys per BatchGetItem.
const maxBatchGet = 100

// batchGet reads the items of keys (strongly consistent) with
// BatchGetItem, 100 keys a call on up to Workers calls at once, asking
// again for unprocessed keys after a short backoff. Absent items are
// absent from the map.
func (x *Index) batchGet(ctx context.Context, keys []layout.ItemKey) (map[layout.ItemKey]map[string]types.AttributeValue, error) {
	seen := map[layout.ItemKey]bool{}
	var reqs []map[string]types.AttributeValue
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			reqs = append(reqs, key(k.PK, k.SK))
		}
	}
	out := map[layout.ItemKey]map[string]types.AttributeValue{}
	var mu sync.Mutex
	chunks := (len(reqs) + maxBatchGet - 1) / maxBatchGet
	err := x.parallel(ctx, chunks, func(ctx context.Context, n int) error {
		chunk := reqs[n*maxBatchGet : min((n+1)*maxBatchGet, len(reqs))]
		return untilProcessed(ctx, func() (bool, error) {
			res, err := x.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
				x.Table: {Keys: chunk, ConsistentRead: aws.Bool(true)}}})
			if err != nil {
				return false, fmt.Errorf("batch get %d items: %w", len(chunk), err)
			}
			mu.Lock()
			for _, it := range res.Responses[x.Table] {
				pk, _ := it[layout.AttrPK].(*types.AttributeValueMemberS)
				sk, _ := it[layout.AttrSK].(*types.AttributeValueMemberS)
				if pk != nil && sk != nil {
					out[layout.ItemKey{PK: pk.Value, SK: sk.Value}] = it
				}
			}
			mu.Unlock()
			chunk = res.UnprocessedKeys[x.Table].Keys
			return len(chunk) > 0, nil
		})
	})
	return out, err
}

// parallel runs fn(0..n-1) on up to Workers goroutines and returns the
// first error (the others are cancelled).
func (x *Index) parallel(ctx context.Context, n int, fn func(context.Context, int) error) error {
	workers := x.Workers
	if workers <= 0 {
		workers = 8
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
	for i := range n {
		select {
		case work <- i:
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

// untilProcessed calls step until it reports nothing left (DynamoDB's
// unprocessed keys or items), waiting between calls from 10 ms, doubling
// up to 1 s, or until ctx is done.
func untilProcessed(ctx context.Context, step func() (more bool, err error)) error {
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		more, err := step()
		if err != nil || !more {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
