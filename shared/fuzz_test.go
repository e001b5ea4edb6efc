package shared

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParseLine: the parser never panics, and whatever it accepts is in
// canonical form and carries the hash of its own bytes.
func FuzzParseLine(f *testing.F) {
	_, lines := testChain(f, 3)
	for _, l := range lines {
		f.Add(l)
	}
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := ParseLine(line)
		if err != nil {
			return
		}
		c, err := Canonicalize(line)
		if err != nil || !bytes.Equal(c, line) {
			t.Fatalf("accepted a non-canonical line")
		}
		if e.Hash == (Hash{}) {
			t.Fatalf("accepted a line without a hash")
		}
	})
}

// FuzzSingleByteEdit: no edit of one byte of a sealed line survives
// ParseLine.
func FuzzSingleByteEdit(f *testing.F) {
	_, lines := testChain(f, 2)
	f.Add(uint(0), uint(1), byte(1))
	f.Add(uint(1), uint(100), byte(0x20))
	f.Add(uint(2), uint(7), byte(0x80))
	f.Fuzz(func(t *testing.T, which, at uint, xor byte) {
		if xor == 0 {
			return
		}
		line := bytes.Clone(lines[which%uint(len(lines))])
		line[at%uint(len(line))] ^= xor
		if _, err := ParseLine(line); err == nil {
			t.Fatalf("edited line verifies: %s", line)
		}
	})
}

// FuzzSealRecord is the property that must never regress: every record,
// with any Kafka timestamp, seals; its line reads back with ParseLine with
// the same hash and type; an EVENT holds exactly the record's canonical
// bytes, and anything else is INVALID with the record's size and SHA-256.
func FuzzSealRecord(f *testing.F) {
	for _, v := range vectorInputs {
		f.Add([]byte(v.Input), int64(1764235799987))
	}
	for _, n := range numberCases {
		f.Add([]byte(numberRecord(n.lit)), int64(0))
	}
	for _, ms := range []int64{253402300799999, 253402300800000, -62167219200000, -62167219200001, -1, 1 << 62, -(1 << 62)} {
		f.Add([]byte(numberRecord("1")), ms)
	}
	f.Fuzz(func(t *testing.T, raw []byte, ms int64) {
		src := *vecSource(1)
		src.Timestamp = time.UnixMilli(ms).UTC()
		e, err := SealRecord(Head{Chain: "prod", Seq: 1, Offset: 0}, src, raw, vecTime)
		if err != nil {
			t.Fatalf("SealRecord: %v", err)
		}
		line, err := e.Line()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseLine(line)
		if err != nil {
			t.Fatalf("sealed line does not verify: %v\n%s", err, line)
		}
		// The hash member goes where the body was written to take it, which
		// is where searching the body for its place puts it.
		if body, err := e.CanonicalBody(); err != nil {
			t.Fatal(err)
		} else if searched, err := withHash(body, e.Type, e.Hash); err != nil || !bytes.Equal(searched, line) {
			t.Fatalf("the hash member is not where the search puts it (%v):\n%s\n%s", err, line, searched)
		}
		// The sealer's two-step path (prepare in parallel, chain in order)
		// writes the same line.
		prep, err := PrepareRecord("prod", src, raw)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Head{Chain: "prod", Seq: 1, Offset: 0}.SealNext(prep, vecTime)
		if err != nil || !bytes.Equal(again, line) || prep.Hash != e.Hash {
			t.Fatalf("PrepareRecord+SealNext wrote %s, SealRecord %s (%v)", again, line, err)
		}
		if back.Hash != e.Hash || back.Type != e.Type {
			t.Fatalf("the line reads back as %s %s, sealed %s %s", back.Type, back.Hash, e.Type, e.Hash)
		}
		switch e.Type {
		case EntryEvent:
			canon, err := Canonicalize(raw)
			if err != nil || !bytes.Equal(canon, back.Event) {
				t.Fatalf("EVENT does not hold the record's canonical bytes (%v)", err)
			}
		case EntryInvalid:
			if back.Invalid.Size != len(raw) || back.Invalid.SHA256 != sha256.Sum256(raw) {
				t.Fatalf("INVALID does not describe the record")
			}
		default:
			t.Fatalf("sealed as %s", e.Type)
		}
	})
}

