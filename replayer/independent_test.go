package replayer_test

import "testing"

// The log cases an engineer wrote from FORMAT.md alone (testdata/
// independent/README.md) get the verdict and report they reached from
// Verify, the code behind aegis verify.
func TestIndependentCases(t *testing.T) {
	vs := logVectors(t, "../testdata/independent/*.json")
	if len(vs) < 50 {
		t.Fatalf("only %d log cases", len(vs))
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) { checkLogVector(t, v) })
	}
}
