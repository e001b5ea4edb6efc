package shared

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors from the Go implementation")

const vectorDir = "../testdata/vectors"

// Vector is one test vector of docs/FORMAT.md section 10. Which members are
// set depends on Kind.
type Vector struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
	Expect      string `json:"expect,omitempty"`
	Rule        string `json:"rule,omitempty"`

	// kind entry
	Chain    string  `json:"chain,omitempty"`
	Seq      *uint64 `json:"seq,omitempty"`
	Prev     string  `json:"prev,omitempty"`
	SealedAt string  `json:"sealed_at,omitempty"`
	Source   *Source `json:"source,omitempty"`
	// Input is the record as read from the topic (absent for genesis).
	Input *string `json:"input,omitempty"`
	// KafkaTimestampMS is the record's Kafka timestamp when source.timestamp
	// had to be clamped (it is outside the years 0000..9999).
	KafkaTimestampMS *int64    `json:"kafka_timestamp_ms,omitempty"`
	KeyName          string    `json:"key_name,omitempty"`
	VerifierKey      string    `json:"verifier_key,omitempty"`
	Type             EntryType `json:"type,omitempty"`
	CanonicalBody    string    `json:"canonical_body,omitempty"`
	Hash             string    `json:"hash,omitempty"`
	Line             string    `json:"line,omitempty"`

	// kind checkpoint
	SignerKey  string          `json:"signer_key,omitempty"`
	Note       string          `json:"note,omitempty"`
	Checkpoint *VectorCheckpnt `json:"checkpoint,omitempty"`

	// kind batch-key
	Prefix    string `json:"prefix,omitempty"`
	Timestamp string `json:"timestamp,omitempty"`
	Key       string `json:"key,omitempty"`

	// kind proof
	Bundle        string `json:"bundle,omitempty"`
	DecisionID    string `json:"decision_id,omitempty"`
	Action        string `json:"action,omitempty"`
	CurrentAction string `json:"current_action,omitempty"`
	// Retired, when present, are the key ids of the retired keys (7.4)
	// that sign any of an accepted bundle's checkpoints, sorted.
	Retired *[]string `json:"retired,omitempty"`

	// kinds keyset, and checkpoint, proof and log of a rotated chain: the
	// trusted keys with their seq ranges, in place of verifier_key.
	Keyset string `json:"keyset,omitempty"`

	// kind log
	Objects         []VectorObject `json:"objects,omitempty"`
	KnownCheckpoint string         `json:"known_checkpoint,omitempty"`
	// Pruned: the verifier is asked to accept a chain whose oldest
	// objects were deleted (section 6.1).
	Pruned bool          `json:"pruned,omitempty"`
	Report *VectorReport `json:"report,omitempty"`
}

// VectorCheckpnt is the content of an accepted checkpoint note.
type VectorCheckpnt struct {
	Chain  string `json:"chain"`
	Seq    uint64 `json:"seq"`
	Hash   string `json:"hash"`
	Offset int64  `json:"offset"`
	Object string `json:"object"`
	Root   string `json:"root"`
	Time   string `json:"time"`
}

// VectorObject is one object of a log vector's bucket.
type VectorObject struct {
	Key  string `json:"key"`
	Body string `json:"body"`
}

// VectorReport is what verifying an accepted log vector reports.
type VectorReport struct {
	Entries         uint64 `json:"entries"`
	HeadSeq         uint64 `json:"head_seq"`
	HeadHash        string `json:"head_hash"`
	CheckpointedSeq uint64 `json:"checkpointed_seq"`
	Unsigned        uint64 `json:"unsigned"`
	// StartSeq is a pruned chain's first remaining seq (section 6.1).
	StartSeq uint64 `json:"start_seq,omitempty"`
}

var (
	vecTime   = time.Date(2026, 11, 27, 9, 30, 0, 123456000, time.UTC)
	vecSource = func(off int64) *Source {
		return &Source{Topic: "decisions", Partition: 0, Offset: off, Timestamp: time.Date(2026, 11, 27, 9, 29, 59, 987000000, time.UTC)}
	}
	vecPrev = "8d2b1f0e9c3a47d6b5e4f3a2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2"
)

func u64(n uint64) *uint64 { return &n }

// entryInput is the definition of one entry vector.
type entryInput struct {
	Name, Description    string
	Input                string
	KeyName, VerifierKey string
	// KafkaMS, if set, is the record's Kafka timestamp.
	KafkaMS int64
}

