package indexer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/shared"
)

// This file holds what rebuilding and checking the index from S3 need:
// comparing an entry's item with the table, mending it, listing the
// table's items of a chain, and remembering how far a rebuild got.

// ItemKey names an item of the table.
type ItemKey = layout.ItemKey

// Difference is one way an entry's item in the table differs from S3.
type Difference struct {
	// Kind is "missing", "different" or "extra".
	Kind string `json:"kind"`
	Seq  uint64 `json:"seq"`
	ItemKey
	// Detail names the attributes that differ, or what an extra item is.
	Detail string `json:"detail,omitempty"`
	// Object and Line are where S3 holds the entry (empty for extra items).
	Object string `json:"s3_key,omitempty"`
	Line   int    `json:"s3_line,omitempty"`
}

// Expected reports whether the index must hold e's item: every EVENT and
// INVALID entry, except an event sealed again with the same event id and
// the same content (contentDigest; indexed once, at its first seq), which
// it returns as dup.
func (x *Index) Expected(ctx context.Context, e *shared.Entry) (dup bool, err error) {
	if e.Type != shared.EntryEvent {
		return false, nil
	}
	out, err := x.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(x.Table), ConsistentRead: aws.Bool(true),
		Key: key(layout.PKEvent+e.Chain+"#"+e.EventID(), layout.SKEvent),
	})
	if err != nil || out.Item == nil {
		return false, err
	}
	var claim eventClaim
	if err := attributevalue.UnmarshalMap(out.Item, &claim); err != nil {
		return false, fmt.Errorf("decode claim of event %s: %w", e.EventID(), err)
	}
	env, _ := e.Envelope() // nil: its bytes are its content, as before recorded_by
	return claim.Seq < e.Seq && claim.EventSHA256 == contentDigest(e, env), nil
}

// Compare reads the item the index holds for e (sealed as rec) and says
// how it differs from the item e implies (nil: the same). Attributes kept
// up to date from overrides are not compared with the entry, but with
// the overrides the table holds (staleCurrent).
func (x *Index) Compare(ctx context.Context, e *shared.Entry, rec *shared.SealedRecord) (*Difference, error) {
	item, err := layout.EntryItem(e, rec)
	if err != nil || item == nil {
		return nil, err
	}
	want, err := attributevalue.MarshalMap(item)
	if err != nil {
		return nil, fmt.Errorf("encode item: %w", err)
	}
	k, _ := layout.KeyOf(item)
	out, err := x.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(x.Table), ConsistentRead: aws.Bool(true),
		Key: key(k.PK, k.SK),
	})
	if err != nil {
		return nil, fmt.Errorf("get item %s %s: %w", k.PK, k.SK, err)
	}
	if out.Item == nil {
		return &Difference{Kind: "missing", Seq: e.Seq, ItemKey: k, Object: rec.Object, Line: rec.Line}, nil
	}
	if other, taken := takenBy(item, out.Item, e.Chain); taken {
		// Left out, as the indexer leaves it (item-key-taken): the first
		// to hold a key keeps it. Listed only while its anomaly is missing.
		recorded, err := x.keyTakenRecorded(ctx, e)
		if err != nil || recorded {
			return nil, err
		}
		return &Difference{Kind: "different", Seq: e.Seq, ItemKey: k, Object: rec.Object, Line: rec.Line,
			Detail: fmt.Sprintf("its item's key is held by chain %s's item (the keys hold no chain) and no item-key-taken anomaly is recorded; mending records it and writes no item", other)}, nil
	}
	var diffs []string
	for name, w := range want {
		if layout.Derived[name] {
			continue
		}
		if g, ok := out.Item[name]; !ok || !sameValue(g, w) {
			diffs = append(diffs, name)
		}
	}
	for name := range out.Item {
		if _, ok := want[name]; !ok && !layout.Derived[name] {
			diffs = append(diffs, name)
		}
	}
	var details []string
	if len(diffs) > 0 {
		sort.Strings(diffs)
		details = append(details, "attributes differ: "+strings.Join(diffs, ", "))
	}
	if d, ok := item.(layout.Decision); ok {
		stale, err := x.staleCurrent(ctx, d, out.Item)
		if err != nil {
			return nil, err
		}
		if stale != "" {
			details = append(details, stale)
		}
	}
	if len(details) == 0 {
		return nil, nil
	}
	return &Difference{Kind: "different", Seq: e.Seq, ItemKey: k, Detail: strings.Join(details, "; "), Object: rec.Object, Line: rec.Line}, nil
}

