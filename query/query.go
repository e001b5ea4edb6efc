// Package query is the read side of the DynamoDB index: a decision by id
// with its override history and current state, a user's decisions (GSI1)
// and a session's decisions (GSI2), newest first, by time range, in pages
// with opaque cursors. `aegis get`, `aegis list`, the `aegis query` HTTP
// service and its auditor's page all read through it.
//
// Invariants:
//   - Every answer carries the proof pointer of its sealed entry (seq,
//     entry hash, S3 key, version id, line), so that it can be checked
//     against S3 and a signed checkpoint (CheckProof).
//   - Views are newest first; decisions of the same time come out by seq
//     (highest first), never by decision id.
//   - A cursor is bound to its view, its user or session and its time
//     range; anything else (forged, truncated, from another query) is a
//     *ParamError, never a DynamoDB error.
//   - With Reader.Chain set, items of other chains are not answered; a
//     decision's history holds only entries of the decision's own chain
//     (decision ids are unique within a chain, not across chains).
//
// The table's item layout belongs to package indexer/layout, shared with
// the indexer that writes it.
package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/aegisai/audit/indexer/layout"
)

// DynamoAPI is the part of the DynamoDB client the reader uses.
type DynamoAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Reader reads the single table.
type Reader struct {
	DB DynamoAPI
	// Table is the single table (required).
	Table string
	// Chain, if set, answers only decisions of this chain (environment):
	// the others are as if absent. Empty: every chain; a decision id that
	// decisions of two chains hold is then a *ParamError (field "chain"),
	// since ids are unique within a chain only.
	Chain string
}

// Limits of a view's pages.
const (
	// DefaultLimit is a page's size when none is given.
	DefaultLimit = 50
	// MaxLimit is the largest page.
	MaxLimit = 500
)

// ErrNotFound is returned for a decision that is not indexed (or not of
// Reader.Chain).
var ErrNotFound = errors.New("decision not found in the index")

