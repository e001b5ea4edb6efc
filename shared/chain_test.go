package shared

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// testChain seals n records after a genesis and returns entries and lines.
func testChain(t testing.TB, n int) ([]*Entry, [][]byte) {
	t.Helper()
	g, err := NewGenesis("prod", vecTime, "aegis-prod", vecVerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	entries := []*Entry{g}
	head := Head{Chain: "prod", Seq: 0, Hash: g.Hash, Offset: -1}
	for i := range n {
		raw := fmt.Sprintf(`{"type":"decision","event_id":"e%d","environment":"prod","occurred_at":"2026-11-27T09:00:00Z","decision":{"decision_id":"d%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u%d","session_id":"s"}}`, i, i, i)
		e, err := SealRecord(head, Source{Topic: "decisions", Offset: int64(i), Timestamp: vecTime}, []byte(raw), vecTime)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type != EntryEvent {
			t.Fatalf("record %d sealed as %s: %s", i, e.Type, e.Invalid.Reason)
		}
		head = head.Next(e)
		entries = append(entries, e)
	}
	lines := make([][]byte, len(entries))
	for i, e := range entries {
		if lines[i], err = e.Line(); err != nil {
			t.Fatal(err)
		}
	}
	return entries, lines
}

func verifyLines(lines [][]byte) error {
	v := NewChainVerifier("prod")
	for i, l := range lines {
		e, err := ParseLine(l)
		if err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
		if err := v.Add(e); err != nil {
			return fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	return nil
}

func TestChainVerifies(t *testing.T) {
	_, lines := testChain(t, 5)
	if err := verifyLines(lines); err != nil {
		t.Fatal(err)
	}
}

func TestTamperingIsDetected(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(lines [][]byte) [][]byte
		want   error
		line   string
	}{
		{"flip a byte in a value", func(l [][]byte) [][]byte {
			l[2] = bytes.Replace(l[2], []byte(`"u1"`), []byte(`"u0"`), 1)
			return l
		}, ErrBadEntry, "line 3"},
		{"flip a byte in the hash", func(l [][]byte) [][]byte {
			i := bytes.Index(l[3], []byte(`"hash":"`)) + 8
			l[3][i] ^= 1
			return l
		}, ErrBadEntry, "line 4"},
		{"drop a line", func(l [][]byte) [][]byte { return append(l[:2], l[3:]...) }, ErrChainBroken, "line 3"},
		{"reorder two lines", func(l [][]byte) [][]byte { l[2], l[3] = l[3], l[2]; return l }, ErrChainBroken, "line 3"},
		{"drop the genesis", func(l [][]byte) [][]byte { return l[1:] }, ErrChainBroken, "line 1"},
		{"non-canonical whitespace", func(l [][]byte) [][]byte {
			l[1] = bytes.Replace(l[1], []byte(`,"seq"`), []byte(`, "seq"`), 1)
			return l
		}, ErrBadEntry, "line 2"},
		{"re-hashed edit (attacker recomputes the hash)", func(l [][]byte) [][]byte {
			e, _ := ParseLine(l[2])
			e.Event = bytes.Replace(e.Event, []byte(`"ALLOW"`), []byte(`"BLOCK"`), 1)
			e.Hash, _ = e.ComputeHash()
			l[2], _ = e.Line()
			return l
		}, ErrChainBroken, "line 4"},
		{"an unknown field", func(l [][]byte) [][]byte {
			var m map[string]json.RawMessage
			_ = json.Unmarshal(l[1], &m)
			m["extra"] = json.RawMessage(`1`)
			b, _ := json.Marshal(m)
			l[1], _ = Canonicalize(b)
			return l
		}, ErrBadEntry, "line 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, lines := testChain(t, 5)
			err := verifyLines(tc.tamper(lines))
			if !errors.Is(err, tc.want) || !strings.HasPrefix(err.Error(), tc.line+":") {
				t.Fatalf("got %v, want %v at %s", err, tc.want, tc.line)
			}
		})
	}
}

func TestSealRecordNeverSkips(t *testing.T) {
	head := Head{Chain: "prod", Seq: 3, Offset: 2}
	for _, raw := range []string{"", "null", "{}", "[1,2]", `{"type":"decision"}`, "\xff\xfe", `{"a":1,"a":2}`,
		`{"type":"decision","event_id":"e","environment":"staging","occurred_at":"2026-11-27T09:00:00Z","decision":{"decision_id":"d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`,
		strings.Repeat("x", MaxInvalidRaw+1)} {
		e, err := SealRecord(head, *vecSource(3), []byte(raw), vecTime)
		if err != nil {
			t.Fatalf("%.20q: %v", raw, err)
		}
		if e.Type != EntryInvalid || e.Invalid.Reason == "" || e.Invalid.Size != len(raw) || e.Seq != 4 {
			t.Fatalf("%.20q: sealed as %+v", raw, e)
		}
		if keep := len(raw) > 0 && len(raw) <= MaxInvalidRaw; keep != (e.Invalid.Raw != "") {
			t.Fatalf("%.20q: raw kept %v for %d bytes", raw, e.Invalid.Raw != "", len(raw))
		}
		line, err := e.Line()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseLine(line); err != nil {
			t.Fatalf("%.20q: sealed line does not parse: %v", raw, err)
		}
	}
}

func TestEnvelopeValidation(t *testing.T) {
	ok := func() *Envelope {
		return &Envelope{Type: TypeDecision, EventID: "e", Environment: "prod", OccurredAt: vecTime,
			Decision: &Decision{DecisionID: "d", Action: ActionAllow, ConfidenceScore: 0.92, PolicyVersion: "p", UserID: "u", SessionID: "s",
				Metadata: json.RawMessage(`{"k":"v"}`)}}
	}
	if err := ok().Validate(); err != nil {
		t.Fatalf("valid event refused: %v", err)
	}
	tests := []struct {
		field string
		edit  func(*Envelope)
	}{
		{"event_id", func(e *Envelope) { e.EventID = " " }},
		{"occurred_at", func(e *Envelope) { e.OccurredAt = time.Time{} }},
		{"type", func(e *Envelope) { e.Type = "consent" }},
		{"decision.decision_id", func(e *Envelope) { e.Decision.DecisionID = "" }},
		{"decision.user_id", func(e *Envelope) { e.Decision.UserID = strings.Repeat("u", MaxIDLen+1) }},
		{"decision.action", func(e *Envelope) { e.Decision.Action = "MAYBE" }},
		{"decision.confidence_score", func(e *Envelope) { e.Decision.ConfidenceScore = 1.01 }},
		{"decision.confidence_score", func(e *Envelope) { e.Decision.ConfidenceScore = -0.1 }},
		{"decision.metadata", func(e *Envelope) { e.Decision.Metadata = json.RawMessage(`[1]`) }},
		{"decision.metadata.n", func(e *Envelope) { e.Decision.Metadata = json.RawMessage(`{"n":12345678901234567890}`) }},
		{"decision.metadata.n", func(e *Envelope) { e.Decision.Metadata = json.RawMessage(`{"n":1e16}`) }},
		{"decision.metadata.list[1]", func(e *Envelope) { e.Decision.Metadata = json.RawMessage(`{"list":[1,0.10000000000000000555]}`) }},
		{"decision.metadata", func(e *Envelope) { e.Decision.Metadata = json.RawMessage(`{"a":1,"a":2}`) }},
		{"occurred_at", func(e *Envelope) { e.OccurredAt = vecTime.In(time.FixedZone("CET", 3600)) }},
		{"decision.metadata", func(e *Envelope) {
			e.Decision.Metadata = json.RawMessage(`{"k":"` + strings.Repeat("x", MaxMetadataBytes) + `"}`)
		}},
		{"override", func(e *Envelope) { e.Override = &Override{} }},
		{"decision", func(e *Envelope) { e.Type = TypeOverride }},
	}
	for _, tc := range tests {
		e := ok()
		tc.edit(e)
		err := e.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: got %v, want a FieldError on %s", tc.field, err, tc.field)
		}
	}
}

