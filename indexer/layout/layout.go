// Package layout is the DynamoDB single table's layout: its key schema, its
// two indexes, the items the indexer writes and how one decision's items
// are read back. The indexer (write side), the query package (read side)
// and the replayer's rebuild and index check all use it, so they agree on
// every key and attribute.
//
//	PK                          SK                                  item
//	PK#DECISION#<decision id>   SK#DECISION#<time>#<event id>        Decision (in GSI1 and GSI2)
//	PK#DECISION#<decision id>   SK#OVERRIDE#<time>#<event id>        Override
//	PK#DECISION#<decision id>   SK#INDEXED                          mark: the id has items (indexer)
//	PK#INVALID#<chain>          SK#SEQ#<seq>                         Invalid
//	PK#CHAIN#<chain>            SK#HEAD, SK#PART#<topic>#<n>         high-water marks (indexer)
//	PK#EVENT#<chain>#<event id> SK#EVENT                             event-id claim (indexer)
//	PK#ANOMALY#<chain>          SK#<seq>#...                         anomalies (indexer)
//	PK#REBUILD#<chain>          SK#<scope>                           rebuild progress (replayer)
//
// GSI1 (user view) is keyed USER#<user id> / <time>#<seq>, GSI2 (session
// view) SESSION#<session id> / <time>#<seq>: string order is time order,
// and decisions of the same time are ordered by seq. Times are fixed-width
// UTC with nanoseconds.
//
// Invariant: every Decision, Override and Invalid item carries the proof
// pointer of its sealed entry (seq, hash, S3 key, version id, line).
package layout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/aegisai/audit/shared"
)

// Attribute and index names of the table.
const (
	AttrPK     = "PK"
	AttrSK     = "SK"
	AttrGSI1PK = "GSI1PK"
	AttrGSI1SK = "GSI1SK"
	AttrGSI2PK = "GSI2PK"
	AttrGSI2SK = "GSI2SK"
	// GSI1 is the user view: all decisions of a user, by time.
	GSI1 = "GSI1"
	// GSI2 is the session view: all decisions of a session, by time.
	GSI2 = "GSI2"
)

// Key prefixes.
const (
	PKDecision = "PK#DECISION#"
	SKDecision = "SK#DECISION#"
	SKOverride = "SK#OVERRIDE#"
	SKIndexed  = "SK#INDEXED"
	PKChain    = "PK#CHAIN#"
	SKHead     = "SK#HEAD"
	SKPart     = "SK#PART#"
	PKInvalid  = "PK#INVALID#"
	PKEvent    = "PK#EVENT#"
	SKEvent    = "SK#EVENT"
	PKAnomaly  = "PK#ANOMALY#"
	PKRebuild  = "PK#REBUILD#"
	GSI1User   = "USER#"
	GSI2Sess   = "SESSION#"
)

// timeFormat is a fixed-width UTC time, so string order is time order.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

// SortTime is t as it appears at the start of sort keys.
func SortTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// ViewSortKey is the GSI sort key of a decision at t sealed at seq: time
// first, then the seq (20 digits), so equal times come out in seq order.
func ViewSortKey(t time.Time, seq uint64) string {
	return fmt.Sprintf("%s#%020d", SortTime(t), seq)
}

// DecisionPK is the partition of a decision and its overrides.
func DecisionPK(decisionID string) string { return PKDecision + decisionID }

// DecisionMark is the key of the mark the indexer writes under a decision
// id once it has written its first decision items, or with its first
// override (before it looks for the decision). A batch of entries of a
// decision id without a mark can be written blind, the decision's current
// state computed from the batch itself; with a mark, the indexer reads the
// partition first. The mark has no other attribute: LoadDecision, the views
// and the index check never see it.
func DecisionMark(decisionID string) ItemKey {
	return ItemKey{PK: DecisionPK(decisionID), SK: SKIndexed}
}

// EventClaim is the key of the item that makes one event id one event in
// a chain (the indexer's claim).
func EventClaim(chain, eventID string) ItemKey {
	return ItemKey{PK: PKEvent + chain + "#" + eventID, SK: SKEvent}
}

// UserPK is a user's partition in GSI1.
func UserPK(userID string) string { return GSI1User + userID }

// SessionPK is a session's partition in GSI2.
func SessionPK(sessionID string) string { return GSI2Sess + sessionID }

