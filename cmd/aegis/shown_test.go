package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aegisai/audit/internal/testbed/pipeline"
)

// A reviewer's reason and a user id are text from outside: aegis get and
// list print them escaped, so an override cannot draw over the table an
// auditor reads (before, "\x1b[1A" in a reason reached the terminal as
// is); the JSON answers still carry them exactly; and the bundle prove
// writes to standard output stays its signed bytes.
func TestPrintedTextCannotDrawOverTheTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := pipeline.NewWorkload("", "", 6, 2, 2, 17, time.Now())
	ovr := w.Overrides[0].Override
	const reason = "looks fine\x1b[1A\x1b[2K\x1b[8mhidden"
	ovr.Reason = reason
	for _, ev := range w.Events {
		if ev.Decision != nil && ev.Decision.DecisionID == ovr.DecisionID {
			ev.Decision.UserID = "user\u202e-evil"
		}
	}
	p, _ := indexedPipeline(ctx, t, 25, w)
	setStackEnv(t)
	pub := writeFile(t, "chain.pub", p.Cfg.VerifierKey)
	flags := []string{"--chain", p.Cfg.Chain, "--bucket", p.Cfg.Bucket, "--table", p.Cfg.Table, "--verifier-key-file", pub}
	id, user := ovr.DecisionID, "user\u202e-evil"

	raw := func(out string) bool { return strings.ContainsAny(out, "\x1b\u202e") }
	code, out := aegis(t, append([]string{"get", id}, flags...)...)
	if code != 0 || raw(out) || !strings.Contains(out, `looks fine\u001b[1A\u001b[2K\u001b[8mhidden`) || !strings.Contains(out, `user\u202e-evil`) {
		t.Fatalf("get: exit %d, raw control characters %v:\n%q", code, raw(out), out)
	}
	code, out = aegis(t, append([]string{"list", "--user", user}, flags...)...)
	if code != 0 || raw(out) || !strings.Contains(out, id) {
		t.Fatalf("list --user: exit %d, raw control characters %v:\n%q", code, raw(out), out)
	}
	code, out = aegis(t, append([]string{"get", id, "--json"}, flags...)...)
	var got struct {
		UserID    string `json:"user_id"`
		Overrides []struct {
			Reason string `json:"reason"`
		} `json:"overrides"`
	}
	if code != 0 || raw(out) || json.Unmarshal([]byte(out), &got) != nil || got.UserID != user || len(got.Overrides) != 1 || got.Overrides[0].Reason != reason {
		t.Fatalf("get --json: exit %d, read back %+v:\n%q", code, got, out)
	}
	code, bundle := aegis(t, append([]string{"prove", id}, flags...)...)
	if code != 0 || !strings.Contains(bundle, "\u202e") {
		t.Fatalf("prove to standard output: exit %d, the user id not as signed:\n%q", code, bundle)
	}
	file := writeFile(t, "bundle.json", strings.TrimSuffix(bundle, "\n"))
	if code, out := aegis(t, "verify-proof", file, "--verifier-key-file", pub); code != 0 {
		t.Fatalf("verify-proof of the bundle prove wrote to standard output: exit %d: %s", code, out)
	}
}