func TestCheckpointSignature(t *testing.T) {
	signer, verifier := vecSigner(t), vecVerifier(t)
	otherS, otherV := testKey("aegis-prod", "another seed")
	other, _ := NewSigner(otherS)
	otherVerifier, _ := ParseVerifierKey(otherV)

	cp := Checkpoint{Chain: "prod", Seq: 42, Hash: Hash{1, 2, 3}, Offset: 41, Object: "audit/x.jsonl", Time: vecTime}
	msg, err := cp.Sign(signer)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenCheckpoint(msg, verifier)
	if err != nil || got != cp {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	forged, _ := cp.Sign(other)
	if _, err := OpenCheckpoint(forged, verifier); !errors.Is(err, ErrBadCheckpoint) || !strings.Contains(err.Error(), otherVerifier.ID()) {
		t.Fatalf("checkpoint signed by another key with the same name: got %v", err)
	}
	if _, err := OpenCheckpoint(msg, otherVerifier); !errors.Is(err, ErrBadCheckpoint) || !strings.Contains(err.Error(), verifier.ID()) {
		t.Fatalf("checkpoint checked against the wrong key: got %v, want both key ids named", err)
	}
	edited := bytes.Replace(msg, []byte("seq 42"), []byte("seq 43"), 1)
	if _, err := OpenCheckpoint(edited, verifier); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("edited body: got %v", err)
	}
}

