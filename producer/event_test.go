package producer

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/aegisai/audit/shared"
)

// TestLogEventPublishesTheRecordItChecked: what LogEvent publishes is
// ParseEvent's record byte for byte, the same bytes Log writes for that
// envelope, under its event id; changing the envelope afterwards changes
// nothing; WithEventID of another id encodes it again under that id.
func TestLogEventPublishesTheRecordItChecked(t *testing.T) {
	c := testBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod", Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	body := []byte(`{"environment":"prod","decision":{"session_id":"s1","decision_id":"d1","action":"ALLOW","confidence_score":0.920,` +
		`"policy_version":"p1","user_id":"u1","metadata":{"z":1.50,"a":[1e2,"x"]}}}`)
	at := time.Date(2026, 11, 29, 10, 0, 0, 120_000_000, time.UTC)
	ev, err := ParseEvent(body, shared.Defaults{Type: shared.TypeDecision, EventID: "ev-1", OccurredAt: at})
	if err != nil {
		t.Fatal(err)
	}
	viaLog, err := ev.Envelope().Record()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ev.record, viaLog) {
		t.Fatalf("ParseEvent's record\n%s\nis not what Log writes for its envelope\n%s", ev.record, viaLog)
	}
	ev.Envelope().Decision.Action = "NOT-AN-ACTION"
	r, err := p.LogEvent(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if r.EventID != "ev-1" || r.DecisionID != "d1" || r.Durability != shared.DurabilityDurable {
		t.Errorf("receipt %+v", r)
	}
	if _, err := p.LogEvent(ctx, ev, WithEventID("ev-2")); err == nil || !errors.Is(err, shared.ErrInvalidEvent) {
		t.Errorf("the changed envelope under a new id: %v, want it refused", err)
	}
	ev, _ = ParseEvent(body, shared.Defaults{Type: shared.TypeDecision, EventID: "ev-1", OccurredAt: at})
	if _, err := p.LogEvent(ctx, ev, WithEventID("ev-3")); err != nil {
		t.Fatal(err)
	}

	got := topicRecords(ctx, t, c, "t", 2)
	if len(got) != 2 {
		t.Fatalf("%d records on the topic, want 2", len(got))
	}
	if string(got[0].Key) != "ev-1" || !bytes.Equal(got[0].Value, viaLog) {
		t.Errorf("first record %s %s, want ev-1 %s", got[0].Key, got[0].Value, viaLog)
	}
	if string(got[1].Key) != "ev-3" || !bytes.Contains(got[1].Value, []byte(`"event_id":"ev-3"`)) {
		t.Errorf("second record %s %s, want it under ev-3", got[1].Key, got[1].Value)
	}
}

func TestLogEventRefusesWhatParseEventDidNotMake(t *testing.T) {
	p := &Producer{cfg: Config{Environment: "prod"}, m: newMetrics(nil, "prod")}
	for _, ev := range []*Event{nil, {}} {
		if _, err := p.LogEvent(context.Background(), ev); !errors.Is(err, shared.ErrInvalidEvent) {
			t.Errorf("LogEvent(%v) = %v, want an invalid event", ev, err)
		}
	}
	ev, err := ParseEvent([]byte(`{"environment":"dev","override":{"decision_id":"d1","reviewer_id":"r1","new_action":"BLOCK","reason":"x"}}`),
		shared.Defaults{Type: shared.TypeOverride, EventID: "e1", OccurredAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.LogEvent(context.Background(), ev)
	var fe *shared.FieldError
	if !errors.As(err, &fe) || fe.Field != "environment" {
		t.Errorf("an event of another chain: %v, want a field error naming environment", err)
	}
	if _, err := ParseEvent([]byte(`{"environment":"prod","decision":{"decision_id":"","confidence_score":2}}`),
		shared.Defaults{Type: shared.TypeDecision, EventID: "e1", OccurredAt: time.Now()}); len(shared.FieldErrorsOf(err)) < 2 {
		t.Errorf("ParseEvent of a broken decision: %v, want every broken field", err)
	}
}

// Config.RecordedBy is sealed with each event that has no recorded_by of
// its own; an event that states one keeps it; a RecordedBy that is not an
// id is refused at New.
func TestRecordedByIsStampedWhereTheEventHasNone(t *testing.T) {
	c := testBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, bad := range []string{" ", "a\nb", "a\xffb"} {
		if p, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod", RecordedBy: bad}); err == nil {
			p.Close()
			t.Errorf("RecordedBy %q accepted", bad)
		}
	}
	p, err := New(ctx, Config{Brokers: c.ListenAddrs(), Environment: "prod", Topic: "t", RecordedBy: "loginrisk"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	d := &shared.Decision{DecisionID: "d1", Action: shared.ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	plain := &shared.Envelope{Type: shared.TypeDecision, EventID: "e1", Environment: "prod", OccurredAt: at, Decision: d}
	stated := &shared.Envelope{Type: shared.TypeDecision, EventID: "e2", Environment: "prod", OccurredAt: at.UTC(), Decision: d, RecordedBy: "batch-job"}
	for _, e := range []*shared.Envelope{plain, stated} {
		if _, err := p.Log(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if plain.RecordedBy != "" {
		t.Errorf("Log changed the caller's envelope: %q", plain.RecordedBy)
	}
	got := topicRecords(ctx, t, c, "t", 2)
	want := []string{`"recorded_by":"loginrisk"`, `"recorded_by":"batch-job"`}
	for i, r := range got {
		if !bytes.Contains(r.Value, []byte(want[i])) {
			t.Errorf("record %d %s lacks %s", i, r.Value, want[i])
		}
		if _, _, err := shared.ParseRecord(r.Value); err != nil {
			t.Errorf("record %d is not a valid event: %v", i, err)
		}
	}
}

// testBroker starts an in-process Kafka broker for the test.
func testBroker(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// topicRecords reads the first n records of topic (fewer if ctx ends).
func topicRecords(ctx context.Context, t *testing.T, c *kfake.Cluster, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	for len(got) < n && ctx.Err() == nil {
		got = append(got, cl.PollFetches(ctx).Records()...)
	}
	return got
}