// Proof points from an item back to its sealed entry in S3.
type Proof struct {
	Seq       uint64 `dynamodbav:"seq" json:"seq"`
	Hash      string `dynamodbav:"hash" json:"hash"`
	Object    string `dynamodbav:"s3_key" json:"s3_key"`
	VersionID string `dynamodbav:"s3_version_id,omitempty" json:"s3_version_id,omitempty"`
	Line      int    `dynamodbav:"s3_line" json:"s3_line"`
}

// Chain is the chain of the entry p points at: the env=<chain> segment
// of its object's key (docs/FORMAT.md section 1), "" when the key has
// none. Override items carry no environment of their own; this is how an
// override is told from an override of a same-named decision of another
// chain.
func (p Proof) Chain() string {
	i := strings.LastIndex(p.Object, "/env=")
	if i < 0 {
		return ""
	}
	chain, _, ok := strings.Cut(p.Object[i+len("/env="):], "/")
	if !ok {
		return ""
	}
	return chain
}

// Decision is a decision item: the decision as sealed, its current action
// (after the latest override) and its proof pointer.
type Decision struct {
	PK     string `dynamodbav:"PK"`
	SK     string `dynamodbav:"SK"`
	GSI1PK string `dynamodbav:"GSI1PK"`
	GSI1SK string `dynamodbav:"GSI1SK"`
	GSI2PK string `dynamodbav:"GSI2PK"`
	GSI2SK string `dynamodbav:"GSI2SK"`

	DecisionID      string    `dynamodbav:"decision_id"`
	EventID         string    `dynamodbav:"event_id"`
	Environment     string    `dynamodbav:"environment"`
	OccurredAt      time.Time `dynamodbav:"occurred_at"`
	Action          string    `dynamodbav:"action"`
	ConfidenceScore float64   `dynamodbav:"confidence_score"`
	PolicyVersion   string    `dynamodbav:"policy_version"`
	UserID          string    `dynamodbav:"user_id"`
	SessionID       string    `dynamodbav:"session_id"`
	// Metadata is the canonical JSON of the decision's metadata ("" when none).
	Metadata string `dynamodbav:"metadata,omitempty"`
	// RecordedBy is the event's recorded_by ("" when it has none).
	RecordedBy string `dynamodbav:"recorded_by,omitempty"`
	// CurrentAction is Action, or the NewAction of the latest override
	// (by seq); CurrentSeq the seq of the entry that set it, and
	// CurrentSK the sort key of that override's item ("" while the
	// decision is its own current state), so a reader finds it without
	// reading every override. The indexer keeps them up to date: they are
	// the only attributes not copied from the entry itself (see Derived).
	// Items written before CurrentSK was kept have none; the indexer adds
	// it when it next sets the state, and a rebuild does.
	CurrentAction string `dynamodbav:"current_action"`
	CurrentSeq    uint64 `dynamodbav:"current_seq"`
	CurrentSK     string `dynamodbav:"current_sk,omitempty"`
	Proof
}

// Override is an override item, stored under its decision's PK.
type Override struct {
	PK string `dynamodbav:"PK"`
	SK string `dynamodbav:"SK"`

	DecisionID string `dynamodbav:"decision_id"`
	EventID    string `dynamodbav:"event_id"`
	// Environment is the override's chain: it overrides the decision of
	// this id in this chain only (see Partition.Of). Items written before
	// it was kept have none; Chain reads it from their object key.
	Environment string    `dynamodbav:"environment,omitempty"`
	OccurredAt  time.Time `dynamodbav:"occurred_at"`
	ReviewerID  string    `dynamodbav:"reviewer_id"`
	NewAction   string    `dynamodbav:"new_action"`
	Reason      string    `dynamodbav:"reason"`
	// RecordedBy is the event's recorded_by ("" when it has none).
	RecordedBy string `dynamodbav:"recorded_by,omitempty"`
	Proof
}

// Chain is the chain of the override: its Environment, or for an item
// written without one, the chain of its object's key.
func (o Override) Chain() string {
	if o.Environment != "" {
		return o.Environment
	}
	return o.Proof.Chain()
}

// Invalid is the item of an INVALID entry.
type Invalid struct {
	PK     string `dynamodbav:"PK"`
	SK     string `dynamodbav:"SK"`
	Reason string `dynamodbav:"reason"`
	Size   int    `dynamodbav:"size"`
	SHA256 string `dynamodbav:"sha256"`
	Proof
}

// Derived are the attributes kept up to date from other entries (the
// latest override), not copied from the entry itself.
var Derived = map[string]bool{"current_action": true, "current_seq": true, "current_sk": true}

