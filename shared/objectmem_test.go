package shared

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"testing"
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

// splitLinesBefore is SplitLines as it was written before checkLines: the
// reference the new one is held to.
func splitLinesBefore(body []byte) ([][]byte, error) {
	if len(body) == 0 {
		return nil, errors.New("empty object")
	}
	lines := bytes.Split(body, []byte("\n"))
	if last := lines[len(lines)-1]; len(last) > 0 {
		return nil, &LineError{Line: len(lines), Reason: "the object's last line does not end in a newline (truncated?)"}
	}
	lines = lines[:len(lines)-1]
	for i, l := range lines {
		if len(l) == 0 {
			return nil, &LineError{Line: i + 1, Reason: "empty line"}
		}
	}
	return lines, nil
}

// TestSplitLinesIsAsBefore: every body of up to 10 bytes of 'a' and
// newlines gets the lines, or the error (line and reason), it got before
// the rules were checked without splitting.
func TestSplitLinesIsAsBefore(t *testing.T) {
	for n := 0; n <= 10; n++ {
		for bits := 0; bits < 1<<n; bits++ {
			body := make([]byte, n)
			for i := range body {
				body[i] = "a\n"[bits>>i&1]
			}
			got, gerr := SplitLines(body)
			want, werr := splitLinesBefore(body)
			if fmt.Sprint(gerr) != fmt.Sprint(werr) || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
				t.Fatalf("%q: got %q %v, want %q %v", body, got, gerr, want, werr)
			}
		}
	}
}
