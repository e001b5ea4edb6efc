package gctune

import (
	"os"
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

// The container's memory limit, from cgroup v2 or v1, becomes a soft limit
// of nine tenths of it; no limit, or GOMEMLIMIT set, leaves the runtime's.
func TestSetLimitsMemoryToTheContainers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		files []string
		want  int64
		ok    bool
	}{
		{[]string{write("v2", "1073741824\n")}, 1 << 30, true},
		{[]string{dir + "/none", write("v1", "536870912\n")}, 512 << 20, true},
		{[]string{write("max", "max\n")}, 0, false},
		{[]string{write("v1max", "9223372036854771712\n")}, 0, false},
		{[]string{dir + "/none"}, 0, false},
	} {
		if got, ok := containerLimit(c.files); got != c.want || ok != c.ok {
			t.Errorf("%v: %d %v, want %d %v", c.files, got, ok, c.want, c.ok)
		}
	}
	saved := cgroupFiles
	defer func() { cgroupFiles = saved }()
	cgroupFiles = []string{write("limit", "1073741824\n")}
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	restore := Set(percent())
	if got := debug.SetMemoryLimit(-1); got != 1<<30-(1<<30)/10 {
		t.Fatalf("memory limit %d under a 1 GiB container", got)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("memory limit %d after restore, want %d", got, before)
	}
	t.Setenv("GOMEMLIMIT", "2GiB")
	restore = Set(percent())
	defer restore()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("GOMEMLIMIT set: memory limit %d, want the runtime's %d", got, before)
	}
}
