package shared

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fastSeeds are lines and records for the differential fuzzers: the test
// chain, every entry vector's line and input, and the number cases.
func fastSeeds(t testing.TB) (lines, records [][]byte) {
	_, lines = testChain(t, 3)
	for i, in := range vectorInputs {
		v := buildEntryVector(t, in, uint64(i)*7)
		lines = append(lines, []byte(v.Line))
		if in.Input != "" {
			records = append(records, []byte(in.Input))
			if c, err := Canonicalize([]byte(in.Input)); err == nil {
				records = append(records, c)
			}
		}
	}
	for _, n := range numberCases {
		records = append(records, []byte(numberRecord(n.lit)))
	}
	for _, l := range lines {
		if ev := eventOf(l); ev != nil {
			records = append(records, ev)
		}
	}
	return lines, records
}

// eventOf returns the event member of a sealed line (nil if none).
func eventOf(line []byte) []byte {
	e, err := ParseLine(line)
	if err != nil || e.Type != EntryEvent {
		return nil
	}
	return bytes.Clone(e.Event)
}

// FuzzParseLineFast: whatever the fast path accepts, the strict path
// accepts too, with the same entry (every field, unexported ones
// included); the hash check after both is the same code.
func FuzzParseLineFast(f *testing.F) {
	lines, _ := fastSeeds(f)
	var event []byte // a line the fast path takes, to fill a slot first
	for _, l := range lines {
		f.Add(l)
		if _, _, ok := parseLineFast(nil, nil, l, ""); ok && event == nil {
			event = l
		}
	}
	if event == nil {
		f.Fatal("no seed line takes the fast path")
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fast, at, ok := parseLineFast(nil, nil, line, "")
		if !ok {
			return
		}
		strict, err := decodeLine(line, false)
		if err != nil {
			t.Fatalf("the fast path accepts a line the strict path refuses (%v):\n%s", err, line)
		}
		if !reflect.DeepEqual(fast, strict) {
			t.Fatalf("the paths read the line differently:\nfast   %+v\nstrict %+v\n%s", fast, strict, line)
		}
		// The hash member is where the strict path finds it, so both
		// hash the same bytes.
		if ferr, serr := checkLineHash(line, fast, at), checkLineHash(line, strict, -1); (ferr == nil) != (serr == nil) {
			t.Fatalf("the hash checks disagree: fast %v, strict %v\n%s", ferr, serr, line)
		}
		if last := bytes.LastIndex(line, []byte(`,"hash":"`+fast.Hash.String()+`"`)); last != at {
			t.Fatalf("the fast path hashes around byte %d, the strict path around byte %d\n%s", at, last, line)
		}
		// As ParseObject calls it: the line's text cut from a larger
		// string, in a slot that held another entry, with a scanner that
		// read another line.
		text := "x\n" + string(line) + "\ny"
		var slot entryWithSource
		var scanner canonScanner
		if _, _, ok := parseLineFast(&scanner, &slot, event, ""); !ok {
			t.Fatal("the event seed line no longer takes the fast path")
		}
		inObject, atObject, ok := parseLineFast(&scanner, &slot, line, text[2:2+len(line)])
		if !ok || inObject != &slot.e || atObject != at || !reflect.DeepEqual(inObject, strict) {
			t.Fatalf("read as ParseObject reads it (ok %v, in the slot %v, hash at %d not %d):\n%+v\nnot\n%+v",
				ok, inObject == &slot.e, atObject, at, inObject, strict)
		}
	})
}

