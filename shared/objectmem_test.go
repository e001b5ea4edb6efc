package shared

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// A hostile object of many tiny lines (S3 holds whatever was put under
// the prefix, and the verifier reads objects of up to 64 MiB) is refused
// at its first line without allocating room for an entry per line first:
// ParseObject once made one slot of 312 bytes for every line before
// reading any, about 160 bytes a byte of such an object (10 GiB for
// 64 MiB of "x\n"). What it allocates stays within a small multiple of
// the object (the lines' slice headers, the entry pointers and the
// object's text are the rest).
func TestParseObjectOfTinyLinesAllocatesLittle(t *testing.T) {
	body := bytes.Repeat([]byte("x\n"), 1<<19) // 1 MiB, 524,288 lines
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, err := ParseObject("k", 1, body)
	runtime.ReadMemStats(&after)
	var f *Failure
	if !errors.As(err, &f) || f.Line != 1 {
		t.Fatalf("want a failure at line 1, got %v", err)
	}
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(32*len(body)); got > limit {
		t.Fatalf("ParseObject allocated %d bytes for a %d-byte object refused at line 1 (limit %d)", got, len(body), limit)
	} else {
		t.Logf("ParseObject allocated %d bytes for a %d-byte object refused at line 1", got, len(body))
	}
}

// splitLinesPlain is section 1 written the plain way, the reference
// SplitLines is held to: split at every "\n", then each line in order
// against each rule, as the Python checker's split_lines does.
func splitLinesPlain(body []byte) ([][]byte, error) {
	if len(body) == 0 {
		return nil, errors.New("empty object")
	}
	lines := bytes.Split(body, []byte("\n"))
	last := lines[len(lines)-1]
	if len(last) == 0 {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		fail := func(reason string) ([][]byte, error) { return nil, &LineError{Line: i + 1, Reason: reason} }
		switch {
		case i == 0 && bytes.HasPrefix(l, []byte("\xef\xbb\xbf")):
			return fail("the object starts with a byte order mark")
		case len(l) == 0:
			return fail("empty line")
		case bytes.IndexByte(l, '\r') >= 0:
			return fail("the line holds a CR (\\r)")
		case !utf8.Valid(l):
			at := 0
			for r, size := utf8.DecodeRune(l); r != utf8.RuneError || size != 1; r, size = utf8.DecodeRune(l[at:]) {
				at += size
			}
			return fail(fmt.Sprintf("not UTF-8 (byte %d of the line)", at))
		case len(last) > 0 && i == len(lines)-1:
			return fail("the object's last line does not end in a newline (truncated?)")
		}
	}
	return lines, nil
}

// TestSplitLinesIsSplitLineByLine: every body of up to 7 bytes of 'a',
// newline, CR and bytes that are not UTF-8 alone (0xff, and 0xef that
// starts a BOM or an incomplete sequence), and every such body after a
// BOM, gets the lines, or the error (line and reason), of splitting it
// and checking each line in order.
func TestSplitLinesIsSplitLineByLine(t *testing.T) {
	alphabet := []byte("a\n\r\xff\xef")
	var body []byte
	var walk func(n int)
	walk = func(n int) {
		for _, b := range [][]byte{body, append([]byte("\xef\xbb\xbf"), body...)} {
			got, gerr := SplitLines(b)
			want, werr := splitLinesPlain(b)
			if fmt.Sprint(gerr) != fmt.Sprint(werr) || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
				t.Fatalf("%q: got %q %v, want %q %v", b, got, gerr, want, werr)
			}
		}
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			body = append(body, c)
			walk(n - 1)
			body = body[:len(body)-1]
		}
	}
	walk(7)
}

