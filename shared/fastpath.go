package shared

import (
	"bytes"
	"strconv"
	"strings"
	"unsafe"
)

// The fast paths of ParseLine (an EVENT line) and PrepareRecord (a record
// in canonical form, as the producer library sends it). Each returns ok
// only when the strict path would accept the same bytes and build the same
// result; otherwise the strict path runs and its decision and message
// stand. Every rule below is the strict path's rule function
// (checkID, checkIdentifier, ParseTime, ParseHash, validTopic, ...) applied
// to the same member, so the two paths cannot drift in what a field may
// hold; FuzzParseLineFast and FuzzPrepareRecordFast compare them on any
// input.

// Member names in canonical (sorted) order.
var (
	lineEventMembers = memberNames("chain", "event", "hash", "prev", "sealed_at", "seq", "source", "type", "v")
	sourceMembers    = memberNames("offset", "partition", "timestamp", "topic")
	decisionEvent    = memberNames("decision", "environment", "event_id", "occurred_at", "type")
	overrideEvent    = memberNames("environment", "event_id", "occurred_at", "override", "type")
	decisionEventBy  = memberNames("decision", "environment", "event_id", "occurred_at", "recorded_by", "type")
	overrideEventBy  = memberNames("environment", "event_id", "occurred_at", "override", "recorded_by", "type")
	decisionMembers  = memberNames("action", "confidence_score", "decision_id", "policy_version", "session_id", "user_id")
	decisionMetadata = memberNames("action", "confidence_score", "decision_id", "metadata", "policy_version", "session_id", "user_id")
	overrideMembers  = memberNames("decision_id", "new_action", "reason", "reviewer_id")
)

// entryWithSource holds an entry and its source in one allocation.
type entryWithSource struct {
	e Entry
	s Source
}

// parseLineFast is ParseLine's fast path for an EVENT line, without the
// hash check (which both paths share). It also returns where the top-level
// hash member starts: the last occurrence of its text, which the strict
// path searches for, since nothing after it in a canonical EVENT line (hex,
// times, integers, a topic name, "event") can hold a quote.
//
// text is the line as a string (the entry's strings are cut from it) and
// es the room for the entry; ParseObject passes its object's one string
// and one allocation for all its entries, ParseLine nil and "". s is a
// scanner to use (nil: one of its own): ParseObject's one for all its
// lines, not 2.5 KB of scanner zeroed for each (scan sets every field
// it reads later).
func parseLineFast(s *canonScanner, es *entryWithSource, line []byte, text string) (*Entry, int, bool) {
	if s == nil {
		s = new(canonScanner)
	}
	// Recorded: the line's members (1), the event's and source's (2), the
	// payload's (3).
	if !s.scan(line, maxLineDepth, 3) {
		return nil, 0, false
	}
	var top [9]int
	if !s.children(-1, lineEventMembers, top[:]) {
		return nil, 0, false
	}
	if len(text) != len(line) {
		text = string(line) // the one copy the entry's strings share
	}
	chain, ok1 := s.str(text, top[0])
	hash, ok2 := s.str(text, top[2])
	prev, ok3 := s.str(text, top[3])
	sealedAt, ok4 := s.str(text, top[4])
	typ, ok5 := s.str(text, top[7])
	if !(ok1 && ok2 && ok3 && ok4 && ok5) || typ != string(EntryEvent) || !s.isObject(top[1]) || !s.isObject(top[6]) ||
		!ValidIdentifier(chain) {
		return nil, 0, false
	}
	v, ok1 := s.integer(text, top[8], FormatVersion, FormatVersion)
	seq, ok2 := s.integer(text, top[5], 1, MaxSafeInteger) // an EVENT is never seq 0
	if !ok1 || !ok2 || v != FormatVersion {
		return nil, 0, false
	}
	if es == nil {
		es = &entryWithSource{}
	}
	*es = entryWithSource{}
	e := &es.e
	e.V, e.Chain, e.Seq, e.Type = FormatVersion, chain, uint64(seq), EntryEvent
	var err error
	if e.Hash, err = ParseHash(hash); err != nil {
		return nil, 0, false
	}
	if e.Prev, err = ParseHash(prev); err != nil {
		return nil, 0, false
	}
	if e.SealedAt, err = ParseTime(sealedAt); err != nil {
		return nil, 0, false
	}
	if !s.source(text, top[6], &es.s) {
		return nil, 0, false
	}
	e.Source = &es.s
	ids, ok := s.envelope(text, top[1], nil)
	if !ok || ids.environment != chain {
		return nil, 0, false
	}
	e.Event, e.eventCanonical = s.valueOf(top[1]), true
	e.decisionID, e.eventID = ids.decisionID, ids.eventID
	return e, s.members[top[2]].nameStart - 2, true
}

