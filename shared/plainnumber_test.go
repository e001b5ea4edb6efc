package shared

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// plainNumberCases are literals at every edge of plainNumber's rule, each
// with whether it must take the shortcut.
var plainNumberCases = []struct {
	lit   string
	plain bool
}{
	{"0", true}, {"-0", false}, {"0.0", false}, {"-0.0", false}, {"00", false},
	{"1", true}, {"-1", true}, {"10", true}, {"1200", true}, {"01", false},
	{"129.95", true}, {"-129.95", true}, {"0.92", true}, {"1.5", true}, {"1.50", false}, {"1.", false}, {".5", false},
	{"123456789012345", true}, {"1234567890123456", false}, {"999999999999999", true}, {"9007199254740991", false},
	{"12345678901234.5", true}, {"12345678901234.56", false}, {"0.123456789012345", true}, {"0.1234567890123456", false},
	{"0.000001", true}, {"0.0000001", false}, {"0.00000123456789012345", true}, {"0.000001234567890123456", false}, {"0.0000012345678901", true},
	{"1e5", false}, {"1E5", false}, {"1.5e-7", false}, {"0.30000000000000004", false}, {"0.1", true}, {"0.3", true},
	{"-", false}, {"", false}, {"--1", false}, {"1-", false}, {"1.2.3", false}, {"1a", false},
}

func TestPlainNumberIsCanonical(t *testing.T) {
	for _, c := range plainNumberCases {
		if got := plainNumber(c.lit); got != c.plain {
			t.Errorf("plainNumber(%q) = %v, want %v", c.lit, got, c.plain)
		}
		checkPlainNumber(t, c.lit)
	}
	// Random plain decimals of every length and scale the rule admits and
	// just beyond: each one it admits must be its own canonical text.
	rng := rand.New(rand.NewPCG(1, 2))
	admitted := 0
	for range 200_000 {
		lit := randomDecimal(rng)
		checkPlainNumber(t, lit)
		if plainNumber(lit) {
			admitted++
		}
	}
	if admitted < 50_000 {
		t.Errorf("only %d of 200000 random decimals took the shortcut: the test no longer exercises it", admitted)
	}
}

// checkPlainNumber fails when plainNumber admits a literal whose canonical
// text is not the literal itself.
func checkPlainNumber(t *testing.T, lit string) {
	t.Helper()
	if !plainNumber(lit) {
		return
	}
	canon, err := canonicalNumber(lit, false)
	if err != nil || canon != lit {
		t.Errorf("plainNumber(%q) is true, but its canonical text is %q (%v)", lit, canon, err)
	}
}

func randomDecimal(rng *rand.Rand) string {
	digits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		return b.String()
	}
	var lit string
	switch rng.IntN(3) {
	case 0: // an integer
		lit = digits(1 + rng.IntN(17))
	case 1: // integer part and fraction
		lit = digits(1+rng.IntN(16)) + "." + digits(1+rng.IntN(17))
	default: // below 1, after up to 8 zeros
		lit = "0." + strings.Repeat("0", rng.IntN(9)) + digits(1+rng.IntN(17))
	}
	if rng.IntN(2) == 0 {
		lit = "-" + lit
	}
	return lit
}

func FuzzPlainNumber(f *testing.F) {
	for _, c := range plainNumberCases {
		f.Add(c.lit)
	}
	f.Fuzz(func(t *testing.T, lit string) { checkPlainNumber(t, lit) })
}
