package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aegisai/audit/internal/platform/shown"
	"github.com/aegisai/audit/internal/testbed/localstack"
)

// Issue 21: with --json a failure is a JSON object on standard output
// (with the exit status), whatever failed; a missing argument is named
// with the usage line.
func TestJSONFailuresOnStandardOutput(t *testing.T) {
	setStackEnv(t)
	table := emptyTable(t, "jsonout")
	dir := t.TempDir()
	pub := keyPair(t, dir, "k1")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"get, not found", []string{"get", "dec-nope", "--json", "--chain", "prod", "--table", table}, "decision dec-nope: decision not found in the index of chain prod"},
		{"get, no id", []string{"get", "--json", "--chain", "prod"}, "want one argument, got 0: usage: aegis get DECISION-ID [flags]"},
		{"verify, missing checkpoint", []string{"verify", "--json", "--chain", "prod", "--verifier-key-file", pub, "--known-checkpoint", dir + "/missing.note"}, "--known-checkpoint: open"},
		{"index status, bad setting", []string{"index", "status", "--json", "--chain", "bad chain"}, "--chain (AEGIS_CHAIN) \"bad chain\""},
		{"verify, no key file", []string{"verify", "--json", "--chain", "prod", "--verifier-key-file", dir + "/missing.pub"}, "--verifier-key-file (AEGIS_VERIFIER_KEY_FILE): open"},
		{"verify, no such bucket", []string{"verify", "--json", "--chain", "prdo", "--bucket", localstack.Name("none"), "--verifier-key-file", pub}, "NoSuchBucket"},
		{"discover, no such chain", []string{"discover", "--json", "--chain", "prdo", "--bucket", localstack.Name("none"), "--from", "2026-11-29", "--to", "2026-11-30", "--verifier-key-file", pub}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			var got struct {
				OK         *bool  `json:"ok"`
				Error      string `json:"error"`
				ExitStatus int    `json:"exit_status"`
				DecisionID string `json:"decision_id"`
				Chain      string `json:"chain"`
				Overrides  *int   `json:"overrides"`
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil || code != exitFailed || got.OK == nil || *got.OK ||
				got.ExitStatus != code || !strings.Contains(got.Error, tc.want) || !strings.Contains(stderr.String(), got.Error) {
				t.Fatalf("exit %d, stdout %q (%v), stderr %q; want a JSON failure with %q", code, stdout.String(), err, stderr.String(), tc.want)
			}
			if tc.args[0] == "get" && tc.args[1] == "dec-nope" && (got.DecisionID != "dec-nope" || got.Chain != "prod" || got.Overrides == nil || *got.Overrides != 0) {
				t.Fatalf("not found without its fields: %s", stdout.String())
			}
		})
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"get", "--chain", "prod"}, &stdout, &stderr); code != exitFailed || stdout.Len() != 0 ||
		!strings.Contains(stderr.String(), "usage: aegis get DECISION-ID") {
		t.Fatalf("get without an id and --json: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}

// A command's standard output is a shown.Writer around a countingWriter
// around the file; a terminal behind them is still one (discover's table,
// the progress bars).
func TestATerminalIsSeenThroughTheCountingWriter(t *testing.T) {
	dev, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0) // a character device, as a terminal is
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	if !isTerminal(&countingWriter{w: dev}) {
		t.Fatal("a character device behind the counting writer is not seen")
	}
	if !isTerminal(&shown.Writer{W: &countingWriter{w: dev}}) {
		t.Fatal("a character device behind the shown and counting writers is not seen")
	}
	if isTerminal(&countingWriter{w: &strings.Builder{}}) {
		t.Fatal("a buffer is taken for a terminal")
	}
}