// source reads the source object held by member i.
func (s *canonScanner) source(text string, i int, src *Source) bool {
	var m [4]int
	if !s.children(i, sourceMembers, m[:]) {
		return false
	}
	offset, ok1 := s.integer(text, m[0], 0, MaxSafeInteger)
	partition, ok2 := s.integer(text, m[1], 0, 1<<31-1)
	ts, ok3 := s.str(text, m[2])
	topic, ok4 := s.str(text, m[3])
	if !(ok1 && ok2 && ok3 && ok4) || !validTopic(topic) {
		return false
	}
	t, err := ParseTime(ts)
	if err != nil {
		return false
	}
	*src = Source{Topic: topic, Partition: int32(partition), Offset: offset, Timestamp: t}
	return true
}

// integer reads member i as getInt does: a number written as an integer
// within [lo, hi].
func (s *canonScanner) integer(text string, i int, lo, hi int64) (int64, bool) {
	if !s.isNumber(i) {
		return 0, false
	}
	m := &s.members[i]
	n, err := parseDecimalInt(text[m.valueStart:m.valueEnd])
	return n, err == nil && n >= lo && n <= hi
}

// parseDecimalInt is strconv.ParseInt(lit, 10, 64): read in one loop
// when lit is an optional '-' and 1 to 18 digits (which int64 holds, as
// every integer the scanner takes: at most 15 digits), by ParseInt
// otherwise. TestParseDecimalIntIsParseInt holds the two to each other.
func parseDecimalInt(lit string) (int64, error) {
	d := lit
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 18 {
		return strconv.ParseInt(lit, 10, 64)
	}
	var n int64
	for i := 0; i < len(d); i++ {
		c := d[i] - '0'
		if c > 9 {
			return strconv.ParseInt(lit, 10, 64)
		}
		n = n*10 + int64(c)
	}
	if len(d) < len(lit) {
		n = -n
	}
	return n, nil
}

// envelopeIDs are what the callers keep of a valid event.
type envelopeIDs struct {
	environment, eventID, decisionID string
}

// envelope checks the event held by member obj (-1: the top level) under
// section 4 of docs/FORMAT.md, as decodeEnvelope does. With into not nil
// it also reads the event into it, as decodeEnvelope would (its strings
// are substrings of text, and it needs room for either payload).
func (s *canonScanner) envelope(text string, obj int, into *eventWithPayload) (envelopeIDs, bool) {
	var ids envelopeIDs
	var m [6]int
	var payload int
	by := -1 // recorded_by's member, when the event has one
	isDecision := false
	switch {
	case s.children(obj, decisionEvent, m[:5]):
		isDecision, payload = true, m[0]
		m[0], m[1], m[2], m[3] = m[1], m[2], m[3], m[4] // environment, event_id, occurred_at, type
	case s.children(obj, overrideEvent, m[:5]):
		payload = m[3]
		m[3] = m[4]
	case s.children(obj, decisionEventBy, m[:]):
		isDecision, payload, by = true, m[0], m[4]
		m[0], m[1], m[2], m[3] = m[1], m[2], m[3], m[5]
	case s.children(obj, overrideEventBy, m[:]):
		payload, by = m[3], m[4]
		m[3] = m[5]
	default:
		return ids, false
	}
	env, ok1 := s.str(text, m[0])
	eventID, ok2 := s.str(text, m[1])
	occurred, ok3 := s.str(text, m[2])
	typ, ok4 := s.str(text, m[3])
	if !(ok1 && ok2 && ok3 && ok4) || !s.isObject(payload) || !ValidIdentifier(env) || checkID("", eventID) != nil {
		return ids, false
	}
	var recordedBy string
	if by >= 0 {
		var ok bool
		if recordedBy, ok = s.str(text, by); !ok || checkID("", recordedBy) != nil {
			return ids, false
		}
	}
	at, err := ParseTime(occurred)
	if err != nil {
		return ids, false
	}
	ids.environment, ids.eventID = env, eventID
	var ok bool
	switch {
	case isDecision && typ == string(TypeDecision):
		var d *Decision
		if into != nil {
			d = &into.d
			into.e.Decision = d
		}
		ids.decisionID, ok = s.decision(text, payload, d)
	case !isDecision && typ == string(TypeOverride):
		var o *Override
		if into != nil {
			o = &into.o
			into.e.Override = o
		}
		ids.decisionID, ok = s.override(text, payload, o)
	}
	if ok && into != nil {
		e := &into.e
		e.Type, e.EventID, e.Environment, e.OccurredAt, e.RecordedBy = EventType(typ), eventID, env, at, recordedBy
	}
	return ids, ok
}

// eventWithPayload holds an envelope and its payload in one allocation.
type eventWithPayload struct {
	e Envelope
	d Decision
	o Override
}

