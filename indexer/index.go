package indexer

import (
	"github.com/twmb/franz-go/pkg/kgo"

	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aegisai/audit/shared"
)

// Key prefixes of the single table.
const (
	pkDecision = "PK#DECISION#"
	skDecision = "SK#DECISION#"
	skOverride = "SK#OVERRIDE#"
	pkChain    = "PK#CHAIN#"
	skHead     = "SK#HEAD"
	pkInvalid  = "PK#INVALID#"
	pkEvent    = "PK#EVENT#"
	skEvent    = "SK#EVENT"
	pkAnomaly  = "PK#ANOMALY#"
	gsi1User   = "USER#"
	gsi2Sess   = "SESSION#"
)

// sortTime is a fixed-width UTC time, so string order is time order.
const sortTime = "2006-01-02T15:04:05.000000000Z"

// Proof points from an item back to its sealed entry in S3.
type Proof struct {
	Seq       uint64 `dynamodbav:"seq" json:"seq"`
	Hash      string `dynamodbav:"hash" json:"hash"`
	Object    string `dynamodbav:"s3_key" json:"s3_key"`
	VersionID string `dynamodbav:"s3_version_id,omitempty" json:"s3_version_id,omitempty"`
	Line      int    `dynamodbav:"s3_line" json:"s3_line"`
}

// Decision is a decision item: the decision as sealed, its current action
// (after the latest override) and its proof pointer.
type Decision struct {
	PK     string `dynamodbav:"PK" json:"-"`
	SK     string `dynamodbav:"SK" json:"-"`
	GSI1PK string `dynamodbav:"GSI1PK" json:"-"`
	GSI1SK string `dynamodbav:"GSI1SK" json:"-"`
	GSI2PK string `dynamodbav:"GSI2PK" json:"-"`
	GSI2SK string `dynamodbav:"GSI2SK" json:"-"`

	DecisionID      string    `dynamodbav:"decision_id" json:"decision_id"`
	EventID         string    `dynamodbav:"event_id" json:"event_id"`
	Environment     string    `dynamodbav:"environment" json:"environment"`
	OccurredAt      time.Time `dynamodbav:"occurred_at" json:"occurred_at"`
	Action          string    `dynamodbav:"action" json:"action"`
	ConfidenceScore float64   `dynamodbav:"confidence_score" json:"confidence_score"`
	PolicyVersion   string    `dynamodbav:"policy_version" json:"policy_version"`
	UserID          string    `dynamodbav:"user_id" json:"user_id"`
	SessionID       string    `dynamodbav:"session_id" json:"session_id"`
	Metadata        string    `dynamodbav:"metadata,omitempty" json:"metadata,omitempty"`
	// CurrentAction is Action, or the NewAction of the latest override.
	CurrentAction string `dynamodbav:"current_action" json:"current_action"`
	// CurrentSeq is the seq of the entry that set CurrentAction.
	CurrentSeq uint64 `dynamodbav:"current_seq" json:"current_seq"`
	Proof

	// Overrides is filled by Index.Decision, oldest first.
	Overrides []Override `dynamodbav:"-" json:"overrides,omitempty"`
	// Conflicting is filled by Index.Decision when the decision id was
	// sealed more than once with different events (a producer reused it):
	// the other decision events, by seq. Each is also listed as an anomaly.
	Conflicting []Decision `dynamodbav:"-" json:"conflicting,omitempty"`
}

// Override is an override item, stored under its decision's PK.
type Override struct {
	PK string `dynamodbav:"PK" json:"-"`
	SK string `dynamodbav:"SK" json:"-"`

	DecisionID string    `dynamodbav:"decision_id" json:"decision_id"`
	EventID    string    `dynamodbav:"event_id" json:"event_id"`
	OccurredAt time.Time `dynamodbav:"occurred_at" json:"occurred_at"`
	ReviewerID string    `dynamodbav:"reviewer_id" json:"reviewer_id"`
	NewAction  string    `dynamodbav:"new_action" json:"new_action"`
	Reason     string    `dynamodbav:"reason" json:"reason"`
	Proof
}

