package shared

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// MaxSafeInteger is 2^53-1, the largest integer every JSON implementation
// reads exactly (RFC 7493, I-JSON, section 2.2).
const MaxSafeInteger = 1<<53 - 1

// ErrNotCanonical is wrapped when input is not I-JSON or a sealed line is not
// in canonical form.
var ErrNotCanonical = errors.New("not canonical JSON")

// Canonicalize returns the RFC 8785 (JCS) form of raw. raw must be I-JSON
// (RFC 7493): valid UTF-8, no duplicate object keys, and every integer
// literal within ±(2^53-1). Integers outside that range are refused rather
// than rounded: JCS reads numbers as IEEE 754 doubles, so two different large
// integers would otherwise share canonical bytes and hash.
func Canonicalize(raw []byte) ([]byte, error) {
	if !utf8.Valid(raw) {
		return nil, fmt.Errorf("%w: invalid UTF-8", ErrNotCanonical)
	}
	if err := checkIntegers(raw); err != nil {
		return nil, err
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotCanonical, err)
	}
	return out, nil
}

// checkIntegers walks the tokens of raw and refuses integer literals beyond
// MaxSafeInteger. Syntax errors are left to the JCS parser.
func checkIntegers(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNotCanonical, err)
		}
		n, ok := tok.(json.Number)
		if !ok || strings.ContainsAny(string(n), ".eE") {
			continue
		}
		digits := strings.TrimPrefix(string(n), "-")
		if len(digits) > 16 || (len(digits) == 16 && digits > "9007199254740991") {
			return fmt.Errorf("%w: integer %s is outside ±(2^53-1); send it as a string", ErrNotCanonical, n)
		}
	}
}
