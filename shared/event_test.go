package shared

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestEveryBrokenFieldIsListed(t *testing.T) {
	raw := []byte(`{"type":"decision","event_id":"","environment":"prod","occurred_at":"2026-11-29T10:00:00Z",` +
		`"decision":{"decision_id":"d","action":"MAYBE","confidence_score":1.5,"policy_version":"p","user_id":"","session_id":"s","extra":1}}`)
	_, _, err := parseEnvelope(raw)
	got := FieldErrorsOf(err)
	var fields []string
	for _, fe := range got {
		fields = append(fields, fe.Field)
	}
	want := []string{"event_id", "decision.extra", "decision.user_id", "decision.action", "decision.confidence_score"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Fatalf("fields %v, want %v", fields, want)
	}
	// The message (an INVALID entry's reason) is the first error's alone.
	if err.Error() != got[0].Error() {
		t.Errorf("message %q, want the first error's %q", err, got[0])
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe != got[0] || !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("errors.As/Is do not see the first field error")
	}
	// One broken field: a plain *FieldError, as before.
	_, _, err = parseEnvelope([]byte(`{"type":"override","event_id":"e","environment":"prod","occurred_at":"2026-11-29T10:00:00Z",` +
		`"override":{"decision_id":"d","reviewer_id":"r","new_action":"BLOCK","reason":" "}}`))
	if _, ok := err.(*FieldError); !ok || len(FieldErrorsOf(err)) != 1 || FieldErrorsOf(err)[0].Field != "override.reason" {
		t.Errorf("one broken field: %T %v", err, err)
	}
}

func TestCompleteRecordFillsOnlyWhatIsMissing(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	body := `{"environment":"prod","decision":{"decision_id":"d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`
	env, canon, err := CompleteRecord([]byte(body), Defaults{Type: TypeDecision, EventID: "ev-1", OccurredAt: at})
	if err != nil {
		t.Fatal(err)
	}
	if env.EventID != "ev-1" || !env.OccurredAt.Equal(at) || env.Type != TypeDecision {
		t.Errorf("filled %q %v", env.EventID, env.OccurredAt)
	}
	again, canon2, err := ParseRecord(canon)
	if err != nil || !bytes.Equal(canon, canon2) || again.EventID != "ev-1" {
		t.Errorf("the completed record is not its own canonical form: %s (%v)", canon, err)
	}
	given := `{"type":"decision","event_id":"mine","occurred_at":"2026-01-02T03:04:05Z","environment":"prod","decision":{"decision_id":"d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`
	env, _, err = CompleteRecord([]byte(given), Defaults{Type: TypeOverride, EventID: "ev-1", OccurredAt: at})
	if err != nil || env.EventID != "mine" || env.OccurredAt.Year() != 2026 || env.OccurredAt.Month() != 1 || env.Type != TypeDecision {
		t.Errorf("given values replaced: %+v %v", env, err)
	}
	// The strict rules still hold: a duplicate member is refused.
	dup := `{"type":"decision","type":"override","environment":"prod"}`
	if _, _, err := CompleteRecord([]byte(dup), Defaults{EventID: "e", OccurredAt: at}); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("duplicate member accepted: %v", err)
	}
}

