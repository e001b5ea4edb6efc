package shared

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
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
	// RecordedBy, optional, is who the publisher says it recorded the event
	// for: `aegis ingest` sets "token:" and the name of the bearer token
	// the request came with, and refuses a body that sets it. It is what
	// the publisher states, sealed as stated (docs/FORMAT.md section 4).
	RecordedBy string `json:"recorded_by,omitempty"`

	Decision *Decision `json:"decision,omitempty"`
	Override *Override `json:"override,omitempty"`
}

// Decision is the payload of a TypeDecision event.
//
// The ids (DecisionID, PolicyVersion, UserID, SessionID) follow the id
// rule (CheckID: 1 to MaxIDLen bytes, no C0 control or DEL, not only
// spaces; the record as a whole must be UTF-8);
// docs/FORMAT.md section 4 is the whole schema.
type Decision struct {
	// DecisionID names the decision; overrides name it to replace its
	// action.
	DecisionID string `json:"decision_id"`
	// Action is what the model decided: ALLOW, CHALLENGE, REVIEW or BLOCK.
	Action Action `json:"action"`
	// ConfidenceScore is the model's confidence, in [0, 1].
	ConfidenceScore float64 `json:"confidence_score"`
	// PolicyVersion names the policy or model that decided.
	PolicyVersion string `json:"policy_version"`
	// UserID and SessionID are what lookups by user and by session find
	// the decision by.
	UserID    string `json:"user_id"`
	SessionID string `json:"session_id"`
	// Metadata is an optional JSON object of at most MaxMetadataBytes
	// canonical bytes and MaxDepth levels in the record, whose numbers
	// keep their value as IEEE doubles; empty is none.
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// Override is the payload of a TypeOverride event: a reviewer replaces the
// action of an earlier decision.
type Override struct {
	// DecisionID names the decision overridden (the id rule).
	DecisionID string `json:"decision_id"`
	// ReviewerID names who overrode it (the id rule).
	ReviewerID string `json:"reviewer_id"`
	// NewAction replaces the decision's action.
	NewAction Action `json:"new_action"`
	// Reason says why: not blank, at most MaxReasonLen bytes.
	Reason string `json:"reason"`
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
	// Field is the member's path in the record, e.g. "decision.metadata.amount".
	Field  string
	Reason string
	err    error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%v: %s: %s", ErrInvalidEvent, e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidEvent) true, and errors.Is(err,
// ErrNotCanonical) for a record that is not canonicalisable JSON.
func (e *FieldError) Unwrap() []error { return []error{ErrInvalidEvent, e.err} }

// FieldErrors is every rule an event breaks, each naming its field, in the
// order the fields are checked. Its message is the first one's: that is
// the reason an INVALID entry records, the same whether one rule or many
// are broken.
type FieldErrors []*FieldError

func (e FieldErrors) Error() string { return e[0].Error() }

// Unwrap gives errors.As the first *FieldError and errors.Is
// ErrInvalidEvent.
func (e FieldErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, fe := range e {
		out[i] = fe
	}
	return out
}

// FieldErrorsOf returns every field error err holds, first one first (nil
// when it holds none).
func FieldErrorsOf(err error) []*FieldError {
	var many FieldErrors
	if errors.As(err, &many) {
		return many
	}
	var one *FieldError
	if errors.As(err, &one) {
		return []*FieldError{one}
	}
	return nil
}

// fieldErrs collects the field errors of one event, one per field.
type fieldErrs struct {
	list []*FieldError
}

// add records err (a *FieldError) and reports whether there was one.
func (f *fieldErrs) add(err error) bool {
	if err == nil {
		return false
	}
	fe, ok := err.(*FieldError)
	if !ok {
		fe = &FieldError{Field: "record", Reason: err.Error(), err: err}
	}
	for _, seen := range f.list {
		if seen.Field == fe.Field {
			return true
		}
	}
	f.list = append(f.list, fe)
	return true
}

func (f *fieldErrs) err() error {
	switch len(f.list) {
	case 0:
		return nil
	case 1:
		return f.list[0]
	}
	return FieldErrors(f.list)
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// CheckID applies the id rule of docs/FORMAT.md section 4 to v, and the
// rule of section 3 that text is UTF-8 without noncharacters: the error,
// a *FieldError, names field.
func CheckID(field, v string) error {
	if err := checkID(field, v); err != nil {
		return err
	}
	if !utf8.ValidString(v) {
		return fieldErr(field, "is not UTF-8")
	}
	for _, r := range v { // U+FFFD itself is text (isIJSONText refuses it only to take its slow path)
		if isNoncharacter(r) {
			return fieldErr(field, "holds the noncharacter U+%04X", r)
		}
	}
	return nil
}

// checkID applies the id rule: 1 to MaxIDLen bytes, at least one
// character other than a space, and no control character (below U+0020, or
// U+007F).
//
// It reads bytes, not runes: every byte of a multi-byte UTF-8 sequence is
// 0x80 or above, so a byte below 0x20 or 0x7F is that control character
// however the rest is encoded (one pass; the producer checks five ids per
// event).
func checkID(field, v string) error {
	switch {
	case v == "":
		return fieldErr(field, "is required")
	case len(v) > MaxIDLen:
		return fieldErr(field, "is %d bytes, longer than %d", len(v), MaxIDLen)
	}
	spaces := true
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c < 0x20 || c == 0x7f:
			return fieldErr(field, "holds a control character")
		case c != ' ':
			spaces = false
		}
	}
	if spaces {
		return fieldErr(field, "is only spaces")
	}
	return nil
}

// Validate checks the envelope exactly as the sealer will check the record
// it becomes: it is encoded as JSON and held to every rule of
// docs/FORMAT.md sections 3 and 4 (numbers that keep their value, required
// ids, a known action, a confidence score in [0,1], metadata a JSON object
// of at most MaxMetadataBytes canonical bytes, exactly one payload, a UTC
// occurred_at). The error is a *FieldError naming the field.
func (e *Envelope) Validate() error {
	_, err := e.Record()
	return err
}

// Record returns the canonical bytes of the envelope as the sealer will
// seal them, or the field errors of the rules it breaks. The envelope is
// written as JSON with its members in canonical order (strings as they
// are: invalid UTF-8 is refused, not replaced) and then read under the
// sealer's own rules, which leave canonical text as it is.
func (e *Envelope) Record() ([]byte, error) {
	if e.OccurredAt.IsZero() {
		return nil, fieldErr("occurred_at", "is required")
	}
	if b, ok := e.fastRecord(); ok {
		return b, nil
	}
	raw, err := e.appendJSON(make([]byte, 0, 384+len(e.metadata())), nil, nil)
	if err != nil {
		return nil, err
	}
	_, canon, err := parseEnvelope(raw)
	if err != nil {
		err = e.withOtherFields(err)
	}
	return canon, err
}

// withOtherFields adds to err, which names the decision's metadata alone
// (a number that does not keep its value, JSON that does not read: the
// reading of the record stops there), the field errors of the rest of the
// envelope, read with the metadata left out: every broken field is named
// (an outside trial found a 1e16 in metadata hid a bad action, score and
// user id). What is accepted does not change: only a refusal says more.
func (e *Envelope) withOtherFields(err error) error {
	fes := FieldErrorsOf(err)
	if e.Decision == nil || len(e.Decision.Metadata) == 0 || len(fes) == 0 {
		return err
	}
	for _, fe := range fes {
		if fe.Field != "decision.metadata" && !strings.HasPrefix(fe.Field, "decision.metadata.") {
			return err
		}
	}
	cp, d := *e, *e.Decision
	d.Metadata, cp.Decision = nil, &d
	raw, rerr := cp.appendJSON(make([]byte, 0, 384), nil, nil)
	if rerr == nil {
		_, _, rerr = parseEnvelope(raw)
	}
	if rerr == nil {
		return err
	}
	return append(FieldErrors(fes), FieldErrorsOf(rerr)...)
}

// fastRecord is Record for an envelope that breaks no rule, without
// reading back what it writes: each field is checked against the rule the
// sealer's parse applies to it, and the metadata canonicalised on its own
// at the depth it has in the record. ok is false when anything fails, and
// Record then takes the full path, which names the error. Record's
// fuzzer and differential tests hold the two paths to the same bytes.
func (e *Envelope) fastRecord() (_ []byte, ok bool) {
	id := func(s string) bool { return plainID(s) || checkID("", s) == nil && isIJSONText(s) }
	if !id(e.EventID) || !ValidIdentifier(e.Environment) || (e.RecordedBy != "" && !id(e.RecordedBy)) {
		return nil, false
	}
	// A time at offset 0 within years 0000 to 9999 is one ParseTime
	// reads back: RFC 3339 with "Z", a real date, never a leap second.
	if _, offset := e.OccurredAt.Zone(); offset != 0 || e.OccurredAt.Before(EarliestTime) || e.OccurredAt.After(LatestTime) {
		return nil, false
	}
	var tbuf [40]byte
	occurred := appendTime(tbuf[:0], e.OccurredAt)
	occurred = occurred[1 : len(occurred)-1] // appendTime's quotes
	var metadata []byte
	switch {
	case e.Type == TypeDecision && e.Decision != nil && e.Override == nil:
		d := e.Decision
		if !id(d.DecisionID) || !id(d.PolicyVersion) || !id(d.UserID) || !id(d.SessionID) || !d.Action.Valid() ||
			!(d.ConfidenceScore >= 0 && d.ConfidenceScore <= 1) {
			return nil, false
		}
		var sorted bool
		switch {
		case len(d.Metadata) == 0 || len(d.Metadata) > MaxMetadataBytes || d.Metadata[0] != '{':
			// None, or the strict parser below names what is wrong.
		case canonicalText(d.Metadata, MaxDepth-2):
			// Canonical already (what json.Marshal of a map writes, mostly):
			// checked in one pass, used as it is.
			metadata = d.Metadata
		default:
			// Canonical but for the order of members (a literal, a
			// marshalled struct): members sorted without building a tree.
			metadata, sorted = canonicalSorted(d.Metadata, MaxDepth-2, make([]byte, 0, len(d.Metadata)))
			if !sorted {
				metadata = nil
			}
		}
		if len(d.Metadata) > 0 && metadata == nil {
			// The metadata object is at depth 3 of the record.
			v, err := parseJSON(d.Metadata, parseOptions{maxDepth: MaxDepth - 2})
			if err != nil || v.kind != jsonObject {
				return nil, false
			}
			if metadata = appendCanonical(make([]byte, 0, len(d.Metadata)), &v); len(metadata) > MaxMetadataBytes {
				return nil, false
			}
		}
	case e.Type == TypeOverride && e.Override != nil && e.Decision == nil:
		o := e.Override
		if !id(o.DecisionID) || !id(o.ReviewerID) || !o.NewAction.Valid() || !isIJSONText(o.Reason) ||
			strings.Trim(o.Reason, " \t\r\n") == "" || len(o.Reason) > MaxReasonLen {
			return nil, false
		}
	default:
		return nil, false
	}
	b, err := e.appendJSON(make([]byte, 0, 384+len(metadata)), metadata, occurred)
	return b, err == nil
}

// plainID reports an id that breaks no rule of checkID and isIJSONText
// on its face: printable ASCII, not only spaces, of an allowed length. It
// is one pass over what ids nearly always are; false says nothing, and
// the two full checks then decide.
func plainID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	spaces := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c > ' ' && c < 0x7f:
			spaces = false
		case c != ' ':
			return false
		}
	}
	return !spaces
}

