package producer

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/shared"
)

// Govern's escalation (broker down) spools the decision and the
// override both with Config.RecordedBy; ingest's EscalateEvent spools the
// override with the caller's token even when the producer states its own;
// PublishAsync stamps Config.RecordedBy.
func TestRecordedByOnEveryPath(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := downProducer(ctx, t, "loginrisk")
	out := p.Govern(ctx, shared.Decision{DecisionID: "d1", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}, Policy{})
	if !out.Spooled {
		t.Fatalf("govern: %+v", out)
	}
	body := []byte(`{"environment":"prod","event_id":"e2","occurred_at":"2026-11-27T09:30:00Z","decision":{"decision_id":"d2","action":"ALLOW","confidence_score":0.5,"policy_version":"p1","user_id":"u1","session_id":"s1"}}`)
	ev, err := ParseEvent(body, shared.Defaults{Type: shared.TypeDecision, RecordedBy: "token:svc"})
	if err != nil {
		t.Fatal(err)
	}
	if o := p.EscalateEvent(ev, fmt.Errorf("%w: broker gone", ErrAuditUnavailable), Policy{}); !o.Spooled {
		t.Fatalf("escalate: %+v", o)
	}
	spooled, _, err := p.spool.peek(10)
	if err != nil || len(spooled) != 4 {
		t.Fatalf("spool %d %v", len(spooled), err)
	}
	for i, want := range []string{"loginrisk", "loginrisk", "token:svc", "token:svc"} {
		env, _, err := shared.ParseRecord(spooled[i])
		if err != nil || env.RecordedBy != want {
			t.Errorf("spooled %d %s: recorded_by %q, want %q (%v)", i, spooled[i], env.RecordedBy, want, err)
		}
	}
	p.Close()

	c := testBroker(t)
	q, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod", Topic: "t", RecordedBy: "loginrisk"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	done := make(chan error, 1)
	if err := q.PublishAsync(ctx, q.NewDecision(shared.Decision{DecisionID: "d3", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}),
		func(_ *shared.Receipt, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := topicRecords(ctx, t, c, "t", 1)
	if len(got) != 1 || !bytes.Contains(got[0].Value, []byte(`"recorded_by":"loginrisk"`)) {
		t.Errorf("async record lacks recorded_by: %v", got)
	}
}

// With Config.RecordedBy set, a decision read by ParseEvent without one is
// published by LogEvent with Config.RecordedBy, as its fail-safe
// escalation override is (an attack, 2026-11-30, found the decision sealed
// without it and its override with it).
func TestLogEventAndItsEscalationAgreeOnRecordedBy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := downProducer(ctx, t, "loginrisk")
	body := []byte(`{"environment":"prod","event_id":"e2","occurred_at":"2026-11-27T09:30:00Z","decision":{"decision_id":"d2","action":"ALLOW","confidence_score":0.5,"policy_version":"p1","user_id":"u1","session_id":"s1"}}`)
	ev, err := ParseEvent(body, shared.Defaults{Type: shared.TypeDecision})
	if err != nil {
		t.Fatal(err)
	}
	_, lerr := p.LogEvent(ctx, ev)
	if o := p.EscalateEvent(ev, lerr, Policy{}); !o.Spooled {
		t.Fatalf("escalate: %+v (%v)", o, lerr)
	}
	spooled, _, err := p.spool.peek(10)
	if err != nil || len(spooled) != 2 {
		t.Fatalf("spool %d %v", len(spooled), err)
	}
	var by []string
	for _, s := range spooled {
		env, _, _ := shared.ParseRecord(s)
		by = append(by, env.RecordedBy)
	}
	if by[0] != "loginrisk" || by[1] != "loginrisk" {
		t.Errorf("decision recorded_by %q, its escalation override %q", by[0], by[1])
	}
}

// For a caller told nothing (Policy.Untold), a decision the broker did not
// take is spooled alone, so that it is not lost, and no escalation is
// recorded or counted.
func TestAnUntoldDecisionIsSpooledWithoutEscalation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := downProducer(ctx, t, "")
	body := []byte(`{"environment":"prod","event_id":"e9","occurred_at":"2026-11-27T09:30:00Z","decision":{"decision_id":"d9","action":"ALLOW","confidence_score":0.5,"policy_version":"p1","user_id":"u1","session_id":"s1"}}`)
	ev, err := ParseEvent(body, shared.Defaults{Type: shared.TypeDecision, RecordedBy: "token:svc"})
	if err != nil {
		t.Fatal(err)
	}
	_, lerr := p.LogEvent(ctx, ev)
	out := p.EscalateEvent(ev, lerr, Policy{Untold: true})
	if !out.Spooled || out.Escalated || strings.Contains(lerr.Error(), "%!") {
		t.Fatalf("untold: %+v (%v)", out, lerr)
	}
	spooled, _, err := p.spool.peek(10)
	if err != nil || len(spooled) != 1 || !bytes.Equal(spooled[0], ev.record) {
		t.Fatalf("spooled %d records, want the decision alone: %q %v", len(spooled), spooled, err)
	}
}
