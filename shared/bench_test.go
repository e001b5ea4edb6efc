package shared

import "testing"

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