// Record writes the envelope itself; it must give what encoding/json's
// encoding gives under the same rules, for valid envelopes, and refuse what
// json.Marshal would silently change (invalid UTF-8).
func TestRecordAgreesWithEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 120000000, time.UTC)
	for i, e := range []*Envelope{
		{Type: TypeDecision, EventID: "e1", Environment: "prod", OccurredAt: at, Decision: &Decision{DecisionID: "d\"<>&\u2028", Action: ActionBlock,
			ConfidenceScore: 1e-7, PolicyVersion: "p\\/", UserID: "ü🦊", SessionID: "x y", Metadata: json.RawMessage(`{"b":[1,2.50,"\u00e9"],"a":{"z":null,"é":true}}`)}},
		{Type: TypeDecision, EventID: "e2", Environment: "dev", OccurredAt: at, Decision: &Decision{DecisionID: "d", Action: ActionAllow,
			ConfidenceScore: 1, PolicyVersion: "p", UserID: "u", SessionID: "s"}},
		{Type: TypeOverride, EventID: "e3", Environment: "prod", OccurredAt: at, Override: &Override{DecisionID: "d", ReviewerID: "r",
			NewAction: ActionReview, Reason: "line\nbreak \"quoted\""}},
	} {
		marshalled, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		_, want, err := parseEnvelope(marshalled)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		got, err := e.Record()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%d: Record\n%s (%v)\nwant\n%s", i, got, err, want)
		}
	}
	bad := &Envelope{Type: TypeDecision, EventID: "e", Environment: "prod", OccurredAt: at, Decision: &Decision{DecisionID: "d\xff", Action: ActionAllow,
		ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}}
	if _, err := bad.Record(); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("invalid UTF-8 in an id: %v, want it refused (json.Marshal would replace it)", err)
	}
}

// fullRecord is Record's full path: write, then read under the rules.
func fullRecord(e *Envelope) ([]byte, error) {
	raw, err := e.appendJSON(nil, nil, nil)
	if err != nil {
		return nil, err
	}
	_, canon, err := parseEnvelope(raw)
	return canon, err
}

// checkFastPath holds Record's fast path to the full path: whatever the
// fast path accepts, the full path accepts with the same bytes.
func checkFastPath(t testing.TB, e *Envelope) {
	fast, ok := e.fastRecord()
	full, err := fullRecord(e)
	switch {
	case ok && err != nil:
		t.Fatalf("the fast path accepts what the rules refuse (%v): %s", err, fast)
	case ok && !bytes.Equal(fast, full):
		t.Fatalf("fast path %s\nfull path %s", fast, full)
	}
}

