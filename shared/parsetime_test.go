package shared

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// parseTimeReference is ParseTime as it was first written: digits read in
// a loop, the time built by time.Date and the date refused when time.Date
// had to normalise it. ParseTime is held to it.
func parseTimeReference(s string) (time.Time, error) {
	bad := func(why string) (time.Time, error) {
		return time.Time{}, fmt.Errorf("timestamp %q: %s", clip(s), why)
	}
	if len(s) < 20 || s[len(s)-1] != 'Z' {
		return bad("want YYYY-MM-DDTHH:MM:SS[.fraction]Z in UTC")
	}
	digits := func(from, to int) (int, bool) {
		n := 0
		for _, c := range []byte(s[from:to]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := digits(0, 4)
	month, ok2 := digits(5, 7)
	day, ok3 := digits(8, 10)
	hour, ok4 := digits(11, 13)
	minute, ok5 := digits(14, 16)
	sec, ok6 := digits(17, 19)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return bad("want YYYY-MM-DDTHH:MM:SS[.fraction]Z in UTC")
	}
	nanos := 0
	if frac := s[19 : len(s)-1]; frac != "" {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return bad("the fraction of a second must be '.' and 1 to 9 digits")
		}
		n, ok := digits(20, len(s)-1)
		if !ok {
			return bad("the fraction of a second must be '.' and 1 to 9 digits")
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nanos = n
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return bad("not a valid UTC date and time")
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nanos, time.UTC)
	if t.Day() != day {
		return bad("not a valid UTC date and time")
	}
	return t, nil
}

// checkParseTime fails t when ParseTime and the reference differ on s:
// the time (its representation too, as reflect.DeepEqual sees an entry)
// or the error's text.
func checkParseTime(t *testing.T, s string) {
	t.Helper()
	got, err := ParseTime(s)
	want, werr := parseTimeReference(s)
	if fmt.Sprint(err) != fmt.Sprint(werr) || got != want || !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: ParseTime %v (%v), reference %v (%v)", s, got, err, want, werr)
	}
}

// Every day of the years whose Februaries differ (0, 4, 100, 400, 1900,
// 2000, ...) and of random years, every day number 0 to 99 of every month
// number 0 to 99, the fields' bounds, fractions of every length, and
// random bytes and edits of valid times.
func TestParseTimeIsReference(t *testing.T) {
	years := []int{0, 1, 3, 4, 96, 99, 100, 101, 200, 300, 399, 400, 401, 1582, 1600, 1700, 1800, 1899, 1900, 1969, 1970, 1971,
		1999, 2000, 2001, 2024, 2026, 2100, 2400, 9600, 9996, 9999}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		years = append(years, rng.IntN(10000))
	}
	for _, y := range years {
		for m := 0; m <= 13; m++ {
			for d := 0; d <= 32; d++ {
				checkParseTime(t, fmt.Sprintf("%04d-%02d-%02dT00:00:00Z", y, m, d))
				checkParseTime(t, fmt.Sprintf("%04d-%02d-%02dT23:59:59.999999999Z", y, m, d))
			}
		}
	}
	for m := 0; m <= 99; m++ {
		for d := 0; d <= 99; d++ {
			checkParseTime(t, fmt.Sprintf("2024-%02d-%02dT12:30:45Z", m, d))
			checkParseTime(t, fmt.Sprintf("2023-%02d-%02dT12:30:45Z", m, d))
		}
	}
	for h := 0; h <= 99; h++ {
		checkParseTime(t, fmt.Sprintf("2026-11-30T%02d:%02d:%02dZ", h, h, h))
		checkParseTime(t, fmt.Sprintf("2026-11-30T00:00:%02dZ", h))
		checkParseTime(t, fmt.Sprintf("2026-11-30T00:%02d:00Z", h))
	}
	for _, f := range []string{"", ".", ".0", ".5", ".000000001", ".123456789", ".1234567890", ".12345678", "0", "..5", ".5.", ".-1", ".+1", ". ", ".a", ".12345678a"} {
		checkParseTime(t, "2026-11-30T09:30:00"+f+"Z")
		checkParseTime(t, "0000-01-01T00:00:00"+f+"Z")
		checkParseTime(t, "9999-12-31T23:59:59"+f+"Z")
	}
	const alphabet = "0123456789-:TZ.z +/ \xff\x00a"
	valid := []string{"2026-11-27T09:30:00.123456Z", "0000-02-29T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2024-02-29T12:00:00.5Z"}
	for range 300000 {
		var b []byte
		if rng.IntN(2) == 0 {
			b = []byte(valid[rng.IntN(len(valid))])
			for range 1 + rng.IntN(3) {
				switch i := rng.IntN(len(b) + 1); rng.IntN(3) {
				case 0:
					if i < len(b) {
						b[i] = alphabet[rng.IntN(len(alphabet))]
					}
				case 1:
					b = append(b[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
				default:
					if i < len(b) {
						b = append(b[:i], b[i+1:]...)
					}
				}
			}
		} else {
			b = make([]byte, rng.IntN(34))
			for i := range b {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		checkParseTime(t, string(b))
	}
}

// FuzzParseTime holds ParseTime to the reference on any text.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-27T09:30:00.123456Z", "0000-02-29T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2023-02-29T00:00:00Z", "2026-04-31T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkParseTime(t, s) })
}