// ItemKey names an item of the table.
type ItemKey struct{ PK, SK string }

// EntryItem returns the item the index holds for entry e sealed as rec: a
// Decision, an Override or an Invalid (nil for genesis). Its current action
// is the decision's own; the indexer keeps it up to date with the overrides.
func EntryItem(e *shared.Entry, rec *shared.SealedRecord) (any, error) {
	proof := Proof{Seq: e.Seq, Hash: e.Hash.String(), Object: rec.Object, VersionID: rec.VersionID, Line: rec.Line}
	switch e.Type {
	case shared.EntryEvent:
		env, err := e.Envelope()
		if err != nil {
			return nil, err
		}
		ts := SortTime(env.OccurredAt)
		switch {
		case env.Decision != nil:
			d := env.Decision
			view := ViewSortKey(env.OccurredAt, e.Seq)
			return Decision{
				PK: DecisionPK(d.DecisionID), SK: SKDecision + ts + "#" + env.EventID,
				GSI1PK: UserPK(d.UserID), GSI1SK: view,
				GSI2PK: SessionPK(d.SessionID), GSI2SK: view,
				DecisionID: d.DecisionID, EventID: env.EventID, Environment: env.Environment, OccurredAt: env.OccurredAt.UTC(),
				Action: string(d.Action), ConfidenceScore: d.ConfidenceScore, PolicyVersion: d.PolicyVersion,
				UserID: d.UserID, SessionID: d.SessionID, Metadata: string(d.Metadata), RecordedBy: env.RecordedBy,
				CurrentAction: string(d.Action), CurrentSeq: proof.Seq, Proof: proof,
			}, nil
		case env.Override != nil:
			o := env.Override
			return Override{
				PK: DecisionPK(o.DecisionID), SK: SKOverride + ts + "#" + env.EventID,
				DecisionID: o.DecisionID, EventID: env.EventID, Environment: env.Environment, OccurredAt: env.OccurredAt.UTC(),
				ReviewerID: o.ReviewerID, NewAction: string(o.NewAction), Reason: o.Reason, RecordedBy: env.RecordedBy, Proof: proof,
			}, nil
		}
		return nil, fmt.Errorf("seq %d: event type %q has no index view", e.Seq, env.Type)
	case shared.EntryInvalid:
		return Invalid{PK: PKInvalid + e.Chain, SK: fmt.Sprintf("SK#SEQ#%020d", e.Seq),
			Reason: itemReason(e.Invalid.Reason), Size: e.Invalid.Size, SHA256: e.Invalid.SHA256.String(), Proof: proof}, nil
	}
	return nil, nil
}

// MaxItemReason is the most bytes of an INVALID entry's reason an item
// holds. The sealer writes at most shared.MaxInvalidReason; entries sealed
// before it cut them can hold one of any length (a record's member name
// quoted whole), and an item over DynamoDB's 400 KB is refused for good:
// one such entry stopped the indexer, and every indexer of its group
// after it (TestInvalidItemOfAHugeReasonFits).
const MaxItemReason = 256 << 10

// itemReason is reason cut to MaxItemReason bytes, at a character
// boundary.
func itemReason(reason string) string { return shared.ClipUTF8(reason, MaxItemReason) }

// KeyOf returns the key of a Decision, Override or Invalid item.
func KeyOf(item any) (ItemKey, bool) {
	switch it := item.(type) {
	case Decision:
		return ItemKey{PK: it.PK, SK: it.SK}, true
	case Override:
		return ItemKey{PK: it.PK, SK: it.SK}, true
	case Invalid:
		return ItemKey{PK: it.PK, SK: it.SK}, true
	}
	return ItemKey{}, false
}

// Querier is the DynamoDB call LoadDecision makes.
type Querier interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Partition is everything the table holds under one decision id, each
// list ordered by seq: the items of every chain that used the id (see Of).
// More than one decision item of one chain means the decision id was
// sealed by more than one decision event (a producer reused it).
type Partition struct {
	Decisions []Decision
	Overrides []Override
}

// LoadDecision reads a decision's partition with one strongly consistent
// Query (paginated if large). An empty Partition means it is not indexed.
// Items in it that are of another decision id (the indexer never writes
// them; someone who edits the table can) are left out, so that no answer
// about one decision is another decision's, however genuine its proof;
// `aegis index check` lists them as extra items.
func LoadDecision(ctx context.Context, db Querier, table, decisionID string) (Partition, error) {
	return loadPartition(ctx, db, table, decisionID, "")
}

