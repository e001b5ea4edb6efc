package shared

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// parseObjectByLines is ParseObject written the plain way, the reference
// it is held to: splitLinesPlain splits the whole object under section 1, then each line
// is read by the strict ParseLine, the failure named as ParseObject names it.
func parseObjectByLines(key string, firstSeq uint64, body []byte) ([]*Entry, [][]byte, error) {
	lines, err := splitLinesPlain(body)
	var le *LineError
	if errors.As(err, &le) {
		return nil, nil, &Failure{Key: key, Line: le.Line, Seq: firstSeq + uint64(le.Line-1), HasSeq: true,
			Reason: le.Reason + " (seq from the line's position)", Err: ErrBadEntry}
	}
	if err != nil {
		return nil, nil, &Failure{Key: key, Reason: err.Error(), Err: ErrBadEntry}
	}
	entries := make([]*Entry, len(lines))
	for i, l := range lines {
		if entries[i], err = ParseLine(l); err != nil {
			return nil, nil, &Failure{Key: key, Line: i + 1, Seq: firstSeq + uint64(i), HasSeq: true,
				Reason: err.Error() + " (seq from the line's position)", Err: err}
		}
	}
	return entries, lines, nil
}

// objectSeeds are bodies at every edge of the line rules, built from a
// sealed test chain: the edges of section 1 (CR, CRLF, empty lines, the
// last newline, BOM, invalid UTF-8, NUL, Unicode line separators) and
// objects of each entry type.
func objectSeeds(t testing.TB) [][]byte {
	_, lines := testChain(t, 4)
	n := len(lines)
	for i, in := range vectorInputs {
		v := buildEntryVector(t, in, uint64(i)*7)
		if strings.Contains(v.Line, `"type":"key"`) || strings.Contains(v.Line, `"type":"invalid"`) {
			lines = append(lines, []byte(v.Line))
		}
	}
	if len(lines) == n {
		t.Fatal("no entry vector gives a KEY or INVALID line")
	}
	join := func(ls ...[]byte) []byte { return append(bytes.Join(ls, []byte("\n")), '\n') }
	body := join(lines[1:]...)
	seeds := [][]byte{
		nil, []byte("\n"), []byte("\n\n"), []byte("x"), []byte("x\n"), []byte("\r\n"), []byte("\r"),
		body, join(lines[0]), join(lines[1]), body[:len(body)-1], append(bytes.Clone(body), '\n'),
		append([]byte("\n"), body...), append([]byte("\xef\xbb\xbf"), body...),
		bytes.ReplaceAll(body, []byte("\n"), []byte("\r\n")),
		bytes.ReplaceAll(body, []byte("\n"), []byte("\r")),
		bytes.ReplaceAll(body, []byte("\n"), []byte("\u2028")),
		bytes.ReplaceAll(body, []byte("\n"), []byte("\n\x00")),
		join(lines[1], []byte("\xc0\xaf"), lines[2]),
		join(lines[1], []byte("\xed\xa0\x80"), lines[2]),
		join([]byte("\xff"), lines[1], []byte(""), lines[2]),
		join([]byte("{}\r"), lines[1], []byte(""), lines[2]),
		join(lines[1], lines[2])[:len(lines[1])+3],
		bytes.Repeat([]byte("x\n"), 64),
		bytes.Repeat([]byte("\n"), 64),
	}
	return seeds
}

// checkObjectAsLines fails t when ParseObject and parseObjectByLines
// differ on body: verdict, failure (key, line, seq, reason, cause) or
// entries and lines.
func checkObjectAsLines(t *testing.T, firstSeq uint64, body []byte) {
	t.Helper()
	entries, lines, err := ParseObject("k", firstSeq, body)
	wEntries, wLines, werr := parseObjectByLines("k", firstSeq, body)
	if fmt.Sprint(err) != fmt.Sprint(werr) {
		t.Fatalf("%q seq %d:\nParseObject %v\nby lines    %v", body, firstSeq, err, werr)
	}
	var f, wf *Failure
	if errors.As(err, &f) != errors.As(werr, &wf) {
		t.Fatalf("%q: one failure is a *Failure, the other not: %v / %v", body, err, werr)
	}
	if f != nil && (f.Line != wf.Line || f.Seq != wf.Seq || f.HasSeq != wf.HasSeq || f.Reason != wf.Reason ||
		fmt.Sprint(f.Err) != fmt.Sprint(wf.Err) || errors.Is(f, ErrBadEntry) != errors.Is(wf, ErrBadEntry)) {
		t.Fatalf("%q: failures differ:\n%+v\n%+v", body, f, wf)
	}
	if len(entries) != len(wEntries) || !reflect.DeepEqual(lines, wLines) {
		t.Fatalf("%q: %d entries %q, by lines %d %q", body, len(entries), lines, len(wEntries), wLines)
	}
	for i := range entries {
		if !reflect.DeepEqual(entries[i], wEntries[i]) {
			t.Fatalf("%q line %d:\nParseObject %+v\nby lines    %+v", body, i+1, entries[i], wEntries[i])
		}
	}
}

// FuzzParseObject: for any bytes and any first seq, ParseObject gives what
// splitting the object and reading each line with ParseLine gives.
func FuzzParseObject(f *testing.F) {
	for _, s := range objectSeeds(f) {
		f.Add(uint64(1), s)
		f.Add(^uint64(0), s)
	}
	f.Fuzz(func(t *testing.T, firstSeq uint64, body []byte) {
		checkObjectAsLines(t, firstSeq, body)
	})
}

// The seeds as a test, so that `make test` runs every edge without -fuzz
// (the seq near 2^64 wraps as unsigned arithmetic does in both).
func TestParseObjectIsSplitAndParseLine(t *testing.T) {
	for _, s := range objectSeeds(t) {
		for _, seq := range []uint64{0, 1, 1<<53 - 1, ^uint64(0)} {
			checkObjectAsLines(t, seq, s)
		}
	}
}
