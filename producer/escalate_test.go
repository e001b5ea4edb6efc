package producer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/aegisai/audit/shared"
)

// A decision the ingest service could not audit is spooled as the bytes
// LogEvent published, not written again from its envelope: the two
// spellings differ (a time's trailing zero, here), and a late delivery of
// the first beside the spool's second would be one event id on two
// events (an index anomaly, and both indexed).
func TestEscalateEventSpoolsTheBytesPublished(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := downProducer(ctx, t, "")
	body := []byte(`{"environment":"prod","event_id":"e1","occurred_at":"2026-11-27T09:30:00.120Z","decision":{"decision_id":"d1","action":"ALLOW","confidence_score":0.5,"policy_version":"p1","user_id":"u1","session_id":"s1"}}`)
	ev, err := ParseEvent(body, shared.Defaults{Type: shared.TypeDecision})
	if err != nil {
		t.Fatal(err)
	}
	rewritten, _ := ev.Envelope().Record()
	if bytes.Equal(rewritten, ev.record) {
		t.Fatal("the envelope writes the same bytes: the test proves nothing")
	}
	out := p.EscalateEvent(ev, fmt.Errorf("%w: broker gone", ErrAuditUnavailable), Policy{})
	if !out.Spooled || out.Decision.Action != shared.ActionChallenge {
		t.Fatalf("outcome %+v: want spooled, CHALLENGE", out)
	}
	spooled, _, err := p.spool.peek(10)
	if err != nil || len(spooled) != 2 {
		t.Fatalf("spool holds %d records (%v), want the decision and the override", len(spooled), err)
	}
	if !bytes.Equal(spooled[0], ev.record) {
		t.Fatalf("spooled decision\n %s\nwant the bytes published\n %s", spooled[0], ev.record)
	}
}

// downProducer is a producer of chain prod with a spool, whose broker
// never answers (calls fail within a second), closed with the test.
func downProducer(ctx context.Context, t *testing.T, recordedBy string) *Producer {
	t.Helper()
	p, err := New(ctx, Config{Brokers: []string{"127.0.0.1:1"}, Environment: "prod", SpoolDir: t.TempDir(), Timeout: time.Second, RecordedBy: recordedBy})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// A Sealed-mode call whose broker cannot be reached is a failed event,
// counted as a Durable one is (AegisEventsNotConfirmed reads the count):
// it went uncounted when the sealed topic's watch could not start (the
// operators' outside trial: four 503s, three counted).
func TestASealedCallTheBrokerNeverTookIsCountedFailed(t *testing.T) {
	ctx := context.Background()
	p, err := New(ctx, Config{Brokers: []string{"127.0.0.1:1"}, Environment: "prod", Timeout: time.Second, SealTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	d := shared.Decision{DecisionID: "d1", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}
	// Its receipt names the event, and no durability: it said "sealed"
	// beside the error (an outside trial), as a Durable one said "durable".
	for _, dur := range []Durability{Sealed, Durable} {
		r, err := p.LogDecision(ctx, d, WithDurability(dur))
		if !errors.Is(err, ErrAuditUnavailable) || r == nil || r.EventID == "" || r.Durability != "" {
			t.Fatalf("a %s call without a broker: %v, receipt %+v; want ErrAuditUnavailable, the event named, no durability", dur, err, r)
		}
	}
	var m dto.Metric
	if err := p.m.failed.Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 2 {
		t.Fatalf("%v events counted failed, want 2", got)
	}
}

// A producer closed with escalations in its spool says how many and
// where (an operator stopping ingest with the broker down was told only
// "ingest stopped": an outside trial); one with an empty spool says
// nothing of it.
func TestClosingWithASpooledEscalationSaysSo(t *testing.T) {
	for _, escalate := range []bool{false, true} {
		core, logs := observer.New(zap.WarnLevel)
		dir := t.TempDir()
		p, err := New(context.Background(), Config{Brokers: []string{"127.0.0.1:1"}, Environment: "prod", SpoolDir: dir, Timeout: time.Second, Logger: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		if escalate {
			d := shared.Decision{DecisionID: "d1", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}
			if out := p.Govern(context.Background(), d, Policy{}); !out.Spooled {
				t.Fatalf("outcome %+v: want the escalation spooled", out)
			}
		}
		p.Close()
		said := logs.FilterMessageSnippet("closing with escalation records in the spool").All()
		if escalate && (len(said) != 1 || said[0].ContextMap()["records"] != int64(2) || said[0].ContextMap()["spool_dir"] != dir) ||
			!escalate && len(said) != 0 {
			t.Errorf("escalated %v: told %v", escalate, said)
		}
	}
}
