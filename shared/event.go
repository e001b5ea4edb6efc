package shared

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// EventType names the kind of audit event an Envelope carries. New kinds
// (consent, data access, ...) add a constant and a payload field.
type EventType string

const (
	// TypeDecision is an AI decision (ALLOW, CHALLENGE, BLOCK, REVIEW).
	TypeDecision EventType = "decision"
	// TypeOverride is a human override of an earlier decision.
	TypeOverride EventType = "override"
)

// Action is the outcome of a decision or the new outcome set by an override.
type Action string

// The actions a decision system may take.
const (
	ActionAllow     Action = "ALLOW"
	ActionChallenge Action = "CHALLENGE"
	ActionBlock     Action = "BLOCK"
	ActionReview    Action = "REVIEW"
)

// Valid reports whether a is one of the known actions.
func (a Action) Valid() bool {
	switch a {
	case ActionAllow, ActionChallenge, ActionBlock, ActionReview:
		return true
	}
	return false
}

// Limits enforced by Validate.
const (
	// MaxIDLen is the longest id (event, decision, user, session, reviewer).
	MaxIDLen = 256
	// MaxMetadataBytes is the largest metadata object, in bytes of JSON.
	MaxMetadataBytes = 16 << 10
	// MaxReasonLen is the longest override reason.
	MaxReasonLen = 4096
)

// ErrInvalidEvent is wrapped by every validation error, so callers can
// branch with errors.Is.
var ErrInvalidEvent = errors.New("invalid audit event")

// Envelope is the record producers publish to the decisions topic. Common
// fields identify the event; exactly one payload, matching Type, is set.
type Envelope struct {
	// Type selects the payload.
	Type EventType `json:"type"`
	// EventID is unique per event; it makes publishing idempotent end to end.
	EventID string `json:"event_id"`
	// Environment is the chain the event belongs to (prod, staging, ...).
	Environment string `json:"environment"`
	// OccurredAt is when the event happened at its source, RFC 3339 in UTC.
	OccurredAt time.Time `json:"occurred_at"`

	Decision *Decision `json:"decision,omitempty"`
	Override *Override `json:"override,omitempty"`
}

// Decision is the payload of a TypeDecision event.
type Decision struct {
	DecisionID      string          `json:"decision_id"`
	Action          Action          `json:"action"`
	ConfidenceScore float64         `json:"confidence_score"`
	PolicyVersion   string          `json:"policy_version"`
	UserID          string          `json:"user_id"`
	SessionID       string          `json:"session_id"`
	Metadata        json.RawMessage `json:"metadata,omitempty"`
}

// Override is the payload of a TypeOverride event: a reviewer replaces the
// action of an earlier decision.
type Override struct {
	DecisionID string `json:"decision_id"`
	ReviewerID string `json:"reviewer_id"`
	NewAction  Action `json:"new_action"`
	Reason     string `json:"reason"`
}

// DecisionID returns the decision the event is about ("" if none).
func (e *Envelope) DecisionID() string {
	switch {
	case e.Decision != nil:
		return e.Decision.DecisionID
	case e.Override != nil:
		return e.Override.DecisionID
	}
	return ""
}

// FieldError says which field of an event is wrong and why. It wraps
// ErrInvalidEvent.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%v: %s: %s", ErrInvalidEvent, e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidEvent) true.
func (e *FieldError) Unwrap() error { return ErrInvalidEvent }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

func checkID(field, v string) error {
	switch {
	case strings.TrimSpace(v) == "":
		return fieldErr(field, "is required")
	case len(v) > MaxIDLen:
		return fieldErr(field, "is %d bytes, longer than %d", len(v), MaxIDLen)
	}
	return nil
}

// Validate checks the envelope against the schema: required ids, a known
// action, a confidence score in [0,1], metadata a JSON object of at most
// MaxMetadataBytes in I-JSON (see Canonicalize), exactly one payload.
func (e *Envelope) Validate() error { return e.validate(true) }

// validate checks the schema; checkJSON also checks that metadata is
// I-JSON (callers that canonicalised the whole record already skip it).
func (e *Envelope) validate(checkJSON bool) error {
	if err := checkID("event_id", e.EventID); err != nil {
		return err
	}
	if err := checkID("environment", e.Environment); err != nil {
		return err
	}
	if e.OccurredAt.IsZero() {
		return fieldErr("occurred_at", "is required")
	}
	switch e.Type {
	case TypeDecision:
		if e.Decision == nil || e.Override != nil {
			return fieldErr("decision", "a decision event carries exactly the decision payload")
		}
		return e.Decision.validate(checkJSON)
	case TypeOverride:
		if e.Override == nil || e.Decision != nil {
			return fieldErr("override", "an override event carries exactly the override payload")
		}
		return e.Override.validate()
	case "":
		return fieldErr("type", "is required")
	default:
		return fieldErr("type", "unknown event type %q", e.Type)
	}
}

func (d *Decision) validate(checkJSON bool) error {
	for _, f := range []struct{ name, v string }{
		{"decision.decision_id", d.DecisionID},
		{"decision.policy_version", d.PolicyVersion},
		{"decision.user_id", d.UserID},
		{"decision.session_id", d.SessionID},
	} {
		if err := checkID(f.name, f.v); err != nil {
			return err
		}
	}
	if !d.Action.Valid() {
		return fieldErr("decision.action", "unknown action %q", d.Action)
	}
	s := d.ConfidenceScore
	if math.IsNaN(s) || s < 0 || s > 1 {
		return fieldErr("decision.confidence_score", "%v is outside [0,1]", s)
	}
	if len(d.Metadata) == 0 {
		return nil
	}
	if len(d.Metadata) > MaxMetadataBytes {
		return fieldErr("decision.metadata", "is %d bytes, larger than %d", len(d.Metadata), MaxMetadataBytes)
	}
	if checkJSON {
		if _, err := Canonicalize(d.Metadata); err != nil {
			return fieldErr("decision.metadata", "%v", err)
		}
	}
	if i := bytes.IndexFunc(d.Metadata, func(r rune) bool { return !strings.ContainsRune(" \t\r\n", r) }); i < 0 || d.Metadata[i] != '{' {
		return fieldErr("decision.metadata", "must be a JSON object")
	}
	return nil
}

func (o *Override) validate() error {
	if err := checkID("override.decision_id", o.DecisionID); err != nil {
		return err
	}
	if err := checkID("override.reviewer_id", o.ReviewerID); err != nil {
		return err
	}
	if !o.NewAction.Valid() {
		return fieldErr("override.new_action", "unknown action %q", o.NewAction)
	}
	if strings.TrimSpace(o.Reason) == "" {
		return fieldErr("override.reason", "is required")
	}
	if len(o.Reason) > MaxReasonLen {
		return fieldErr("override.reason", "is %d bytes, longer than %d", len(o.Reason), MaxReasonLen)
	}
	return nil
}

// parseEnvelope decodes and validates one record from the decisions topic
// and returns its canonical bytes. Unknown fields are refused, so nothing a
// producer sends is silently dropped from the sealed record.
func parseEnvelope(raw []byte) (*Envelope, []byte, error) {
	canon, err := Canonicalize(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	dec := json.NewDecoder(bytes.NewReader(canon))
	dec.DisallowUnknownFields()
	var e Envelope
	if err := dec.Decode(&e); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	if err := e.validate(false); err != nil {
		return nil, nil, err
	}
	return &e, canon, nil
}
