package shared

import (
	"strings"
	"testing"
)

// A keyset file is UTF-8 text (section 7.4): a comment in Latin-1 makes
// it refused, as the Python checker refuses it (found by an attack; no
// vector can hold bytes that are not UTF-8).
func TestAKeysetFileIsUTF8(t *testing.T) {
	_, err := ParseKeyset("# rotated by Jos\xe9\n" + vecVerifierKey + " 0 -\n")
	if err == nil || !strings.Contains(err.Error(), "not UTF-8") {
		t.Fatalf("%v, want refused as not UTF-8", err)
	}
	if _, err := ParseKeyset("# rotated by José\n" + vecVerifierKey + " 0 -\n"); err != nil {
		t.Fatalf("the same in UTF-8: %v", err)
	}
}