// isIJSONText reports an I-JSON string: UTF-8 without noncharacters. ASCII,
// what ids nearly always are, is checked a byte at a time.
func isIJSONText(s string) bool {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++
	}
	for _, r := range s[i:] {
		if r == utf8.RuneError || isNoncharacter(r) {
			return false
		}
	}
	return true
}

func (e *Envelope) metadata() []byte {
	if e.Decision != nil {
		return e.Decision.Metadata
	}
	return nil
}

// appendJSON writes the envelope's members in canonical (sorted) order,
// with metadata in place of the decision's and occurred as the time's text
// when they are given.
func (e *Envelope) appendJSON(b []byte, metadata, occurred []byte) ([]byte, error) {
	// Member names are written as literals: they need no escaping.
	b = append(b, '{')
	if d := e.Decision; d != nil {
		b = appendString(append(b, `"decision":{"action":`...), string(d.Action))
		b = append(b, `,"confidence_score":`...)
		if s := d.ConfidenceScore; s >= 1e-6 && s < 1e21 {
			// What jcs.NumberToJSON writes in this range, without its
			// string: the shortest digits, no exponent.
			b = strconv.AppendFloat(b, s, 'f', -1, 64)
		} else {
			score, err := jcs.NumberToJSON(s)
			if err != nil {
				return nil, fieldErr("decision.confidence_score", "%v is not a JSON number", s)
			}
			b = append(b, score...)
		}
		b = appendString(append(b, `,"decision_id":`...), d.DecisionID)
		if metadata == nil {
			metadata = d.Metadata
		}
		if len(metadata) > 0 { // empty is absent, as encoding/json's omitempty has it
			b = append(append(b, `,"metadata":`...), metadata...)
		}
		b = appendString(append(b, `,"policy_version":`...), d.PolicyVersion)
		b = appendString(append(b, `,"session_id":`...), d.SessionID)
		b = appendString(append(b, `,"user_id":`...), d.UserID)
		b = append(b, "},"...)
	}
	b = appendString(append(b, `"environment":`...), e.Environment)
	b = appendString(append(b, `,"event_id":`...), e.EventID)
	// In its own zone: the rules refuse a time that is not written in UTC.
	if occurred == nil {
		occurred = e.OccurredAt.AppendFormat(nil, time.RFC3339Nano)
	}
	b = appendString(append(b, `,"occurred_at":`...), string(occurred))
	if o := e.Override; o != nil {
		b = appendString(append(b, `,"override":{"decision_id":`...), o.DecisionID)
		b = appendString(append(b, `,"new_action":`...), string(o.NewAction))
		b = appendString(append(b, `,"reason":`...), o.Reason)
		b = appendString(append(b, `,"reviewer_id":`...), o.ReviewerID)
		b = append(b, '}')
	}
	if e.RecordedBy != "" {
		b = appendString(append(b, `,"recorded_by":`...), e.RecordedBy)
	}
	b = appendString(append(b, `,"type":`...), string(e.Type))
	return append(b, '}'), nil
}

