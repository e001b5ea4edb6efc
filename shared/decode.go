package shared

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"time"
)

// This file holds the strict readers of parsed JSON used for entries and
// events: member names match exactly (no case folding), every object has
// exactly the members docs/FORMAT.md lists, and every value has its type.

// objectFields checks that v is an object whose members are all named in
// required or optional and that every required one is present.
func objectFields(v *jsonValue, path string, required, optional []string) error {
	if v.kind != jsonObject {
		return fieldErr(path, "is %s, want an object", v.kind)
	}
	for _, m := range v.members {
		if !contains(required, m.name) && !contains(optional, m.name) {
			return fieldErr(join(path, m.name), "is not a member of %s", orTop(path))
		}
	}
	for _, name := range required {
		if _, ok := v.member(name); !ok {
			return fieldErr(join(path, name), "is required")
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func orTop(path string) string {
	if path == "" {
		return "the top-level object"
	}
	return path
}

// getString returns the string member name of the object v.
func getString(v *jsonValue, path, name string) (string, error) {
	m, ok := v.member(name)
	if !ok {
		return "", fieldErr(join(path, name), "is required")
	}
	if m.kind != jsonString {
		return "", fieldErr(join(path, name), "is %s, want a string", m.kind)
	}
	return m.text, nil
}

// getInt returns the integer member name of v, which must be written as an
// integer (no fraction or exponent) within [lo, hi].
func getInt(v *jsonValue, path, name string, lo, hi int64) (int64, error) {
	m, ok := v.member(name)
	if !ok {
		return 0, fieldErr(join(path, name), "is required")
	}
	if m.kind != jsonNumber {
		return 0, fieldErr(join(path, name), "is %s, want an integer", m.kind)
	}
	n, err := strconv.ParseInt(m.text, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fieldErr(join(path, name), "is %s, want an integer in [%d, %d]", m.text, lo, hi)
	}
	return n, nil
}

// getTime returns the timestamp member name of v (see ParseTime).
func getTime(v *jsonValue, path, name string) (time.Time, error) {
	s, err := getString(v, path, name)
	if err != nil {
		return time.Time{}, err
	}
	t, err := ParseTime(s)
	if err != nil {
		return time.Time{}, fieldErr(join(path, name), "%v", err)
	}
	return t, nil
}

// getHash returns the 64-lowercase-hex member name of v.
func getHash(v *jsonValue, path, name string) (Hash, error) {
	s, err := getString(v, path, name)
	if err != nil {
		return Hash{}, err
	}
	h, err := ParseHash(s)
	if err != nil {
		return Hash{}, fieldErr(join(path, name), "%v", err)
	}
	return h, nil
}

// ParseTime reads a timestamp as every time in an entry, an event and a
// checkpoint is written: YYYY-MM-DDTHH:MM:SS, an optional fraction of 1 to
// 9 digits, and "Z" (UTC; "+00:00" and lower-case letters are refused),
// years 0000 to 9999, a valid calendar date and no leap second.
//
// Its fields are at fixed places: each digit is one table look-up, the
// date's validity is the month's length, and the time is built from its
// day number (civilDays) without time.Date's normalising and a reread of
// the day (three times in a sealed line were a tenth of the verifier's
// time to read it). TestParseTimeIsReference holds it to the plain
// reading with time.Date, error for error.
func ParseTime(s string) (time.Time, error) {
	if len(s) < 20 || s[len(s)-1] != 'Z' {
		return time.Time{}, badTime(s, timeFormMsg)
	}
	_ = s[19]
	var bad byte // the OR of every digit's value: above 0x0f for a non-digit
	two := func(i int) int {
		hi, lo := decimalDigit[s[i]], decimalDigit[s[i+1]]
		bad |= hi | lo
		return int(hi)*10 + int(lo)
	}
	year := two(0)*100 + two(2)
	month, day, hour, minute, sec := two(5), two(8), two(11), two(14), two(17)
	if bad > 0x0f || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, badTime(s, timeFormMsg)
	}
	nanos := 0
	if frac := s[19 : len(s)-1]; frac != "" {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, badTime(s, timeFractionMsg)
		}
		for i := 1; i < len(frac); i++ {
			d := decimalDigit[frac[i]]
			bad |= d
			nanos = nanos*10 + int(d)
		}
		if bad > 0x0f {
			return time.Time{}, badTime(s, timeFractionMsg)
		}
		nanos *= pow10[10-len(frac)]
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 || day > daysIn(year, month) {
		return time.Time{}, badTime(s, timeInvalidMsg)
	}
	unix := civilDays(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	return time.Unix(unix, int64(nanos)).UTC(), nil
}

// ParseTime's messages, after the timestamp.
const (
	timeFormMsg     = "want YYYY-MM-DDTHH:MM:SS[.fraction]Z in UTC"
	timeFractionMsg = "the fraction of a second must be '.' and 1 to 9 digits"
	timeInvalidMsg  = "not a valid UTC date and time"
)

func badTime(s, why string) error { return fmt.Errorf("timestamp %q: %s", clip(s), why) }

// decimalDigit is the value of a decimal digit, 0xff for any other byte.
var decimalDigit = func() (t [256]byte) {
	for c := range t {
		t[c] = 0xff
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c - '0'
	}
	return t
}()

// pow10 is 10^i for the scaling of a fraction of a second.
var pow10 = [...]int{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// daysIn is the length of month (1 to 12) of year in the proleptic
// Gregorian calendar, which time.Date uses (year 0 is a leap year).
func daysIn(year, month int) int {
	if month == 2 {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 30 + (month+month>>3)&1 // 31 in January, March, May, July, August, October, December
}

// civilDays is the number of days from 1970-01-01 to year-month-day, a
// valid date of years 0 to 9999 in the proleptic Gregorian calendar (the
// days-from-civil algorithm: years start in March, so that February's
// length ends them).
func civilDays(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400                                    // [0, 399]
	doy := (153*int64((month+9)%12)+2)/5 + int64(day) - 1 // [0, 365]
	doe := yoe*365 + yoe/4 - yoe/100 + doy                // [0, 146096]
	return era*146097 + doe - 719468
}

// FormatTime is how the sealer writes every time: ParseTime's form with the
// fraction's trailing zeros removed (Go's time.RFC3339Nano in UTC).
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Earliest and Latest are the bounds of a timestamp in an entry (years 0000
// to 9999).
var (
	EarliestTime = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	LatestTime   = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// ValidIdentifier reports whether s may be a chain id or a checkpoint key
// name: 1 to 128 characters from A-Z a-z 0-9 '.' '_' '-', starting with a
// letter or digit. Such names fit S3 keys and checkpoint lines unquoted.
func ValidIdentifier(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// checkIdentifier is ValidIdentifier as a field error.
func checkIdentifier(field, s string) error {
	if !ValidIdentifier(s) {
		return fieldErr(field, "%q is not 1 to 128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit", clip(s))
	}
	return nil
}

// decodeBase64 reads standard base64 with padding in its one canonical
// form: re-encoding the bytes gives the same text.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(b) != s {
		return nil, fmt.Errorf("not canonical standard base64 with padding")
	}
	return b, nil
}

// validTopic reports a Kafka topic name: 1 to 249 characters from A-Z a-z
// 0-9 '.' '_' '-'.
func validTopic(s string) bool {
	if len(s) == 0 || len(s) > 249 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
