package producer

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/aegisai/audit/shared"
)

// Policy is what Govern does when a decision cannot be audited.
type Policy struct {
	// FailSafe is the action returned instead of an unaudited decision's
	// (default CHALLENGE). It never weakens a decision: one already at
	// least as strict keeps its action (see Stricter). A FailSafe that is
	// not one of the four actions (a misspelt "block") is taken as BLOCK,
	// the strictest, both returned and recorded.
	FailSafe shared.Action
	// Durability is how far the decision must get to count as audited
	// (default Durable; Sealed waits for the receipt).
	Durability Durability
	// ReviewerID is who the recorded escalation names as its author
	// (default FailSafeReviewer).
	ReviewerID string
	// RecordedBy is the recorded_by of the escalation (default: the
	// decision's, or Config.RecordedBy when it states none). `aegis ingest`
	// sets its own, which no caller can make it write for them.
	RecordedBy string
	// Untold: the caller was told nothing (it went away before an
	// answer), so nothing records what it was told: the decision is still
	// spooled when it could not be made durable, so that it is not lost,
	// but no escalation is recorded or counted.
	Untold bool
}

// FailSafeReviewer is the reviewer_id of the escalations the producer
// records by default; `aegis ingest` refuses overrides that name it, so
// that in its trail only its own escalations do.
const FailSafeReviewer = "aegis-failsafe"

// Outcome is Govern's answer: Decision is what to act on and return to the
// end user.
type Outcome struct {
	// Decision is the original when Audited, else the original with the
	// fail-safe action.
	Decision shared.Decision
	// Audited: the decision is durable (in Sealed mode: sealed, Receipt
	// set). When false, Err says why.
	Audited bool
	// Receipt is the event's receipt: sealed (Sealed mode) or durable
	// when Audited; when not, it still names the event (its id, to
	// retry with) and the durability it reached, if any.
	Receipt *shared.Receipt
	// Err is why the decision was not audited (nil when Audited).
	Err error
	// Escalated: Decision.Action is the fail-safe action, not the
	// original one.
	Escalated bool
	// Spooled: the record of what happened (the original decision and the
	// escalation) is in the spool and will be published, in order, when
	// the broker is back. False when audited, when there is no spool, when
	// the spool is full (SpoolErr), or for an invalid decision.
	Spooled bool
	// SpoolErr is why the escalation was not spooled, when it was to be.
	SpoolErr error
}

// strictness orders the actions from the most permissive: ALLOW lets the
// user through, CHALLENGE asks for more proof, REVIEW holds the request for
// a person, BLOCK refuses it.
var strictness = map[shared.Action]int{shared.ActionAllow: 0, shared.ActionChallenge: 1, shared.ActionReview: 2, shared.ActionBlock: 3}

// Stricter returns the stricter of two actions (an unknown action counts
// as the strictest: it is not one a caller can act on safely).
func Stricter(a, b shared.Action) shared.Action {
	ra, oka := strictness[a]
	rb, okb := strictness[b]
	switch {
	case !oka:
		return a
	case !okb:
		return b
	case rb > ra:
		return b
	}
	return a
}

// Govern applies the fail-safe rule to a decision: it records d and returns
// d as made only when it is audited. Otherwise it returns d with the
// policy's fail-safe action (or d's own, if stricter), counts the
// escalation, and spools the record of it for publication when the broker
// is back:
//
//   - if d may not be in Kafka (the broker did not confirm it), its
//     decision event (same event id) and then an override event that
//     escalates it to the returned action, naming the audit error;
//   - if d is in Kafka but not sealed in time (Sealed mode), the override
//     alone;
//   - if d is invalid (a bug in the caller), nothing: it cannot be
//     recorded; the error names every broken field.
//
// The chain then shows what the model decided and that the fail-safe
// replaced it, and the index's current state is what the user was given.
func (p *Producer) Govern(ctx context.Context, d shared.Decision, pol Policy, opts ...Option) Outcome {
	if p.enter() { // Close waits for the escalation to be spooled
		defer p.calls.Done()
	}
	e := p.NewDecision(d)
	if o := options(opts); o.eventID != "" {
		e.EventID = o.eventID
	}
	receipt, err := p.Log(ctx, e, WithDurability(pol.Durability))
	if err == nil {
		return Outcome{Decision: d, Audited: true, Receipt: receipt}
	}
	out := p.escalate(e, nil, err, pol) // nil: Log wrote e's record with the same function the spool uses
	out.Receipt = receipt
	return out
}

// EscalateEvent is Govern after a decision read by ParseEvent failed to be
// audited by LogEvent with err (with pol's durability): the ingest service
// calls it for a decision it answers 503, so that the chain shows what the
// caller was told to apply. It returns the decision with the fail-safe
// action (or its own, if stricter), counts the escalation and spools its
// record as Govern says; the decision is spooled as the very bytes
// LogEvent published, so that a late delivery of those and the spool's
// copy are one event, not an event id on two spellings.
func (p *Producer) EscalateEvent(ev *Event, err error, pol Policy) Outcome {
	if p.enter() { // Close waits for the escalation to be spooled
		defer p.calls.Done()
	}
	if ev == nil || ev.env == nil {
		return Outcome{Err: fmt.Errorf("escalate: not an event checked by ParseEvent: %w", err)}
	}
	record, rerr := p.record(ev)
	if rerr != nil {
		return Outcome{Err: fmt.Errorf("escalate: %w (%w)", rerr, err)}
	}
	return p.escalate(ev.env, record, err, pol)
}

