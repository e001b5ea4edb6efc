package query

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aegisai/audit/shared"
)

// Ref is where an answer's entry is in S3: what to prove.
type Ref struct {
	Seq    uint64
	Object string
	Line   int
}

// Refs are the entries of a history (decision, the page of overrides, the
// override that set the current state, conflicting decisions), by seq:
// the ones a proof of it must hold.
func (h *History) Refs() []Ref {
	refs := []Ref{refOf(h.Proof)}
	for _, o := range h.overrides() {
		refs = append(refs, refOf(o.Proof))
	}
	for _, c := range h.Conflicting {
		refs = append(refs, refOf(c.Proof))
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Seq < refs[j].Seq })
	return refs
}

func refOf(p Proof) Ref { return Ref{Seq: p.Seq, Object: p.Object, Line: p.Line} }

// overrides are the overrides h shows: its page and the one that set its
// current state.
func (h *History) overrides() []Override {
	if h.CurrentOverride == nil {
		return h.Overrides
	}
	return append(slices.Clip(h.Overrides), *h.CurrentOverride)
}

// CheckProof compares what the index answered with what a verified
// evidence bundle proves (shared.VerifyBundle's report of the entries h
// points at): every item's entry must be in the bundle with the same hash,
// object and content, and the current action must be the bundle's. It
// returns every difference (nil when none). The bundle proves the entries
// are in the signed log; this proves the index tells what they say.
func CheckProof(h *History, rep shared.ProofReport) []string {
	var bad []string
	bySeq := map[uint64]shared.ProvedEntry{}
	for _, pe := range rep.Entries {
		bySeq[pe.Entry.Seq] = pe
	}
	if rep.DecisionID != h.DecisionID {
		bad = append(bad, fmt.Sprintf("the proof is of decision %q, not %q", rep.DecisionID, h.DecisionID))
	}
	check := func(what string, p Proof, fields func(*shared.Envelope) []string) {
		pe, ok := bySeq[p.Seq]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s (seq %d) is not in the proof", what, p.Seq))
			return
		}
		if pe.Entry.Hash.String() != p.Hash {
			bad = append(bad, fmt.Sprintf("%s (seq %d): the index says hash %s, the signed log %s", what, p.Seq, p.Hash, pe.Entry.Hash))
		}
		if pe.Object != p.Object {
			bad = append(bad, fmt.Sprintf("%s (seq %d): the index says object %s, the signed log %s", what, p.Seq, p.Object, pe.Object))
		}
		if uint64(p.Line) != pe.Index+1 { // shown next to the verdict: checked like the rest
			bad = append(bad, fmt.Sprintf("%s (seq %d): the index says line %d, the signed log line %d", what, p.Seq, p.Line, pe.Index+1))
		}
		if diff := fields(pe.Envelope); len(diff) > 0 {
			bad = append(bad, fmt.Sprintf("%s (seq %d): the index differs from the signed entry in %s", what, p.Seq, strings.Join(diff, ", ")))
		}
	}
	decision := func(d Decision) func(*shared.Envelope) []string {
		return func(env *shared.Envelope) []string {
			x := env.Decision
			if x == nil {
				return []string{"type (the entry is not a decision)"}
			}
			var diff []string
			add := func(name string, index, signed any, same bool) {
				if !same {
					diff = append(diff, differs(name, index, signed))
				}
			}
			add("event_id", d.EventID, env.EventID, env.EventID == d.EventID)
			add("environment", d.Environment, env.Environment, env.Environment == d.Environment)
			add("occurred_at", d.OccurredAt, env.OccurredAt, env.OccurredAt.Equal(d.OccurredAt))
			add("decision_id", d.DecisionID, x.DecisionID, x.DecisionID == d.DecisionID)
			add("action", d.Action, x.Action, string(x.Action) == d.Action)
			add("confidence_score", d.ConfidenceScore, x.ConfidenceScore, x.ConfidenceScore == d.ConfidenceScore)
			add("policy_version", d.PolicyVersion, x.PolicyVersion, x.PolicyVersion == d.PolicyVersion)
			add("user_id", d.UserID, x.UserID, x.UserID == d.UserID)
			add("session_id", d.SessionID, x.SessionID, x.SessionID == d.SessionID)
			add("metadata", string(d.Metadata), string(x.Metadata), bytes.Equal(x.Metadata, d.Metadata))
			add("recorded_by", d.RecordedBy, env.RecordedBy, env.RecordedBy == d.RecordedBy)
			return diff
		}
	}
	check("decision "+h.DecisionID, h.Proof, decision(h.Decision))
	// Of two decision events sealed with one id, the first (by seq) is the
	// decision (docs/FORMAT.md section 11): an answer that shows the
	// later one as the decision, and the first as the conflicting one,
	// is not what the signed entries say, though each item matches its
	// own entry.
	for _, pe := range rep.Entries {
		if pe.Envelope != nil && pe.Envelope.Decision != nil {
			if pe.Entry.Seq != h.Proof.Seq {
				bad = append(bad, fmt.Sprintf("the index answers the decision event of seq %d; the first decision event of the signed entries is seq %d, which is the decision", h.Proof.Seq, pe.Entry.Seq))
			}
			break
		}
	}
	for _, c := range h.Conflicting {
		check("conflicting decision "+c.EventID, c.Proof, decision(c))
	}
	for _, o := range h.overrides() {
		check("override "+o.EventID, o.Proof, func(env *shared.Envelope) []string {
			x := env.Override
			if x == nil {
				return []string{"type (the entry is not an override)"}
			}
			var diff []string
			add := func(name string, index, signed any, same bool) {
				if !same {
					diff = append(diff, differs(name, index, signed))
				}
			}
			add("event_id", o.EventID, env.EventID, env.EventID == o.EventID)
			add("occurred_at", o.OccurredAt, env.OccurredAt, env.OccurredAt.Equal(o.OccurredAt))
			add("decision_id", o.DecisionID, x.DecisionID, x.DecisionID == o.DecisionID)
			add("reviewer_id", o.ReviewerID, x.ReviewerID, x.ReviewerID == o.ReviewerID)
			add("new_action", o.NewAction, x.NewAction, string(x.NewAction) == o.NewAction)
			add("reason", o.Reason, x.Reason, x.Reason == o.Reason)
			add("recorded_by", o.RecordedBy, env.RecordedBy, env.RecordedBy == o.RecordedBy)
			return diff
		})
	}
	if len(bad) == 0 && string(rep.CurrentAction) != h.CurrentAction {
		bad = append(bad, fmt.Sprintf("the index says the current action is %s; the signed entries say %s", h.CurrentAction, rep.CurrentAction))
	}
	// What set it is shown too ("by the override at seq N"): it must be
	// the entry the signed entries say set it.
	if len(bad) == 0 && rep.CurrentSeq != h.CurrentSeq {
		bad = append(bad, fmt.Sprintf("the index says the current action was set by the entry of seq %d; the signed entries say seq %d", h.CurrentSeq, rep.CurrentSeq))
	}
	return bad
}

// differs names a field whose value the index and the signed entry do not
// share, with both values (each clipped to 60 bytes), so that an auditor
// sees what was changed without another query.
func differs(name string, index, signed any) string {
	return fmt.Sprintf("%s (index %s, S3 %s)", name, shown(index), shown(signed))
}

func shown(v any) string {
	var s string
	switch x := v.(type) {
	case time.Time:
		s = x.Format(time.RFC3339Nano)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		s = fmt.Sprint(x)
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return strconv.Quote(s)
}