// FuzzCanonicalize: canonical form is a fixed point.
func FuzzCanonicalize(f *testing.F) {
	for _, v := range vectorInputs {
		f.Add([]byte(v.Input))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Canonicalize(raw)
		if err != nil {
			return
		}
		c2, err := Canonicalize(c)
		if err != nil || !bytes.Equal(c, c2) {
			t.Fatalf("not a fixed point: %q -> %q (%v)", c, c2, err)
		}
	})
}

// FuzzOpenCheckpoint: the signed-note reader never panics, and a note it
// accepts is exactly the note the trusted key signs for that checkpoint (no
// second spelling of a checkpoint verifies).
func FuzzOpenCheckpoint(f *testing.F) {
	signer := vecSigner(f)
	cp := Checkpoint{Chain: "prod", Seq: 42, Hash: Hash{1}, Offset: 41, Object: "audit/x.jsonl", Time: vecTime}
	good, err := cp.Sign(signer)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(bytes.Replace(good, []byte("seq 42"), []byte("seq 042"), 1))
	f.Add([]byte("aegis-audit/checkpoint/v1\n\n\u2014 aegis-prod AAAA\n"))
	trusted := vecVerifier(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		got, err := OpenCheckpoint(msg, trusted)
		if err != nil {
			return
		}
		again, err := got.Sign(signer)
		if err != nil || !bytes.Equal(again, msg) {
			t.Fatalf("accepted a note that is not the canonical signed form of %+v:\n%q", got, msg)
		}
	})
}

// FuzzParseVerifierKey: the key reader never panics, and a key it accepts
// is written back identically from its parts.
func FuzzParseVerifierKey(f *testing.F) {
	f.Add(vecVerifierKey)
	f.Add(vecSignerKey)
	f.Add("a+00000000+AQ==")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseVerifierKey(s)
		if err != nil {
			return
		}
		text := fmt.Sprintf("%s+%08x+%s", k.Name, k.Hash, base64.StdEncoding.EncodeToString(append([]byte{1}, k.Public...)))
		if text != s {
			t.Fatalf("accepted %q, which is not the canonical %q", s, text)
		}
	})
}