// escalate escalates the decision event e (an e that is not a decision is
// escalated to nothing: Outcome.Err says so); record, if set, is e's
// record as published, else it is written from e.
func (p *Producer) escalate(e *shared.Envelope, record []byte, err error, pol Policy) Outcome {
	if pol.FailSafe == "" {
		pol.FailSafe = shared.ActionChallenge
	}
	if _, known := strictness[pol.FailSafe]; !known {
		// A misspelt fail-safe ("block") came back as it was, an action
		// no caller can act on, and its override could not be recorded:
		// the spool takes the decision and its override together or not
		// at all, so neither was recorded. The strictest action there is
		// never weakens what was meant.
		p.cfg.Logger.Error("Policy.FailSafe is not an action; BLOCK is applied and recorded instead", zap.String("fail_safe", string(pol.FailSafe)))
		pol.FailSafe = shared.ActionBlock
	}
	if pol.ReviewerID == "" {
		pol.ReviewerID = FailSafeReviewer
	}
	if e == nil || e.Type != shared.TypeDecision || e.Decision == nil {
		return Outcome{Err: fmt.Errorf("escalate: not a decision event: %w", err)}
	}
	d := *e.Decision
	out := Outcome{Decision: d, Err: err}
	out.Decision.Action = Stricter(d.Action, pol.FailSafe)
	out.Escalated = out.Decision.Action != d.Action && !pol.Untold
	reason := "unavailable"
	switch {
	case errors.Is(err, shared.ErrInvalidEvent):
		reason = "invalid"
	case errors.Is(err, ErrNotSealed):
		reason = "not_sealed"
	}
	if !pol.Untold {
		p.m.escalations.WithLabelValues(reason).Inc()
	}
	if reason == "invalid" {
		p.cfg.Logger.Error("decision refused as invalid; returned with the fail-safe action", zap.String("decision_id", d.DecisionID),
			zap.String("action", string(out.Decision.Action)), zap.Error(err))
		return out
	}
	var records []spoolRecord
	if reason == "unavailable" {
		records = append(records, spoolRecord{e: e, record: record})
	}
	if out.Escalated {
		ov := p.NewOverride(shared.Override{DecisionID: d.DecisionID, ReviewerID: pol.ReviewerID, NewAction: out.Decision.Action,
			Reason: clipReason(fmt.Sprintf("fail-safe escalation of event %s from %s: the decision could not be audited: %v", e.EventID, d.Action, err))})
		// Recorded for whom the decision was (Config.RecordedBy when it
		// states none, as the decision then), unless the policy names who.
		ov.RecordedBy = e.RecordedBy
		if pol.RecordedBy != "" {
			ov.RecordedBy = pol.RecordedBy
		}
		records = append(records, spoolRecord{e: ov})
	}
	out.Spooled, out.SpoolErr = p.spoolRecords(records)
	if pol.Untold {
		return out // the caller's side logs it: nothing was returned
	}
	p.cfg.Logger.Warn("decision not audited; returned with the fail-safe action", zap.String("decision_id", d.DecisionID),
		zap.String("event_id", e.EventID), zap.String("original", string(d.Action)), zap.String("returned", string(out.Decision.Action)),
		zap.Bool("spooled", out.Spooled), zap.NamedError("spool_error", out.SpoolErr), zap.Error(err))
	return out
}

// spoolRecord is an event to spool: its record as published when it was
// (record), else written from e.
type spoolRecord struct {
	e      *shared.Envelope
	record []byte
}

// spoolRecords appends the records to the spool, all or none.
func (p *Producer) spoolRecords(events []spoolRecord) (bool, error) {
	if len(events) == 0 {
		return false, nil
	}
	if p.spool == nil {
		p.m.dropped.Add(float64(len(events)))
		return false, errors.New("no spool configured (Config.SpoolDir): the escalation is not recorded")
	}
	values := make([][]byte, len(events))
	for i, sr := range events {
		if sr.record != nil {
			values[i] = sr.record
			continue
		}
		v, err := p.value(sr.e)
		if err != nil {
			p.m.dropped.Add(float64(len(events)))
			return false, err
		}
		values[i] = v
	}
	if err := p.spool.append(values); err != nil {
		p.m.dropped.Add(float64(len(events)))
		return false, err
	}
	p.m.spooled.Set(float64(p.spool.records()))
	return true, nil
}

// clipReason keeps an override reason within the format's limit.
func clipReason(s string) string {
	if len(s) <= shared.MaxReasonLen {
		return s
	}
	cut := shared.MaxReasonLen - 3
	for cut > 0 && s[cut]&0xc0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return s[:cut] + "..."
}
