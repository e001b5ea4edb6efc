package indexer

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/shared"
)

// AnomalyKind names a way the index differs from a plain one-item-per-entry
// copy of S3. Each is recorded as an Anomaly that `aegis index anomalies`
// lists, counted by aegis_indexer_anomalies_total{kind} and logged.
type AnomalyKind string

const (
	// AnomalyDuplicateEvent: one event (same event id, same content, the
	// recorded_by aside) sealed at two seqs, e.g. a producer retry, also
	// one under another token; indexed once, at the lower seq.
	AnomalyDuplicateEvent AnomalyKind = "duplicate-event"
	// AnomalyEventIDReused: two different events carry one event id; both
	// are indexed (at one item when they also share their decision id and
	// time: the later one is then reached through this anomaly).
	AnomalyEventIDReused AnomalyKind = "event-id-reused"
	// AnomalyDecisionIDReused: two decision events carry one decision id;
	// both are indexed, the lower seq is the decision.
	AnomalyDecisionIDReused AnomalyKind = "decision-id-reused"
	// AnomalyItemKeyTaken: an event whose item's key is held by another
	// chain's item. Item keys hold the decision id, the time and the
	// event id but no chain (package layout), and a producer of one chain
	// may send all three of another chain's event; the item there is not
	// written over, and this event is not indexed (its chain in S3 holds
	// it). OtherSeq is 0: the holder is of another chain.
	AnomalyItemKeyTaken AnomalyKind = "item-key-taken"
	// AnomalyUnindexable: a record of the sealed topic the indexer cannot
	// read (not a sealed record, or a line that does not verify); nothing
	// of it is in the index but this anomaly.
	AnomalyUnindexable AnomalyKind = "unindexable"
)

// UnknownChain files anomalies of records whose chain cannot be read.
const UnknownChain = "(unknown)"

// Anomaly is one recorded difference between the index and S3.
type Anomaly struct {
	PK string `dynamodbav:"PK" json:"-"`
	SK string `dynamodbav:"SK" json:"-"`

	Chain string      `dynamodbav:"chain" json:"chain"`
	Kind  AnomalyKind `dynamodbav:"kind" json:"kind"`
	// Seq is the entry the anomaly is about; OtherSeq the entry it clashes
	// with (0 when none).
	Seq        uint64 `dynamodbav:"seq" json:"seq"`
	OtherSeq   uint64 `dynamodbav:"other_seq,omitempty" json:"other_seq,omitempty"`
	EventID    string `dynamodbav:"event_id,omitempty" json:"event_id,omitempty"`
	DecisionID string `dynamodbav:"decision_id,omitempty" json:"decision_id,omitempty"`
	// Object and Line point at the entry in S3 (as the sealed record said).
	Object string `dynamodbav:"s3_key,omitempty" json:"s3_key,omitempty"`
	Line   int    `dynamodbav:"s3_line,omitempty" json:"s3_line,omitempty"`
	// Source is where an unindexable record was read on the sealed topic.
	Source string `dynamodbav:"source,omitempty" json:"source,omitempty"`
	Detail string `dynamodbav:"detail" json:"detail"`
	// Raw is the start of an unindexable record (at most 4 KiB).
	Raw string `dynamodbav:"raw,omitempty" json:"raw,omitempty"`
}

// RecordAnomaly stores a once per chain, kind, seq, other seq and source:
// recording it again changes nothing and does not call OnAnomaly again.
func (x *Index) RecordAnomaly(ctx context.Context, a Anomaly) error {
	a = anomalyKey(a)
	// What a hostile record says is bounded, so that its anomaly fits in
	// an item (400 KB) and recording it cannot stop the indexer.
	a.Raw = shared.ClipUTF8(a.Raw, 4096)
	a.Detail = shared.ClipUTF8(a.Detail, 4096)
	a.Object = clipKey(a.Object)
	created, err := x.putIfAbsent(ctx, a)
	if created && x.OnAnomaly != nil {
		x.OnAnomaly(a)
	}
	return err
}

// anomalyKey is a with its key: one item per chain, kind, seq, other seq
// and source.
func anomalyKey(a Anomaly) Anomaly {
	a.PK = layout.PKAnomaly + a.Chain
	a.SK = fmt.Sprintf("SK#%020d#%s#%020d#%s", a.Seq, a.Kind, a.OtherSeq, a.Source)
	return a
}

// Anomalies lists the anomalies recorded for chain, by seq.
func (x *Index) Anomalies(ctx context.Context, chain string) ([]Anomaly, error) {
	p := dynamodb.NewQueryPaginator(x.DB, &dynamodb.QueryInput{
		TableName:                 aws.String(x.Table),
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(layout.PKAnomaly + chain)},
		ConsistentRead:            aws.Bool(true),
	})
	var out []Anomaly
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query anomalies of %s: %w", chain, err)
		}
		var as []Anomaly
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &as); err != nil {
			return nil, fmt.Errorf("decode anomalies of %s: %w", chain, err)
		}
		out = append(out, as...)
	}
	return out, nil
}

// clipKey is an object key as a sealed record gave it, cut to S3's limit.
func clipKey(key string) string { return shared.ClipUTF8(key, shared.MaxObjectKey) }