// LoadDecisionItems reads only the decision items of a decision id (one
// strongly consistent Query of the SK#DECISION# range, none of its
// overrides): what an override needs to set the current state, at a cost
// that does not grow with the overrides before it.
func LoadDecisionItems(ctx context.Context, db Querier, table, decisionID string) ([]Decision, error) {
	part, err := loadPartition(ctx, db, table, decisionID, SKDecision)
	return part.Decisions, err
}

// historyStep is how many items a Query of LoadHistory reads after the
// first one of a page (DynamoDB's 1 MB answer may stop it before).
const historyStep = 1000

// LoadHistory reads a decision id's decision items and one page of the
// overrides of one chain: at most limit of them, in sort key order
// (occurred_at, then event id), after the override sort key after (""
// for the first page). chain "" means the chain of the decision with the
// lowest seq. more says whether overrides of the chain follow the page.
// Its reads stop once the page is full, so a decision overridden a
// million times costs what one page costs: without after, one Query of
// limit + 3 items when the id has one decision (the decision items sort
// before the decision mark, the mark before the overrides); with after,
// one Query for the decision items and one from after on. With chain
// set, the decision items it returns are the chain's and one of each other
// chain that holds the id (to name it): another chain's decisions of the
// id, as many as its producer chose to seal, are read but not held.
func LoadHistory(ctx context.Context, db Querier, table, decisionID, chain, after string, limit int) (part Partition, more bool, err error) {
	others := map[string]bool{} // chains of which a decision item is kept
	keep := func(ds []Decision) {
		for _, d := range ds {
			if chain == "" || d.Environment == chain || !others[d.Environment] {
				others[d.Environment] = others[d.Environment] || d.Environment != chain
				part.Decisions = append(part.Decisions, d)
			}
		}
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: DecisionPK(decisionID)}},
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(int32(limit + 3)),
	}
	if after != "" {
		if !strings.HasPrefix(after, SKOverride) {
			return part, false, fmt.Errorf("decision %s: %q is not an override's sort key", decisionID, after)
		}
		p := dynamodb.NewQueryPaginator(db, &dynamodb.QueryInput{
			TableName:              aws.String(table),
			KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": &types.AttributeValueMemberS{Value: DecisionPK(decisionID)}, ":sk": &types.AttributeValueMemberS{Value: SKDecision}},
			ConsistentRead: aws.Bool(true),
		})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				return part, false, fmt.Errorf("query decision %s: %w", decisionID, err)
			}
			var page Partition
			if err := page.add(decisionID, out.Items); err != nil {
				return part, false, err
			}
			keep(page.Decisions)
		}
		in.KeyConditionExpression = aws.String("PK = :pk AND SK > :after")
		in.ExpressionAttributeValues[":after"] = &types.AttributeValueMemberS{Value: after}
		in.Limit = aws.Int32(int32(limit + 1))
	}
	// Only the chain's overrides are kept, as they come: the decision
	// items sort before every override, so the chain is known by the
	// first one. Other chains' overrides of the id (as many as their
	// producers chose to write) are skipped, not held, and after the first
	// Query they are read historyStep at a time (a page of limit 1 cost a
	// Query per four of them, each kept and filtered again).
	c := chain
	for {
		out, err := db.Query(ctx, in)
		if err != nil {
			return part, false, fmt.Errorf("query decision %s: %w", decisionID, err)
		}
		page := Partition{}
		if err := page.add(decisionID, out.Items); err != nil {
			return part, false, err
		}
		keep(page.Decisions)
		if c == "" && len(part.Decisions) > 0 {
			c = slices.MinFunc(part.Decisions, func(a, b Decision) int { return cmp.Compare(a.Seq, b.Seq) }).Environment
		}
		for _, o := range page.Overrides {
			if o.Chain() == c {
				part.Overrides = append(part.Overrides, o)
			}
		}
		if len(part.Overrides) > limit || len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		in.Limit = aws.Int32(max(*in.Limit, historyStep))
	}
	sort.Slice(part.Decisions, func(i, j int) bool { return part.Decisions[i].Seq < part.Decisions[j].Seq })
	if len(part.Overrides) > limit {
		part.Overrides, more = part.Overrides[:limit], true
	}
	return part, more, nil
}