func TestBatchKeys(t *testing.T) {
	entries, _ := testChain(t, 2)
	key := BatchKey("audit", entries[1])
	if key != "audit/year=2026/month=11/day=27/env=prod/00000000000000000001.jsonl" {
		t.Fatalf("batch key %s", key)
	}
	info, err := ParseBatchKey("audit", key)
	if err != nil || info.Chain != "prod" || info.FirstSeq != 1 || info.Date.Day() != 27 {
		t.Fatalf("parse %s: %+v %v", key, info, err)
	}
	if BatchKey("audit", entries[0]) != GenesisKey("audit", "prod") {
		t.Fatalf("genesis key %s", BatchKey("audit", entries[0]))
	}
	for _, ts := range []time.Time{LatestTime, time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), EarliestTime} {
		e := *entries[1]
		e.Source = &Source{Timestamp: ts}
		key := BatchKey("audit", &e)
		if info, err := ParseBatchKey("audit", key); err != nil || info.FirstSeq != 1 || !info.Date.Equal(ts.Truncate(24*time.Hour)) {
			t.Fatalf("timestamp %v: key %s parses as %+v, %v", ts, key, info, err)
		}
	}
	for _, bad := range []string{"audit/year=2026/month=11/day=27/env=prod/1.jsonl", "other/year=2026/month=11/day=27/env=prod/00000000000000000001.jsonl", "audit/checkpoints/env=prod/00000000000000000001.note"} {
		if _, err := ParseBatchKey("audit", bad); err == nil {
			t.Errorf("%s parsed as a batch key", bad)
		}
	}
}

// SealedRecord.Encode writes what encoding/json writes.
func TestSealedRecordEncode(t *testing.T) {
	_, lines := testChain(t, 2)
	for _, r := range []SealedRecord{
		{Object: "audit/year=2026/month=11/day=27/env=prod/00000000000000000001.jsonl", VersionID: "v1", Line: 2, Checkpoint: 2, Entry: lines[2]},
		{Object: "a\"b<c>&", Line: 1, Entry: lines[1]},
	} {
		want, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		var back SealedRecord
		if err := json.Unmarshal(r.Encode(), &back); err != nil || back.Object != r.Object || back.VersionID != r.VersionID || back.Line != r.Line || back.Checkpoint != r.Checkpoint || !bytes.Equal(back.Entry, r.Entry) {
			t.Fatalf("Encode %s does not read back as %s (%v)", r.Encode(), want, err)
		}
	}
}
