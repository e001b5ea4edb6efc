package ingest

import (
	"strings"
	"testing"
)

// TestAttack35ABodyInAnotherCharsetIsRefused: the service takes any
// application/json, whatever charset the caller declares, and reads the
// bytes as UTF-8. A caller that says charset=iso-8859-1 and writes a
// reviewer's reason "NÃ©meth" in Latin-1 (bytes 4e c3 a9 6d...) is told
// 201 "recorded", and the sealed reason is "Németh": another text than the
// one sent, sealed for good. Bytes that are not UTF-8 are refused (400),
// so only Latin-1 (or Windows-1252) text whose bytes happen to be UTF-8 is
// sealed differently; UTF-16 is refused for its NUL bytes. Expected: a 415
// naming the charset, as a Content-Encoding is ("415 not JSON, or
// compressed", README "Other languages"), since JSON is UTF-8 (RFC 8259
// section 8.1). What an attacker gains: nothing; a misconfigured client's
// text is sealed changed without a word.
func TestAttack35ABodyInAnotherCharsetIsRefused(t *testing.T) {
	rec := &fakeRecorder{}
	h := newService(t, rec).Handler()
	c := newContract(t)
	latin1 := "N\xc3\xa9meth" // "NÃ©meth" in ISO-8859-1; "Németh" read as UTF-8
	body := `{"environment":"prod","override":{"decision_id":"d1","reviewer_id":"r1","new_action":"BLOCK","reason":"` + latin1 + `"}}`
	for _, ct := range []string{"application/json; charset=iso-8859-1", "application/json; charset=windows-1252"} {
		w := c.do(t, h, post("/v1/overrides", "prod-token-0123456789", ct, body), false)
		if w.Code != 415 {
			var sealed string
			if n := len(rec.got); w.Code == 201 && n > 0 {
				sealed = rec.got[n-1].Override.Reason
			}
			t.Errorf("Content-Type %q: %d, reason sealed %q (%+q), where the caller's text was %q in its charset", ct, w.Code, sealed, sealed, "NÃ©meth")
		} else if cs := ct[len("application/json; charset="):]; !strings.Contains(w.Body.String(), cs) {
			t.Errorf("Content-Type %q: the 415 does not name the charset: %s", ct, w.Body)
		}
	}
	// UTF-8, however it is spelt, is JSON's own charset.
	for _, ct := range []string{"application/json; charset=utf-8", "application/json;charset=UTF-8", "application/json; charset=utf8"} {
		if w := c.do(t, h, post("/v1/overrides", "prod-token-0123456789", ct, body), false); w.Code != 201 {
			t.Errorf("Content-Type %q: %d %s, want 201", ct, w.Code, w.Body)
		}
	}
}