// decision checks the decision payload held by member i (decodeDecision),
// and reads it into d when d is not nil (the metadata copied, so that the
// decision does not share bytes with the scanner's input).
func (s *canonScanner) decision(text string, i int, d *Decision) (string, bool) {
	var m [7]int
	var action, score, id, policy, session, user int
	metadata := -1
	switch {
	case s.children(i, decisionMembers, m[:6]):
		action, score, id, policy, session, user = m[0], m[1], m[2], m[3], m[4], m[5]
	case s.children(i, decisionMetadata, m[:]):
		action, score, id, policy, session, user = m[0], m[1], m[2], m[4], m[5], m[6]
		if metadata = m[3]; !s.isObject(metadata) || len(s.valueOf(metadata)) > MaxMetadataBytes {
			return "", false
		}
	default:
		return "", false
	}
	var ids [4]string
	for k, f := range [...]int{id, policy, session, user} {
		v, ok := s.str(text, f)
		if !ok || checkID("", v) != nil {
			return "", false
		}
		ids[k] = v
	}
	a, ok := s.str(text, action)
	if !ok || !Action(a).Valid() {
		return "", false
	}
	if !s.isNumber(score) {
		return "", false
	}
	f, err := strconv.ParseFloat(text[s.members[score].valueStart:s.members[score].valueEnd], 64)
	if err != nil || f < 0 || f > 1 {
		return "", false
	}
	if d != nil {
		d.DecisionID, d.PolicyVersion, d.SessionID, d.UserID = ids[0], ids[1], ids[2], ids[3]
		d.Action, d.ConfidenceScore = Action(a), f
		if metadata >= 0 {
			d.Metadata = bytes.Clone(s.valueOf(metadata))
		}
	}
	return ids[0], true
}

// override checks the override payload held by member i (decodeOverride),
// and reads it into o when o is not nil.
func (s *canonScanner) override(text string, i int, o *Override) (string, bool) {
	var m [4]int
	if !s.children(i, overrideMembers, m[:]) {
		return "", false
	}
	decisionID, ok1 := s.str(text, m[0])
	action, ok2 := s.str(text, m[1])
	reason, ok3 := s.str(text, m[2])
	reviewer, ok4 := s.str(text, m[3])
	if !(ok1 && ok2 && ok3 && ok4) || checkID("", decisionID) != nil || checkID("", reviewer) != nil ||
		!Action(action).Valid() || strings.Trim(reason, " \t\r\n") == "" || len(reason) > MaxReasonLen {
		return "", false
	}
	if o != nil {
		*o = Override{DecisionID: decisionID, ReviewerID: reviewer, NewAction: Action(action), Reason: reason}
	}
	return decisionID, true
}

// prepareFast is PrepareRecord's fast path for a record in canonical form:
// the entry it returns is the strict path's, field for field. It is built
// in es (nil: a new one).
func prepareFast(es *entryWithSource, chain string, src Source, raw []byte) (*Entry, bool) {
	if ts := src.Timestamp; ts.Before(EarliestTime) || ts.After(LatestTime) {
		return nil, false
	}
	var s canonScanner
	// Recorded: the record's members (1) and the payload's (2).
	if !s.scan(raw, MaxDepth, 2) {
		return nil, false
	}
	// The record read as a string without copying it (400 bytes a record
	// the sealer allocated and copied for nothing): nothing read from text
	// outlives this call but the two ids, which are cloned, and raw does
	// not change while it runs.
	text := unsafe.String(unsafe.SliceData(raw), len(raw))
	ids, ok := s.envelope(text, -1, nil)
	if !ok || ids.environment != chain {
		return nil, false
	}
	if es == nil {
		es = &entryWithSource{}
	}
	*es = entryWithSource{s: src}
	e := &es.e
	e.Type, e.Source = EntryEvent, &es.s
	e.Event, e.eventCanonical = raw, true
	e.decisionID, e.eventID = strings.Clone(ids.decisionID), strings.Clone(ids.eventID)
	return e, true
}

// Names of the members CompleteRecord sets when a record leaves them out.
var (
	nameEventID    = []byte("event_id")
	nameOccurredAt = []byte("occurred_at")
	nameRecordedBy = []byte("recorded_by")
	nameType       = []byte("type")
)

// completeFast is CompleteRecord's fast path for a record that is
// canonical JSON but for the order of its members and the members it
// leaves out: what a client in another language writes with its own JSON
// encoder, compact or with whitespace between tokens. The members are
// written in sorted order, without the whitespace, with the missing ones
// from d at their place (canonicalSortedWith), and
// the record is checked and read under the sealer's rules by the
// canonical scanner (envelope), without building a tree. ok is false for
// anything else, and the strict path then decides, with its messages. The
// record and envelope are the strict path's, byte for byte and field for
// field (FuzzCompleteRecordFast).
func completeFast(raw []byte, d Defaults) (_ *Envelope, record []byte, ok bool) {
	all := [...]topMember{{name: nameEventID, value: d.EventID}, {name: nameOccurredAt, value: FormatTime(d.OccurredAt)},
		{name: nameType, value: string(d.Type)}, {name: nameRecordedBy, value: d.RecordedBy, refused: true}}
	extra := all[:3]
	if d.RecordedBy != "" {
		extra = all[:]
	}
	record, ok = canonicalSortedWith(raw, MaxDepth, make([]byte, 0, len(raw)+len(d.EventID)+len(d.Type)+80), extra, true)
	if !ok {
		return nil, nil, false
	}
	var s canonScanner
	if !s.scan(record, MaxDepth, 2) {
		return nil, nil, false
	}
	// One copy of the record's text holds the envelope's strings.
	ev := &eventWithPayload{}
	if _, ok := s.envelope(string(record), -1, ev); !ok {
		return nil, nil, false
	}
	return &ev.e, record, true
}