// recordOptions are the parser's options for a record (a Kafka record, an
// HTTP body): nesting at most MaxDepth, and no more values than a sealed
// line that verifies holds (maxLineValues), since an event holds fewer
// than its line. Reading stops there: the parser keeps 96 bytes and more
// a value, and a hostile 1 MiB record of "0," cost 250 MB to refuse.
func recordOptions(canonical bool) parseOptions {
	return parseOptions{maxDepth: MaxDepth, canonical: canonical, maxValues: maxLineValues, valuesOf: "event"}
}

// parseEnvelope decodes and validates one record from the decisions topic
// and returns it with its canonical bytes. Every member name must match
// exactly and unknown members are refused, so nothing a producer sends is
// silently dropped from, or misread in, the sealed record.
func parseEnvelope(raw []byte) (*Envelope, []byte, error) {
	// A record already in canonical form (what the producer library sends)
	// is its own canonical bytes: read it in canonical mode, without
	// writing it again. Anything else is read and written anew.
	v, err := parseJSON(raw, recordOptions(true))
	canon := raw
	if err != nil {
		var je *JSONError
		if errors.As(err, &je) && je.overBudget {
			return nil, nil, asFieldError(err) // read again, it holds as many values
		}
		if v, err = parseJSON(raw, recordOptions(false)); err != nil {
			return nil, nil, asFieldError(err)
		}
		canon = appendCanonical(make([]byte, 0, len(raw)), &v)
	}
	env, err := decodeEnvelope(&v)
	if err != nil {
		return nil, nil, err
	}
	return env, canon, nil
}

