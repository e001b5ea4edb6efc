// Package gctune sets the garbage collector of a command whose work
// allocates much and keeps little (a batch's buffers, an object's bytes),
// unless the operator chose with GOGC.
package gctune

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Sealer is the sealer's GC percent. Nearly everything the sealer
// allocates is a batch's buffers, garbage once the batch is committed:
// collecting half as often cut its CPU by about 8% for 33 MiB more peak
// memory (109 against 76 MiB sealing 500,000 decisions, `make bench
// BENCH=seal_throughput,sealer_rss` with GOGC=200 and 100).
const Sealer = 200

// Verifier is aegis verify's GC percent. The verifier keeps only the
// objects in flight and allocates each one's bytes and entries again:
// at the default 100 the collector took about a tenth of its CPU (8.4
// against 7.5 µs an entry, peak 62 against 120 MiB at 300,000 entries:
// `GOGC=100` and `GOGC=400 go run ./internal/testbed/cmd/bench -bench
// verify_throughput,verify_rss -verify-entries 300000`).
const Verifier = 400

// Set makes percent the GC percent unless the environment sets GOGC, and
// returns a function that puts back the one before. Unless GOMEMLIMIT is
// set, it also gives the collector a soft limit of nine tenths of the
// container's memory limit (cgroup v2 or v1), if there is one: at GOGC 200
// the heap may grow to three times what is live before a collection, and
// a burst of large records (an attack helper's batches just under the
// decompression bounds: up to 543 MiB more heap at GOGC 100) would take a pod
// limited to 1 GiB past it, where the collector could have kept it under.
func Set(percent int) (restore func()) {
	restoreLimit := func() {}
	if os.Getenv("GOMEMLIMIT") == "" {
		if limit, ok := containerLimit(cgroupFiles); ok {
			old := debug.SetMemoryLimit(limit - limit/10)
			restoreLimit = func() { debug.SetMemoryLimit(old) }
		}
	}
	if os.Getenv("GOGC") != "" {
		return restoreLimit
	}
	old := debug.SetGCPercent(percent)
	return func() { debug.SetGCPercent(old); restoreLimit() }
}

// cgroupFiles hold the container's memory limit: cgroup v2's, then v1's.
var cgroupFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// containerLimit reads the first of files that holds a memory limit in
// bytes ("max", and v1's near-2^63 "unlimited", are none).
func containerLimit(files []string) (int64, bool) {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}
