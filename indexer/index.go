package indexer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

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

// maxBatchWrite is DynamoDB's limit of items per BatchWriteItem.
const maxBatchWrite = 25

// batchPut writes items with BatchWriteItem, 25 at a time, until none is
// left unprocessed: DynamoDB may leave some (throttling), which are sent
// again after a short backoff; up to Workers calls at once. Only items
// that may be overwritten by themselves belong here; of two items with one
// key (DynamoDB refuses both in one call), the first is written.
func (x *Index) batchPut(ctx context.Context, items []any) error {
	seen := map[layout.ItemKey]bool{}
	var reqs []types.WriteRequest
	for _, it := range items {
		av, err := attributevalue.MarshalMap(it)
		if err != nil {
			return fmt.Errorf("encode item: %w", err)
		}
		pk, _ := av[layout.AttrPK].(*types.AttributeValueMemberS)
		sk, _ := av[layout.AttrSK].(*types.AttributeValueMemberS)
		if pk == nil || sk == nil {
			return fmt.Errorf("encode item: %T has no PK and SK", it)
		}
		k := layout.ItemKey{PK: pk.Value, SK: sk.Value}
		if seen[k] {
			continue
		}
		seen[k] = true
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
	}
	chunks := (len(reqs) + maxBatchWrite - 1) / maxBatchWrite
	return x.parallel(ctx, chunks, func(ctx context.Context, n int) error {
		chunk := reqs[n*maxBatchWrite : min((n+1)*maxBatchWrite, len(reqs))]
		return untilProcessed(ctx, func() (bool, error) {
			out, err := x.DB.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{x.Table: chunk}})
			if err != nil {
				return false, fmt.Errorf("batch write %d items: %w", len(chunk), err)
			}
			chunk = out.UnprocessedItems[x.Table]
			return len(chunk) > 0, nil
		})
	})
}

// eventClaim is the item that makes one event id one event in a chain.
type eventClaim struct {
	PK          string `dynamodbav:"PK"`
	SK          string `dynamodbav:"SK"`
	Seq         uint64 `dynamodbav:"seq"`
	EventSHA256 string `dynamodbav:"event_sha256"`
}

// contentDigest is the hex SHA-256 of e's event content (recorded_by
// aside: shared.Entry.EventContent), which a claim keeps: the same
// event sealed again, also under another credential, is a duplicate.
// Events without recorded_by, all those sealed before it existed, keep
// the digest of their bytes, as claims made before held.
func contentDigest(e *shared.Entry, env *shared.Envelope) string {
	sum := sha256.Sum256(e.EventContent(env))
	return hex.EncodeToString(sum[:])
}

// claim is who holds an entry's event id (judge).
type claim int

const (
	// claimOwned: the event id is this entry's (claimed now, or by an
	// earlier delivery of the same entry).
	claimOwned claim = iota
	// claimDuplicate: another entry with the same event content holds
	// it: the same event sealed twice, not to be indexed again.
	claimDuplicate
	// claimReused: another entry with other content holds it: both are
	// indexed and an anomaly recorded.
	claimReused
)

// judge says who holds e's event id, given the claim that holds it
// (first), and records the anomaly when another entry does.
func (x *Index) judge(ctx context.Context, e *shared.Entry, env *shared.Envelope, proof layout.Proof, first eventClaim) (claim, error) {
	if first.Seq == e.Seq {
		return claimOwned, nil // the claiming entry (or a redelivery of it)
	}
	digest := contentDigest(e, env)
	lo, hi := min(first.Seq, e.Seq), max(first.Seq, e.Seq)
	if first.EventSHA256 == digest {
		return claimDuplicate, x.RecordAnomaly(ctx, Anomaly{Chain: e.Chain, Kind: AnomalyDuplicateEvent, Seq: hi, OtherSeq: lo,
			EventID: env.EventID, DecisionID: env.DecisionID(), Object: proof.Object, Line: proof.Line,
			Detail: fmt.Sprintf("event %s was sealed at seq %d and again, identical (whom it was recorded for aside), at seq %d; the index holds it once (seq %d)",
				env.EventID, lo, hi, lo)})
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
		if err := x.RecordAnomaly(ctx, decisionReused(chain, decisionID, d, c)); err != nil {
			return err
		}
	}
	latest := part.Latest()
	if latest == nil {
		return nil
	}
	for _, item := range part.Decisions {
		if err := x.setCurrent(ctx, item, *latest); err != nil {
			return err
		}
	}
	return nil
}

// raise brings the decision items of decisionID up to the latest of
// overrides (entries of one batch, of any chains), reading only the
// decision items: the overrides indexed before are not read again. Each
// item's current seq is the seq of the override that set it, and the
// update is conditional on a lower one, so the state reached is the
// latest override whatever order they arrive in and however often.
// A decision item written after this read brings itself up to date: on
// the careful path its own entry is reconciled (it reads the overrides,
// this one's included: the override item is written before this read);
// written blind, its writer then finds the decision's mark, which exists
// before this read too, and reconciles (ApplyBatch, step 4).
func (x *Index) raise(ctx context.Context, decisionID string, overrides []layout.Override) error {
	latest := map[string]layout.Override{} // by chain
	for _, o := range overrides {
		if l, ok := latest[o.Chain()]; !ok || o.Seq > l.Seq {
			latest[o.Chain()] = o
		}
	}
	decisions, err := layout.LoadDecisionItems(ctx, x.DB, x.Table, decisionID)
	if err != nil {
		return err
	}
	for _, d := range decisions {
		if o, ok := latest[d.Environment]; ok {
			if err := x.setCurrent(ctx, d, o); err != nil {
				return err
			}
		}
	}
	return nil
}

// setCurrent makes o decision item d's current state, unless a later
// override (by seq) already is (layout.Decision's Overrides). The
// condition makes it safe against a concurrent or late writer; the same
// seq without CurrentSK (an item written before it was kept) is
// completed, and a decision's own state (no current_sk, current_seq its
// own seq) gives way to any override, one sealed before it too.
func (x *Index) setCurrent(ctx context.Context, d layout.Decision, o layout.Override) error {
	if !d.Overrides(o) {
		return nil
	}
	_, err := x.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(x.Table),
		Key:                 key(d.PK, d.SK),
		UpdateExpression:    aws.String("SET current_action = :a, current_seq = :s, current_sk = :k"),
		ConditionExpression: aws.String("current_seq < :s OR (attribute_not_exists(current_sk) AND (current_seq = :s OR current_seq = seq))"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":a": str(o.NewAction), ":s": num(o.Seq), ":k": str(o.SK),
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("update current action of %s: %w", d.DecisionID, err)
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