// ParseRecord decodes and validates one record exactly as the sealer does
// (docs/FORMAT.md sections 3 and 4) and returns the envelope and its
// canonical bytes, or the field errors (FieldErrorsOf).
func ParseRecord(raw []byte) (*Envelope, []byte, error) { return parseEnvelope(raw) }

// Defaults are the members CompleteRecord sets when a record leaves them
// out.
type Defaults struct {
	Type       EventType
	EventID    string
	OccurredAt time.Time
	// RecordedBy, when not empty, is set as the record's recorded_by, and
	// a record that sets recorded_by itself is refused: the caller of an
	// HTTP API must not state whom it records for.
	RecordedBy string
}

// recordedBySet is the error of a record that sets recorded_by where
// the service sets it.
func recordedBySet() error {
	return fieldErr("recorded_by", "is set by the service from the credential the record came with; leave it out")
}

// CompleteRecord is ParseRecord for a record that may leave out type,
// event_id and occurred_at (the HTTP ingest API): a missing one is set from
// d before the record is validated and its canonical bytes written. A
// member that is present is never replaced.
//
// A record that is canonical but for the order of its members and those
// it leaves out, as most JSON encoders write one, is checked in a few
// passes over its bytes without building a tree (completeFast); the
// record and envelope are the same either way.
func CompleteRecord(raw []byte, d Defaults) (*Envelope, []byte, error) {
	if env, record, ok := completeFast(raw, d); ok {
		return env, record, nil
	}
	return completeStrict(raw, d)
}

