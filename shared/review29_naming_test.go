package shared

import (
	"encoding/hex"
	"strings"
	"testing"
)

// Review 2026-12-01: "once its line parses" the refused item is named by
// its seq, by Go and Python alike (984fa59). A line that is JSON with a
// seq but not a canonical line is named with that seq by Python
// (claimed_seq reads any JSON) and without it by Go.
func TestReview29RefusedLineIsNamedAlike(t *testing.T) {
	_, b := proofChain(t)
	b.Items[1].Line = []byte(strings.Replace(string(b.Items[1].Line), `{"chain"`, `{ "chain"`, 1))
	raw := b.Encode()
	_, err := VerifyBundle(raw, SingleKeyset(vecVerifier(t)))
	py := pythonAnswers(t, bundleRefusal, "x"+hex.EncodeToString([]byte(vecVerifierKey))+"\nx"+hex.EncodeToString(raw)+"\n", 1)
	if err == nil {
		t.Fatal("Go accepted")
	}
	goSeq, pySeq := strings.Contains(err.Error(), ", seq "), strings.Contains(py[0], ", seq ")
	if goSeq != pySeq {
		t.Errorf("one names the seq, the other not:\nGo:     %v\nPython: %s", err, py[0])
	}
}