// Index reads and writes the single table.
type Index struct {
	DB    DynamoAPI
	Table string
	// OnAnomaly, if set, is called for every anomaly recorded (the
	// indexer logs and counts them).
	OnAnomaly func(Anomaly)
	// KafkaOptions are added to the Kafka clients of Status (TLS, SASL).
	KafkaOptions []kgo.Opt
}

// ErrNotFound is returned for a decision that is not indexed.
var ErrNotFound = errors.New("not found in the index")

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
	item, err := EntryItem(e, rec)
	if err != nil || item == nil {
		return false, err
	}
	var decisionID string
	var proof Proof
	switch it := item.(type) {
	case Decision:
		decisionID, proof = it.DecisionID, it.Proof
	case Override:
		decisionID, proof = it.DecisionID, it.Proof
	default:
		return false, x.putOnce(ctx, it)
	}
	env, err := e.Envelope()
	if err != nil {
		return false, err
	}
	if dup, err := x.claimEvent(ctx, e, env, proof); err != nil || dup {
		return dup, err
	}
	if err := x.putOnce(ctx, item); err != nil {
		return false, err
	}
	return false, x.reconcile(ctx, e.Chain, decisionID)
}

// Invalid is the item of an INVALID entry.
type Invalid struct {
	PK     string `dynamodbav:"PK" json:"-"`
	SK     string `dynamodbav:"SK" json:"-"`
	Reason string `dynamodbav:"reason" json:"reason"`
	Size   int    `dynamodbav:"size" json:"size"`
	SHA256 string `dynamodbav:"sha256" json:"sha256"`
	Proof
}

// EntryItem returns the item the index holds for entry e sealed as rec: a
// Decision, an Override or an Invalid (nil for genesis). Its current action
// is the decision's own; the index keeps it up to date with the overrides.
// The indexer, rebuild and index check all use it, so they agree on every
// key and attribute.
func EntryItem(e *shared.Entry, rec *shared.SealedRecord) (any, error) {
	proof := Proof{Seq: e.Seq, Hash: e.Hash.String(), Object: rec.Object, VersionID: rec.VersionID, Line: rec.Line}
	switch e.Type {
	case shared.EntryEvent:
		env, err := e.Envelope()
		if err != nil {
			return nil, err
		}
		ts := env.OccurredAt.UTC().Format(sortTime)
		switch {
		case env.Decision != nil:
			d := env.Decision
			return Decision{
				PK: pkDecision + d.DecisionID, SK: skDecision + ts + "#" + env.EventID,
				GSI1PK: gsi1User + d.UserID, GSI1SK: ts + "#" + d.DecisionID,
				GSI2PK: gsi2Sess + d.SessionID, GSI2SK: ts + "#" + d.DecisionID,
				DecisionID: d.DecisionID, EventID: env.EventID, Environment: env.Environment, OccurredAt: env.OccurredAt.UTC(),
				Action: string(d.Action), ConfidenceScore: d.ConfidenceScore, PolicyVersion: d.PolicyVersion,
				UserID: d.UserID, SessionID: d.SessionID, Metadata: string(d.Metadata),
				CurrentAction: string(d.Action), CurrentSeq: proof.Seq, Proof: proof,
			}, nil
		case env.Override != nil:
			o := env.Override
			return Override{
				PK: pkDecision + o.DecisionID, SK: skOverride + ts + "#" + env.EventID,
				DecisionID: o.DecisionID, EventID: env.EventID, OccurredAt: env.OccurredAt.UTC(),
				ReviewerID: o.ReviewerID, NewAction: string(o.NewAction), Reason: o.Reason, Proof: proof,
			}, nil
		}
		return nil, fmt.Errorf("seq %d: event type %q has no index view", e.Seq, env.Type)
	case shared.EntryInvalid:
		return Invalid{PK: pkInvalid + e.Chain, SK: fmt.Sprintf("SK#SEQ#%020d", e.Seq),
			Reason: e.Invalid.Reason, Size: e.Invalid.Size, SHA256: e.Invalid.SHA256.String(), Proof: proof}, nil
	}
	return nil, nil
}