// completeStrict is CompleteRecord on the strict parser's tree: it
// decides every record, and names what is wrong with one.
func completeStrict(raw []byte, d Defaults) (*Envelope, []byte, error) {
	v, err := parseJSON(raw, recordOptions(false))
	if err != nil {
		return nil, nil, asFieldError(err)
	}
	if v.kind == jsonObject && d.RecordedBy != "" {
		if _, ok := v.member("recorded_by"); ok {
			return nil, nil, recordedBySet()
		}
		v.members = append(v.members, jsonMember{name: "recorded_by", value: jsonValue{kind: jsonString, text: d.RecordedBy}})
	}
	if v.kind == jsonObject {
		for _, m := range []jsonMember{
			{name: "type", value: jsonValue{kind: jsonString, text: string(d.Type)}},
			{name: "event_id", value: jsonValue{kind: jsonString, text: d.EventID}},
			{name: "occurred_at", value: jsonValue{kind: jsonString, text: FormatTime(d.OccurredAt)}},
		} {
			if _, ok := v.member(m.name); !ok {
				v.members = append(v.members, m)
			}
		}
	}
	env, err := decodeEnvelope(&v)
	if err != nil {
		return nil, nil, err
	}
	return env, appendCanonical(nil, &v), nil
}

// asFieldError turns a *JSONError into a *FieldError naming its path, so
// that every refusal of an event wraps ErrInvalidEvent.
func asFieldError(err error) error {
	var je *JSONError
	if errors.As(err, &je) {
		field := je.Path
		if field == "" {
			field = "record"
		}
		return &FieldError{Field: field, Reason: je.Reason, err: err}
	}
	return &FieldError{Field: "record", Reason: err.Error(), err: err}
}

