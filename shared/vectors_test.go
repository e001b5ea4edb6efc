package shared

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors from the Go implementation")

// Vector is one test vector of docs/FORMAT.md, for implementations in any
// language: seal Input after (Seq-1, Prev) with Source and SealedAt and you
// must get CanonicalBody, Hash and Line exactly.
type Vector struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Chain       string  `json:"chain"`
	Seq         uint64  `json:"seq"`
	Prev        string  `json:"prev"`
	SealedAt    string  `json:"sealed_at"`
	Source      *Source `json:"source,omitempty"`
	// Input is the record as read from the topic (absent for genesis).
	Input string `json:"input,omitempty"`
	// Genesis fields (genesis vector only).
	KeyName     string `json:"key_name,omitempty"`
	VerifierKey string `json:"verifier_key,omitempty"`
	// Expected results.
	Type          EntryType `json:"type"`
	CanonicalBody string    `json:"canonical_body"`
	Hash          string    `json:"hash"`
	Line          string    `json:"line"`
}

const vectorDir = "../testdata/vectors"

var (
	vecTime   = time.Date(2026, 11, 27, 9, 30, 0, 123456000, time.UTC)
	vecSource = func(off int64) *Source {
		return &Source{Topic: "decisions", Partition: 0, Offset: off, Timestamp: time.Date(2026, 11, 27, 9, 29, 59, 987000000, time.UTC)}
	}
	vecPrev = "8d2b1f0e9c3a47d6b5e4f3a2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2"
)

// vectorInputs are the cases docs/FORMAT.md promises.
var vectorInputs = []Vector{
	{Name: "genesis", Description: "seq 0 of chain prod: no source, prev is 32 zero bytes",
		KeyName: "aegis-prod", VerifierKey: "aegis-prod+1c5bd1e5+AQ7bOQ9UlHqmfvoKDkK0tXY6qiPpSrj+XvBkaz4mCTeK"},
	{Name: "decision-plain", Description: "an ALLOW decision with flat metadata; keys arrive unsorted and with spaces",
		Input: `{ "type": "decision", "event_id": "evt-0001", "environment": "prod", "occurred_at": "2026-11-27T09:29:59.5Z",
 "decision": {"user_id": "user-42", "decision_id": "dec-0001", "action": "ALLOW", "confidence_score": 0.92,
 "policy_version": "policy-2026.11", "session_id": "sess-9", "metadata": {"ip_country": "DE", "device": "dev-7"}}}`},
	{Name: "override", Description: "a reviewer overrides dec-0001 to BLOCK",
		Input: `{"type":"override","event_id":"evt-0002","environment":"prod","occurred_at":"2026-11-27T09:31:00Z","override":{"decision_id":"dec-0001","reviewer_id":"rev-7","new_action":"BLOCK","reason":"chargeback reported"}}`},
	{Name: "unicode-metadata", Description: "non-ASCII text stays UTF-8, control characters are escaped, keys sort by UTF-16 code units (é < 😀 < ﬀ)",
		Input: `{"type":"decision","event_id":"evt-0003","environment":"prod","occurred_at":"2026-11-27T09:29:59Z","decision":{"decision_id":"dec-0003","action":"CHALLENGE","confidence_score":0.5,"policy_version":"p1","user_id":"Zoë","session_id":"東京-1","metadata":{"ﬀ":4,"😀":3,"é":2,"a":1,"note":"tab\there \u00e9 \ud83d\ude00","slash":"a\/b"}}}`},
	{Name: "numbers", Description: "numbers are written in their ECMAScript form: 0.92, 1e-7, 1E3 -> 1000, -0.0 -> 0, 2^53-1 exact",
		Input: `{"type":"decision","event_id":"evt-0004","environment":"prod","occurred_at":"2026-11-27T09:29:59Z","decision":{"decision_id":"dec-0004","action":"BLOCK","confidence_score":0.920,"policy_version":"p1","user_id":"u","session_id":"s","metadata":{"tiny":1e-7,"thousand":1E3,"negzero":-0.0,"max_safe":9007199254740991,"min_safe":-9007199254740991,"big_float":1.5e300,"pi":3.141592653589793}}}`},
	{Name: "nested-metadata", Description: "objects and arrays nest; array order is kept, object keys are sorted at every level",
		Input: `{"type":"decision","event_id":"evt-0005","environment":"prod","occurred_at":"2026-11-27T09:29:59Z","decision":{"decision_id":"dec-0005","action":"REVIEW","confidence_score":1,"policy_version":"p1","user_id":"u","session_id":"s","metadata":{"signals":{"z":[3,1,2],"a":{"deep":{"deeper":[{"k":true},{"k":null}]}}},"empty":{},"list":[]}}}`},
	{Name: "invalid-not-json", Description: "a record that is not JSON is sealed as INVALID with its raw bytes (base64) and the reason",
		Input: `decision=ALLOW user=42`},
	{Name: "invalid-large-integer", Description: "an integer beyond 2^53-1 is refused, not rounded: the record is sealed as INVALID with its exact bytes",
		Input: `{"type":"decision","event_id":"evt-0006","environment":"prod","occurred_at":"2026-11-27T09:29:59Z","decision":{"decision_id":"dec-0006","action":"ALLOW","confidence_score":0.1,"policy_version":"p1","user_id":"u","session_id":"s","metadata":{"account":12345678901234567890}}}`},
	{Name: "invalid-schema", Description: "valid JSON that breaks the schema (score outside [0,1]) is sealed as INVALID",
		Input: `{"type":"decision","event_id":"evt-0007","environment":"prod","occurred_at":"2026-11-27T09:29:59Z","decision":{"decision_id":"dec-0007","action":"ALLOW","confidence_score":1.5,"policy_version":"p1","user_id":"u","session_id":"s"}}`},
}

