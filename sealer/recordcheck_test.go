package sealer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/archive"
	"github.com/aegisai/audit/shared"
)

// franzTime is the time.Time franz-go v1.22 hands out for a record's
// Kafka milliseconds (time.Unix(0, millis*1e6), wrapping).
func franzTime(ms int64) time.Time { return time.Unix(0, ms*1e6) }

// Every record a producer may write, sealed once and read again at the same
// offset (an aborted transaction / a crash before the Kafka commit), must
// pass the record check: none may stop the sealer with ErrTopicLost.
func TestRepublishedRecordsPassTheRecordCheck(t *testing.T) {
	s, _, clock := unitSealer(t)
	_, other, _ := note.GenerateKey(rand.Reader, "other")
	ev := func(off int) []byte {
		return []byte(fmt.Sprintf(`{"type":"decision","event_id":"e%d","environment":"unit","occurred_at":"2026-11-27T09:00:00Z","decision":{"decision_id":"d%d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`, off, off))
	}
	base := clock.t.UnixMilli()
	type rc struct {
		name string
		ms   int64
		val  func(off int) []byte
	}
	var cases []rc
	for _, ms := range []int64{base, -1, 0, 253402300799999, 253402300800000, -62167219200000, -62167219200001,
		math.MaxInt64, math.MinInt64, 1 << 57, 1<<57 - 1, -(1 << 57), -(1 << 57) - 1, 1 << 62, -(1 << 62), 9223372036854, -9223372036855} {
		cases = append(cases, rc{fmt.Sprintf("event ts %d", ms), ms, ev})
		cases = append(cases, rc{fmt.Sprintf("garbage ts %d", ms), ms, func(int) []byte { return []byte("\xff\x00not json") }})
	}
	cases = append(cases,
		rc{"nil value", base, func(int) []byte { return nil }},
		rc{"empty value", base, func(int) []byte { return []byte{} }},
		rc{"huge invalid", base, func(int) []byte { return []byte(strings.Repeat("x", 70<<10)) }},
		rc{"key request refused", base, func(int) []byte {
			return []byte(fmt.Sprintf(`{"type":"key_change","environment":"unit","verifier_key":%q}`, other))
		}},
		rc{"key request bad", base, func(int) []byte { return []byte(`{"type":"key_change","environment":"unit","verifier_key":"x"}`) }},
		rc{"key request other chain", base, func(int) []byte {
			return []byte(fmt.Sprintf(`{"type":"key_change","environment":"zzz","verifier_key":%q}`, other))
		}},
		rc{"event non-canonical", base, func(off int) []byte {
			return []byte(fmt.Sprintf(`{ "type":"decision","event_id":"e%d","environment":"unit","occurred_at":"2026-11-27T09:00:00.000Z","decision":{"decision_id":"d%d","action":"ALLOW","confidence_score":5e-1,"policy_version":"p","user_id":"u","session_id":"s","metadata":{"b":1,"a":2}}}`, off, off))
		}},
		rc{"event other chain", base, func(off int) []byte { return []byte(strings.Replace(string(ev(off)), `"unit"`, `"x"`, 1)) }},
	)
	var recs []*kgo.Record
	for i, c := range cases {
		recs = append(recs, &kgo.Record{Topic: "decisions", Offset: int64(i), Timestamp: franzTime(c.ms), Value: c.val(i)})
	}
	prepared, err := s.prepare(recs)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.write(context.Background(), recs, prepared); err != nil {
		t.Fatalf("first write: %v", err)
	}
	for i, c := range cases {
		one := []*kgo.Record{{Topic: "decisions", Offset: int64(i), Timestamp: franzTime(c.ms), Value: c.val(i)}}
		p, err := s.prepare(one)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.write(context.Background(), one, p); err != nil {
			t.Errorf("%s: republished record refused: %v", c.name, err)
		}
	}
}

// S3 answering after a failure clears the S3 trouble, also when the
// answer is a 404 (the walk of the checkpoints ends on one): before, only
// a call ending in nil cleared it, and an idle sealer said "not sealing:
// S3 failing" until a record arrived (found by an attack).
func TestS3TroubleIsClearedByAnAnswer(t *testing.T) {
	s, _, _ := unitSealer(t)
	calls := 0
	err := s.retry(context.Background(), "get audit/checkpoints/env=unit/next", func(context.Context) error {
		calls++
		if calls == 1 {
			return fmt.Errorf("dial tcp 127.0.0.1:9000: connection reset by peer")
		}
		return archive.ErrNotFound
	})
	if !errors.Is(err, archive.ErrNotFound) {
		t.Fatal(err)
	}
	if err := s.health.check(time.Now().Add(healthGrace + time.Second)); err != nil {
		t.Fatalf("S3 answered (404), yet 11 s later: %v", err)
	}
}

// A line the sealer before 2026-11-28 wrote for a record outside the years
// 0000 to 9999 carries franz-go's wrapped time (1816 for the year 10000):
// republished, it is the same record, not a topic that lost its data
// (found by an attack: it stopped the sealer for good).
func TestAnOldVersionsWrappedTimeIsTheSameRecord(t *testing.T) {
	s, _, clock := unitSealer(t)
	rec := records(0, 1, clock.t)[0]
	rec.Timestamp = franzTime(253402300800000 + 86400000) // 10000-01-02
	head := s.Head()
	oldSrc := shared.Source{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp.UTC()} // 69b141c sealer.go:546
	e, err := shared.SealRecord(head, oldSrc, rec.Value, clock.t)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := e.Line()
	s.mu.Lock()
	s.pending[rec.Offset] = &sealedRef{rec: &shared.SealedRecord{Object: "x", Line: 1, Checkpoint: e.Seq, Entry: line}, key: "d0"}
	s.mu.Unlock()
	s.setHead(head.Next(e))
	prepared, err := s.prepare([]*kgo.Record{rec})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.write(context.Background(), []*kgo.Record{rec}, prepared); err != nil {
		t.Fatalf("republishing the old sealer's entry: %v (permanent: %v)", err, permanent(err))
	}
}

// Another record at a sealed offset (a topic made again and filled) stops
// the sealer with ErrTopicLost, whatever differs: its time, its event, or
// an invalid record's bytes.
func TestAnotherRecordAtASealedOffsetIsATopicLost(t *testing.T) {
	s, _, clock := unitSealer(t)
	recs := records(0, 3, clock.t)
	recs[2].Value = []byte("not json")
	prepared, err := s.prepare(recs)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.write(context.Background(), recs, prepared); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(r *kgo.Record){
		"time":          func(r *kgo.Record) { r.Timestamp = r.Timestamp.Add(time.Millisecond) },
		"event":         func(r *kgo.Record) { r.Value = []byte(strings.Replace(string(r.Value), `"ALLOW"`, `"BLOCK"`, 1)) },
		"invalid bytes": func(r *kgo.Record) { r.Value = []byte("not json either") },
	} {
		i := map[string]int{"time": 0, "event": 1, "invalid bytes": 2}[name]
		r := *recs[i]
		edit(&r)
		if name == "event" && string(r.Value) == string(recs[i].Value) {
			t.Fatal("the event edit changed nothing")
		}
		one := []*kgo.Record{&r}
		p, err := s.prepare(one)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.write(context.Background(), one, p); !errors.Is(err, ErrTopicLost) || !permanent(err) {
			t.Errorf("%s differs: %v, want ErrTopicLost", name, err)
		}
	}
}