// NotFoundError is ErrNotFound with what the read that found nothing saw
// besides: overrides of the decision in the chain (an override can be
// sealed before its decision, or for a decision never sealed) and the
// chains that do hold a decision with this id. Both come from the Query
// already made, at no extra cost.
type NotFoundError struct {
	DecisionID string `json:"decision_id"`
	// Chain is the chain asked ("" for every chain).
	Chain string `json:"chain,omitempty"`
	// Overrides counts the decision's overrides indexed in Chain;
	// MoreOverrides says there are more than counted.
	Overrides     int  `json:"overrides"`
	MoreOverrides bool `json:"more_overrides,omitempty"`
	// OtherChains are the chains whose index holds a decision with this
	// id. Error leaves them out: a caller allowed one chain (an API token)
	// must not learn what another chain holds.
	OtherChains []string `json:"other_chains,omitempty"`
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("decision %s: %s", e.DecisionID, ErrNotFound.Error())
	if e.Chain != "" {
		msg += " of chain " + e.Chain
	}
	if e.Overrides > 0 {
		n := fmt.Sprintf("%d override of it is", e.Overrides)
		switch {
		case e.MoreOverrides:
			n = fmt.Sprintf("more than %d overrides of it are", e.Overrides)
		case e.Overrides > 1:
			n = fmt.Sprintf("%d overrides of it are", e.Overrides)
		}
		msg += ", but " + n + " (an override can be sealed before its decision, or for a decision never sealed)"
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrNotFound) hold.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

func notFound(decisionID, chain string, decisions []layout.Decision, overrides []layout.Override, more bool) *NotFoundError {
	e := &NotFoundError{DecisionID: decisionID, Chain: chain, Overrides: len(overrides), MoreOverrides: more}
	for _, d := range decisions {
		if d.Environment != chain && !slices.Contains(e.OtherChains, d.Environment) {
			e.OtherChains = append(e.OtherChains, d.Environment)
		}
	}
	return e
}

// ParamError is a bad request parameter: the caller's fault (HTTP 400).
type ParamError struct {
	// Field names the parameter (decision_id, user_id, session_id, since,
	// until, limit, cursor).
	Field  string
	Reason string
}

func (e *ParamError) Error() string { return e.Field + ": " + e.Reason }

// Proof points at an answer's sealed entry in S3.
type Proof = layout.Proof

// Decision is a decision as indexed, with its current state.
type Decision struct {
	DecisionID      string    `json:"decision_id"`
	EventID         string    `json:"event_id"`
	Environment     string    `json:"environment"`
	OccurredAt      time.Time `json:"occurred_at"`
	Action          string    `json:"action"`
	ConfidenceScore float64   `json:"confidence_score"`
	PolicyVersion   string    `json:"policy_version"`
	UserID          string    `json:"user_id"`
	SessionID       string    `json:"session_id"`
	// Metadata is the decision's metadata object (absent when none).
	Metadata json.RawMessage `json:"metadata,omitempty"`
	// RecordedBy is whom the publisher recorded the event for, as it
	// stated it (docs/FORMAT.md section 4; absent when it did not).
	RecordedBy string `json:"recorded_by,omitempty"`
	// CurrentAction is Action, or the new action of the latest override;
	// CurrentSeq the seq of the entry that set it.
	CurrentAction string `json:"current_action"`
	CurrentSeq    uint64 `json:"current_seq"`
	Proof         Proof  `json:"proof"`
}

// Override is one override of a decision.
type Override struct {
	DecisionID string    `json:"decision_id"`
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	ReviewerID string    `json:"reviewer_id"`
	NewAction  string    `json:"new_action"`
	Reason     string    `json:"reason"`
	// RecordedBy: see Decision.RecordedBy.
	RecordedBy string `json:"recorded_by,omitempty"`
	Proof      Proof  `json:"proof"`
}

// History is a decision with one page of its overrides, oldest first.
type History struct {
	Decision
	// Overrides is a page of the decision's overrides, by occurred_at
	// (then event id), at most the limit asked for (DefaultLimit).
	Overrides []Override `json:"overrides"`
	// Next is the cursor of the next page of overrides ("" on the last).
	Next string `json:"next,omitempty"`
	// CurrentOverride is the override that set the current state when it
	// is not on this page (absent when it is, or when the decision is its
	// own current state): every page shows, and proves, where the current
	// state comes from.
	CurrentOverride *Override `json:"current_override,omitempty"`
	// Conflicting are other decision events sealed with the same decision
	// id (a producer reused it), by seq; each is also an index anomaly.
	Conflicting []Decision `json:"conflicting,omitempty"`
}

// Page is one page of a user's or a session's decisions.
type Page struct {
	Decisions []Decision `json:"decisions"`
	// Next is the cursor of the next page ("" on the last page).
	Next string `json:"next,omitempty"`
}

// IDs returns the decision ids of the page, in order.
func (p Page) IDs() []string {
	ids := make([]string, len(p.Decisions))
	for i, d := range p.Decisions {
		ids[i] = d.DecisionID
	}
	return ids
}

// Range selects a page of a view.
type Range struct {
	// Since and Until bound the decisions' occurred_at: Since inclusive,
	// Until exclusive; zero means unbounded.
	Since, Until time.Time
	// Limit is the page size: 0 means DefaultLimit; at most MaxLimit.
	Limit int
	// Cursor is the previous page's Next ("" for the first page).
	Cursor string
}

// OverridePage selects a page of a decision's overrides.
type OverridePage struct {
	// Limit is the page size: 0 means DefaultLimit; at most MaxLimit.
	Limit int
	// Cursor is the previous answer's Next ("" for the first page).
	Cursor string
	// Latest, for an answer to be proved, reads every override of a
	// decision with more than one page of them for the one with the
	// highest seq, and takes its state when the decision item's is older.
	// The state the item holds is otherwise trusted off the page: someone
	// who edits the table rolled it back to an earlier override's, and
	// get --verify and the page proved that earlier override as the
	// current state (an outside trial). It costs reading the decision's
	// overrides' items, a Query per 1 MB of them.
	Latest bool
}

// Decision returns a decision with the first page of its overrides
// (DefaultLimit) and its current state.
func (r *Reader) Decision(ctx context.Context, decisionID string) (*History, error) {
	return r.DecisionPage(ctx, decisionID, OverridePage{})
}

// WholeHistory returns a decision with every override the index holds,
// read page after page (MaxLimit a Query): what an evidence bundle of the
// decision must hold (docs/FORMAT.md section 11: the decision and every
// override). Next is "" and CurrentOverride nil: the current state's
// override is among the overrides.
func (r *Reader) WholeHistory(ctx context.Context, decisionID string) (*History, error) {
	return r.wholeHistory(ctx, decisionID, MaxLimit)
}

func (r *Reader) wholeHistory(ctx context.Context, decisionID string, pageSize int) (*History, error) {
	h, err := r.DecisionPage(ctx, decisionID, OverridePage{Limit: pageSize})
	if err != nil {
		return nil, err
	}
	for next := h.Next; next != ""; {
		pg, err := r.DecisionPage(ctx, decisionID, OverridePage{Limit: pageSize, Cursor: next})
		if err != nil {
			return nil, err
		}
		for _, o := range pg.Overrides {
			if h.setBy(o.Proof.Seq) { // written, not yet applied: already the latest (as DecisionPage)
				h.CurrentAction, h.CurrentSeq = o.NewAction, o.Proof.Seq
			}
		}
		h.Overrides = append(h.Overrides, pg.Overrides...)
		next = pg.Next
	}
	h.Next = ""
	if h.CurrentOverride != nil && slices.ContainsFunc(h.Overrides, func(o Override) bool { return o.Proof.Seq == h.CurrentOverride.Proof.Seq }) {
		h.CurrentOverride = nil
	}
	return h, nil
}

// DecisionPage returns a decision with one page of its overrides and its
// current state: one strongly consistent Query for the first page of a
// decision, two for a later one, and one more when the override that set
// the current state is not on the page. However many overrides a decision
// has, an answer reads one page of them.
func (r *Reader) DecisionPage(ctx context.Context, decisionID string, pg OverridePage) (*History, error) {
	if err := checkID("decision_id", decisionID); err != nil {
		return nil, err
	}
	limit := pg.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return nil, &ParamError{Field: "limit", Reason: fmt.Sprintf("must be 1 to %d", MaxLimit)}
	}
	after := ""
	if pg.Cursor != "" {
		var err error
		if after, err = decodeOverrideCursor(pg.Cursor, decisionID); err != nil {
			return nil, err
		}
	}
	// One chain's decision and its overrides: an override sealed on
	// another chain under the same id is not this decision's.
	part, more, err := layout.LoadHistory(ctx, r.DB, r.Table, decisionID, r.Chain, after, limit)
	if err != nil {
		return nil, err
	}
	chain := r.Chain
	if chain == "" && len(part.Decisions) > 0 {
		chain = part.Decisions[0].Environment
		// Ids are unique within a chain, not across chains, and seqs do
		// not compare across chains: one chain's answer chosen by its
		// lowest seq was no answer (an outside trial read the code).
		for _, d := range part.Decisions[1:] {
			if d.Environment != chain {
				return nil, &ParamError{Field: "chain", Reason: fmt.Sprintf("decision id %q is held by chains %s and %s: set Reader.Chain", decisionID, chain, d.Environment)}
			}
		}
	}
	all := part.Decisions
	part.Decisions = part.Of(chain).Decisions
	if len(part.Decisions) == 0 {
		return nil, notFound(decisionID, chain, all, part.Overrides, more)
	}
	h := &History{Decision: decisionOf(part.Decisions[0]), Overrides: []Override{}}
	for _, c := range part.Decisions[1:] {
		h.Conflicting = append(h.Conflicting, decisionOf(c))
	}
	current := false // the override that set the state is on the page
	for _, o := range part.Overrides {
		h.Overrides = append(h.Overrides, overrideOf(o))
		// The indexer raises the current state after writing an override;
		// an override it has written but not yet applied is already the
		// latest.
		if h.setBy(o.Seq) {
			h.CurrentAction, h.CurrentSeq = o.NewAction, o.Seq
		}
		current = current || o.Seq == h.CurrentSeq
	}
	if more {
		h.Next = encodeOverrideCursor(decisionID, part.Overrides[len(part.Overrides)-1].SK)
	}
	if pg.Latest && (more || after != "") {
		latest, err := layout.LatestOverride(ctx, r.DB, r.Table, decisionID, chain)
		if err != nil {
			return nil, err
		}
		if latest != nil && h.setBy(latest.Seq) {
			// Later than the item's state: written, not yet applied, or
			// the item's state rolled back. The latest is the state, as
			// for an override on the page.
			// (One on the page raised the state above: this one is not.)
			o := overrideOf(*latest)
			h.CurrentAction, h.CurrentSeq, h.CurrentOverride = o.NewAction, o.Proof.Seq, &o
			return h, nil
		}
	}
	if !current && h.CurrentSeq != h.Proof.Seq {
		o, err := r.currentOverride(ctx, part.Decisions[0], chain)
		if err != nil {
			return nil, err
		}
		h.CurrentOverride = o
	}
	return h, nil
}

