// Package gctune sets the garbage collector of a command whose work
// allocates much and keeps little (a batch's buffers, an object's bytes),
// unless the operator chose with GOGC.
package gctune

import (
	"os"
	"runtime/debug"
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
// returns a function that puts back the one before.
func Set(percent int) (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(percent)
	return func() { debug.SetGCPercent(old) }
}