// staleCurrent compares the current state decision item d holds (stored,
// as read) with the one its chain's overrides in the table give it: the
// latest override (by seq), sealed after the decision or before it, else
// the decision's own action (docs/FORMAT.md section 11). The entries' own attributes are compared with S3 one by
// one; this finds the derived state that no entry holds, which an index
// written by an older version (two writers racing on a new decision and
// its override, before ApplyBatch's step 4), two writers of a reused
// decision id (docs/LIMITS.md) or a hand edit can leave stale. It
// reads the decision's overrides: one Query (paged) a decision, handing
// back only its chain's and keeping only the latest (LatestOverride).
func (x *Index) staleCurrent(ctx context.Context, d layout.Decision, stored map[string]types.AttributeValue) (string, error) {
	got, err := layout.DecodeDecision(stored)
	if err != nil {
		return "", fmt.Errorf("decision %s: %w", d.DecisionID, err)
	}
	o, err := layout.LatestOverride(ctx, x.DB, x.Table, d.DecisionID, d.Environment)
	if err != nil {
		return "", fmt.Errorf("decision %s: %w", d.DecisionID, err)
	}
	want, wantSeq, wantSK := d.Action, d.Seq, ""
	if o != nil {
		want, wantSeq, wantSK = o.NewAction, o.Seq, o.SK
	}
	switch {
	case got.CurrentAction == want && got.CurrentSeq == wantSeq && got.CurrentSK == wantSK:
		return "", nil
	case got.CurrentAction == want && got.CurrentSeq == wantSeq && got.CurrentSK == "":
		return fmt.Sprintf("current state %s (seq %d) is right but does not name its override's item (current_sk: an item written before it was kept)",
			want, wantSeq), nil
	}
	return fmt.Sprintf("current state is %s (seq %d), the overrides in the table make it %s (seq %d)",
		got.CurrentAction, got.CurrentSeq, want, wantSeq), nil
}

// takenBy reports whether held, the item at the key of item (an entry of
// chain), is a decision or override item of another chain, and which.
func takenBy(item any, held map[string]types.AttributeValue, chain string) (string, bool) {
	switch item.(type) {
	case layout.Decision, layout.Override:
		other := itemChain(held)
		return other, other != chain
	}
	return "", false
}

// keyTakenRecorded reports whether e's item-key-taken anomaly is recorded.
func (x *Index) keyTakenRecorded(ctx context.Context, e *shared.Entry) (bool, error) {
	a := anomalyKey(Anomaly{Chain: e.Chain, Kind: AnomalyItemKeyTaken, Seq: e.Seq})
	out, err := x.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(x.Table), ConsistentRead: aws.Bool(true),
		Key: key(a.PK, a.SK)})
	if err != nil {
		return false, fmt.Errorf("get anomaly of seq %d: %w", e.Seq, err)
	}
	return out.Item != nil, nil
}

func sameValue(a, b types.AttributeValue) bool {
	var x, y any
	if attributevalue.Unmarshal(a, &x) != nil || attributevalue.Unmarshal(b, &y) != nil {
		return false
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}

// Repair writes e's item over whatever the table holds at its key, then
// brings the decision's current action up to date; but a decision or
// override item of another chain at its key (the keys hold no chain) is
// not written over: e is recorded as item-key-taken instead, as the
// indexer records it.
func (x *Index) Repair(ctx context.Context, e *shared.Entry, rec *shared.SealedRecord) error {
	item, err := layout.EntryItem(e, rec)
	if err != nil || item == nil {
		return err
	}
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return fmt.Errorf("encode item: %w", err)
	}
	put := &dynamodb.PutItemInput{TableName: aws.String(x.Table), Item: av}
	switch item.(type) {
	case layout.Decision, layout.Override:
		put.ConditionExpression = aws.String("attribute_not_exists(PK) OR " + layout.OfChain)
		put.ExpressionAttributeValues = layout.OfChainValues(e.Chain, nil)
	}
	_, err = x.DB.PutItem(ctx, put)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		env, err := e.Envelope()
		if err != nil {
			return err
		}
		return x.RecordAnomaly(ctx, keyTaken(&pending{e: e, env: env, item: item}))
	}
	if err != nil {
		return fmt.Errorf("put item: %w", err)
	}
	switch it := item.(type) {
	case layout.Decision:
		return x.reconcile(ctx, it.DecisionID)
	case layout.Override:
		return x.reconcile(ctx, it.DecisionID)
	}
	return nil
}