// FuzzPrepareRecordFast: whatever record the fast path takes, the strict
// path seals as the same entry.
func FuzzPrepareRecordFast(f *testing.F) {
	_, records := fastSeeds(f)
	for _, r := range records {
		f.Add(r, "prod", int64(1764235799987))
	}
	f.Add([]byte(numberRecord("1")), "staging", int64(-62167219200001))
	used := records[len(records)-1]
	f.Fuzz(func(t *testing.T, raw []byte, chain string, ms int64) {
		src := Source{Topic: "decisions", Offset: 3, Timestamp: time.UnixMilli(ms).UTC()}
		fast, ok := prepareFast(nil, chain, src, raw)
		if !ok {
			return
		}
		strict := prepareStrict(chain, src, raw)
		if !reflect.DeepEqual(fast, strict) {
			t.Fatalf("the paths prepare the record differently:\nfast   %+v\nstrict %+v\n%s", fast, strict, raw)
		}
		// In a slot that held another entry before, nothing of it shows
		// through, and the entry lives in the slot.
		var slot EntrySlot
		if _, err := PrepareRecordInto(&slot, "prod", Source{Topic: "old", Offset: 9, Timestamp: time.UnixMilli(1764235799987).UTC()}, used); err != nil {
			t.Fatal(err)
		}
		inSlot, ok := prepareFast(&slot.es, chain, src, raw)
		if !ok || inSlot != &slot.es.e || !reflect.DeepEqual(inSlot, strict) {
			t.Fatalf("in a used slot the fast path prepares (ok %v, in the slot %v):\n%+v\nnot\n%+v", ok, inSlot == &slot.es.e, inSlot, strict)
		}
	})
}