// currentOverride reads the override that set d's current state: by the
// sort key the indexer keeps with it, or, for an item written before it
// kept one, by reading every override of the decision (that item's cost
// until it is next overridden or rebuilt). A state no override of the
// chain holds is left unexplained (nil): CheckProof and the page then
// find the current action unproved.
func (r *Reader) currentOverride(ctx context.Context, d layout.Decision, chain string) (*Override, error) {
	if d.CurrentSK != "" {
		o, ok, err := layout.LoadOverride(ctx, r.DB, r.Table, d.DecisionID, d.CurrentSK)
		if err != nil || !ok || o.Seq != d.CurrentSeq || o.Chain() != chain {
			return nil, err
		}
		out := overrideOf(o)
		return &out, nil
	}
	all, err := layout.LoadDecision(ctx, r.DB, r.Table, d.DecisionID)
	if err != nil {
		return nil, err
	}
	for _, o := range all.Of(chain).Overrides {
		if o.Seq == d.CurrentSeq {
			out := overrideOf(o)
			return &out, nil
		}
	}
	return nil, nil
}

// setBy reports whether the override of the decision's chain at seq sets
// h's current state (layout.SetsState, the indexer's rule).
func (h *History) setBy(seq uint64) bool { return layout.SetsState(h.Proof.Seq, h.CurrentSeq, seq) }

