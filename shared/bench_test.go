package shared

import (
	"encoding/json"
	"testing"
	"time"
)

func BenchmarkSealRecord(b *testing.B) {
	raw := []byte(vectorInputs[1].Input)
	head := Head{Chain: "prod", Seq: 1, Offset: 0}
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		e, err := SealRecord(head, *vecSource(1), raw, vecTime)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.Line(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLine(b *testing.B) {
	_, lines := testChain(b, 1)
	b.SetBytes(int64(len(lines[1])))
	for b.Loop() {
		if _, err := ParseLine(lines[1]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealCanonicalRecord seals a record as the producer library
// sends it: already canonical JSON.
func BenchmarkSealCanonicalRecord(b *testing.B) {
	raw, err := Canonicalize([]byte(vectorInputs[1].Input))
	if err != nil {
		b.Fatal(err)
	}
	head := Head{Chain: "prod", Seq: 1, Offset: 0}
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		e, err := SealRecord(head, *vecSource(1), raw, vecTime)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.Line(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnvelopeRecord is what the producer does per event: validate an
// envelope under the sealer's rules and write its canonical bytes.
func BenchmarkEnvelopeRecord(b *testing.B) {
	e := &Envelope{Type: TypeDecision, EventID: "6f1c2b1e-3a6d-4f7e-9d0c-1b2a3c4d5e6f", Environment: "prod",
		OccurredAt: time.Date(2026, 11, 29, 10, 0, 0, 123000000, time.UTC),
		Decision: &Decision{DecisionID: "dec-7f3a", Action: ActionAllow, ConfidenceScore: 0.92, PolicyVersion: "policy-2026.11",
			UserID: "user-42", SessionID: "sess-9", Metadata: json.RawMessage(`{"amount":129.95,"ip_country":"DE"}`)}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Record(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrepareSealNext is the sealer's own path for one record in
// canonical form: PrepareRecord (in parallel in the sealer), then SealNext
// (in order).
func BenchmarkPrepareSealNext(b *testing.B) {
	raw, err := Canonicalize([]byte(vectorInputs[1].Input))
	if err != nil {
		b.Fatal(err)
	}
	head := Head{Chain: "prod", Seq: 1, Offset: 0}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		e, err := PrepareRecord("prod", *vecSource(1), raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := head.SealNext(e, vecTime); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompleteRecord is what the HTTP ingest API does per body: a
// client's JSON, members in its own order and type, event_id and
// occurred_at left out, checked and completed into the canonical record.
// strict is the same body on the strict parser's tree.
func BenchmarkCompleteRecord(b *testing.B) {
	raw := []byte(completeSeeds[0])
	d := Defaults{Type: TypeDecision, EventID: "6f1c2b1e-3a6d-4f7e-9d0c-1b2a3c4d5e6f", OccurredAt: time.Date(2026, 11, 29, 10, 0, 0, 123000000, time.UTC)}
	for _, path := range []struct {
		name     string
		complete func([]byte, Defaults) (*Envelope, []byte, error)
	}{{"fast", CompleteRecord}, {"strict", completeStrict}} {
		b.Run(path.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := path.complete(raw, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// workloadRecord is a decision as the benchmarks' workload publishes it
// (internal/testbed/pipeline): canonical, about 400 bytes.
const workloadRecord = `{"decision":{"action":"ALLOW","confidence_score":0.599,"decision_id":"c-dec-000000","metadata":{"device":"dev-3888","ip_country":"BR","model":"login-risk-v7","signals":{"new_device":true,"velocity":17}},"policy_version":"policy-2026.11","session_id":"c-sess-00076-000","user_id":"user-00076"},"environment":"prod","event_id":"c-evt-000000","occurred_at":"2026-11-29T11:02:54.238799844Z","type":"decision"}`

// BenchmarkPrepareWorkloadRecord is the sealer's parallel stage for one
// record of the benchmarks' workload.
func BenchmarkPrepareWorkloadRecord(b *testing.B) {
	raw := []byte(workloadRecord)
	src := *vecSource(1)
	var slot EntrySlot
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		e, err := PrepareRecordInto(&slot, "prod", src, raw)
		if err != nil || !e.eventCanonical {
			b.Fatal(err, "or not the fast path")
		}
	}
}

// BenchmarkSealNextAppendWorkload is the sealer's sequential stage for one
// record of the benchmarks' workload: chain it and write its line.
func BenchmarkSealNextAppendWorkload(b *testing.B) {
	e, err := PrepareRecord("prod", *vecSource(1), []byte(workloadRecord))
	if err != nil {
		b.Fatal(err)
	}
	head := Head{Chain: "prod", Seq: 1, Offset: 0}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		c := *e
		if _, _, err := head.SealNextAppend(buf[:0], &c, vecTime); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseObject is the verifier's read of one object of 1,000
// lines.
func BenchmarkParseObject(b *testing.B) {
	_, lines := testChain(b, 1000)
	var body []byte
	for _, l := range lines[1:] {
		body = append(append(body, l...), '\n')
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseObject("k", 1, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckLines is the line rules of section 1 checked over an
// object of 1,000 lines before any is read (a part of ParseObject).
func BenchmarkCheckLines(b *testing.B) {
	_, lines := testChain(b, 1000)
	var body []byte
	for _, l := range lines[1:] {
		body = append(append(body, l...), '\n')
	}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := checkLines(body); err != nil {
			b.Fatal(err)
		}
	}
}
