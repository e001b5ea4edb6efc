package shared

import (
	"errors"
	"runtime"
	"testing"
)

// A hostile bundle (a file an auditor is handed: `aegis verify-proof`
// reads it whole) of one JSON text holding millions of small values is
// refused for a small multiple of its size: the parser once kept 96 bytes
// and more for each value before the bundle's members were looked at,
// 60 to 290 times the file (1.2 GB for 4 MiB). Every value of a bundle
// that verifies takes dozens of bytes (each entry holds a sealed line, a
// signed checkpoint and hashes of 64 hex).
func TestVerifyBundleOfTinyValuesAllocatesLittle(t *testing.T) {
	trusted := SingleKeyset(vecVerifier(t))
	for name, l := range hugeLines(4 << 20) {
		raw := append(l, '\n')
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := VerifyBundle(raw, trusted)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrBadBundle) {
			t.Fatalf("%s: %v, want ErrBadBundle", name, err)
		}
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(32*len(raw)); got > limit {
			t.Errorf("%s: VerifyBundle allocated %d bytes for a %d-byte bundle (limit %d)", name, got, len(raw), limit)
		} else {
			t.Logf("%s: VerifyBundle allocated %d bytes for a %d-byte bundle: %v", name, got, len(raw), err)
		}
	}
}
