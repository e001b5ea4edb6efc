package gctune

import (
	"runtime/debug"
	"testing"
)

// percent reads the GC percent (setting it back at once).
func percent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestSetChangesThePercentAndRestoresIt(t *testing.T) {
	t.Setenv("GOGC", "")
	before := percent()
	restore := Set(before + 300)
	if got := percent(); got != before+300 {
		t.Fatalf("GC percent %d after Set(%d)", got, before+300)
	}
	restore()
	if got := percent(); got != before {
		t.Fatalf("GC percent %d after restore, want %d", got, before)
	}
}

func TestSetLeavesTheOperatorsGOGC(t *testing.T) {
	t.Setenv("GOGC", "150")
	before := percent()
	defer Set(before + 300)()
	if got := percent(); got != before {
		t.Fatalf("GOGC is set, yet Set changed the GC percent from %d to %d", before, got)
	}
}