func overrideOf(o layout.Override) Override {
	return Override{DecisionID: o.DecisionID, EventID: o.EventID, OccurredAt: o.OccurredAt,
		ReviewerID: o.ReviewerID, NewAction: o.NewAction, Reason: o.Reason, RecordedBy: o.RecordedBy, Proof: o.Proof}
}

func decisionOf(d layout.Decision) Decision {
	out := Decision{DecisionID: d.DecisionID, EventID: d.EventID, Environment: d.Environment, OccurredAt: d.OccurredAt,
		Action: d.Action, ConfidenceScore: d.ConfidenceScore, PolicyVersion: d.PolicyVersion, UserID: d.UserID, SessionID: d.SessionID,
		RecordedBy: d.RecordedBy, CurrentAction: d.CurrentAction, CurrentSeq: d.CurrentSeq, Proof: d.Proof}
	if d.Metadata != "" {
		if json.Valid([]byte(d.Metadata)) {
			out.Metadata = json.RawMessage(d.Metadata)
		} else { // not what the indexer writes; shown, not trusted
			out.Metadata, _ = json.Marshal(d.Metadata)
		}
	}
	return out
}

// checkID refuses ids the event schema refuses (docs/FORMAT.md section 4):
// no such decision, user or session can be indexed.
func checkID(field, id string) error {
	switch {
	case id == "":
		return &ParamError{Field: field, Reason: "required"}
	case len(id) > 256:
		return &ParamError{Field: field, Reason: "longer than 256 bytes"}
	case !utf8.ValidString(id):
		return &ParamError{Field: field, Reason: "not UTF-8"}
	}
	for _, c := range id {
		if c < 0x20 || c == 0x7f {
			return &ParamError{Field: field, Reason: "has a control character"}
		}
	}
	return nil
}

// ParseTime reads a time parameter (field names it in the error): RFC 3339
// (2026-11-27T10:00:00Z, any offset) or a date (2026-11-27: its midnight,
// UTC).
func ParseTime(field, v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, &ParamError{Field: field, Reason: "not a time: want RFC 3339 (2026-11-27T10:00:00Z) or a date (2026-11-27)"}
}
