package replayer_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The log cases an engineer wrote from FORMAT.md alone (testdata/
// independent/README.md) get the verdict and report they reached from
// Verify, the code behind aegis verify.
func TestIndependentCases(t *testing.T) {
	paths, err := filepath.Glob("../testdata/independent/*.json")
	if err != nil || len(paths) < 100 {
		t.Fatalf("%d independent cases: %v", len(paths), err)
	}
	n := 0
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var v logVector
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if v.Kind != "log" {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) { checkLogVector(t, v) })
	}
	if n < 50 {
		t.Fatalf("only %d log cases", n)
	}
}