// decodeEnvelope reads a parsed record under the event schema. It goes on
// past a field that breaks a rule, so that the error lists every field
// that does (FieldErrors); the first one is what a single-error caller and
// an INVALID entry's reason see, as before.
func decodeEnvelope(v *jsonValue) (*Envelope, error) {
	if v.kind != jsonObject {
		return nil, fieldErr("record", "is %s, want an object", v.kind)
	}
	typ, err := getString(v, "", "type")
	if err != nil {
		return nil, err
	}
	e := &Envelope{Type: EventType(typ)}
	var payload string
	switch e.Type {
	case TypeDecision, TypeOverride:
		payload = typ
	case "":
		return nil, fieldErr("type", "is empty")
	default:
		return nil, fieldErr("type", "unknown event type %q", clip(typ))
	}
	var errs fieldErrs
	errs.add(objectFields(v, "", []string{"type", "event_id", "environment", "occurred_at", payload}, []string{"recorded_by"}))
	if e.EventID, err = getString(v, "", "event_id"); !errs.add(err) {
		errs.add(checkID("event_id", e.EventID))
	}
	if e.Environment, err = getString(v, "", "environment"); !errs.add(err) {
		errs.add(checkIdentifier("environment", e.Environment))
	}
	e.OccurredAt, err = getTime(v, "", "occurred_at")
	errs.add(err)
	if _, ok := v.member("recorded_by"); ok {
		if e.RecordedBy, err = getString(v, "", "recorded_by"); !errs.add(err) {
			if e.RecordedBy == "" { // optional: "is required" would mislead
				errs.add(fieldErr("recorded_by", "is empty: leave it out, or give an id"))
			} else {
				errs.add(checkID("recorded_by", e.RecordedBy))
			}
		}
	}
	if p, ok := v.member(payload); ok {
		switch e.Type {
		case TypeDecision:
			e.Decision = decodeDecision(p, &errs)
		case TypeOverride:
			e.Override = decodeOverride(p, &errs)
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return e, nil
}

func decodeDecision(v *jsonValue, errs *fieldErrs) *Decision {
	const path = "decision"
	if errs.add(objectFields(v, path, []string{"decision_id", "action", "confidence_score", "policy_version", "user_id", "session_id"}, []string{"metadata"})) && v.kind != jsonObject {
		return nil
	}
	d := &Decision{}
	for _, f := range [...]struct {
		name, field string
		dst         *string
	}{{"decision_id", "decision.decision_id", &d.DecisionID}, {"policy_version", "decision.policy_version", &d.PolicyVersion},
		{"user_id", "decision.user_id", &d.UserID}, {"session_id", "decision.session_id", &d.SessionID}} {
		s, err := getString(v, path, f.name)
		if !errs.add(err) && !errs.add(checkID(f.field, s)) {
			*f.dst = s
		}
	}
	if action, err := getString(v, path, "action"); !errs.add(err) {
		if d.Action = Action(action); !d.Action.Valid() {
			errs.add(fieldErr("decision.action", "unknown action %q", clip(action)))
		}
	}
	if score, ok := v.member("confidence_score"); !ok {
		errs.add(fieldErr("decision.confidence_score", "is required"))
	} else if score.kind != jsonNumber {
		errs.add(fieldErr("decision.confidence_score", "is %s, want a number", score.kind))
	} else if f, err := strconv.ParseFloat(score.text, 64); err != nil || f < 0 || f > 1 {
		errs.add(fieldErr("decision.confidence_score", "%s is outside [0,1]", score.text))
	} else {
		d.ConfidenceScore = f
	}
	if md, ok := v.member("metadata"); ok {
		if md.kind != jsonObject {
			errs.add(fieldErr("decision.metadata", "is %s, must be a JSON object", md.kind))
		} else if canon := canonicalBytes(md); len(canon) > MaxMetadataBytes {
			errs.add(fieldErr("decision.metadata", "is %d bytes of canonical JSON, larger than %d", len(canon), MaxMetadataBytes))
		} else {
			d.Metadata = canon
		}
	}
	return d
}

func decodeOverride(v *jsonValue, errs *fieldErrs) *Override {
	const path = "override"
	if errs.add(objectFields(v, path, []string{"decision_id", "reviewer_id", "new_action", "reason"}, nil)) && v.kind != jsonObject {
		return nil
	}
	o := &Override{}
	if id, err := getString(v, path, "decision_id"); !errs.add(err) && !errs.add(checkID("override.decision_id", id)) {
		o.DecisionID = id
	}
	if id, err := getString(v, path, "reviewer_id"); !errs.add(err) && !errs.add(checkID("override.reviewer_id", id)) {
		o.ReviewerID = id
	}
	if action, err := getString(v, path, "new_action"); !errs.add(err) {
		if o.NewAction = Action(action); !o.NewAction.Valid() {
			errs.add(fieldErr("override.new_action", "unknown action %q", clip(action)))
		}
	}
	if reason, err := getString(v, path, "reason"); !errs.add(err) {
		switch {
		case strings.Trim(reason, " \t\r\n") == "":
			errs.add(fieldErr("override.reason", "is required"))
		case len(reason) > MaxReasonLen:
			errs.add(fieldErr("override.reason", "is %d bytes, longer than %d", len(reason), MaxReasonLen))
		default:
			o.Reason = reason
		}
	}
	return o
}
