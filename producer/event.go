package producer

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aegisai/audit/shared"
)

// An Event is an envelope already checked against every rule the sealer
// applies, with the canonical record it becomes. ParseEvent makes one from
// JSON (what `aegis ingest` receives), and LogEvent publishes its record
// without checking and encoding the envelope a second time, which was a
// tenth of ingest's CPU time per request. Its fields are unexported: an
// Event that did not pass ParseEvent cannot be made outside this package,
// and LogEvent refuses the zero Event.
type Event struct {
	env    *shared.Envelope
	record []byte
	// What LogEvent publishes under, fixed when the record was checked.
	id          eventKey
	environment string
	typ         shared.EventType
	recordedBy  string // the record's own ("" when it states none)
}

// ParseEvent reads raw exactly as the sealer reads a record, after
// setting the members it leaves out from d (shared.CompleteRecord), and
// returns the event or every broken field (shared.FieldErrorsOf).
func ParseEvent(raw []byte, d shared.Defaults) (*Event, error) {
	env, record, err := shared.CompleteRecord(raw, d)
	if err != nil {
		return nil, err
	}
	return &Event{env: env, record: record, id: eventKey{event: env.EventID, decision: env.DecisionID()}, environment: env.Environment,
		typ: env.Type, recordedBy: env.RecordedBy}, nil
}

// Envelope is the event's envelope, to read (changing it does not change
// the record LogEvent publishes).
func (ev *Event) Envelope() *shared.Envelope { return ev.env }

// OccurredAt is the event's occurred_at as its record holds it: the
// text the sealer seals, which a retry must send again to be the same
// event. A body's "…T10:00:00.120Z" stays so (what Java's Instant and
// JavaScript's toISOString write), where shared.FormatTime of
// Envelope().OccurredAt writes "…T10:00:00.12Z", another event's bytes
// under the same event id (an event-id-reused anomaly, not a duplicate).
func (ev *Event) OccurredAt() string {
	// The record is canonical JSON that ParseEvent checked: its top-level
	// occurred_at is the one member of that name outside the payload
	// (a decision's metadata may hold a member of any name).
	var top struct {
		OccurredAt string `json:"occurred_at"`
	}
	if err := json.Unmarshal(ev.record, &top); err != nil || top.OccurredAt == "" {
		return shared.FormatTime(ev.env.OccurredAt)
	}
	return top.OccurredAt
}

// LogEvent records ev, checked by ParseEvent, as Log records an envelope:
// its receipt once it is durable (or sealed, with WithDurability(Sealed)).
// The record published is the one ParseEvent checked, byte for byte. With
// WithEventID of another id the envelope is checked and encoded again
// under that id (Log).
func (p *Producer) LogEvent(ctx context.Context, ev *Event, opts ...Option) (*shared.Receipt, error) {
	if p.enter() {
		defer p.calls.Done()
	}
	if ev == nil || ev.env == nil {
		p.m.invalid.Inc()
		return nil, &shared.FieldError{Field: "record", Reason: "is not an event checked by producer.ParseEvent"}
	}
	o := options(opts)
	if o.eventID != "" && o.eventID != ev.id.event {
		return p.Log(ctx, ev.env, opts...)
	}
	r := &shared.Receipt{EventID: ev.id.event, DecisionID: ev.id.decision} // Durability: what logRecord reaches
	if ev.environment != p.cfg.Environment {
		p.m.invalid.Inc()
		return r, &shared.FieldError{Field: "environment", Reason: fmt.Sprintf("is %q, this producer records %q", ev.environment, p.cfg.Environment)}
	}
	record, err := p.record(ev)
	if err != nil {
		p.m.invalid.Inc()
		return r, err
	}
	return p.logRecord(ctx, ev.id, record, o.durability, r)
}

// record is the record this producer publishes for ev: ParseEvent's,
// with Config.RecordedBy when it states no recorded_by of its own, as for
// every event the producer writes.
func (p *Producer) record(ev *Event) ([]byte, error) {
	if ev.recordedBy != "" || p.cfg.RecordedBy == "" {
		return ev.record, nil
	}
	return shared.WithRecordedBy(ev.record, ev.typ, p.cfg.RecordedBy)
}