func buildVector(t *testing.T, in Vector, seq uint64) Vector {
	t.Helper()
	v := in
	v.Chain = "prod"
	var e *Entry
	var err error
	if in.Name == "genesis" {
		e, err = NewGenesis("prod", vecTime, in.KeyName, in.VerifierKey)
	} else {
		prev, perr := ParseHash(vecPrev)
		if perr != nil {
			t.Fatal(perr)
		}
		v.Source = vecSource(int64(seq - 1))
		e, err = SealRecord(Head{Chain: "prod", Seq: seq - 1, Hash: prev, Offset: int64(seq - 2)}, *v.Source, []byte(in.Input), vecTime)
	}
	if err != nil {
		t.Fatal(err)
	}
	body, err := e.CanonicalBody()
	if err != nil {
		t.Fatal(err)
	}
	line, err := e.Line()
	if err != nil {
		t.Fatal(err)
	}
	v.Seq, v.Prev, v.SealedAt, v.Type = e.Seq, e.Prev.String(), e.SealedAt.Format(time.RFC3339Nano), e.Type
	v.CanonicalBody, v.Hash, v.Line = string(body), e.Hash.String(), string(line)
	return v
}

func TestVectors(t *testing.T) {
	for i, in := range vectorInputs {
		t.Run(in.Name, func(t *testing.T) {
			got := buildVector(t, in, uint64(i)*7)
			path := filepath.Join(vectorDir, in.Name+".json")
			if *update {
				b, err := json.MarshalIndent(got, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./shared -run TestVectors -update to create it)", err)
			}
			var want Vector
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if got.Line != want.Line || got.Hash != want.Hash || got.CanonicalBody != want.CanonicalBody || got.Type != want.Type {
				t.Fatalf("sealing the input no longer gives the vector:\n got  %s\n want %s", got.Line, want.Line)
			}
			// The hash rule, computed from the vector alone.
			prev, err := hex.DecodeString(want.Prev)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			h.Write([]byte(EntryHashPrefix))
			h.Write(prev)
			h.Write([]byte(want.CanonicalBody))
			if hex.EncodeToString(h.Sum(nil)) != want.Hash {
				t.Fatalf("SHA-256(prefix || prev || canonical_body) != hash")
			}
			// The line is canonical, verifies, and is the body plus its hash.
			e, err := ParseLine([]byte(want.Line))
			if err != nil {
				t.Fatalf("ParseLine: %v", err)
			}
			if e.Hash.String() != want.Hash || e.Type != want.Type {
				t.Fatalf("parsed %s %s, want %s %s", e.Type, e.Hash, want.Type, want.Hash)
			}
			if !bytes.Contains([]byte(want.Line), []byte(`"hash":"`+want.Hash+`"`)) {
				t.Fatalf("line does not carry its hash")
			}
		})
	}
}
