package shared

import (
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
	lineEventMembers = []string{"chain", "event", "hash", "prev", "sealed_at", "seq", "source", "type", "v"}
	sourceMembers    = []string{"offset", "partition", "timestamp", "topic"}
	decisionEvent    = []string{"decision", "environment", "event_id", "occurred_at", "type"}
	overrideEvent    = []string{"environment", "event_id", "occurred_at", "override", "type"}
	decisionMembers  = []string{"action", "confidence_score", "decision_id", "policy_version", "session_id", "user_id"}
	decisionMetadata = []string{"action", "confidence_score", "decision_id", "metadata", "policy_version", "session_id", "user_id"}
	overrideMembers  = []string{"decision_id", "new_action", "reason", "reviewer_id"}
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
// and one allocation for all its entries, ParseLine nil and "".
func parseLineFast(es *entryWithSource, line []byte, text string) (*Entry, int, bool) {
	var s canonScanner
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
	ids, ok := s.envelope(text, top[1])
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
	n, err := strconv.ParseInt(text[m.valueStart:m.valueEnd], 10, 64)
	return n, err == nil && n >= lo && n <= hi
}

// envelopeIDs are what the callers keep of a valid event.
type envelopeIDs struct {
	environment, eventID, decisionID string
}

// envelope checks the event held by member obj (-1: the top level) under
// section 4 of docs/FORMAT.md, as decodeEnvelope does.
func (s *canonScanner) envelope(text string, obj int) (envelopeIDs, bool) {
	var ids envelopeIDs
	var m [5]int
	var payload int
	isDecision := s.children(obj, decisionEvent, m[:])
	switch {
	case isDecision:
		payload = m[0]
		m[0], m[1], m[2], m[3] = m[1], m[2], m[3], m[4] // environment, event_id, occurred_at, type
	case s.children(obj, overrideEvent, m[:]):
		payload = m[3]
		m[3] = m[4]
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
	if _, err := ParseTime(occurred); err != nil {
		return ids, false
	}
	ids.environment, ids.eventID = env, eventID
	var ok bool
	switch {
	case isDecision && typ == string(TypeDecision):
		ids.decisionID, ok = s.decision(text, payload)
	case !isDecision && typ == string(TypeOverride):
		ids.decisionID, ok = s.override(text, payload)
	}
	return ids, ok
}

// decision checks the decision payload held by member i (decodeDecision).
func (s *canonScanner) decision(text string, i int) (string, bool) {
	var m [7]int
	var action, score, id, policy, session, user int
	switch {
	case s.children(i, decisionMembers, m[:6]):
		action, score, id, policy, session, user = m[0], m[1], m[2], m[3], m[4], m[5]
	case s.children(i, decisionMetadata, m[:]):
		action, score, id, policy, session, user = m[0], m[1], m[2], m[4], m[5], m[6]
		if !s.isObject(m[3]) || len(s.valueOf(m[3])) > MaxMetadataBytes {
			return "", false
		}
	default:
		return "", false
	}
	for _, f := range [...]int{id, policy, session, user} {
		if v, ok := s.str(text, f); !ok || checkID("", v) != nil {
			return "", false
		}
	}
	if a, ok := s.str(text, action); !ok || !Action(a).Valid() {
		return "", false
	}
	if !s.isNumber(score) {
		return "", false
	}
	f, err := strconv.ParseFloat(text[s.members[score].valueStart:s.members[score].valueEnd], 64)
	if err != nil || f < 0 || f > 1 {
		return "", false
	}
	decisionID, _ := s.str(text, id)
	return decisionID, true
}

// override checks the override payload held by member i (decodeOverride).
func (s *canonScanner) override(text string, i int) (string, bool) {
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
	ids, ok := s.envelope(text, -1)
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