// vectorInputs are the entry vectors: records sealed after vecPrev.
var vectorInputs = []entryInput{
	{Name: "genesis", Description: "seq 0 of chain prod: no source, prev is 32 zero bytes; the verifier key's hash matches its name and key",
		KeyName: "aegis-prod", VerifierKey: vecVerifierKey},
	{Name: "decision-plain", Description: "an ALLOW decision with flat metadata; keys arrive unsorted and with spaces",
		Input: `{ "type": "decision", "event_id": "evt-0001", "environment": "prod", "occurred_at": "2026-11-27T09:29:59.5Z",
 "decision": {"user_id": "user-42", "decision_id": "dec-0001", "action": "ALLOW", "confidence_score": 0.92,
 "policy_version": "policy-2026.11", "session_id": "sess-9", "metadata": {"ip_country": "DE", "device": "dev-7"}}}`},
	{Name: "override", Description: "a reviewer overrides dec-0001 to BLOCK",
		Input: `{"type":"override","event_id":"evt-0002","environment":"prod","occurred_at":"2026-11-27T09:31:00Z","override":{"decision_id":"dec-0001","reviewer_id":"rev-7","new_action":"BLOCK","reason":"chargeback reported"}}`},
	{Name: "unicode-metadata", Description: "non-ASCII text stays UTF-8, control characters are escaped, keys sort by UTF-16 code units (é < 😀 < ﬀ)",
		Input: `{"type":"decision","event_id":"evt-0003","environment":"prod","occurred_at":"2026-11-27T09:29:59Z","decision":{"decision_id":"dec-0003","action":"CHALLENGE","confidence_score":0.5,"policy_version":"p1","user_id":"Zoë","session_id":"東京-1","metadata":{"ﬀ":4,"😀":3,"é":2,"a":1,"note":"tab\there \u00e9 \ud83d\ude00","slash":"a\/b"}}}`},
	{Name: "numbers", Description: "numbers keep their exact value in their ECMAScript form: 0.920 -> 0.92, 1e-7, 1E3 -> 1000, -0.0 -> 0, ±(2^53-1), 9007199254740991.0 -> 9007199254740991, 1e21 -> 1e+21, 1.5e300 -> 1.5e+300",
		Input: `{"type":"decision","event_id":"evt-0004","environment":"prod","occurred_at":"2026-11-27T09:29:59Z","decision":{"decision_id":"dec-0004","action":"BLOCK","confidence_score":0.920,"policy_version":"p1","user_id":"u","session_id":"s","metadata":{"tiny":1e-7,"thousand":1E3,"negzero":-0.0,"max_safe":9007199254740991,"min_safe":-9007199254740991,"safe_float":9007199254740991.0,"e21":1e21,"big_float":1.5e300,"pi":3.141592653589793,"micro":0.000001}}}`},
	{Name: "nested-metadata", Description: "objects and arrays nest; array order is kept, object keys are sorted at every level",
		Input: `{"type":"decision","event_id":"evt-0005","environment":"prod","occurred_at":"2026-11-27T09:29:59Z","decision":{"decision_id":"dec-0005","action":"REVIEW","confidence_score":1,"policy_version":"p1","user_id":"u","session_id":"s","metadata":{"signals":{"z":[3,1,2],"a":{"deep":{"deeper":[{"k":true},{"k":null}]}}},"empty":{},"list":[]}}}`},
	{Name: "invalid-not-json", Description: "a record that is not JSON is sealed as INVALID with its raw bytes (base64) and the reason",
		Input: `decision=ALLOW user=42`},
	{Name: "invalid-large-integer", Description: "an integer beyond 2^53-1 would change value as a double: the record is sealed as INVALID with its exact bytes",
		Input: `{"type":"decision","event_id":"evt-0006","environment":"prod","occurred_at":"2026-11-27T09:29:59Z","decision":{"decision_id":"dec-0006","action":"ALLOW","confidence_score":0.1,"policy_version":"p1","user_id":"u","session_id":"s","metadata":{"account":12345678901234567890}}}`},
	{Name: "invalid-float-integer-beyond-2^53", Description: "1e16 keeps its value but canonicalises to the integer 10000000000000000, beyond 2^53-1: INVALID (rule 3 of the number rule)",
		Input: `{"type":"decision","event_id":"evt-0008","environment":"prod","occurred_at":"2026-11-27T09:29:59Z","decision":{"decision_id":"dec-0008","action":"ALLOW","confidence_score":0.1,"policy_version":"p1","user_id":"u","session_id":"s","metadata":{"amount":1e16}}}`},
	{Name: "invalid-number-changes-value", Description: "0.10000000000000000555 would be written 0.1: INVALID (rule 2 of the number rule)",
		Input: `{"type":"decision","event_id":"evt-0009","environment":"prod","occurred_at":"2026-11-27T09:29:59Z","decision":{"decision_id":"dec-0009","action":"ALLOW","confidence_score":0.1,"policy_version":"p1","user_id":"u","session_id":"s","metadata":{"ratio":0.10000000000000000555}}}`},
	{Name: "invalid-schema", Description: "valid JSON that breaks the schema (score outside [0,1]) is sealed as INVALID",
		Input: `{"type":"decision","event_id":"evt-0007","environment":"prod","occurred_at":"2026-11-27T09:29:59Z","decision":{"decision_id":"dec-0007","action":"ALLOW","confidence_score":1.5,"policy_version":"p1","user_id":"u","session_id":"s"}}`},
	{Name: "invalid-folded-member-name", Description: "a second spelling of a member (\"Decision_ID\") is an unknown member, never read as decision_id: INVALID",
		Input: `{"type":"decision","event_id":"evt-0010","environment":"prod","occurred_at":"2026-11-27T09:29:59Z","decision":{"decision_id":"dec-0010","Decision_ID":"dec-other","action":"ALLOW","confidence_score":0.1,"policy_version":"p1","user_id":"u","session_id":"s"}}`},
	{Name: "invalid-timestamp-year-10000", Description: "a Kafka timestamp in the year 10000 is clamped to 9999-12-31T23:59:59.999Z and the record sealed INVALID",
		Input:   `{"type":"decision","event_id":"evt-0011","environment":"prod","occurred_at":"2026-11-27T09:29:59Z","decision":{"decision_id":"dec-0011","action":"ALLOW","confidence_score":0.1,"policy_version":"p1","user_id":"u","session_id":"s"}}`,
		KafkaMS: 253402300800000},
	{Name: "invalid-empty-record", Description: "an empty record: size 0, no raw, the SHA-256 of no bytes", Input: ""},
	{Name: "override-recorded-by", Description: "an override stating whom it was recorded for (recorded_by, optional): sealed as stated, between override and type",
		Input: `{"type":"override","event_id":"evt-0012","environment":"prod","occurred_at":"2026-11-27T09:31:00Z","recorded_by":"token:review-tool","override":{"decision_id":"dec-0001","reviewer_id":"rev-7","new_action":"ALLOW","reason":"customer verified by phone"}}`},
	{Name: "invalid-recorded-by-empty", Description: "recorded_by is an id when present: an empty one is sealed as INVALID",
		Input: `{"type":"decision","event_id":"evt-0013","environment":"prod","occurred_at":"2026-11-27T09:29:59Z","recorded_by":"","decision":{"decision_id":"dec-0013","action":"ALLOW","confidence_score":0.1,"policy_version":"p1","user_id":"u","session_id":"s"}}`},
}