// OfChain is the condition that an item is of the chain OfChainValues
// names: its environment, or for an item written without one, the chain
// in its object's key (as Override.Chain and Proof.Chain read them).
const OfChain = "environment = :c OR (attribute_not_exists(environment) AND contains(s3_key, :env))"

// OfChainValues adds the values OfChain needs for chain to values (a new
// map when nil) and returns it.
func OfChainValues(chain string, values map[string]types.AttributeValue) map[string]types.AttributeValue {
	if values == nil {
		values = map[string]types.AttributeValue{}
	}
	values[":c"] = &types.AttributeValueMemberS{Value: chain}
	values[":env"] = &types.AttributeValueMemberS{Value: "/env=" + chain + "/"}
	return values
}

// LatestOverride returns the override of decisionID sealed on chain with
// the highest seq (nil when none), reading the overrides' range of the
// partition (paged). The table leaves the other chains' overrides of the
// id out of its answers (they are read, not handed back: as many as
// their producers chose to write), and of the chain's only the latest is
// kept, so what it holds does not grow with the overrides.
func LatestOverride(ctx context.Context, db Querier, table, decisionID, chain string) (*Override, error) {
	p := dynamodb.NewQueryPaginator(db, &dynamodb.QueryInput{
		TableName:              aws.String(table),
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		FilterExpression:       aws.String(OfChain),
		ExpressionAttributeValues: OfChainValues(chain, map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: DecisionPK(decisionID)}, ":sk": &types.AttributeValueMemberS{Value: SKOverride}}),
		ConsistentRead: aws.Bool(true),
	})
	var latest *Override
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query overrides of %s: %w", decisionID, err)
		}
		var part Partition
		if err := part.add(decisionID, page.Items); err != nil {
			return nil, err
		}
		for _, o := range part.Overrides {
			if o.Chain() == chain && (latest == nil || o.Seq > latest.Seq) {
				latest = &o
			}
		}
	}
	return latest, nil
}

// LoadOverride reads the override item of decisionID at sort key sk
// (ok false when there is none).
func LoadOverride(ctx context.Context, db Querier, table, decisionID, sk string) (o Override, ok bool, err error) {
	out, err := db.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(table),
		KeyConditionExpression: aws.String("PK = :pk AND SK = :sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: DecisionPK(decisionID)}, ":sk": &types.AttributeValueMemberS{Value: sk}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return o, false, fmt.Errorf("query override %s of %s: %w", sk, decisionID, err)
	}
	var part Partition
	if err := part.add(decisionID, out.Items); err != nil || len(part.Overrides) == 0 {
		return o, false, err
	}
	return part.Overrides[0], true, nil
}

// loadPartition reads the items of decisionID whose sort key starts with
// prefix ("" for all).
func loadPartition(ctx context.Context, db Querier, table, decisionID, prefix string) (Partition, error) {
	var part Partition
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: DecisionPK(decisionID)}},
		ConsistentRead:            aws.Bool(true),
	}
	if prefix != "" {
		in.KeyConditionExpression = aws.String("PK = :pk AND begins_with(SK, :sk)")
		in.ExpressionAttributeValues[":sk"] = &types.AttributeValueMemberS{Value: prefix}
	}
	p := dynamodb.NewQueryPaginator(db, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return part, fmt.Errorf("query decision %s: %w", decisionID, err)
		}
		if err := part.add(decisionID, page.Items); err != nil {
			return part, err
		}
	}
	sort.Slice(part.Decisions, func(i, j int) bool { return part.Decisions[i].Seq < part.Decisions[j].Seq })
	sort.Slice(part.Overrides, func(i, j int) bool { return part.Overrides[i].Seq < part.Overrides[j].Seq })
	return part, nil
}

// add decodes items of decisionID's partition into p: decisions and
// overrides of that decision id, nothing else (marks, or items someone
// put there under another decision id).
func (p *Partition) add(decisionID string, items []map[string]types.AttributeValue) error {
	for _, it := range items {
		sk, _ := it[AttrSK].(*types.AttributeValueMemberS)
		switch {
		case sk == nil:
		case strings.HasPrefix(sk.Value, SKDecision):
			d, err := DecodeDecision(it)
			if err != nil {
				return fmt.Errorf("decode decision %s item %s: %w", decisionID, sk.Value, err)
			}
			if d.DecisionID == decisionID {
				p.Decisions = append(p.Decisions, d)
			}
		case strings.HasPrefix(sk.Value, SKOverride):
			o, err := DecodeOverride(it)
			if err != nil {
				return fmt.Errorf("decode override of %s item %s: %w", decisionID, sk.Value, err)
			}
			if o.DecisionID == decisionID {
				p.Overrides = append(p.Overrides, o)
			}
		}
	}
	return nil
}

