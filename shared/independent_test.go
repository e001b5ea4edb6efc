package shared

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// independentDir holds the cases of an independent reading of FORMAT.md
// (its README says how they were made).
const independentDir = "../testdata/independent"

// Every case an engineer wrote from FORMAT.md alone gets the verdict they
// reached (logs: replayer's TestIndependentCases): a disagreement is a
// bug in the spec or in us.
func TestIndependentCases(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(independentDir, "*.json"))
	if err != nil || len(paths) < 100 {
		t.Fatalf("%d independent cases: %v", len(paths), err)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var v Vector
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if v.Kind == "log" {
			continue // held to its verdict by replayer's TestIndependentCases, not passed here
		}
		t.Run(v.Name, func(t *testing.T) {
			switch v.Kind {
			case "entry":
				sealsAsTheCaseSays(t, v)
			default:
				if err := CheckVector(v); err != nil {
					t.Fatalf("%v (the case's rule: %s)", err, v.Rule)
				}
			}
		})
	}
}

// sealsAsTheCaseSays seals the case's input after its prev and compares
// the line with the case's, the reason of an invalid entry aside (it is
// each implementation's own text).
func sealsAsTheCaseSays(t *testing.T, v Vector) {
	t.Helper()
	prev, err := ParseHash(v.Prev)
	if err != nil {
		t.Fatal(err)
	}
	sealedAt, err := ParseTime(v.SealedAt)
	if err != nil {
		t.Fatal(err)
	}
	src := *v.Source
	if v.KafkaTimestampMS != nil {
		src.Timestamp = time.UnixMilli(*v.KafkaTimestampMS).UTC()
	}
	e, err := SealRecord(Head{Chain: v.Chain, Seq: *v.Seq - 1, Hash: prev, Offset: src.Offset - 1}, src, []byte(*v.Input), sealedAt)
	if err != nil {
		t.Fatal(err)
	}
	line, err := e.Line()
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != v.Type || withoutReason(t, string(line)) != withoutReason(t, v.Line) {
		t.Fatalf("sealed as\n %s\nthe case says\n %s", line, v.Line)
	}
	if e.Type == EntryEvent && string(line) != v.Line {
		t.Fatalf("sealed as\n %s\nthe case says\n %s", line, v.Line)
	}
}

// withoutReason is a line's content without its hash and its invalid
// reason, which depend on the reason's text.
func withoutReason(t *testing.T, line string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	delete(m, "hash")
	if inv, ok := m["invalid"].(map[string]any); ok {
		delete(inv, "reason")
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