func TestFastRecordAgreesWithTheFullPath(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	nest := func(n int) json.RawMessage { // metadata nesting n objects
		return json.RawMessage(strings.Repeat(`{"a":`, n-1) + `{}` + strings.Repeat(`}`, n-1))
	}
	dec := func(edit func(*Decision)) *Envelope {
		d := &Decision{DecisionID: "d", Action: ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s"}
		edit(d)
		return &Envelope{Type: TypeDecision, EventID: "e", Environment: "prod", OccurredAt: at, Decision: d}
	}
	ov := func(reason string) *Envelope {
		return &Envelope{Type: TypeOverride, EventID: "e", Environment: "prod", OccurredAt: at,
			Override: &Override{DecisionID: "d", ReviewerID: "r", NewAction: ActionBlock, Reason: reason}}
	}
	at2 := func(when time.Time) *Envelope {
		return &Envelope{Type: TypeOverride, EventID: "e", Environment: "prod", OccurredAt: when,
			Override: &Override{DecisionID: "d", ReviewerID: "r", NewAction: ActionBlock, Reason: "x"}}
	}
	accepted := 0
	for _, e := range []*Envelope{
		dec(func(d *Decision) {}),
		dec(func(d *Decision) { d.Metadata = nest(MaxDepth - 2) }),
		dec(func(d *Decision) { d.Metadata = nest(MaxDepth - 1) }),
		dec(func(d *Decision) {
			d.Metadata = json.RawMessage(`{"k":"` + strings.Repeat("x", MaxMetadataBytes-8) + `"}`)
		}),
		dec(func(d *Decision) {
			d.Metadata = json.RawMessage(`{"k":"` + strings.Repeat("x", MaxMetadataBytes-7) + `"}`)
		}),
		dec(func(d *Decision) { d.Metadata = json.RawMessage(` { "b" : 1.50 , "a" : "\u00e9" } `) }),
		dec(func(d *Decision) { d.Metadata = json.RawMessage(`{"a":1,"a":1}`) }),
		dec(func(d *Decision) { d.Metadata = json.RawMessage(`{"n":1e400}`) }),
		dec(func(d *Decision) { d.Metadata = json.RawMessage(`[]`) }),
		dec(func(d *Decision) { d.Metadata = json.RawMessage(`null`) }),
		dec(func(d *Decision) { d.UserID = "u\uFDD0" }),
		dec(func(d *Decision) { d.UserID = "u\uFFFD" }),
		dec(func(d *Decision) { d.UserID = "u\x7f" }),
		dec(func(d *Decision) { d.ConfidenceScore = math.Copysign(0, -1) }),
		dec(func(d *Decision) { d.ConfidenceScore = math.NaN() }),
		dec(func(d *Decision) { d.ConfidenceScore = 1 }),
		dec(func(d *Decision) { d.Action = "allow" }),
		ov("fraud"), ov(" \t"), ov("\u00a0"), ov(strings.Repeat("x", MaxReasonLen)), ov(strings.Repeat("x", MaxReasonLen+1)),
		{Type: TypeDecision, EventID: "e", Environment: "prod", OccurredAt: at.In(time.FixedZone("X", 3600)), Decision: &Decision{}},
		{Type: TypeOverride, EventID: "e", Environment: "prod", OccurredAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Override: &Override{}},
		// The times at the edges of the fast path's own check.
		at2(EarliestTime), at2(LatestTime), at2(EarliestTime.Add(-1)), at2(LatestTime.Add(1)),
		at2(time.Date(2026, 11, 29, 10, 0, 0, 120, time.FixedZone("UTC", 0))), at2(time.Date(2026, 11, 29, 10, 0, 0, 0, time.FixedZone("X", -1))),
		at2(time.Date(2024, 2, 29, 23, 59, 59, 999_999_999, time.Local)), at2(time.Now()), at2(time.Time{}),
		// Ids at the edges of plainID.
		dec(func(d *Decision) { d.UserID = " x" }), dec(func(d *Decision) { d.UserID = "  " }), dec(func(d *Decision) { d.UserID = "~\\\"" }),
		dec(func(d *Decision) { d.UserID = strings.Repeat("u", MaxIDLen) }), dec(func(d *Decision) { d.UserID = strings.Repeat("u", MaxIDLen+1) }),
		dec(func(d *Decision) { d.UserID = "u\x80" }), dec(func(d *Decision) { d.UserID = "é" }), dec(func(d *Decision) { d.UserID = "u\t" }),
		{Type: TypeDecision, EventID: "e", Environment: "prod", OccurredAt: at, Override: &Override{DecisionID: "d", ReviewerID: "r", NewAction: ActionBlock, Reason: "x"}},
	} {
		checkFastPath(t, e)
		if _, ok := e.fastRecord(); ok {
			accepted++
		}
	}
	if accepted < 16 {
		t.Errorf("the fast path took only %d of the valid cases", accepted)
	}
}

// recorded_by is optional; present, it is an id, sealed as stated. Where
// the service sets it (Defaults.RecordedBy), a body that states it itself,
// plainly or with its name escaped, is refused by both paths, naming it.
func TestRecordedBy(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	env := &Envelope{Type: TypeOverride, EventID: "e1", Environment: "prod", OccurredAt: at, RecordedBy: "token:review-tool",
		Override: &Override{DecisionID: "d1", ReviewerID: "alice", NewAction: ActionBlock, Reason: "fraud"}}
	record, err := env.Record()
	if err != nil {
		t.Fatal(err)
	}
	if want := `"reason":"fraud","reviewer_id":"alice"},"recorded_by":"token:review-tool","type":"override"}`; !bytes.HasSuffix(record, []byte(want)) {
		t.Fatalf("recorded_by not in its canonical place: %s", record)
	}
	back, _, err := ParseRecord(record)
	if err != nil || back.RecordedBy != "token:review-tool" {
		t.Fatalf("read back %+v, %v", back, err)
	}
	checkFastPath(t, env)
	for _, bad := range []string{`""`, `"   "`, `"a\tb"`, `7`, `null`, `"` + strings.Repeat("x", MaxIDLen+1) + `"`} {
		raw := bytes.Replace(record, []byte(`"token:review-tool"`), []byte(bad), 1)
		if _, _, err := ParseRecord(raw); err == nil || FieldErrorsOf(err)[0].Field != "recorded_by" {
			t.Errorf("recorded_by %s: %v", bad, err)
		}
	}
	env.RecordedBy = "a\x01b"
	if err := env.Validate(); err == nil || FieldErrorsOf(err)[0].Field != "recorded_by" {
		t.Errorf("Validate of a control character in recorded_by: %v", err)
	}

	d := Defaults{Type: TypeDecision, EventID: "ev-1", OccurredAt: at, RecordedBy: "token:svc"}
	body := `{"environment":"prod","decision":{"decision_id":"d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`
	for name, complete := range map[string]func([]byte, Defaults) (*Envelope, []byte, error){"CompleteRecord": CompleteRecord, "strict": completeStrict} {
		got, rec, err := complete([]byte(body), d)
		if err != nil || got.RecordedBy != "token:svc" || !bytes.Contains(rec, []byte(`,"recorded_by":"token:svc","type":"decision"}`)) {
			t.Errorf("%s: %+v %s %v", name, got, rec, err)
		}
		for _, stated := range []string{`{"recorded_by":"token:svc",`, `{"recorded_by":"token:other",`, `{"recorded\u005fby":"token:other",`, "{ \"recorded_by\" : \"x\" ,"} {
			raw := strings.Replace(body, "{", stated, 1)
			if _, _, err := complete([]byte(raw), d); err == nil || FieldErrorsOf(err)[0].Field != "recorded_by" {
				t.Errorf("%s took a body stating recorded_by (%s): %v", name, raw, err)
			}
		}
	}
	// Without a service's value, a body may state it (the Go producer's
	// callers, and records read from the topic).
	raw := strings.Replace(body, "{", `{"recorded_by":"svc-a",`, 1)
	if got, _, err := CompleteRecord([]byte(raw), Defaults{Type: TypeDecision, EventID: "e", OccurredAt: at}); err != nil || got.RecordedBy != "svc-a" {
		t.Errorf("a stated recorded_by without Defaults.RecordedBy: %+v %v", got, err)
	}
}

// An event's content is its bytes without recorded_by: two records of
// one event under two credentials have one content, and an event without
// the member is its own content. WithRecordedBy puts it back.
func TestEventContentLeavesOutRecordedBy(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	env := &Envelope{Type: TypeDecision, EventID: "e1", Environment: "prod", OccurredAt: at,
		Decision: &Decision{DecisionID: "d", Action: ActionBlock, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s",
			Metadata: json.RawMessage(`{"recorded_by":"in metadata, kept","z":"\"recorded_by\":"}`)}}
	plain, err := env.Record()
	if err != nil {
		t.Fatal(err)
	}
	head := Head{Chain: "prod", Seq: 0}
	src := Source{Topic: "t", Timestamp: at}
	var contents [][]byte
	for _, by := range []string{"", "token:a", "token:\"quoted\" \u2028 é"} {
		env.RecordedBy = by
		rec, err := env.Record()
		if err != nil {
			t.Fatal(err)
		}
		if by != "" { // and back: the record Record writes with it
			if with, err := WithRecordedBy(plain, TypeDecision, by); err != nil || !bytes.Equal(with, rec) {
				t.Errorf("WithRecordedBy %q: %s %v, want %s", by, with, err, rec)
			}
		}
		e, err := SealRecord(head, src, rec, at)
		if err != nil || e.Type != EntryEvent {
			t.Fatalf("seal %q: %v %v", by, e, err)
		}
		sealed, err := e.Envelope()
		if err != nil {
			t.Fatal(err)
		}
		contents = append(contents, e.EventContent(sealed))
	}
	for i, c := range contents {
		if !bytes.Equal(c, plain) {
			t.Errorf("content %d: %s, want %s", i, c, plain)
		}
	}
	// A record that states one already is refused, not given two.
	with, _ := WithRecordedBy(plain, TypeDecision, "a")
	if twice, err := WithRecordedBy(with, TypeDecision, "b"); err == nil {
		t.Errorf("recorded_by added to a record that has one: %s", twice)
	}
	if _, err := WithRecordedBy(plain, TypeOverride, "a"); err == nil {
		t.Error("a decision's record taken as an override's")
	}
}

// CheckID holds an id to the rules a sealed one is held to: U+FFFD is
// text; bytes that are not UTF-8 and noncharacters are not.
func TestCheckIDAgreesWithTheSealer(t *testing.T) {
	for _, c := range []struct {
		id string
		ok bool
	}{{"svc-\ufffd", true}, {"é", true}, {"a\xffb", false}, {"a\uffffb", false}, {"a\ufdd0", false}, {" ", false}, {"a\x7f", false}} {
		err := CheckID("recorded_by", c.id)
		env := &Envelope{Type: TypeOverride, EventID: "e", Environment: "prod", OccurredAt: time.Unix(0, 0).UTC(), RecordedBy: c.id,
			Override: &Override{DecisionID: "d", ReviewerID: "r", NewAction: ActionAllow, Reason: "x"}}
		if (err == nil) != c.ok || (env.Validate() == nil) != c.ok {
			t.Errorf("%q: CheckID %v, Validate %v, want ok %v", c.id, err, env.Validate(), c.ok)
		}
	}
}

// A number in the metadata that does not keep its value stops the reading
// of the record there: an envelope's Record named it alone, hiding a bad
// action, score and user id beside it (an outside trial). The rest is now
// read without the metadata and named too; a good envelope with such
// metadata is refused as before, naming the metadata alone.
func TestEnvelopeNamesEveryBrokenFieldBesideBadMetadata(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	e := &Envelope{Type: TypeDecision, EventID: "e1", Environment: "prod", OccurredAt: at, Decision: &Decision{
		DecisionID: "d1", Action: "MAYBE", ConfidenceScore: 1.5, PolicyVersion: "p", UserID: "", SessionID: "s",
		Metadata: json.RawMessage(`{"amount":1e16}`)}}
	var fields []string
	_, err := e.Record()
	for _, fe := range FieldErrorsOf(err) {
		fields = append(fields, fe.Field)
	}
	want := "decision.metadata.amount decision.user_id decision.action decision.confidence_score"
	if strings.Join(fields, " ") != want || !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("fields %v (%v), want %s", fields, err, want)
	}
	e.Decision.Action, e.Decision.ConfidenceScore, e.Decision.UserID = ActionAllow, 0.5, "u"
	if _, err := e.Record(); len(FieldErrorsOf(err)) != 1 || FieldErrorsOf(err)[0].Field != "decision.metadata.amount" {
		t.Fatalf("only the metadata broken: %v", err)
	}
}

// Empty metadata (json.RawMessage{} or "") is no metadata, as
// encoding/json's omitempty writes it: it was refused with
// "decision.metadata: unexpected ','" (outside trial h1).
func TestEmptyMetadataIsNoMetadata(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	decision := func(m json.RawMessage) *Envelope {
		return &Envelope{Type: TypeDecision, EventID: "e1", Environment: "prod", OccurredAt: at, Decision: &Decision{
			DecisionID: "d1", Action: ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s", Metadata: m}}
	}
	want, err := decision(nil).Record()
	if err != nil {
		t.Fatal(err)
	}
	marshalled, err := json.Marshal(decision(json.RawMessage{}))
	if err != nil || bytes.Contains(marshalled, []byte("metadata")) {
		t.Fatalf("encoding/json: %s, %v", marshalled, err)
	}
	for _, m := range []json.RawMessage{{}, json.RawMessage("")} {
		got, err := decision(m).Record()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("metadata %q: %s, %v; want %s", m, got, err, want)
		}
	}
}