// Chains lists the chains of p's decisions, each once, in seq order.
func (p Partition) Chains() []string {
	var chains []string
	for _, d := range p.Decisions {
		if !slices.Contains(chains, d.Environment) {
			chains = append(chains, d.Environment)
		}
	}
	return chains
}

// Of returns the part of p that belongs to chain. Decision ids are unique
// within a chain, not across chains (a dev service may reuse a prod id, by
// mistake or on purpose): a decision is overridden, and conflicts, only
// with entries of its own chain, or anyone allowed to write one chain
// could change another chain's decisions.
func (p Partition) Of(chain string) Partition {
	var out Partition
	for _, d := range p.Decisions {
		if d.Environment == chain {
			out.Decisions = append(out.Decisions, d)
		}
	}
	for _, o := range p.Overrides {
		if o.Chain() == chain {
			out.Overrides = append(out.Overrides, o)
		}
	}
	return out
}

// OwnState reports whether d's current state is its own action, set by
// no override yet (the state a decision item is written with).
func (d Decision) OwnState() bool { return d.CurrentSK == "" && d.CurrentSeq == d.Seq }

// SetsState reports whether the override at seq sets the current state of
// the decision at decisionSeq whose state was last set at currentSeq (the
// decision's own seq while no override has): the latest override by seq
// does, whether it was sealed after the decision or before it
// (docs/FORMAT.md section 11: the current action is the new action of the
// override with the highest seq). An override can be sealed before its
// decision: the decision's producer spooled it through an outage while a
// review console recorded the override. Before 2026-12-01 only overrides
// sealed after the decision counted, and get --verify of such a genuine
// decision failed against its own bundle (an outside trial). The indexer
// (Decision.Overrides) and the reader (query) judge by it alike.
func SetsState(decisionSeq, currentSeq, seq uint64) bool {
	return seq > currentSeq || currentSeq == decisionSeq && seq != decisionSeq
}

// Overrides reports whether o, an override of d's decision id and chain,
// sets d's current state (SetsState); the same seq on an item without
// CurrentSK (written before it was kept) is completed too.
func (d Decision) Overrides(o Override) bool {
	return SetsState(d.Seq, d.CurrentSeq, o.Seq) || o.Seq == d.CurrentSeq && d.CurrentSK == ""
}

// Latest returns the override with the highest seq (nil when none).
func (p Partition) Latest() *Override {
	if len(p.Overrides) == 0 {
		return nil
	}
	return &p.Overrides[len(p.Overrides)-1]
}

// TableAPI is the part of the DynamoDB client CheckTable and EnsureTable use.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// ErrNoTable means the table does not exist and was not to be created.
var ErrNoTable = errors.New("table does not exist")

// CheckTable checks that the table exists and is active.
func CheckTable(ctx context.Context, db TableAPI, table string) error {
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return fmt.Errorf("%w: %s (check --table (AEGIS_TABLE); an indexer started with --create-table creates it with its two indexes GSI1 and GSI2)", ErrNoTable, table)
	}
	if err != nil {
		return fmt.Errorf("describe table %s: %w", table, err)
	}
	if out.Table.TableStatus != types.TableStatusActive {
		return fmt.Errorf("table %s is %s, not ACTIVE", table, out.Table.TableStatus)
	}
	return nil
}

// EnsureTable creates the single table with its two GSIs (on-demand
// capacity) if it does not exist, and waits until it is active.
func EnsureTable(ctx context.Context, db TableAPI, table string) error {
	s := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS}
	}
	key := func(pk, sk string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange},
		}
	}
	all := &types.Projection{ProjectionType: types.ProjectionTypeAll}
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{s(AttrPK), s(AttrSK), s(AttrGSI1PK), s(AttrGSI1SK), s(AttrGSI2PK), s(AttrGSI2SK)},
		KeySchema:            key(AttrPK, AttrSK),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{IndexName: aws.String(GSI1), KeySchema: key(AttrGSI1PK, AttrGSI1SK), Projection: all},
			{IndexName: aws.String(GSI2), KeySchema: key(AttrGSI2PK, AttrGSI2SK), Projection: all},
		},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	for {
		out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return fmt.Errorf("describe table %s: %w", table, err)
		}
		if out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
