package shared

import (
	"bytes"
	"encoding/json"
	"errors"
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
