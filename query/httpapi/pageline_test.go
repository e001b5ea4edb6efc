package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The page shows each history row's "s3_key : s3_line" from the index's
// answer. A lying service (or a proxy in front of it) that answers the
// honest proof with a false line fails the page's checks (verifyBundle,
// compareAnswer, run here in Node); before, the page said VERIFIED next to
// it (found by an attack).
func TestThePageChecksTheLineItShows(t *testing.T) {
	f := setup(t)
	dec := call(t, "GET", f.base+"/v1/decisions/"+url.PathEscape(f.good), prodToken)
	proof := call(t, "GET", f.base+"/v1/decisions/"+url.PathEscape(f.good)+"/proof", prodToken)
	key := call(t, "GET", f.base+"/v1/verifier-key", prodToken)
	if dec.status != 200 || proof.status != 200 || key.status != 200 {
		t.Fatal(dec.status, proof.status, key.status)
	}
	var h map[string]any
	if err := json.Unmarshal(dec.body, &h); err != nil {
		t.Fatal(err)
	}
	var k map[string]any
	json.Unmarshal(key.body, &k)
	keyText, _ := k["keyset"].(string)
	if keyText == "" {
		keyText = k["verifier_key"].(string)
	}
	honest, _ := json.Marshal(h)
	h["proof"].(map[string]any)["s3_line"] = 999 // the lie
	lie, _ := json.Marshal(h)
	script := `
globalThis.window = globalThis;
const fs = require("fs");
require("vm").runInThisContext(fs.readFileSync(process.argv[2], "utf8"), { filename: "verify.js" });
(async () => {
  const [hj, b64, key] = fs.readFileSync(0, "utf8").split("\n");
  const V = window.AegisVerify;
  const rep = await V.verifyBundle(V.decodeText(Buffer.from(b64, "base64")), await V.parseKeyset(JSON.parse(key)));
  const answer = V.compareAnswer(JSON.parse(hj), rep);
  const bad = rep.errors.concat(...rep.entries.map((e) => e.checks.filter((k) => !k.ok).map((k) => k.name)), answer.filter((c) => !c.ok).map((c) => c.name));
  console.log(rep.ok && answer.every((c) => c.ok) ? "VERIFIED" : "FAILED " + bad.join("; "));
})();`
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal(err)
	}
	runner := filepath.Join(t.TempDir(), "r.js")
	if err := os.WriteFile(runner, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	kj, _ := json.Marshal(keyText)
	page := func(answer []byte) string {
		cmd := exec.Command(node, runner, filepath.Join("page", "verify.js"))
		cmd.Stdin = strings.NewReader(string(answer) + "\n" + base64.StdEncoding.EncodeToString(proof.body) + "\n" + string(kj) + "\n")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("node: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := page(honest); !strings.HasPrefix(out, "VERIFIED") {
		t.Fatalf("the honest answer: %s", out)
	}
	if out := page(lie); !strings.HasPrefix(out, "FAILED") || !strings.Contains(out, "index answer: decision "+f.good) {
		t.Fatalf("an answer with line 999: the page says %s", out)
	}
}