// eventClaim is the item that makes one event id one event in a chain.
type eventClaim struct {
	PK          string `dynamodbav:"PK"`
	SK          string `dynamodbav:"SK"`
	Seq         uint64 `dynamodbav:"seq"`
	EventSHA256 string `dynamodbav:"event_sha256"`
}

// claimEvent records that e carries its event id. It reports dup when the
// id was claimed by another entry with the same event bytes: the same
// event sealed twice, which the caller must not index again.
func (x *Index) claimEvent(ctx context.Context, e *shared.Entry, env *shared.Envelope, proof Proof) (dup bool, err error) {
	sum := sha256.Sum256(e.Event)
	claim := eventClaim{PK: pkEvent + e.Chain + "#" + env.EventID, SK: skEvent, Seq: e.Seq, EventSHA256: hex.EncodeToString(sum[:])}
	created, err := x.putIfAbsent(ctx, claim)
	if err != nil || created {
		return false, err
	}
	out, err := x.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(x.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{attrPK: str(claim.PK), attrSK: str(claim.SK)},
	})
	if err != nil {
		return false, fmt.Errorf("read claim of event %s: %w", env.EventID, err)
	}
	var first eventClaim
	if err := attributevalue.UnmarshalMap(out.Item, &first); err != nil {
		return false, fmt.Errorf("decode claim of event %s: %w", env.EventID, err)
	}
	if first.Seq == e.Seq {
		return false, nil // a redelivery of the claiming entry
	}
	lo, hi := min(first.Seq, e.Seq), max(first.Seq, e.Seq)
	if first.EventSHA256 == claim.EventSHA256 {
		return true, x.RecordAnomaly(ctx, Anomaly{Chain: e.Chain, Kind: AnomalyDuplicateEvent, Seq: hi, OtherSeq: lo,
			EventID: env.EventID, DecisionID: env.DecisionID(), Object: proof.Object, Line: proof.Line,
			Detail: fmt.Sprintf("event %s was sealed at seq %d and again, identical, at seq %d; the index holds it once (seq %d)", env.EventID, lo, hi, lo)})
	}
	return false, x.RecordAnomaly(ctx, Anomaly{Chain: e.Chain, Kind: AnomalyEventIDReused, Seq: hi, OtherSeq: lo,
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

// reconcile sets every decision item's current action from the decision's
// latest override (by seq), and records a conflict when the decision id
// holds more than one decision event. Whichever of a decision and its
// override is written second brings the decision up to date, so the order
// they arrive in does not matter.
func (x *Index) reconcile(ctx context.Context, chain, decisionID string) error {
	d, err := x.Decision(ctx, decisionID)
	if errors.Is(err, ErrNotFound) {
		return nil // the decision itself is not indexed yet; it reconciles when it is
	}
	if err != nil {
		return err
	}
	for _, c := range d.Conflicting {
		err := x.RecordAnomaly(ctx, Anomaly{Chain: chain, Kind: AnomalyDecisionIDReused, Seq: c.Seq, OtherSeq: d.Seq,
			EventID: c.EventID, DecisionID: decisionID, Object: c.Object, Line: c.Line,
			Detail: fmt.Sprintf("decision %s was sealed by event %s at seq %d and by event %s at seq %d; both are indexed, the first is the decision",
				decisionID, d.EventID, d.Seq, c.EventID, c.Seq)})
		if err != nil {
			return err
		}
	}
	var latest *Override
	for i := range d.Overrides {
		if latest == nil || d.Overrides[i].Seq > latest.Seq {
			latest = &d.Overrides[i]
		}
	}
	if latest == nil {
		return nil
	}
	for _, item := range append([]Decision{*d}, d.Conflicting...) {
		if latest.Seq <= item.CurrentSeq {
			continue
		}
		_, err = x.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:           aws.String(x.Table),
			Key:                 map[string]types.AttributeValue{attrPK: str(item.PK), attrSK: str(item.SK)},
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
		Key:                       map[string]types.AttributeValue{attrPK: str(pkChain + chain), attrSK: str(skHead)},
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
		Key:            map[string]types.AttributeValue{attrPK: str(pkChain + chain), attrSK: str(skHead)},
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

// Decision returns a decision with its override history in one Query.
func (x *Index) Decision(ctx context.Context, decisionID string) (*Decision, error) {
	var items []map[string]types.AttributeValue
	p := dynamodb.NewQueryPaginator(x.DB, &dynamodb.QueryInput{
		TableName:                 aws.String(x.Table),
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pkDecision + decisionID)},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query decision %s: %w", decisionID, err)
		}
		items = append(items, page.Items...)
	}
	var decisions []Decision
	var overrides []Override
	for _, it := range items {
		sk := it[attrSK].(*types.AttributeValueMemberS).Value
		switch {
		case len(sk) >= len(skDecision) && sk[:len(skDecision)] == skDecision:
			var d Decision
			if err := attributevalue.UnmarshalMap(it, &d); err != nil {
				return nil, fmt.Errorf("decode decision %s: %w", decisionID, err)
			}
			decisions = append(decisions, d)
		case len(sk) >= len(skOverride) && sk[:len(skOverride)] == skOverride:
			var o Override
			if err := attributevalue.UnmarshalMap(it, &o); err != nil {
				return nil, fmt.Errorf("decode override of %s: %w", decisionID, err)
			}
			overrides = append(overrides, o)
		}
	}
	if len(decisions) == 0 {
		return nil, fmt.Errorf("decision %s: %w", decisionID, ErrNotFound)
	}
	sort.Slice(decisions, func(i, j int) bool { return decisions[i].Seq < decisions[j].Seq })
	sort.Slice(overrides, func(i, j int) bool { return overrides[i].Seq < overrides[j].Seq })
	d := &decisions[0]
	d.Overrides, d.Conflicting = overrides, decisions[1:]
	return d, nil
}

// Page is one page of a user or session view.
type Page struct {
	Decisions []Decision
	// Next is the cursor of the next page ("" on the last page).
	Next string
}

// ByUser returns a user's decisions, newest first, limit per page (default
// 50); pass the previous page's Next as cursor.
func (x *Index) ByUser(ctx context.Context, userID string, limit int32, cursor string) (Page, error) {
	return x.view(ctx, GSI1, attrGSI1PK, gsi1User+userID, limit, cursor)
}

// BySession returns a session's decisions, newest first.
func (x *Index) BySession(ctx context.Context, sessionID string, limit int32, cursor string) (Page, error) {
	return x.view(ctx, GSI2, attrGSI2PK, gsi2Sess+sessionID, limit, cursor)
}

func (x *Index) view(ctx context.Context, index, pkAttr, pk string, limit int32, cursor string) (Page, error) {
	if limit <= 0 {
		limit = 50
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(x.Table),
		IndexName:                 aws.String(index),
		KeyConditionExpression:    aws.String(pkAttr + " = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(limit),
	}
	if cursor != "" {
		start, err := decodeCursor(cursor)
		if err != nil {
			return Page{}, err
		}
		in.ExclusiveStartKey = start
	}
	out, err := x.DB.Query(ctx, in)
	if err != nil {
		return Page{}, fmt.Errorf("query %s %s: %w", index, pk, err)
	}
	var page Page
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &page.Decisions); err != nil {
		return Page{}, fmt.Errorf("decode %s page: %w", index, err)
	}
	if len(out.LastEvaluatedKey) > 0 {
		if page.Next, err = encodeCursor(out.LastEvaluatedKey); err != nil {
			return Page{}, err
		}
	}
	return page, nil
}

// IDs returns the decision ids of the page, in order.
func (p Page) IDs() []string {
	ids := make([]string, len(p.Decisions))
	for i, d := range p.Decisions {
		ids[i] = d.DecisionID
	}
	return ids
}

func encodeCursor(key map[string]types.AttributeValue) (string, error) {
	var m map[string]string
	if err := attributevalue.UnmarshalMap(key, &m); err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func decodeCursor(c string) (map[string]types.AttributeValue, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	var m map[string]string
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		return nil, fmt.Errorf("bad cursor: %w", err)
	}
	return attributevalue.MarshalMap(m)
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n uint64) types.AttributeValue { return &types.AttributeValueMemberN{Value: fmt.Sprint(n)} }