// EntryItems calls fn for every decision, override and invalid item of
// chain whose seq is in [lo, hi], with its seq and the object it points
// at (s3_key), by scanning the whole table (a check tool's cost, not a
// lookup's).
func (x *Index) EntryItems(ctx context.Context, chain string, lo, hi uint64, fn func(k ItemKey, seq uint64, object string) error) error {
	p := dynamodb.NewScanPaginator(x.DB, &dynamodb.ScanInput{
		TableName:                 aws.String(x.Table),
		FilterExpression:          aws.String("#seq BETWEEN :lo AND :hi AND contains(s3_key, :env) AND (begins_with(PK, :d) OR begins_with(PK, :i))"),
		ExpressionAttributeNames:  map[string]string{"#seq": "seq"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":lo": num(lo), ":hi": num(hi), ":env": str("/env=" + chain + "/"), ":d": str(layout.PKDecision), ":i": str(layout.PKInvalid + chain)},
		ProjectionExpression:      aws.String("PK, SK, #seq, s3_key"),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("scan %s: %w", x.Table, err)
		}
		for _, it := range page.Items {
			var k struct {
				PK, SK string
				Seq    uint64 `dynamodbav:"seq"`
				Object string `dynamodbav:"s3_key"`
			}
			if err := attributevalue.UnmarshalMap(it, &k); err != nil {
				return err
			}
			if err := fn(ItemKey{PK: k.PK, SK: k.SK}, k.Seq, k.Object); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes an item (one S3 does not hold), then brings its
// decision's current action up to date. A decision item whose current
// state the deleted override set is first set back to its own state:
// reconcile only raises a state, and the state of an override item
// someone added to the table stayed after the item was deleted, naming
// an item that is gone (trial 32: rebuild --only-missing exited 0 and the
// next index check listed the decision).
func (x *Index) Delete(ctx context.Context, chain string, k ItemKey) error {
	out, err := x.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(x.Table),
		Key: key(k.PK, k.SK), ReturnValues: types.ReturnValueAllOld})
	if err != nil {
		return fmt.Errorf("delete item %s %s: %w", k.PK, k.SK, err)
	}
	id, ok := strings.CutPrefix(k.PK, layout.PKDecision)
	if !ok {
		return nil
	}
	if strings.HasPrefix(k.SK, layout.SKOverride) && out.Attributes != nil {
		if o, err := layout.DecodeOverride(out.Attributes); err == nil {
			if err := x.dropState(ctx, id, k.SK, o); err != nil {
				return err
			}
		}
	}
	return x.reconcile(ctx, id)
}

// dropState sets the decision items of id whose current state the
// deleted override item o (at sort key sk) set back to their own: the
// item names it (current_sk), or, written before current_sk was kept,
// holds its seq. The update is conditional on that state, so a state a
// concurrent writer raised meanwhile is left.
func (x *Index) dropState(ctx context.Context, id, sk string, o layout.Override) error {
	decisions, err := layout.LoadDecisionItems(ctx, x.DB, x.Table, id)
	if err != nil {
		return err
	}
	for _, d := range decisions {
		if d.Environment != o.Chain() || d.OwnState() || !(d.CurrentSK == sk || d.CurrentSK == "" && d.CurrentSeq == o.Seq) {
			continue
		}
		_, err := x.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:           aws.String(x.Table),
			Key:                 key(d.PK, d.SK),
			UpdateExpression:    aws.String("SET current_action = :a, current_seq = :own REMOVE current_sk"),
			ConditionExpression: aws.String("current_seq = :s AND (current_sk = :k OR attribute_not_exists(current_sk))"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":a": str(d.Action), ":own": num(d.Seq), ":s": num(o.Seq), ":k": str(sk),
			},
		})
		var ccf *types.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &ccf) {
			return fmt.Errorf("set back the current action of %s: %w", d.DecisionID, err)
		}
	}
	return nil
}

// RebuildDone returns the seq up to which a rebuild of scope finished (ok
// false when none did).
func (x *Index) RebuildDone(ctx context.Context, chain, scope string) (uint64, bool, error) {
	out, err := x.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(x.Table), ConsistentRead: aws.Bool(true),
		Key: key(layout.PKRebuild+chain, "SK#"+scope)})
	if err != nil {
		return 0, false, fmt.Errorf("read rebuild progress: %w", err)
	}
	if out.Item == nil {
		return 0, false, nil
	}
	var p struct {
		Seq uint64 `dynamodbav:"seq"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &p); err != nil {
		return 0, false, err
	}
	return p.Seq, true, nil
}

// SetRebuildDone records that a rebuild of scope finished up to seq.
func (x *Index) SetRebuildDone(ctx context.Context, chain, scope string, seq uint64) error {
	_, err := x.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(x.Table), Item: map[string]types.AttributeValue{
		layout.AttrPK: str(layout.PKRebuild + chain), layout.AttrSK: str("SK#" + scope), "seq": num(seq)}})
	if err != nil {
		return fmt.Errorf("record rebuild progress: %w", err)
	}
	return nil
}

// ClearRebuildDone forgets a rebuild's progress (it starts over).
func (x *Index) ClearRebuildDone(ctx context.Context, chain, scope string) error {
	_, err := x.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(x.Table),
		Key: key(layout.PKRebuild+chain, "SK#"+scope)})
	if err != nil {
		return fmt.Errorf("clear rebuild progress: %w", err)
	}
	return nil
}
