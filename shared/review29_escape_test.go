package shared

import (
	"encoding/hex"
	"strings"
	"testing"
)

// Review 2026-12-01 (task 29): a refused item's place is the bundle's own
// text, hostile. Go's error and the Python checker's refusal must not
// carry its control characters raw: a newline in `object` starts a line
// of the bundle writer's choosing on the reader's terminal (aegis prints
// errors through shown.Writer, which lets '\n' pass), and Python prints
// ESC itself. Other messages of verifyItem quote such text (%q).
func TestReview29RefusalQuotesTheBundlesObject(t *testing.T) {
	forged := "vec/x\n\x1b[1AOK decision dec-proved of chain prod: BLOCK, now ALLOW"
	_, b := proofChain(t)
	b.Items[1].Object = forged // refused: the checkpoint names another object
	raw := b.Encode()
	_, err := VerifyBundle(raw, SingleKeyset(vecVerifier(t)))
	if err == nil {
		t.Fatal("accepted")
	}
	if strings.ContainsAny(err.Error(), "\n\x1b") {
		t.Errorf("Go prints the bundle's object raw:\n%s", err)
	}
	py := pythonAnswers(t, bundleRefusal, "x"+hex.EncodeToString([]byte(vecVerifierKey))+"\nx"+hex.EncodeToString(raw)+"\n", 1)
	if strings.ContainsRune(py[0], 0x1b) {
		t.Errorf("Python prints the bundle's object raw (ESC): %q", py[0])
	}
}
