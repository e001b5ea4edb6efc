package producer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/shared"
)

// A policy whose FailSafe is not an action (a misspelt "block") still
// records the escalation. Before, Govern returned "block" as the action
// (no caller can act on it) and spooled nothing: the override to "block"
// is not a valid event, and the spool takes the decision and its override
// together or not at all, so the decision itself was lost with it
// (outside trial h1).
func TestAMisspeltFailSafeIsRecordedAsBlock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := downProducer(ctx, t, "")
	d := shared.Decision{DecisionID: "d1", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}
	out := p.Govern(ctx, d, Policy{FailSafe: "block"})
	if out.Decision.Action != shared.ActionBlock || !out.Escalated || !out.Spooled || out.SpoolErr != nil {
		t.Fatalf("outcome: action %q escalated %v spooled %v (%v); want BLOCK, escalated, spooled", out.Decision.Action, out.Escalated, out.Spooled, out.SpoolErr)
	}
	spooled, _, err := p.spool.peek(10)
	if err != nil || len(spooled) != 2 {
		t.Fatalf("spool holds %d records (%v), want the decision and the override", len(spooled), err)
	}
	if !strings.Contains(string(spooled[0]), `"decision_id":"d1"`) || !strings.Contains(string(spooled[1]), `"new_action":"BLOCK"`) {
		t.Fatalf("spooled:\n %s\n %s\nwant the decision, then an override to BLOCK", spooled[0], spooled[1])
	}
}
