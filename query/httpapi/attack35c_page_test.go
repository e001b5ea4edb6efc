package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAttack35cAMalformedAnswerLeavesNoVerdictOfAnother: showDecision
// writes a decision's answer into the pane bit by bit, showing it first
// and leaving the previous decision's fields, history, checks and verdict
// in place until it gets to them. A lying query service answers the
// link to decision B with B's item whose "overrides" is null: the page
// shows B's id, current action and fields, then throws on the
// overrides; the history, the checks and the green "VERIFIED: decision
// A …" verdict of the decision opened before stay under B's fields
// (a4ab853 hid the pane before a look-up; showDecision shows it again
// before it is written). What the attacker gains: any decision's fields
// shown under a pass verdict, as TestAttack35bALateProofDoesNotVerify-
// TheNextDecision did with a held-back proof.
func TestAttack35cAMalformedAnswerLeavesNoVerdictOfAnother(t *testing.T) {
	f := setup(t)
	a, b := f.good, f.tamperedAction
	target, err := url.Parse(f.base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(res *http.Response) error {
		if res.Request.URL.Path != "/v1/decisions/"+b || res.StatusCode != 200 {
			return nil
		}
		raw, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		m["overrides"] = nil
		raw, _ = json.Marshal(m)
		res.Body = io.NopCloser(bytes.NewReader(raw))
		res.ContentLength = int64(len(raw))
		res.Header.Set("Content-Length", strconv.Itoa(len(raw)))
		return nil
	}
	liar := httptest.NewServer(proxy)
	defer liar.Close()
	via := *f
	via.base = liar.URL
	p := openPage(t, &via)
	p.open("#decision=" + a)
	if v, checks := p.verdict("verdict", "checks"); v != "pass" {
		t.Fatalf("A, genuine: verdict %s: %s", v, checks)
	}
	p.eval(`location.hash = ` + strconv.Quote("#decision="+b))
	poll[bool](p, `document.getElementById("status").className === "fail" || document.getElementById("d-id").textContent === `+strconv.Quote(b))
	time.Sleep(2 * time.Second)
	visible := poll[string](p, `document.getElementById("decision").hidden ? "hidden" : "shown"`)
	v := poll[string](p, `document.getElementById("verdict").dataset.verdict`)
	text, fields, status := p.text("#verdict"), p.text("#d-fields"), p.text("#status")
	if visible == "shown" && (v == "pass" || strings.Contains(text, a)) {
		t.Fatalf("on screen under #decision=%s: decision %q, fields %q, verdict %s %q (status %q)", b, p.text("#d-id"), fields, v, text, status)
	}
}
