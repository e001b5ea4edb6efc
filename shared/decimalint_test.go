package shared

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// parseDecimalInt is strconv.ParseInt in base 10, value and error, on
// literals of every length up to 22 around int64's bounds and with any
// byte a number can hold in any place.
func TestParseDecimalIntIsParseInt(t *testing.T) {
	check := func(lit string) {
		t.Helper()
		got, err := parseDecimalInt(lit)
		want, werr := strconv.ParseInt(lit, 10, 64)
		if got != want || fmt.Sprint(err) != fmt.Sprint(werr) {
			t.Fatalf("%q: parseDecimalInt %d (%v), ParseInt %d (%v)", lit, got, err, want, werr)
		}
	}
	for _, lit := range []string{"", "-", "+", "0", "-0", "+0", "00", "-00", "1", "-1", "+1", "007", "9", "10",
		"999999999999999", "1000000000000000", "999999999999999999", "-999999999999999999", "1000000000000000000",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
		"99999999999999999999", "1_000", "1.5", "1e3", "--1", "-+1", "1-", " 1", "1 ", "0x10", "١"} {
		check(lit)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	const alphabet = "0123456789-+._e /:\x00\xff"
	for range 500000 {
		b := make([]byte, rng.IntN(23))
		for i := range b {
			if rng.IntN(8) == 0 {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[i] = byte('0' + rng.IntN(10))
			}
		}
		check(string(b))
	}
}
