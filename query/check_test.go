package query_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/shared"
)

// Two decision events sealed with one decision id (a producer reused it):
// the first by seq is the decision. A lying query service that answers
// the later one as the decision, and the first as the conflicting one,
// shows every item as its own signed entry says: CheckProof (and the
// page) must still refuse it (found by an attack on the page, where both
// accepted it).
func TestCheckProofRefusesTheLaterDecisionAnsweredAsTheDecision(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	env := func(id string, action shared.Action) *shared.Envelope {
		return &shared.Envelope{Type: shared.TypeDecision, EventID: id, Environment: "prod", OccurredAt: at,
			Decision: &shared.Decision{DecisionID: "d", Action: action, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}}
	}
	first, later := env("e1", shared.ActionAllow), env("e2", shared.ActionBlock)
	h1, h2 := shared.Hash{1}, shared.Hash{2}
	rep := shared.ProofReport{Chain: "prod", DecisionID: "d", Action: shared.ActionAllow, CurrentAction: shared.ActionAllow, CurrentSeq: 1, Entries: []shared.ProvedEntry{
		{Entry: &shared.Entry{Seq: 1, Hash: h1}, Envelope: first, Object: "o1"},
		{Entry: &shared.Entry{Seq: 2, Hash: h2}, Envelope: later, Object: "o2"},
	}}
	item := func(e *shared.Envelope, seq uint64, hash shared.Hash, object string) query.Decision {
		return query.Decision{DecisionID: "d", EventID: e.EventID, Environment: "prod", OccurredAt: at, Action: string(e.Decision.Action),
			ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s", CurrentAction: "ALLOW", CurrentSeq: 1,
			Proof: query.Proof{Seq: seq, Hash: hash.String(), Object: object, Line: 1}}
	}
	honest := &query.History{Decision: item(first, 1, h1, "o1"), Conflicting: []query.Decision{item(later, 2, h2, "o2")}}
	if bad := query.CheckProof(honest, rep); len(bad) != 0 {
		t.Fatalf("the honest answer: %v", bad)
	}
	swapped := &query.History{Decision: item(later, 2, h2, "o2"), Conflicting: []query.Decision{item(first, 1, h1, "o1")}}
	swapped.CurrentAction = "ALLOW"
	if bad := query.CheckProof(swapped, rep); len(bad) == 0 || !strings.Contains(strings.Join(bad, "; "), "the first decision event of the signed entries is seq 1") {
		t.Fatalf("the later decision answered as the decision: %v, want it refused", bad)
	}
}

// The index also says which entry set the current state ("by the override
// at seq N"), and the page and aegis get show it next to the verdict: an
// item changed to name an entry that did not set it (one that does not
// exist, here) is refused (found by a security review: it was shown
// unchecked under VERIFIED).
func TestCheckProofRefusesWhatTheIndexSaysSetTheCurrentState(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	e := &shared.Envelope{Type: shared.TypeDecision, EventID: "e1", Environment: "prod", OccurredAt: at,
		Decision: &shared.Decision{DecisionID: "d", Action: shared.ActionBlock, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}}
	rep := shared.ProofReport{Chain: "prod", DecisionID: "d", Action: shared.ActionBlock, CurrentAction: shared.ActionBlock, CurrentSeq: 7,
		Entries: []shared.ProvedEntry{{Entry: &shared.Entry{Seq: 7, Hash: shared.Hash{7}}, Envelope: e, Object: "o"}}}
	h := &query.History{Decision: query.Decision{DecisionID: "d", EventID: "e1", Environment: "prod", OccurredAt: at, Action: "BLOCK",
		ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s", CurrentAction: "BLOCK", CurrentSeq: 7,
		Proof: query.Proof{Seq: 7, Hash: shared.Hash{7}.String(), Object: "o", Line: 1}}}
	if bad := query.CheckProof(h, rep); len(bad) != 0 {
		t.Fatalf("the honest answer: %v", bad)
	}
	// Whom the event was recorded for: the index may neither name a
	// credential the event does not state nor change the one it states.
	h.RecordedBy = "token:admin"
	if bad := query.CheckProof(h, rep); len(bad) != 1 || !strings.Contains(bad[0], "recorded_by") {
		t.Fatalf("recorded_by added by the index: %v, want it refused", bad)
	}
	e.RecordedBy = "token:svc"
	if bad := query.CheckProof(h, rep); len(bad) != 1 || !strings.Contains(bad[0], "recorded_by") {
		t.Fatalf("recorded_by changed by the index: %v, want it refused", bad)
	}
	h.RecordedBy = "token:svc"
	if bad := query.CheckProof(h, rep); len(bad) != 0 {
		t.Fatalf("the honest answer with recorded_by: %v", bad)
	}
	h.CurrentSeq = 1_000_007
	if bad := query.CheckProof(h, rep); len(bad) != 1 || !strings.Contains(bad[0], "set by the entry of seq 1000007; the signed entries say seq 7") {
		t.Fatalf("a current state said to be set by seq 1000007: %v, want it refused", bad)
	}
	// The line shown with the object is checked too (found by an attack:
	// the page showed a lying service's line next to VERIFIED).
	h.CurrentSeq, h.Proof.Line = 7, 999
	if bad := query.CheckProof(h, rep); len(bad) != 1 || !strings.Contains(bad[0], "the index says line 999, the signed log line 1") {
		t.Fatalf("line 999 for an entry on line 1: %v, want it refused", bad)
	}
}
