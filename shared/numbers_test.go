package shared

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// numberCases are number literals of every shape, with the canonical text
// they are sealed as, or "" when the record must be sealed INVALID (the
// literal would change value, or canonicalise to an integer beyond
// ±(2^53-1), which the line could not be read back with).
var numberCases = []struct{ lit, canon string }{
	{"0", "0"}, {"-0", "0"}, {"0.0", "0"}, {"-0.0", "0"}, {"0e5000", "0"}, {"-0E-7", "0"},
	{"1", "1"}, {"-1", "-1"}, {"1.0", "1"}, {"1.50", "1.5"}, {"100e-2", "1"}, {"0.5e1", "5"},
	{"0.92", "0.92"}, {"0.1", "0.1"}, {"0.30000000000000004", "0.30000000000000004"},
	{"1e-6", "0.000001"}, {"1e-7", "1e-7"}, {"1E-7", "1e-7"}, {"1E3", "1000"}, {"1e+2", "100"}, {"1E-2", "0.01"},
	{"-1.5e300", "-1.5e+300"}, {"1.5E+300", "1.5e+300"}, {"1.7976931348623157e308", "1.7976931348623157e+308"},
	{"5e-324", "5e-324"}, {"3.141592653589793", "3.141592653589793"},
	{"9007199254740991", "9007199254740991"}, {"-9007199254740991", "-9007199254740991"},
	{"9007199254740991.0", "9007199254740991"}, {"9.007199254740991e15", "9007199254740991"},
	{"1e21", "1e+21"}, {"1E22", "1e+22"}, {"-1e21", "-1e+21"}, {"123456789012345680000", ""},
	// Refused: the value would change, or the integer is beyond 2^53-1.
	{"1e16", ""}, {"1e+16", ""}, {"1E16", ""}, {"-1e16", ""}, {"1e20", ""}, {"9007199254740992", ""},
	{"9007199254740992.0", ""}, {"-9007199254740992", ""}, {"12345678901234567891.0", ""}, {"12345678901234567890", ""},
	{"0.10000000000000000555", ""}, {"3.14159265358979323846264338327", ""}, {"1e-400", ""}, {"-1e-400", ""},
	{"2e-324", ""}, {"1e309", ""}, {"-1e309", ""}, {"1e99999999999999999999", ""}, {"9007199254740993", ""},
	{"0.1000000000000000000000000000000000000000001", ""},
	// Long spellings of short values: strconv.ParseFloat alone misreads
	// these (800 digits, exponents beyond 10000).
	{"1" + strings.Repeat("0", 800) + "e-800", "1"},
	{"0." + strings.Repeat("0", 99999) + "1e100001", "10"},
	{"-" + strings.Repeat("0", 0) + "25" + strings.Repeat("0", 5000) + "e-5001", "-2.5"},
	{"1e-99999999999999999", ""}, {"1" + strings.Repeat("0", 900), ""},
}

func numberRecord(lit string) string {
	return `{"type":"decision","event_id":"e","environment":"prod","occurred_at":"2026-11-27T09:00:00Z","decision":{"decision_id":"d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s","metadata":{"x":` + lit + `}}}`
}

// Every number is sealed with its exact value, or the record is sealed
// INVALID with a reason naming the member; either way the line reads back.
func TestNumberRule(t *testing.T) {
	head := Head{Chain: "prod", Seq: 1, Offset: 0}
	for _, tc := range numberCases {
		t.Run(tc.lit, func(t *testing.T) {
			e, err := SealRecord(head, *vecSource(1), []byte(numberRecord(tc.lit)), vecTime)
			if err != nil {
				t.Fatal(err)
			}
			line, err := e.Line()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseLine(line)
			if err != nil {
				t.Fatalf("sealed line does not read back: %v\n%s", err, line)
			}
			if back.Hash != e.Hash || back.Type != e.Type {
				t.Fatalf("read back as %s %s", back.Type, back.Hash)
			}
			if tc.canon == "" {
				if e.Type != EntryInvalid || !strings.Contains(e.Invalid.Reason, "decision.metadata.x") {
					t.Fatalf("sealed as %s (%s), want INVALID naming decision.metadata.x", e.Type, e.Event)
				}
				return
			}
			if e.Type != EntryEvent {
				t.Fatalf("sealed INVALID: %s", e.Invalid.Reason)
			}
			if !strings.Contains(string(e.Event), `"metadata":{"x":`+tc.canon+`}`) {
				t.Fatalf("event %s, want x = %s", e.Event, tc.canon)
			}
		})
	}
}

// The producer refuses what the sealer would seal INVALID, naming the field.
func TestNumberRuleInValidate(t *testing.T) {
	for _, tc := range numberCases {
		env := &Envelope{Type: TypeDecision, EventID: "e", Environment: "prod", OccurredAt: vecTime,
			Decision: &Decision{DecisionID: "d", Action: ActionAllow, ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s",
				Metadata: []byte(`{"x":` + tc.lit + `}`)}}
		err := env.Validate()
		var fe *FieldError
		switch {
		case tc.canon != "" && err != nil:
			t.Errorf("%s: refused: %v", tc.lit, err)
		case tc.canon == "" && (!errors.As(err, &fe) || fe.Field != "decision.metadata.x"):
			t.Errorf("%s: got %v, want a FieldError on decision.metadata.x", tc.lit, err)
		}
	}
}

// The independent Python checker reads every line the Go sealer writes for
// these numbers, and agrees on each verdict.
func TestNumberLinesAgreeWithPythonChecker(t *testing.T) {
	head := Head{Chain: "prod", Seq: 1, Offset: 0}
	var b strings.Builder
	for _, tc := range numberCases {
		e, err := SealRecord(head, *vecSource(1), []byte(numberRecord(tc.lit)), vecTime)
		if err != nil {
			t.Fatal(err)
		}
		line, err := e.Line()
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "lines.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("python3", filepath.Join(vectorDir, "check_vectors.py"), "--lines", path).CombinedOutput()
	if err != nil {
		t.Fatalf("python checker refused lines the Go sealer wrote: %v\n%s", err, out)
	}
}