// hugeLines are lines of about n bytes that hold as many JSON values as
// their bytes allow, each shape of value the parser keeps: an array of
// numbers, an array of empty objects, an object of members with sorted
// names, and those members where metadata would be.
func hugeLines(n int) map[string][]byte {
	sorted := func(prefix, suffix string) []byte {
		b := make([]byte, 0, n+len(suffix)+16)
		b = append(b, prefix...)
		for i := 10_000_000; len(b) < n; i++ { // names of 8 digits, sorted
			if len(b) > len(prefix) {
				b = append(b, ',')
			}
			b = append(strconv.AppendInt(append(b, '"'), int64(i), 10), `":0`...)
		}
		return append(b, suffix...)
	}
	return map[string][]byte{
		"array of numbers":       []byte(`{"a":[` + strings.Repeat("0,", n/2) + "0]}"),
		"array of empty objects": []byte(`{"a":[` + strings.Repeat("{},", n/3) + "{}]}"),
		"members":                sorted(`{`, `}`),
		"members in metadata":    sorted(`{"event":{"decision":{"metadata":{`, `}}}}`),
	}
}

// A hostile object of one huge line (a line has no length limit of its
// own: invalid.reason is any string) is refused at that line for about its
// size: the parser once kept 96 bytes and more for every value of the line
// before the entry's rules looked at any, 60 to 290 times the object
// (2.4 GB of memory and half a minute for a 16 MiB object, 10 GB for the
// 64 MiB the verifier reads). No sealed line that verifies holds more than
// a few dozen values besides its metadata, of at most MaxMetadataBytes, so
// reading stops there: what it costs is two copies of the object's text
// (the entries' strings, the parser's) and a bound that does not grow with
// the object.
func TestParseObjectOfAHugeLineAllocatesLittle(t *testing.T) {
	_, lines := testChain(t, 1)
	for _, size := range []int{4 << 20, 8 << 20} {
		for name, l := range hugeLines(size) {
			body := append(append(append(bytes.Clone(lines[1]), '\n'), l...), '\n')
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, _, err := ParseObject("k", 1, body)
			runtime.ReadMemStats(&after)
			var f *Failure
			if !errors.As(err, &f) || f.Line != 2 {
				t.Fatalf("%s: want a failure at line 2, got %v", name, err)
			}
			got, limit := after.TotalAlloc-before.TotalAlloc, uint64(2*len(body)+12<<20)
			if got > limit {
				t.Errorf("%s: ParseObject allocated %d bytes for a %d-byte object refused at line 2 (limit %d)", name, got, len(body), limit)
			} else {
				t.Logf("%s: ParseObject allocated %d bytes for a %d-byte object refused at line 2: %v", name, got, len(body), err)
			}
		}
	}
}

// The bound on a line's values refuses no line that verifies: an event
// whose metadata is as large as allowed, made of as many values as its
// bytes can hold, is sealed as an event, and read back by ParseLine and
// ParseObject alike.
func TestTheFullestLineIsRead(t *testing.T) {
	n := (MaxMetadataBytes - len(`{"a":[]}`) + 1) / 2
	for _, md := range []string{
		`{"a":[` + strings.Repeat("0,", n-1) + `0]}`,
		`{"a":[` + strings.Repeat("[],", (MaxMetadataBytes-len(`{"a":[]}`)+1)/3-1) + `[]]}`,
	} {
		raw := `{"type":"decision","event_id":"e","environment":"prod","occurred_at":"2026-11-27T09:00:00Z","decision":{"decision_id":"d","action":"ALLOW","confidence_score":0.5,"policy_version":"p","user_id":"u","session_id":"s","metadata":` + md + `}}`
		e, err := SealRecord(Head{Chain: "prod"}, Source{Topic: "t", Timestamp: vecTime}, []byte(raw), vecTime)
		if err != nil || e.Type != EntryEvent {
			t.Fatalf("metadata of %d bytes not sealed as an event: %v %+v", len(md), err, e.Invalid)
		}
		line, err := e.Line()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseLine(line); err != nil {
			t.Fatalf("metadata of %d bytes: %v", len(md), err)
		}
		if _, _, err := ParseObject("k", 1, append(line, '\n')); err != nil {
			t.Fatalf("metadata of %d bytes: %v", len(md), err)
		}
	}
}