// FuzzCanonicalMode: parsing in canonical mode (which sealed lines use)
// accepts exactly the texts that parse and equal their own canonical form,
// the rule of docs/FORMAT.md section 3 written out the slow way.
func FuzzCanonicalMode(f *testing.F) {
	_, lines := testChain(f, 3)
	for _, l := range lines {
		f.Add(l)
	}
	for _, n := range numberCases {
		f.Add([]byte(`{"a":` + n.lit + `}`))
		f.Add([]byte(`[` + n.canon + `]`))
	}
	for _, s := range []string{`"\u001f"`, `"\u001F"`, `"\/"`, `"\u00e9"`, `"é"`, `{"b":1,"a":2}`, `{"a":1,"a":1}`, `[1, 2]`, ` 1`, `"\t"`, `"\b"`, `{"é":1,"😀":2,"ﬀ":3}`, `{"ﬀ":1,"😀":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		opts := parseOptions{maxDepth: maxLineDepth}
		slow, err := parseJSON(in, opts)
		want := err == nil && bytes.Equal(appendCanonical(nil, &slow), in)
		opts.canonical = true
		fast, err := parseJSON(in, opts)
		if got := err == nil; got != want {
			t.Fatalf("canonical mode says %v (%v), writing it anew says %v: %q", got, err, want, in)
		}
		if err == nil && !bytes.Equal(appendCanonical(nil, &fast), in) {
			t.Fatalf("canonical mode parsed %q into another value", in)
		}
	})
}

// FuzzEnvelopeRecord: Record (which writes the envelope itself) agrees with
// encoding/json's encoding read under the same rules, whenever the strings
// are valid UTF-8 (json.Marshal would replace the rest; Record refuses it).
func FuzzEnvelopeRecord(f *testing.F) {
	f.Add("d1", "u\"1", "s\n", "p<&>", []byte(`{"a":[1,2.5]}`), 0.92, "reason")
	f.Add("", " ", "\x7f", "é🦊", []byte(`null`), 1e-7, "")
	f.Add("d2", "u", "s", "p", []byte(`{"a":1,"b":"x","c":{"d":[true,null,-0.5]}}`), 0.5, "r") // canonical already
	f.Add("d3", "u", "s", "p", []byte(`{"b":1,"a":2}`), 0.5, "r")                              // unsorted
	f.Add("d4", "u", "s", "p", []byte(`{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":1}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}`), 0.5, "r")
	f.Fuzz(func(t *testing.T, id, user, session, policy string, meta []byte, score float64, reason string) {
		at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
		var md json.RawMessage
		if json.Valid(meta) {
			md = meta
		}
		for _, c := range []struct {
			e       *Envelope
			strings []string // the strings it holds
		}{
			{&Envelope{Type: TypeDecision, EventID: id, Environment: "prod", OccurredAt: at, Decision: &Decision{DecisionID: id, Action: ActionAllow,
				ConfidenceScore: score, PolicyVersion: policy, UserID: user, SessionID: session, Metadata: md}}, []string{id, user, session, policy}},
			{&Envelope{Type: TypeOverride, EventID: id, Environment: "prod", OccurredAt: at, Override: &Override{DecisionID: id, ReviewerID: user,
				NewAction: ActionBlock, Reason: reason}}, []string{id, user, reason}},
		} {
			e := c.e
			checkFastPath(t, e)
			got, gerr := e.Record()
			marshalled, merr := json.Marshal(e)
			if merr != nil {
				if gerr == nil {
					t.Fatalf("Record accepted what encoding/json cannot encode: %s", got)
				}
				continue
			}
			_, want, werr := parseEnvelope(marshalled)
			valid := true
			for _, s := range c.strings {
				valid = valid && utf8.ValidString(s)
			}
			switch {
			case !valid && gerr == nil:
				t.Fatalf("Record accepted invalid UTF-8: %q", got)
			case valid && (gerr == nil) != (werr == nil):
				t.Fatalf("Record error %v, encoding/json path error %v", gerr, werr)
			case valid && gerr == nil && !bytes.Equal(got, want):
				t.Fatalf("Record %s\nwant   %s", got, want)
			}
		}
	})
}

// FuzzParseKeyset: the keyset reader never panics; a keyset it accepts is
// contiguous from seq 0 with only the last range open, and written back
// by String it reads as the same keyset.
func FuzzParseKeyset(f *testing.F) {
	f.Add(vecVerifierKey)
	f.Add(vecVerifierKey + " 0 9\n" + vecVerifierKey2 + " 10 -\n")
	f.Add("# c\n" + vecVerifierKey + "\t0 9\r\n\n" + vecVerifierKey2 + " 10 20\n")
	f.Add(vecVerifierKey + " 0 9\n" + vecVerifierKey2 + " 09 -\n")
	f.Fuzz(func(t *testing.T, text string) {
		ks, err := ParseKeyset(text)
		if err != nil {
			return
		}
		next := uint64(0)
		for i, r := range ks.Ranges {
			if r.From != next || r.Open && i != len(ks.Ranges)-1 || !r.Open && r.To < r.From {
				t.Fatalf("accepted a keyset with range %d %+v after seq %d: %q", i, r, next, text)
			}
			next = r.To + 1
		}
		again, err := ParseKeyset(ks.String())
		if err != nil || again.String() != ks.String() {
			t.Fatalf("written back, %q reads as %v, %v", ks.String(), again, err)
		}
	})
}
