package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aegisai/audit/replayer"
)

// A rebuild or check whose scope holds keys written again says so, naming
// one, on top of what it read; one without says nothing of it.
func TestPrintRebuildWarnsOfKeysWrittenAgain(t *testing.T) {
	for _, n := range []int{0, 2} {
		var out bytes.Buffer
		printRebuild(&out, "prod", false, replayer.RebuildReport{Entries: 10, Objects: 1, Rewritten: n, FirstRewritten: "audit/k.jsonl"})
		warned := strings.Contains(out.String(), "warning: 2 sealed keys of the scope were written again or deleted (a delete marker) after they were sealed (first: audit/k.jsonl)")
		if warned != (n > 0) || !strings.Contains(out.String(), "rebuilt chain prod") {
			t.Fatalf("%d keys written again: %q", n, out.String())
		}
	}
}
