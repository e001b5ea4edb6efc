package shared

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

// ParseObject's entries are ParseLine's, line for line, whatever the lines.
func TestAttackParseObjectIsParseLine(t *testing.T) {
	h := Head{Chain: "prod", Seq: 0, Hash: ZeroHash}
	var lines [][]byte
	at := time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC)
	raws := []string{
		`{"decision":{"action":"ALLOW","confidence_score":0.5,"decision_id":"d","policy_version":"p","session_id":"s","user_id":"u"},"environment":"prod","event_id":"e1","occurred_at":"2026-11-27T09:00:00.123Z","type":"decision"}`,
		`{"decision":{"action":"ALLOW","confidence_score":0.5,"decision_id":"d","metadata":{"a":"\r\n"},"policy_version":"p","session_id":"s","user_id":"u"},"environment":"prod","event_id":"e2","occurred_at":"2026-11-27T09:00:00.123Z","type":"decision"}`,
		`not json`,
		`{"environment":"prod","event_id":"e3","occurred_at":"2026-11-27T10:00:00Z","override":{"decision_id":"d","new_action":"BLOCK","reason":"r","reviewer_id":"x"},"type":"override"}`,
		`{"decision":{"action":"ALLOW","confidence_score":0.5,"decision_id":"é","policy_version":"p","session_id":"s","user_id":"u"},"environment":"prod","event_id":"e4","occurred_at":"2026-11-27T09:00:00.123Z","type":"decision"}`,
	}
	for i, raw := range raws {
		e, err := SealRecord(h, Source{Topic: "t", Partition: 0, Offset: int64(i), Timestamp: at}, []byte(raw), at)
		if err != nil {
			t.Fatal(err)
		}
		h = Head{Chain: e.Chain, Seq: e.Seq, Hash: e.Hash}
		l, err := e.Line()
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	body := append(bytes.Join(lines, []byte("\n")), '\n')
	for _, b := range [][]byte{body, []byte(strings.ReplaceAll(string(body), "\n", "\r\n")), append(body, '\n'), body[:len(body)-1], append([]byte("\n"), body...)} {
		entries, got, err := ParseObject("k", 1, b)
		if err != nil {
			t.Logf("refused: %v", err)
			continue
		}
		for i, l := range got {
			want, werr := ParseLine(l)
			if werr != nil || !reflect.DeepEqual(want, entries[i]) {
				t.Fatalf("line %d: ParseObject %+v, ParseLine %+v %v", i+1, entries[i], want, werr)
			}
		}
	}
}