// vectorInput returns the entry vector named name and its index.
func vectorInput(t testing.TB, name string) (entryInput, int) {
	for i, in := range vectorInputs {
		if in.Name == name {
			return in, i
		}
	}
	t.Fatalf("no entry vector %s", name)
	return entryInput{}, 0
}

func buildEntryVector(t testing.TB, in entryInput, seq uint64) Vector {
	t.Helper()
	v := Vector{Name: in.Name, Kind: "entry", Description: in.Description, Chain: "prod", KeyName: in.KeyName, VerifierKey: in.VerifierKey}
	var e *Entry
	var err error
	if in.Name == "genesis" {
		e, err = NewGenesis("prod", vecTime, in.KeyName, in.VerifierKey)
	} else {
		prev, perr := ParseHash(vecPrev)
		if perr != nil {
			t.Fatal(perr)
		}
		src := vecSource(int64(seq - 1))
		if in.KafkaMS != 0 {
			src.Timestamp = time.UnixMilli(in.KafkaMS).UTC()
			v.KafkaTimestampMS = &in.KafkaMS
		}
		input := in.Input
		v.Input = &input
		e, err = SealRecord(Head{Chain: "prod", Seq: seq - 1, Hash: prev, Offset: int64(seq - 2)}, *src, []byte(in.Input), vecTime)
		v.Source = e.Source
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
	v.Seq, v.Prev, v.SealedAt, v.Type = u64(e.Seq), e.Prev.String(), FormatTime(e.SealedAt), e.Type
	v.CanonicalBody, v.Hash, v.Line = string(body), e.Hash.String(), string(line)
	return v
}

// rehash returns a line whose body is body (canonical text edited by a
// test) with the correct hash inserted: it breaks exactly the rule the
// edit breaks, not the hash.
func rehash(t testing.TB, body string, typ EntryType) string {
	t.Helper()
	var prev Hash
	if i := strings.Index(body, `"prev":"`); i >= 0 {
		if p, err := ParseHash(body[i+8 : i+8+64]); err == nil {
			prev = p
		}
	}
	line, err := withHash([]byte(body), typ, hashBody(prev, []byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	return string(line)
}

func bodyOf(t testing.TB, e *Entry) string {
	t.Helper()
	b, err := e.CanonicalBody()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustReplace(t testing.TB, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q not in %s", old, s)
	}
	return strings.Replace(s, old, new, 1)
}

func lineVectors(t *testing.T) []Vector {
	ev := buildEntryVector(t, vectorInputs[1], 42)  // decision-plain
	inv := buildEntryVector(t, vectorInputs[6], 48) // invalid-not-json
	gen := buildEntryVector(t, vectorInputs[0], 0)
	evBody, invBody, genBody := ev.CanonicalBody, inv.CanonicalBody, gen.CanonicalBody
	emptyRecord, _ := vectorInput(t, "invalid-empty-record")
	reject := func(name, rule, desc, line string) Vector {
		return Vector{Name: "reject-line-" + name, Kind: "line", Expect: "reject", Rule: rule, Description: desc, Line: line}
	}
	accept := func(name, desc, line string) Vector {
		return Vector{Name: "accept-line-" + name, Kind: "line", Expect: "accept", Description: desc, Line: line}
	}
	hashAt := strings.Index(ev.Line, `"hash":"`) + 8
	flipped := []byte(ev.Line)
	if flipped[hashAt] == '0' {
		flipped[hashAt] = '1'
	} else {
		flipped[hashAt] = '0'
	}
	deep := strings.Repeat(`{"a":`, 30) + "1" + strings.Repeat("}", 30)
	return []Vector{
		accept("time-trailing-zero", "a fraction with a trailing zero is allowed in entries (the sealer writes none)",
			rehash(t, mustReplace(t, evBody, `"sealed_at":"2026-11-27T09:30:00.123456Z"`, `"sealed_at":"2026-11-27T09:30:00.1234560Z"`), EntryEvent)),
		accept("invalid-empty", "an INVALID entry of an empty record: no raw, size 0, SHA-256 of nothing", buildEntryVector(t, emptyRecord, 9).Line),
		reject("hash", "section 5", "one hex digit of the hash changed", string(flipped)),
		reject("whitespace", "section 3: lines are canonical", "a space after a comma (rehashed)",
			rehash(t, mustReplace(t, evBody, `,"seq"`, `, "seq"`), EntryEvent)),
		reject("unsorted", "section 3: lines are canonical", "two members out of order (rehashed)",
			rehash(t, mustReplace(t, evBody, `"ip_country":"DE"}`, `"ip_country":"DE","b":1}`), EntryEvent)),
		reject("duplicate-member", "section 3: no duplicate member names", "seq twice",
			rehash(t, mustReplace(t, evBody, `"seq":42`, `"seq":42,"seq":42`), EntryEvent)),
		reject("folded-member-name", "section 2: member names match exactly", "a member SEQ beside seq: an unknown member, not a second spelling of seq",
			rehash(t, mustReplace(t, evBody, `{"chain":`, `{"SEQ":7,"chain":`), EntryEvent)),
		reject("unknown-member", "section 2: no other members", "an extra top-level member",
			rehash(t, mustReplace(t, evBody, `,"v":1}`, `,"v":1,"x":1}`), EntryEvent)),
		reject("unsafe-integer", "section 3: the number rule", "metadata holds the integer 10000000000000000 (what older versions sealed for 1e16)",
			rehash(t, mustReplace(t, evBody, `"ip_country":"DE"`, `"ip_country":"DE","n":10000000000000000`), EntryEvent)),
		reject("event-schema", "section 4", "an EVENT whose confidence_score is 1.5",
			rehash(t, mustReplace(t, evBody, `"confidence_score":0.92`, `"confidence_score":1.5`), EntryEvent)),
		reject("event-unknown-member", "section 4", "an EVENT whose decision has an extra member decision_idx (canonical, rehashed)",
			rehash(t, mustReplace(t, evBody, `"decision_id":"dec-0001"`, `"decision_id":"dec-0001","decision_idx":"x"`), EntryEvent)),
		reject("event-folded-member-name", "section 2: member names match exactly", "an EVENT whose decision has Decision_id beside decision_id (canonical, rehashed)",
			rehash(t, mustReplace(t, evBody, `"decision":{"action"`, `"decision":{"Decision_id":"x","action"`), EntryEvent)),
		reject("event-environment", "section 4: environment equals the chain", "an EVENT of environment staging in chain prod",
			rehash(t, mustReplace(t, evBody, `"environment":"prod"`, `"environment":"staging"`), EntryEvent)),
		reject("event-id-control", "section 4: ids", "a user_id holding a tab",
			rehash(t, mustReplace(t, evBody, `"user_id":"user-42"`, `"user_id":"user\t42"`), EntryEvent)),
		reject("event-recorded-by-number", "section 4: recorded_by is an id", "an EVENT whose recorded_by is the number 7",
			rehash(t, mustReplace(t, evBody, `"occurred_at":"2026-11-27T09:29:59.5Z"`, `"occurred_at":"2026-11-27T09:29:59.5Z","recorded_by":7`), EntryEvent)),
		reject("event-recorded-by-control", "section 4: recorded_by is an id", "an EVENT whose recorded_by holds a line feed",
			rehash(t, mustReplace(t, evBody, `"occurred_at":"2026-11-27T09:29:59.5Z"`, `"occurred_at":"2026-11-27T09:29:59.5Z","recorded_by":"token:a\nb"`), EntryEvent)),
		reject("event-recorded-by-misplaced", "section 3: lines are canonical", "recorded_by written after type (rehashed)",
			rehash(t, mustReplace(t, evBody, `"type":"decision"}`, `"type":"decision","recorded_by":"svc"}`), EntryEvent)),
		reject("event-time-offset", "section 2.2", "occurred_at with +00:00",
			rehash(t, mustReplace(t, evBody, `"occurred_at":"2026-11-27T09:29:59.5Z"`, `"occurred_at":"2026-11-27T09:29:59.5+00:00"`), EntryEvent)),
		reject("sealed-at-offset", "section 2.2", "sealed_at with +00:00",
			rehash(t, mustReplace(t, evBody, `"sealed_at":"2026-11-27T09:30:00.123456Z"`, `"sealed_at":"2026-11-27T09:30:00.123456+00:00"`), EntryEvent)),
		reject("time-lowercase-z", "section 2.2", "source.timestamp ending in a lower-case z",
			rehash(t, mustReplace(t, evBody, `"timestamp":"2026-11-27T09:29:59.987Z"`, `"timestamp":"2026-11-27T09:29:59.987z"`), EntryEvent)),
		reject("time-feb-30", "section 2.2", "sealed_at on February 30",
			rehash(t, mustReplace(t, evBody, `"sealed_at":"2026-11-27T`, `"sealed_at":"2026-02-30T`), EntryEvent)),
		reject("chain-id", "section 2.1", "a chain id with a slash (environment edited to match)",
			rehash(t, mustReplace(t, mustReplace(t, evBody, `{"chain":"prod"`, `{"chain":"pr/od"`), `"environment":"prod"`, `"environment":"pr/od"`), EntryEvent)),
		reject("version", "section 2", "v is 2", rehash(t, mustReplace(t, evBody, `"v":1}`, `"v":2}`), EntryEvent)),
		reject("seq-fraction", "section 2", "seq written 42.5",
			rehash(t, mustReplace(t, evBody, `"seq":42`, `"seq":42.5`), EntryEvent)),
		reject("source-partition", "section 2", "source.partition negative",
			rehash(t, mustReplace(t, evBody, `"partition":0`, `"partition":-1`), EntryEvent)),
		reject("lone-surrogate", "section 3", "metadata string holding the escape \\ud800 alone (rehashed)",
			rehash(t, mustReplace(t, evBody, `"dev-7"`, `"dev-7\ud800"`), EntryEvent)),
		reject("noncharacter", "section 3", "metadata string holding U+FFFF (rehashed)",
			rehash(t, mustReplace(t, evBody, `"dev-7"`, "\"dev-7\uffff\""), EntryEvent)),
		reject("too-deep", "section 3: 32 levels in a record", "metadata nested 30 more levels (33 in the record)",
			rehash(t, mustReplace(t, evBody, `"ip_country":"DE"`, `"ip_country":"DE","z":`+deep), EntryEvent)),
		reject("invalid-sha256", "section 2.3", "sha256 is not the SHA-256 of raw",
			rehash(t, mustReplace(t, invBody, `"sha256":"6`, `"sha256":"7`), EntryInvalid)),
		reject("invalid-size", "section 2.3", "size is not the length of raw",
			rehash(t, mustReplace(t, invBody, `"size":22`, `"size":23`), EntryInvalid)),
		reject("invalid-base64-padding", "section 2.3: canonical base64", "raw without its padding",
			rehash(t, mustReplace(t, invBody, `Mg=="`, `Mg"`), EntryInvalid)),
		reject("invalid-raw-missing", "section 2.3", "raw absent for a 22-byte record",
			rehash(t, mustReplace(t, invBody, `"raw":"ZGVjaXNpb249QUxMT1cgdXNlcj00Mg==",`, ``), EntryInvalid)),
		reject("genesis-key-hash", "section 7.1", "the genesis verifier key's hash does not match its name and key",
			rehash(t, mustReplace(t, genBody, strings.Split(vecVerifierKey, "+")[1], "1c5bd1e5"), EntryGenesis)),
		reject("event-seq-0", "section 2", "an EVENT at seq 0",
			rehash(t, mustReplace(t, evBody, `"seq":42`, `"seq":0`), EntryEvent)),
	}
}

// keysetVectors are keyset files (docs/FORMAT.md section 7.4).
func keysetVectors() []Vector {
	v := func(n, expect, rule, desc, ks string) Vector {
		return Vector{Name: n, Kind: "keyset", Expect: expect, Rule: rule, Description: desc, Keyset: ks}
	}
	k1, k2, k3 := vecVerifierKey, vecVerifierKey2, plusKey()
	return []Vector{
		v("accept-keyset", "accept", "", "two keys: the first for seqs 0 to 9, the second from 10 on, with a comment and a blank line",
			"# chain prod\n"+k1+" 0 9\n\n"+k2+" 10 -\n"),
		v("accept-keyset-one-key", "accept", "", "a verifier key file alone: trusted for every seq", k1+"\n"),
		v("accept-keyset-closed", "accept", "", "three keys, the last retired at seq 30 without a successor", k1+" 0 9\n"+k2+" 10 20\n"+k3+" 21 30\n"),
		v("reject-keyset-gap", "reject", "section 7.4", "seq 10 belongs to no key", k1+" 0 9\n"+k2+" 11 -\n"),
		v("reject-keyset-overlap", "reject", "section 7.4", "seq 9 belongs to two keys", k1+" 0 9\n"+k2+" 9 -\n"),
		v("reject-keyset-not-from-0", "reject", "section 7.4", "the first range starts at seq 1", k1+" 1 9\n"+k2+" 10 -\n"),
		v("reject-keyset-open-not-last", "reject", "section 7.4", "an open range before another", k1+" 0 -\n"+k2+" 10 -\n"),
		v("reject-keyset-key-twice", "reject", "section 7.4: a retired key is never trusted again", "the first key trusted again after the second",
			k1+" 0 9\n"+k2+" 10 20\n"+k1+" 21 -\n"),
		v("reject-keyset-leading-zero", "reject", "section 7.4", "a seq written 09", k1+" 0 09\n"+k2+" 10 -\n"),
		v("reject-keyset-backwards", "reject", "section 7.4", "a range whose last seq is below its first", k1+" 0 9\n"+k2+" 10 5\n"+k3+" 6 -\n"),
		v("reject-keyset-private-key", "reject", "section 7.1", "a signer (private) key in place of a verifier key", vecSignerKey+" 0 -\n"),
		v("reject-keyset-empty", "reject", "section 7.4", "comments only", "# nothing\n"),
		v("accept-keyset-one-key-spaces", "accept", "", "a verifier key file with spaces, tabs, CRs and LFs around the key: all four are trimmed", " \t\r\n"+k1+"\r\n\n\t "),
		v("reject-keyset-one-key-nbsp", "reject", "section 7.1: only spaces, tabs, CRs and LFs are trimmed around a key", "a verifier key file whose key is followed by a no-break space (U+00A0)", k1+"\u00a0\n"),
		v("reject-keyset-one-key-vertical-tab", "reject", "section 7.1: only spaces, tabs, CRs and LFs are trimmed around a key", "a verifier key file whose key is followed by a vertical tab", k1+"\v\n"),
		v("reject-keyset-one-key-bom", "reject", "section 7.1: only spaces, tabs, CRs and LFs are trimmed around a key", "a verifier key file starting with a byte order mark", "\ufeff"+k1+"\n"),
		v("reject-keyset-one-key-with-comment", "reject", "section 7.4: a file of one key alone holds nothing else; with a comment it is a keyset file, whose key lines have three fields", "a verifier key file with a comment line above the key", "# prod, received 2026-11-29\n"+k1+"\n"),
		v("accept-keyset-comments-indented", "accept", "", "a keyset whose comment lines start with spaces and a tab, with runs of spaces and tabs between fields", "  # chain prod\n\t# rotated at 9\n"+k1+"  0\t\t9\n"+k2+" \t 10   -\n"),
		v("reject-keyset-trailing-comment", "reject", "section 7.4: a '#' after a key line's fields is a fourth field", "a key line followed by a comment on the same line", k1+" 0 - # the current key\n"),
		v("reject-keyset-seq-5000-digits", "reject", "section 7.4: seqs are in [0, 2^53-1]", "a last seq of 5,000 nines (a reader that converts the digits before comparing them may fail otherwise than by refusing)",
			k1+" 0 "+strings.Repeat("9", 5000)+"\n"),
		v("reject-keyset-line-separator", "reject", "section 7.4: lines end at LF alone", "two key lines separated by U+2028 (a line separator to some readers, not to a keyset): one line of five fields",
			k1+" 0 9\u2028"+k2+" 10 -\n"),
	}
}

// keyLineVectors are KEY entry lines (docs/FORMAT.md section 2.4).
func keyLineVectors(t *testing.T) []Vector {
	b, k := newLogBuilder(t), ""
	b.batch(27, 2, nil)
	k, _ = b.rotate(28, 0)
	line := lastLine(b.objects[k])
	body := bodyOf(t, mustParse(t, line))
	reject := func(name, rule, desc, line string) Vector {
		return Vector{Name: "reject-line-" + name, Kind: "line", Expect: "reject", Rule: rule, Description: desc, Line: line}
	}
	return []Vector{
		{Name: "accept-line-key", Kind: "line", Expect: "accept", Description: "a KEY entry at seq 3 handing the checkpoints over to the second vectors key from seq 4", Line: line},
		reject("key-from-seq", "section 2.4", "from_seq 5 in a KEY entry at seq 3 (rehashed)", rehash(t, mustReplace(t, body, `"from_seq":4`, `"from_seq":5`), EntryKey)),
		reject("key-verifier-key", "section 7.1", "the new verifier key's hash changed (rehashed)",
			rehash(t, mustReplace(t, body, strings.Split(vecVerifierKey2, "+")[1], "00000000"), EntryKey)),
		reject("key-extra-member", "section 2.4", "an extra member in key (rehashed)", rehash(t, mustReplace(t, body, `{"from_seq"`, `{"a":1,"from_seq"`), EntryKey)),
		reject("key-no-source", "section 2", "a KEY entry without source (rehashed)",
			rehash(t, body[:strings.Index(body, `,"source":`)]+body[strings.Index(body, `,"type":`):], EntryKey)),
	}
}

func keyVectors() []Vector {
	parts := strings.Split(vecVerifierKey, "+")
	name, hash, key := parts[0], parts[1], parts[2]
	v := func(n, expect, rule, desc, k string) Vector {
		return Vector{Name: n, Kind: "verifier-key", Expect: expect, Rule: rule, Description: desc, VerifierKey: k}
	}
	return []Vector{
		v("accept-verifier-key", "accept", "", "the vectors' verifier key", vecVerifierKey),
		v("accept-verifier-key-plus", "accept", "", "a key whose base64 holds '+': split at the first two '+' only", plusKey()),
		v("reject-verifier-key-hash", "reject", "section 7.1", "the key hash the foundation's genesis vector carried: it does not match", name+"+1c5bd1e5+"+key),
		v("reject-verifier-key-uppercase-hash", "reject", "section 7.1", "the key hash in upper-case hex", name+"+"+strings.ToUpper(hash)+"+"+key),
		v("reject-verifier-key-name", "reject", "section 2.1", "a name with a space", "aegis prod+"+hash+"+"+key),
		v("reject-verifier-key-newline", "reject", "section 7.1: inside a vector nothing is stripped", "the key followed by a newline (a key file's text is trimmed, a vector's key is not)", vecVerifierKey+"\n"),
		v("reject-verifier-key-padding", "reject", "section 7.1: canonical base64", "the key with a padding character it does not need (33 bytes are 44 characters)", name+"+"+hash+"+"+key+"="),
		v("reject-verifier-key-alg", "reject", "section 7.1", "algorithm byte 0x02 (key hash recomputed)", func() string {
			raw, _ := base64.StdEncoding.DecodeString(key)
			raw[0] = 2
			return fmt.Sprintf("%s+%08x+%s", name, keyHash(name, raw), base64.StdEncoding.EncodeToString(raw))
		}()),
		v("reject-verifier-key-private", "reject", "section 7.1", "the signer (private) key given as a verifier key", vecSignerKey),
		v("reject-verifier-key-noncanonical-point", "reject", "section 7.1: canonical point", "y = p+1, a non-canonical encoding of the point with y = 1 (key hash recomputed)", func() string {
			raw := make([]byte, 33)
			raw[0] = 1
			raw[1] = 0xee // p+1 = 2^255-18, little-endian: ee ff .. ff 7f
			for i := 2; i < 32; i++ {
				raw[i] = 0xff
			}
			raw[32] = 0x7f
			return fmt.Sprintf("%s+%08x+%s", name, keyHash(name, raw), base64.StdEncoding.EncodeToString(raw))
		}()),
	}
}

// plusKey is a verifier key whose base64 part contains '+'.
func plusKey() string {
	for i := 0; ; i++ {
		_, vk := testKey("plus", fmt.Sprint("plus seed ", i))
		if strings.Contains(strings.SplitN(vk, "+", 3)[2], "+") {
			return vk
		}
	}
}

func checkpointVectors(t *testing.T) []Vector {
	signer := vecSigner(t)
	cp := Checkpoint{Chain: "prod", Seq: 42, Hash: mustHash(t, vecPrev), Offset: 41,
		Object: "audit/year=2026/month=11/day=27/env=prod/00000000000000000040.jsonl", Root: MerkleRoot([]Hash{{1}, {2}, mustHash(t, vecPrev)}), Time: vecTime}
	note := func(c Checkpoint) string {
		msg, err := c.Sign(signer)
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	sign := func(text string) string { // sign arbitrary text, bypassing the body checks
		msg, err := signText(text, signer)
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	good := note(cp)
	gh := mustHash(t, buildEntryVector(t, vectorInputs[0], 0).Hash)
	gcp := Checkpoint{Chain: "prod", Seq: 0, Hash: gh, Offset: -1,
		Object: "audit/genesis/env=prod/00000000000000000000.jsonl", Root: MerkleRoot([]Hash{gh}), Time: vecTime}
	otherS, _ := testKey("aegis-prod", "another seed")
	other, _ := NewSigner(otherS)
	forged, _ := cp.Sign(other)
	sigLine := good[strings.Index(good, "\n\n")+2:]
	vc := func(c Checkpoint) *VectorCheckpnt {
		return &VectorCheckpnt{Chain: c.Chain, Seq: c.Seq, Hash: c.Hash.String(), Offset: c.Offset, Object: c.Object, Root: c.Root.String(), Time: FormatTime(c.Time)}
	}
	v := func(n, expect, rule, desc, msg string) Vector {
		return Vector{Name: n, Kind: "checkpoint", Expect: expect, Rule: rule, Description: desc, VerifierKey: vecVerifierKey, Note: msg}
	}
	body := cp.Body()
	accepted := v("checkpoint", "accept", "", "a checkpoint of seq 42, signed by the vectors' key (signer_key re-signs it)", good)
	accepted.SignerKey, accepted.Checkpoint = vecSignerKey, vc(cp)
	genesis := v("checkpoint-genesis", "accept", "", "the genesis checkpoint: seq 0, offset -1", note(gcp))
	genesis.Checkpoint = vc(gcp)
	return []Vector{
		accepted, genesis,
		v("reject-checkpoint-other-key", "reject", "section 7.2", "signed by another key under the same name", string(forged)),
		v("reject-checkpoint-edited", "reject", "section 7.2", "seq changed after signing", strings.Replace(good, "seq 42", "seq 43", 1)),
		v("reject-checkpoint-forged-signature", "reject", "section 7.2", "the trusted key's name and key hash, but the signature made by another key", forgedSignature(t, good, other)),
		v("reject-checkpoint-two-signatures", "reject", "section 7.2: exactly one signature line", "the signature line twice", good+sigLine),
		v("reject-checkpoint-time-offset", "reject", "section 2.2", "time with +00:00 (signed)", sign(strings.Replace(body, "time 2026-11-27T09:30:00.123456Z", "time 2026-11-27T09:30:00.123456+00:00", 1))),
		v("reject-checkpoint-time-trailing-zero", "reject", "section 7.2", "a fraction with a trailing zero (signed)", sign(strings.Replace(body, ".123456Z", ".1234560Z", 1))),
		v("reject-checkpoint-leading-zero", "reject", "section 7.2", "seq 042 (signed)", sign(strings.Replace(body, "seq 42", "seq 042", 1))),
		v("reject-checkpoint-genesis-offset", "reject", "section 7.2", "offset -1 at seq 42 (signed)", sign(strings.Replace(body, "offset 41", "offset -1", 1))),
		v("reject-checkpoint-no-offset", "reject", "section 7.2", "without the offset line (signed)", sign(strings.Replace(body, "offset 41\n", "", 1))),
		v("reject-checkpoint-no-root", "reject", "section 7.2", "without the root line (signed)", sign(strings.Replace(body, "root "+cp.Root.String()+"\n", "", 1))),
		v("reject-checkpoint-chain-id", "reject", "section 2.1", "chain id with a space (signed)", sign(strings.Replace(body, "chain prod", "chain pr od", 1))),
		v("reject-checkpoint-object-space", "reject", "section 7.2", "an object key with a space (signed)", sign(strings.Replace(body, "object audit/", "object my audit/", 1))),
		v("reject-checkpoint-control-char", "reject", "section 7.2", "a control character U+0001 in the object key (signed)", sign(strings.Replace(body, "object audit/", "object audit/\x01", 1))),
		v("reject-checkpoint-signature-padding", "reject", "section 7.2: canonical base64", "the signature without padding",
			strings.TrimSuffix(strings.TrimRight(strings.TrimSuffix(good, "\n"), "="), "")+"\n"),
	}
}

// forgedSignature keeps msg's signature line prefix (name and key hash)
// and puts other's signature of the text after it.
func forgedSignature(t *testing.T, msg string, other interface{ Sign([]byte) ([]byte, error) }) string {
	t.Helper()
	i := strings.Index(msg, "\n\n")
	text, line := msg[:i+1], strings.TrimSuffix(msg[i+2:], "\n")
	fields := strings.Fields(line)
	raw, err := base64.StdEncoding.DecodeString(fields[2])
	if err != nil {
		t.Fatal(err)
	}
	sig, err := other.Sign([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	raw = append(raw[:4], sig...)
	return text + "\n" + fields[0] + " " + fields[1] + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
}

// signText signs any text as a checkpoint note would be signed.
func signText(text string, signer interface {
	Name() string
	KeyHash() uint32
	Sign([]byte) ([]byte, error)
}) ([]byte, error) {
	sig, err := signer.Sign([]byte(text))
	if err != nil {
		return nil, err
	}
	raw := append([]byte{byte(signer.KeyHash() >> 24), byte(signer.KeyHash() >> 16), byte(signer.KeyHash() >> 8), byte(signer.KeyHash())}, sig...)
	return []byte(text + "\n" + sigPrefix + signer.Name() + " " + base64.StdEncoding.EncodeToString(raw) + "\n"), nil
}

func mustHash(t testing.TB, s string) Hash {
	t.Helper()
	h, err := ParseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func batchKeyVectors() []Vector {
	v := func(n, desc string, seq uint64, ts string, key string) Vector {
		return Vector{Name: n, Kind: "batch-key", Expect: "accept", Description: desc, Prefix: "audit", Chain: "prod", Seq: u64(seq), Timestamp: ts, Key: key}
	}
	return []Vector{
		v("batch-key", "the UTC date of the first entry's Kafka timestamp, the first seq in 20 digits", 1001, "2026-11-27T23:59:59.999Z",
			"audit/year=2026/month=11/day=27/env=prod/00000000000000001001.jsonl"),
		v("batch-key-leap-day", "a leap day", 7, "2028-02-29T00:00:00Z", "audit/year=2028/month=02/day=29/env=prod/00000000000000000007.jsonl"),
		v("batch-key-before-1970", "a Kafka timestamp of -1 ms (no timestamp) files under 1969-12-31", 3, "1969-12-31T23:59:59.999Z",
			"audit/year=1969/month=12/day=31/env=prod/00000000000000000003.jsonl"),
		v("batch-key-year-0", "the earliest timestamp an entry can hold", 5, "0000-01-01T00:00:00Z", "audit/year=0000/month=01/day=01/env=prod/00000000000000000005.jsonl"),
		v("batch-key-year-9999", "the latest (a clamped year-10000 timestamp)", 9, "9999-12-31T23:59:59.999Z", "audit/year=9999/month=12/day=31/env=prod/00000000000000000009.jsonl"),
	}
}

// vectorFiles builds every vector.
func vectorFiles(t *testing.T) []Vector {
	var out []Vector
	for i, in := range vectorInputs {
		out = append(out, buildEntryVector(t, in, uint64(i)*7))
	}
	out = append(out, lineVectors(t)...)
	out = append(out, keyVectors()...)
	out = append(out, checkpointVectors(t)...)
	out = append(out, batchKeyVectors()...)
	out = append(out, logVectors(t)...)
	out = append(out, rotationVectors(t)...)
	out = append(out, prunedVectors(t)...)
	out = append(out, keysetVectors()...)
	out = append(out, keyLineVectors(t)...)
	out = append(out, proofVectors(t)...)
	return out
}

func TestVectors(t *testing.T) {
	want := vectorFiles(t)
	if *update {
		old, _ := filepath.Glob(filepath.Join(vectorDir, "*.json"))
		for _, p := range old {
			os.Remove(p)
		}
		for _, v := range want {
			b, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(vectorDir, v.Name+".json"), append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := LoadVectors(vectorDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Fatalf("%d vector files, the generator makes %d (run go test ./shared -run TestVectors -update)", len(files), len(want))
	}
	for _, v := range files {
		t.Run(v.Name, func(t *testing.T) {
			i := indexOf(want, v.Name)
			if i < 0 {
				t.Fatalf("the generator has no vector %s", v.Name)
			}
			g := want[i]
			if v.Kind == "entry" || v.Kind == "batch-key" || v.Kind == "verifier-key" {
				gb, _ := json.Marshal(g)
				vb, _ := json.Marshal(v)
				if !bytes.Equal(gb, vb) {
					t.Fatalf("the implementation no longer produces the vector:\n got  %s\n want %s", gb, vb)
				}
			}
			if err := CheckVector(v); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func indexOf(vs []Vector, name string) int {
	for i, v := range vs {
		if v.Name == name {
			return i
		}
	}
	return -1
}

// LoadVectors reads every vector file of dir, sorted by name.
func LoadVectors(dir string) ([]Vector, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Vector
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var v Vector
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// trust is the keyset a vector trusts: its keyset (a file's text), else
// its one key, which is the key's text exactly (nothing stripped, section
// 7.1).
func (v Vector) trust() (Keyset, error) {
	if v.Keyset != "" {
		return ParseKeyset(v.Keyset)
	}
	k, err := ParseVerifierKey(v.VerifierKey)
	if err != nil {
		return Keyset{}, err
	}
	return SingleKeyset(k), nil
}

// CheckVector checks one vector of any kind but log (the replayer's tests
// check those) against this implementation.
func CheckVector(v Vector) error {
	verdict := func(err error) error {
		switch {
		case v.Expect == "accept" && err != nil:
			return fmt.Errorf("refused, want accepted: %v", err)
		case v.Expect == "reject" && err == nil:
			return fmt.Errorf("accepted, want refused (%s)", v.Rule)
		}
		return nil
	}
	switch v.Kind {
	case "entry":
		prev, err := hex.DecodeString(v.Prev)
		if err != nil {
			return err
		}
		h := sha256.New()
		h.Write([]byte(EntryHashPrefix))
		h.Write(prev)
		h.Write([]byte(v.CanonicalBody))
		if hex.EncodeToString(h.Sum(nil)) != v.Hash {
			return fmt.Errorf("SHA-256(prefix || prev || canonical_body) != hash")
		}
		e, err := ParseLine([]byte(v.Line))
		if err != nil {
			return fmt.Errorf("ParseLine: %v", err)
		}
		if e.Hash.String() != v.Hash || e.Type != v.Type {
			return fmt.Errorf("parsed %s %s, want %s %s", e.Type, e.Hash, v.Type, v.Hash)
		}
		return nil
	case "line":
		_, err := ParseLine([]byte(v.Line))
		return verdict(err)
	case "verifier-key":
		_, err := ParseVerifierKey(v.VerifierKey)
		return verdict(err)
	case "keyset":
		_, err := ParseKeyset(v.Keyset)
		return verdict(err)
	case "checkpoint":
		ks, err := v.trust()
		if err != nil {
			return err
		}
		cp, err := ks.Open([]byte(v.Note))
		if err := verdict(err); err != nil || v.Expect == "reject" {
			return err
		}
		got := VectorCheckpnt{Chain: cp.Chain, Seq: cp.Seq, Hash: cp.Hash.String(), Offset: cp.Offset, Object: cp.Object, Root: cp.Root.String(), Time: FormatTime(cp.Time)}
		if got != *v.Checkpoint {
			return fmt.Errorf("parsed %+v, want %+v", got, *v.Checkpoint)
		}
		return nil
	case "batch-key":
		ts, err := ParseTime(v.Timestamp)
		if err != nil {
			return err
		}
		e := &Entry{Type: EntryEvent, Chain: v.Chain, Seq: *v.Seq, Source: &Source{Timestamp: ts}}
		if got := BatchKey(v.Prefix, e); got != v.Key {
			return fmt.Errorf("key %s, want %s", got, v.Key)
		}
		return nil
	case "proof":
		ks, err := v.trust()
		if err != nil {
			return err
		}
		rep, err := VerifyBundle([]byte(v.Bundle), ks)
		if err := verdict(err); err != nil || v.Expect == "reject" {
			return err
		}
		if rep.DecisionID != v.DecisionID || string(rep.Action) != v.Action || string(rep.CurrentAction) != v.CurrentAction {
			return fmt.Errorf("proves %s %s now %s, want %s %s now %s", rep.DecisionID, rep.Action, rep.CurrentAction, v.DecisionID, v.Action, v.CurrentAction)
		}
		if v.Retired != nil {
			retired := []string{}
			for _, pe := range rep.Entries {
				if pe.Retired && !slices.Contains(retired, pe.KeyID) {
					retired = append(retired, pe.KeyID)
				}
			}
			if slices.Sort(retired); !slices.Equal(retired, *v.Retired) {
				return fmt.Errorf("reports the retired keys %v, want %v", retired, *v.Retired)
			}
		}
		return nil
	case "log":
		return nil
	}
	return fmt.Errorf("unknown vector kind %q", v.Kind)
}