// FuzzScanCanonical: the scanner accepts only text the strict parser
// accepts in canonical mode, which is its own canonical form.
func FuzzScanCanonical(f *testing.F) {
	lines, records := fastSeeds(f)
	for _, b := range append(lines, records...) {
		f.Add(b)
	}
	for _, s := range []string{`{"a":1,"b":[1,2,{"c":"\u001f"}]}`, `{"é":1,"😀":2,"ﬀ":3}`, `{"😀":1,"ﬀ":2}`, `{"ﬀ":1,"😀":2}`, `[0.000001]`, `[1.5e3]`, `"\/"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var s canonScanner
		if !s.scan(in, MaxDepth, 3) {
			return
		}
		if _, err := parseJSON(in, parseOptions{maxDepth: MaxDepth, canonical: true}); err != nil {
			t.Fatalf("the scanner accepts what the strict parser refuses (%v): %q", err, in)
		}
		if c, err := Canonicalize(in); err != nil || !bytes.Equal(c, in) {
			t.Fatalf("the scanner accepts a non-canonical text (%v): %q", err, in)
		}
	})
}

// The scanner's number rule is canonicalNumber's for every literal it
// accepts: edge cases, then random literals around them.
func TestScannerNumbersAreCanonical(t *testing.T) {
	for _, c := range []struct {
		lit  string
		want bool
	}{
		{"0", true}, {"-0", false}, {"7", true}, {"-42", true}, {"100", true}, {"007", false},
		{"999999999999999", true}, {"1000000000000000", false}, // 16 digits: left to the strict path
		{"0.5", true}, {"-0.5", true}, {"0.92", true}, {"0.50", false}, {"0.0", false}, {"1.0", false},
		{"0.000001", true}, {"0.0000001", false}, {"0.000001234", true},
		{"12345678901234.5", true}, {"123456789012345.6", false}, {"0.123456789012345", true}, {"0.1234567890123456", false},
		{"1e5", false}, {"1.5e3", false}, {"00.5", false}, {".5", false}, {"5.", false}, {"-", false}, {"1-2", false},
	} {
		got := smallIntegerBytes([]byte(c.lit)) || shortDecimal([]byte(c.lit))
		if got != c.want {
			t.Errorf("%s: scanner says canonical %v, want %v", c.lit, got, c.want)
		}
		if got {
			if canon, err := canonicalNumber(c.lit, false); err != nil || canon != c.lit {
				t.Errorf("%s: the scanner takes it, canonicalNumber says %q (%v)", c.lit, canon, err)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	digits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		return b.String()
	}
	taken := 0
	for range 200000 {
		var lit string
		switch rng.IntN(3) {
		case 0:
			lit = digits(1+rng.IntN(16)) + "." + digits(1+rng.IntN(16))
		case 1:
			lit = "0." + strings.Repeat("0", rng.IntN(8)) + digits(1+rng.IntN(17))
		default:
			lit = digits(1 + rng.IntN(17))
		}
		if rng.IntN(2) == 0 {
			lit = "-" + lit
		}
		if !smallIntegerBytes([]byte(lit)) && !shortDecimal([]byte(lit)) {
			continue
		}
		taken++
		if canon, err := canonicalNumber(lit, false); err != nil || canon != lit {
			t.Fatalf("%s: the scanner takes it, canonicalNumber says %q (%v)", lit, canon, err)
		}
	}
	if taken < 10000 {
		t.Fatalf("only %d random literals were taken by the scanner: the test checks too little", taken)
	}
}

// The fast paths must take what the sealer and the producer write every
// day (a refusal costs only speed, but would make the speed go away
// silently), and the strict path still decides every vector.
func TestFastPathsTakeTypicalInput(t *testing.T) {
	records := map[string]string{
		"decision":    `{"decision":{"action":"ALLOW","confidence_score":0.87,"decision_id":"dec-1","metadata":{"device":"dev-3","ip_country":"DE","risk":{"new_device":false,"velocity":3}},"policy_version":"policy-2026.11","session_id":"sess-9","user_id":"user-42"},"environment":"prod","event_id":"evt-1","occurred_at":"2026-11-27T09:00:00.123Z","type":"decision"}`,
		"no metadata": `{"decision":{"action":"BLOCK","confidence_score":1,"decision_id":"dec-2","policy_version":"p","session_id":"s","user_id":"u"},"environment":"prod","event_id":"evt-2","occurred_at":"2026-11-27T09:00:00Z","type":"decision"}`,
		"override":    `{"environment":"prod","event_id":"evt-3","occurred_at":"2026-11-27T09:00:00Z","override":{"decision_id":"dec-1","new_action":"BLOCK","reason":"confirmed takeover","reviewer_id":"analyst-7"},"type":"override"}`,
	}
	for name, raw := range records {
		t.Run(name, func(t *testing.T) {
			src := Source{Topic: "decisions", Offset: 5, Timestamp: vecTime}
			e, ok := prepareFast(nil, "prod", src, []byte(raw))
			if !ok {
				t.Fatalf("the fast path refuses a canonical record")
			}
			line, err := Head{Chain: "prod", Seq: 4, Offset: 4}.SealNext(e, vecTime)
			if err != nil {
				t.Fatal(err)
			}
			fast, at, ok := parseLineFast(nil, nil, line, "")
			if !ok {
				t.Fatalf("the fast path refuses a sealed line: %s", line)
			}
			if err := checkLineHash(line, fast, at); err != nil {
				t.Fatal(err)
			}
			// A record of another chain, or one byte changed, is not taken.
			if _, ok := prepareFast(nil, "staging", src, []byte(raw)); ok {
				t.Fatalf("the fast path takes a record of another chain")
			}
			for i := range len(line) {
				bad := bytes.Clone(line)
				bad[i] ^= 0x01
				got, err := ParseLine(bad)
				if err == nil {
					t.Fatalf("byte %d changed, the line still verifies: %s (%+v)", i, bad, got)
				}
			}
		})
	}
}

// sortedNames, which reads the bytes once, orders every pair of names as
// compareUTF16 does: across the characters where UTF-8 and UTF-16 orders
// part (U+E000..U+FFFF against those above U+FFFF), after a common prefix,
// at a continuation byte and for prefixes of one another.
func TestSortedNamesIsUTF16Order(t *testing.T) {
	names := []string{"", "a", "ab", "b", "é", "ée", "éf", "\ue000", "\ue000a", "ﬀ", "ﬀ1", "\uffff", "😀", "😀a", "😁", "x😀", "xﬀ", "x\u007f", "x\u0080", "\U0010ffff"}
	for _, a := range names {
		for _, b := range names {
			if got, want := sortedNames([]byte(a), []byte(b)), compareUTF16(a, b) < 0; got != want {
				t.Errorf("sortedNames(%q, %q) = %v, want %v", a, b, got, want)
			}
		}
	}
}

// An object's lines written into its body one after the other are the
// lines SealNext writes, chained the same, and a line handed out cannot
// be grown over the next one.
func TestSealNextAppendWritesTheSameLinesIntoOneBody(t *testing.T) {
	records := []string{
		`{"decision":{"action":"ALLOW","confidence_score":0.87,"decision_id":"dec-1","policy_version":"p","session_id":"s","user_id":"u"},"environment":"prod","event_id":"evt-1","occurred_at":"2026-11-27T09:00:00Z","type":"decision"}`,
		`not json at all`,
		`{"environment":"prod","event_id":"evt-3","occurred_at":"2026-11-27T09:00:00Z","override":{"decision_id":"dec-1","new_action":"BLOCK","reason":"r","reviewer_id":"a"},"type":"override"}`,
	}
	one, all := Head{Chain: "prod", Seq: 4, Offset: 4}, Head{Chain: "prod", Seq: 4, Offset: 4}
	var want []byte
	body := make([]byte, 0, 16) // too small: the body moves as it grows
	var lines [][]byte
	for i, raw := range records {
		src := Source{Topic: "decisions", Offset: int64(5 + i), Timestamp: vecTime}
		a, err := PrepareRecord("prod", src, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		b := *a
		line, err := one.SealNext(a, vecTime)
		if err != nil {
			t.Fatal(err)
		}
		one = one.Next(a)
		want = append(append(want, line...), '\n')
		var got []byte
		if body, got, err = all.SealNextAppend(body, &b, vecTime); err != nil {
			t.Fatal(err)
		}
		body = append(body, '\n')
		all = all.Next(&b)
		if !bytes.Equal(got, line) || b.Hash != a.Hash {
			t.Fatalf("record %d: appended line %s, SealNext %s", i, got, line)
		}
		lines = append(lines, got)
	}
	if !bytes.Equal(body, want) {
		t.Fatalf("body %q, want %q", body, want)
	}
	if cap(lines[0]) != len(lines[0]) {
		t.Fatalf("a line has room to grow over the next one (len %d, cap %d)", len(lines[0]), cap(lines[0]))
	}
}

// FuzzCanonicalSorted: what the sorting writer accepts, the strict
// canonicaliser accepts too and writes the same bytes.
func FuzzCanonicalSorted(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":2}`, `{"ip_country":"DE","amount":129.95}`, `{"z":{"y":[{"b":1,"a":{"d":null,"c":true}}]},"a":"x"}`,
		`{"a":1,"a":2}`, `{"b":1,"a":2,"b":3}`, `{"😀":1,"ﬀ":2}`, `{"b": 1,"a":2}`, `{"b":1.50,"a":2}`, `{"b":"\/","a":2}`, `{"a\u0062":1}`, `[{"b":1,"a":2}]`, `{}`, `{"b":[],"a":{}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, ok := canonicalSorted(in, MaxDepth-2, []byte("x"))
		if !ok {
			return
		}
		v, err := parseJSON(in, parseOptions{maxDepth: MaxDepth - 2})
		if err != nil {
			t.Fatalf("the sorting writer accepts what the strict parser refuses (%v): %q", err, in)
		}
		if want := appendCanonical([]byte("x"), &v); !bytes.Equal(got, want) {
			t.Fatalf("the sorting writer wrote %q, the strict path %q, for %q", got, want, in)
		}
	})
}

// Metadata that is canonical but for its members' order takes the fast
// path and comes out sorted; empty metadata is none.
func TestUnsortedMetadataTakesTheFastPath(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	e := &Envelope{Type: TypeDecision, EventID: "e1", Environment: "prod", OccurredAt: at, Decision: &Decision{DecisionID: "d1", Action: ActionAllow,
		ConfidenceScore: 0.5, PolicyVersion: "p", UserID: "u", SessionID: "s", Metadata: []byte(`{"ip_country":"DE","amount":129.95,"n":{"b":1,"a":[2]}}`)}}
	b, ok := e.fastRecord()
	if !ok || !bytes.Contains(b, []byte(`"metadata":{"amount":129.95,"ip_country":"DE","n":{"a":[2],"b":1}}`)) {
		t.Fatalf("fast path %v: %s", ok, b)
	}
	e.Decision.Metadata = []byte{} // no metadata (TestEmptyMetadataIsNoMetadata), on the fast path too
	if b, ok := e.fastRecord(); !ok || bytes.Contains(b, []byte("metadata")) {
		t.Fatalf("empty metadata: fast path %v: %s", ok, b)
	}
}

// completeSeeds are bodies as clients of the HTTP ingest API write them:
// members in their own order, some of type, event_id and occurred_at
// left out, and the shapes the fast path must leave to the strict one.
var completeSeeds = []string{
	`{"environment":"bench","decision":{"decision_id":"bench-1","action":"ALLOW","confidence_score":0.92,"policy_version":"policy-2026.11","user_id":"user-1","session_id":"sess-1","metadata":{"ip_country":"DE","amount":129.95}}}`,
	`{"environment":"prod","override":{"decision_id":"d1","reviewer_id":"r","new_action":"BLOCK","reason":"x"}}`,
	`{"type":"override","environment":"prod","event_id":"e","occurred_at":"2026-11-27T10:00:00Z","override":{"reason":"confirmed","new_action":"BLOCK","reviewer_id":"r","decision_id":"d1"}}`,
	`{"type":"decision","event_id":"mine","occurred_at":"2026-01-02T03:04:05.5Z","environment":"prod","decision":{"decision_id":"d","action":"ALLOW","confidence_score":1,"policy_version":"p","user_id":"u","session_id":"s"}}`,
	`{"decision":{"action":"ALLOW","confidence_score":0.87,"decision_id":"dec-1","metadata":{},"policy_version":"p","session_id":"s","user_id":"u"},"environment":"prod","event_id":"evt-1","occurred_at":"2026-11-27T09:00:00.123Z","type":"decision"}`,
	`{"environment":"prod","decision":{"decision_id":"d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s","metadata":{"n":[{"b":1,"a":null}],"m":"\u001f"}}}`,
	// Python's json.dumps, and a pretty-printed body.
	`{"environment": "prod", "decision": {"decision_id": "d", "action": "BLOCK", "confidence_score": 0.25, "policy_version": "p", "user_id": "u", "session_id": "s", "metadata": {"tags": ["a", "b"], "n": 1}}}`,
	"{\n  \"environment\" : \"prod\",\r\n\t\"override\": {\n    \"decision_id\": \"d1\",\n    \"reviewer_id\": \"r\",\n    \"new_action\": \"BLOCK\",\n    \"reason\": \"x\"\n  }\n}\n",
	" {\"environment\":\"prod\",\"decision\":{\"decision_id\":\"d\",\"action\":\"ALLOW\",\"confidence_score\":0.5,\"policy_version\":\"p\",\"user_id\":\"u\",\"session_id\":\"s\",\"metadata\":{ }}} ",
	"{\"environment\":\"prod\",\"decision\":{\"decision_id\":\"d\",\"action\":\"ALLOW\",\"confidence_score\":0.5,\"policy_version\":\"p\",\"user_id\":\"u\",\"session_id\":\"s\",\"metadata\":{\"a\":[ 1 , 2 ]\f}}}",
	`{"environment": "prod", "decision": {}}`,
	`{"environment":"prod","decision":{"decision_id":"d","action":"ALLOW","confidence_score":1.0,"policy_version":"p","user_id":"u","session_id":"s"}}`,
	`{"environment":"prod","decision":{"decision_id":"d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s","extra":1}}`,
	`{"environment":"prod","type":"","decision":{"decision_id":"d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`,
	`{"environment":"prod","event_id":" ","decision":{"decision_id":"d\u0000","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s"}}`,
	`{"zzz":1,"environment":"prod","aaa":2}`,
	`{"environment":"prod","decision":{"decision_id":"d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s","metadata":[]}}`,
	`[{"environment":"prod"}]`,
}

// FuzzCompleteRecordFast: whatever body the fast path completes, the
// strict path completes too, to the same record byte for byte and the
// same envelope field for field, with the same defaults.
func FuzzCompleteRecordFast(f *testing.F) {
	for i, b := range completeSeeds {
		f.Add([]byte(b), "decision", "6f1c2b1e-3a6d-4f7e-9d0c-1b2a3c4d5e6f", int64(1764235799987+i), "")
		f.Add([]byte(b), "override", "e\u00e9", int64(-62167219200001), "token:svc")
	}
	// Metadata nested to the deepest the record may be (MaxDepth, the
	// metadata object at depth 3), and one level deeper.
	for _, arrays := range []int{MaxDepth - 3, MaxDepth - 2} {
		deep := strings.Replace(completeSeeds[0], `"DE"`, strings.Repeat("[", arrays)+strings.Repeat("]", arrays), 1)
		f.Add([]byte(deep), "decision", "e", int64(0), "")
	}
	f.Add([]byte(completeSeeds[0]), "decision", "", int64(0), "")
	f.Add([]byte(completeSeeds[0]), "decision", "a\"b", int64(253402300800000), "token:a\tb")
	// A body stating recorded_by itself, plainly and escaped, where the
	// service sets it.
	f.Add([]byte(strings.Replace(completeSeeds[0], `{`, `{"recorded_by":"token:x",`, 1)), "decision", "e", int64(0), "token:x")
	f.Add([]byte(strings.Replace(completeSeeds[0], `{`, `{"recorded\u005fby":"token:x",`, 1)), "decision", "e", int64(0), "token:x")
	f.Fuzz(func(t *testing.T, raw []byte, typ, eventID string, ms int64, by string) {
		d := Defaults{Type: EventType(typ), EventID: eventID, OccurredAt: time.UnixMilli(ms), RecordedBy: by}
		fast, fastRecord, ok := completeFast(raw, d)
		if !ok {
			return
		}
		strict, strictRecord, err := completeStrict(raw, d)
		if err != nil {
			t.Fatalf("the fast path completes a body the strict path refuses (%v):\n%s", err, raw)
		}
		if !bytes.Equal(fastRecord, strictRecord) {
			t.Fatalf("the paths write different records:\nfast   %s\nstrict %s", fastRecord, strictRecord)
		}
		if !reflect.DeepEqual(fast, strict) {
			t.Fatalf("the paths read the body differently:\nfast   %+v %+v %+v\nstrict %+v %+v %+v\n%s",
				fast, fast.Decision, fast.Override, strict, strict.Decision, strict.Override, raw)
		}
	})
}

// The bodies clients send every day take the fast path (a refusal costs
// only speed, but would make the speed go away silently), and the
// envelope does not share the metadata's bytes with the record.
func TestCompleteRecordTakesTypicalBodiesFast(t *testing.T) {
	d := Defaults{Type: TypeDecision, EventID: "6f1c2b1e-3a6d-4f7e-9d0c-1b2a3c4d5e6f", OccurredAt: time.Date(2026, 11, 29, 10, 0, 0, 123000000, time.UTC)}
	for i, raw := range completeSeeds[:9] {
		d := d
		if strings.Contains(raw, `"override"`) {
			d.Type = TypeOverride
		}
		env, record, ok := completeFast([]byte(raw), d)
		if !ok {
			t.Fatalf("body %d does not take the fast path: %s", i, raw)
		}
		if again, canon, err := ParseRecord(record); err != nil || !bytes.Equal(canon, record) || again.EventID != env.EventID {
			t.Fatalf("body %d: the record is not a canonical event (%v): %s", i, err, record)
		}
		if env.Decision != nil && len(env.Decision.Metadata) > 0 {
			env.Decision.Metadata[0] = 'X'
			if bytes.Contains(record, []byte(`"metadata":X`)) {
				t.Fatalf("body %d: the envelope's metadata is the record's bytes", i)
			}
		}
	}
	want := `{"decision":{"action":"ALLOW","confidence_score":0.92,"decision_id":"bench-1","metadata":{"amount":129.95,"ip_country":"DE"},` +
		`"policy_version":"policy-2026.11","session_id":"sess-1","user_id":"user-1"},"environment":"bench",` +
		`"event_id":"6f1c2b1e-3a6d-4f7e-9d0c-1b2a3c4d5e6f","occurred_at":"2026-11-29T10:00:00.123Z","type":"decision"}`
	if _, record, _ := completeFast([]byte(completeSeeds[0]), d); string(record) != want {
		t.Fatalf("record\n%s\nwant\n%s", record, want)
	}
}
