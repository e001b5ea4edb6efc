// Package shown writes text from outside for people to read: every
// character a terminal or a display would obey rather than show is
// written as its escape.
package shown

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Writer is what aegis prints for people through: every character
// that is not graphic (a control character such as ESC or C1's CSI, a
// line or paragraph separator, a format character such as U+202E that
// reverses the text after it) is written as a \u escape, and a byte that
// is not UTF-8 as \x and its hex. Newlines and tabs pass (they are the
// output's own layout).
//
// Why: what aegis prints holds text from outside. A reviewer's override
// reason may hold any character (FORMAT.md section 4: the event's schema
// bans none in it), an id any but the C0 controls, and a key in the bucket
// anything. Printed raw, "\x1b[1A" and a row of its own would let whoever
// wrote an override draw over the table an auditor reads (another
// current action, a hidden row), and U+202E would show an id reversed.
// JSON output is unchanged in meaning: the escapes it gets are JSON's own
// spelling of the same characters, inside its strings (encoding/json
// already escapes the C0 controls and writes no bytes that are not UTF-8).
// The bytes of an evidence bundle written to standard output are its
// signed bytes and do not go through it.
type Writer struct {
	W     io.Writer // where the shown text goes
	carry []byte    // the start of a character cut by the end of a Write
	buf   []byte
}

func (s *Writer) Write(p []byte) (int, error) {
	in := p
	if len(s.carry) > 0 {
		in = append(s.carry, p...)
		s.carry = nil
	}
	out := s.buf[:0]
	for i := 0; i < len(in); {
		c := in[i]
		if c < utf8.RuneSelf {
			if c == '\n' || c == '\t' || c >= 0x20 && c < 0x7f {
				out = append(out, c)
			} else {
				out = fmt.Appendf(out, `\u%04x`, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(in[i:])
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(in[i:]) {
				s.carry = append(s.carry, in[i:]...) // finished by the next Write
				break
			}
			out = fmt.Appendf(out, `\x%02x`, c)
			i++
			continue
		}
		switch {
		case strconv.IsGraphic(r):
			out = append(out, in[i:i+size]...)
		case r > 0xffff: // as JSON spells it: a surrogate pair
			hi, lo := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, hi, lo)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += size
	}
	s.buf = out
	if _, err := s.W.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes a character left cut at the end of the output as the bytes
// it is (\x escapes).
func (s *Writer) Flush() error {
	if len(s.carry) == 0 {
		return nil
	}
	var out []byte
	for _, c := range s.carry {
		out = fmt.Appendf(out, `\x%02x`, c)
	}
	s.carry = nil
	_, err := s.W.Write(out)
	return err
}

// String is s as a Writer shows it.
func String(s string) string {
	var b strings.Builder
	w := &Writer{W: &b}
	w.Write([]byte(s))
	w.Flush()
	return b.String()
}
