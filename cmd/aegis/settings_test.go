package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aegisai/audit/internal/testbed/localstack"
)

// Start-up validation, for every role: each problem is reported at once,
// before anything connects, naming the flag and its environment variable.
func TestStartupValidationNamesEverySetting(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"sealer", "--chain", "bad chain", "--batch-max-age", "-1s", "--log-format", "xml", "--max-in-flight", "-2"},
			[]string{"--chain (AEGIS_CHAIN) \"bad chain\"", "--signer-key-file (AEGIS_SIGNER_KEY_FILE) is required",
				"--verifier-key-file (AEGIS_VERIFIER_KEY_FILE) is required", "--batch-max-age (AEGIS_BATCH_MAX_AGE) -1s: must not be negative",
				"--log-format (AEGIS_LOG_FORMAT) \"xml\"", "--max-in-flight (AEGIS_MAX_IN_FLIGHT) -2"}},
		{[]string{"indexer", "--table", "", "--brokers", "", "--log-level", "loud", "--metrics-addr", "nonsense", "--workers", "-3"},
			[]string{"--table (AEGIS_TABLE) is required", "--brokers (AEGIS_BROKERS) is required", "--log-level (AEGIS_LOG_LEVEL)",
				"--metrics-addr (AEGIS_METRICS_ADDR) \"nonsense\"", "--workers (AEGIS_WORKERS) -3"}},
		{[]string{"verify", "--bucket", ""}, []string{"--chain (AEGIS_CHAIN) is required", "--bucket (AEGIS_BUCKET) is required",
			"--verifier-key-file (AEGIS_VERIFIER_KEY_FILE) is required"}},
		{[]string{"discover", "--chain", "prod"}, []string{"--from (AEGIS_FROM) is required", "--to (AEGIS_TO) is required"}},
		{[]string{"prove", "d1", "--table", ""}, []string{"--chain (AEGIS_CHAIN) is required", "--table (AEGIS_TABLE) is required"}},
		{[]string{"rebuild", "--workers", "-1"}, []string{"--chain (AEGIS_CHAIN) is required", "--workers (AEGIS_WORKERS) -1"}},
		{[]string{"index", "anomalies"}, []string{"--chain (AEGIS_CHAIN) is required"}},
		{[]string{"index", "status", "--chain", "prod", "--brokers", ""}, []string{"--brokers (AEGIS_BROKERS) is required", "--verifier-key-file"}},
		{[]string{"index", "check", "--chain", "prod"}, []string{"--verifier-key-file (AEGIS_VERIFIER_KEY_FILE) is required"}},
		{[]string{"index", "check", "--chain", "prod", "--keys-in-memory", "-5"}, []string{"--keys-in-memory (AEGIS_KEYS_IN_MEMORY) -5"}},
		{[]string{"verify-proof", "b.json"}, []string{"--verifier-key-file (AEGIS_VERIFIER_KEY_FILE) is required"}},
		{[]string{"keygen", "--out", ""}, []string{"--out (AEGIS_OUT) is required"}},
		{[]string{"get", "d1", "--chain", "prod", "--limit", "0"}, []string{"--limit (AEGIS_LIMIT) \"0\": must be 1 to 500"}},
		{[]string{"list", "--chain", "prod", "--user", "u", "--limit", "501"}, []string{"--limit (AEGIS_LIMIT) \"501\": must be 1 to 500"}},
		{[]string{"ingest"}, []string{"--tokens-file (AEGIS_TOKENS_FILE) is required", "one of --chain (AEGIS_CHAIN), --environments (AEGIS_ENVIRONMENTS) is required"}},
		{[]string{"ingest", "--chain", "prod", "--timeout", "1us", "--seal-timeout", "500ns"}, []string{`--timeout (AEGIS_TIMEOUT) "1µs": is below a millisecond`,
			`--seal-timeout (AEGIS_SEAL_TIMEOUT) "500ns": is below a millisecond`}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			failsWith(t, tc.args, tc.want...)
		})
	}
}

// Issue 13: the sealer's own checks (its key files, the values its library
// checks) are reported with the start-up validation, each naming its flag
// and variable, never a Go field, and none twice; a library's checks that
// fail later (discover's range and type) name the flag too.
func TestLibraryChecksNameTheFlag(t *testing.T) {
	dir := t.TempDir()
	keyPair(t, dir, "k1")
	keyPair(t, dir, "k2")
	missing := dir + "/missing.key"
	for _, tc := range []struct {
		args, want []string
	}{
		{[]string{"sealer", "--chain", "prdo!", "--max-in-flight", "-1", "--batch-max-bytes", "999999999", "--signer-key-file", missing, "--verifier-key-file", dir + "/k1.pub"},
			[]string{`--chain (AEGIS_CHAIN) "prdo!"`, "--max-in-flight (AEGIS_MAX_IN_FLIGHT) -1: must not be negative",
				"--batch-max-bytes (AEGIS_BATCH_MAX_BYTES) 999999999 is over 33554432", "--signer-key-file " + missing + " (AEGIS_SIGNER_KEY_FILE): cannot be read: no such file"}},
		{[]string{"sealer", "--chain", "prod", "--signer-key-file", dir + "/k2.key", "--verifier-key-file", dir + "/k1.pub", "--next-signer-key-file", dir + "/k2.key"},
			[]string{"--verifier-key-file " + dir + "/k1.pub (AEGIS_VERIFIER_KEY_FILE): (k1+", "does not trust the signer key's public key k2+",
				"--next-signer-key-file " + dir + "/k2.key (AEGIS_NEXT_SIGNER_KEY_FILE): is the signer key"}},
		{[]string{"ingest", "--chain", "bad chain", "--fail-safe-action", "MAYBE", "--tokens-file", missing},
			[]string{`--chain (AEGIS_CHAIN) "bad chain"`, `--fail-safe-action (AEGIS_FAIL_SAFE_ACTION) "MAYBE": want ALLOW, CHALLENGE, BLOCK or REVIEW`,
				"--tokens-file (AEGIS_TOKENS_FILE): token file: open " + missing}},
		{[]string{"discover", "--chain", "prod", "--from", "2026-11-30", "--to", "2026-11-29", "--verifier-key-file", dir + "/k1.pub"},
			[]string{"--to (AEGIS_TO) (2026-11-29T00:00:00Z) must be after the start of the range (2026-11-30T00:00:00Z)"}},
		{[]string{"discover", "--chain", "prod", "--from", "2026-11-29", "--to", "2026-11-30", "--type", "decision", "--verifier-key-file", dir + "/k1.pub"},
			[]string{`--type (AEGIS_TYPE) "decision" is not an entry type: want event (decisions and overrides) or invalid`}},
	} {
		t.Run(strings.Join(tc.args[:3], " "), func(t *testing.T) {
			out := failsWith(t, tc.args, tc.want...)
			for _, field := range []string{"Chain", "BatchMaxBytes", "SignerKey", "VerifierKey", "NextSignerKey", "From", "To", "Type"} {
				if strings.Contains(out, field+" ") || strings.Contains(out, field+":") {
					t.Errorf("output names the Go field %s:\n%s", field, out)
				}
			}
			if strings.Count(out, "--chain (AEGIS_CHAIN)") > 1 {
				t.Errorf("--chain reported twice:\n%s", out)
			}
		})
	}
}

// A setting from the environment is validated like a flag.
func TestStartupValidationReadsTheEnvironment(t *testing.T) {
	t.Setenv("AEGIS_CHAIN", "no/slash")
	code, out := aegis(t, "verify", "--verifier-key-file", "x.pub")
	if code != exitFailed || !strings.Contains(out, `--chain (AEGIS_CHAIN) "no/slash"`) {
		t.Fatalf("exit %d: %s", code, out)
	}
}

// The indexer reads no chain: it starts without --chain, and stops on what
// is really wrong (here a table that does not exist).
func TestIndexerNeedsNoChain(t *testing.T) {
	setStackEnv(t)
	table := localstack.Name("missing")
	code, out := aegis(t, "indexer", "--table", table, "--sealed-topic", localstack.Name("sealed"), "--log-level", "error")
	if code != exitFailed || strings.Contains(out, "--chain") || !strings.Contains(out, table) {
		t.Fatalf("exit %d: %s; want a failure about table %s and nothing about --chain", code, out, table)
	}
	t.Logf("indexer without --chain: %s", out)
}

// docs/CONFIG.md is what the code says, so it cannot drift: a flag added,
// renamed or given another default fails this test until `make docs`.
func TestConfigReferenceIsCurrent(t *testing.T) {
	var want bytes.Buffer
	if code := run([]string{"config-reference"}, &want, &want); code != 0 {
		t.Fatalf("config-reference: exit %d: %s", code, want.String())
	}
	got, err := os.ReadFile("../../docs/CONFIG.md")
	if err != nil {
		t.Fatalf("%v (run make docs)", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(want.String(), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("docs/CONFIG.md is stale (run make docs); first difference at line %d:\nfile: %s\ncode: %s", i+1, g, w)
			}
		}
	}
	for _, s := range []string{"## aegis sealer", "## aegis indexer", "## aegis verify", "`AEGIS_KAFKA_SASL_PASSWORD`", "`--s3-profile`"} {
		if !strings.Contains(want.String(), s) {
			t.Errorf("the reference lacks %s", s)
		}
	}
}

// failsWith runs aegis with args, wants exit status 1 and every part of
// want in its output, and returns the output.
func failsWith(t *testing.T, args []string, want ...string) string {
	t.Helper()
	return failsWithStatus(t, exitFailed, args, want...)
}

// failsWithStatus is failsWith for a command that exits with status.
func failsWithStatus(t *testing.T, status int, args []string, want ...string) string {
	t.Helper()
	code, out := aegis(t, args...)
	if code != status {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	return out
}

// keyPair writes a checkpoint key pair named name with aegis keygen:
// dir/name.key and dir/name.pub, whose path it returns.
func keyPair(t *testing.T, dir, name string) string {
	t.Helper()
	if code, out := aegis(t, "keygen", "--name", name, "--out", dir+"/"+name); code != 0 {
		t.Fatal(out)
	}
	return dir + "/" + name + ".pub"
}

// The two HTTP services name their address and token file differently
// (ingest --listen/--tokens-file, query --addr/--token-file); each takes
// the other's names too, so a token file given under the wrong name is
// still the one read.
func TestHTTPServicesTakeEachOthersFlagNames(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-tokens")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"query", "--chain", "prod", "--tokens-file", missing, "--listen", "127.0.0.1:0"}, "--token-file (AEGIS_TOKEN_FILE): token file: open " + missing},
		{[]string{"ingest", "--chain", "prod", "--token-file", missing, "--addr", "127.0.0.1:0"}, "--tokens-file (AEGIS_TOKENS_FILE): token file: open " + missing},
	} {
		if code, out := aegis(t, c.args...); code != 1 || !strings.Contains(out, c.want) {
			t.Errorf("aegis %s: exit %d: %s (want %q)", strings.Join(c.args, " "), code, out, c.want)
		}
	}
	// And their variables (the operators' trial found AEGIS_TOKENS_FILE
	// ignored by query).
	t.Setenv("AEGIS_TOKENS_FILE", missing)
	if code, out := aegis(t, "query", "--chain", "prod", "--addr", "127.0.0.1:0"); code != 1 || !strings.Contains(out, "--token-file (AEGIS_TOKEN_FILE): token file: open "+missing) {
		t.Errorf("query with AEGIS_TOKENS_FILE: exit %d: %s", code, out)
	}
}

// A command's --help lists the global flags it reads, not all of them.
func TestHelpListsOnlyTheFlagsACommandReads(t *testing.T) {
	for _, c := range []struct {
		cmd        string
		has, lacks []string
	}{
		{"verify", []string{"--s3-endpoint", "--verifier-key-file", "--known-checkpoint"}, []string{"--kafka-tls", "--dynamodb-endpoint", "--brokers"}},
		{"sealer", []string{"--kafka-tls", "--brokers", "--s3-endpoint"}, []string{"--dynamodb-endpoint"}},
	} {
		code, out := aegis(t, c.cmd, "--help")
		if code != 0 {
			t.Fatalf("aegis %s --help: exit %d: %s", c.cmd, code, out)
		}
		for _, f := range c.has {
			if !strings.Contains(out, f+" ") {
				t.Errorf("aegis %s --help does not list %s:\n%s", c.cmd, f, out)
			}
		}
		for _, f := range c.lacks {
			if strings.Contains(out, f+" ") {
				t.Errorf("aegis %s --help lists %s, which it does not read:\n%s", c.cmd, f, out)
			}
		}
	}
	// Hiding is for the help only: the flag still parses.
	if code, out := aegis(t, "verify", "--brokers", "x:1", "--help"); code != 0 {
		t.Fatalf("verify --brokers x:1 --help: exit %d: %s", code, out)
	}
}

// --check-settings checks a command's settings as it does at start and
// exits: 0 when they are well formed, 1 naming each problem; no variable
// sets it (one left in a shared environment would stop every role).
func TestCheckSettings(t *testing.T) {
	t.Setenv("AEGIS_CHAIN", "prod")
	if code, out := aegis(t, "query", "--token-file", "/no/such/file", "--check-settings"); code != 0 || !strings.Contains(out, "settings valid: aegis query") {
		t.Fatalf("valid settings: exit %d: %s", code, out)
	}
	t.Setenv("AEGIS_LOG_FORMAT", "jsonl")
	if code, out := aegis(t, "query", "--token-file", "/no/such/file", "--check-settings"); code != 1 || !strings.Contains(out, `--log-format (AEGIS_LOG_FORMAT) "jsonl"`) {
		t.Fatalf("a value no role takes: exit %d: %s", code, out)
	}
	os.Unsetenv("AEGIS_LOG_FORMAT")
	t.Setenv("AEGIS_CHECK_SETTINGS", "true")
	if code, out := aegis(t, "query", "--token-file", "/no/such/file"); code != 1 || strings.Contains(out, "settings valid") || !strings.Contains(out, "/no/such/file") {
		t.Fatalf("AEGIS_CHECK_SETTINGS set: exit %d: %s (want the role to start, and fail on its token file)", code, out)
	}
}

// --check-settings reads no file, but checks every value the start checks:
// before, it said "settings valid" of a sealer's --retention 1h or
// --batch-max-bytes over 32 MiB and of ingest's --fail-safe-action FOO,
// which the start refused (their checks ran with the key and token files'
// reading), so a deployment that passed make compose-check or kube-check
// did not start (the operators' outside trial).
func TestCheckSettingsChecksTheValuesTheStartChecks(t *testing.T) {
	t.Setenv("AEGIS_CHAIN", "prod")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sealer", "--signer-key-file", "/no/such.key", "--verifier-key-file", "/no/such.pub", "--retention", "1h"}, "--retention (AEGIS_RETENTION) 1h0m0s is under 24h0m0s"},
		{[]string{"sealer", "--signer-key-file", "/no/such.key", "--verifier-key-file", "/no/such.pub", "--batch-max-bytes", "100000000"}, "--batch-max-bytes (AEGIS_BATCH_MAX_BYTES) 100000000 is over"},
		{[]string{"ingest", "--tokens-file", "/no/such", "--fail-safe-action", "FOO"}, `--fail-safe-action (AEGIS_FAIL_SAFE_ACTION) "FOO"`},
	} {
		code, out := aegis(t, append(c.args, "--check-settings")...)
		if code != 1 || !strings.Contains(out, c.want) {
			t.Errorf("%v --check-settings: exit %d: %s\nwant exit 1 naming %s", c.args, code, out, c.want)
		}
		if strings.Contains(out, "/no/such") {
			t.Errorf("%v --check-settings: a file named, which it does not read: %s", c.args, out)
		}
	}
	// The files are still not read: their values alone pass.
	for _, args := range [][]string{
		{"sealer", "--signer-key-file", "/no/such.key", "--verifier-key-file", "/no/such.pub", "--next-signer-key-file", "/no/next.key"},
		{"ingest", "--tokens-file", "/no/such", "--tls-cert-file", "/no/cert.pem", "--tls-key-file", "/no/key.pem"},
	} {
		if code, out := aegis(t, append(args, "--check-settings")...); code != 0 || !strings.Contains(out, "settings valid") {
			t.Errorf("%v --check-settings: exit %d: %s (want valid: the files are not read)", args, code, out)
		}
	}
}

// A sealer's --session-timeout under the Kafka client's 100 ms is refused
// at start, naming the flag: before, the client refused it at every
// session and the sealer started its session over for good, backing off
// to 30 s, neither sealing nor exiting (the operators' outside trial).
func TestSealerRefusesASessionTimeoutTheClientRefuses(t *testing.T) {
	t.Setenv("AEGIS_CHAIN", "prod")
	dir := t.TempDir()
	if code, out := aegis(t, "keygen", "--name", "aegis-test", "--out", filepath.Join(dir, "prod")); code != 0 {
		t.Fatal(out)
	}
	keys := []string{"--signer-key-file", filepath.Join(dir, "prod.key"), "--verifier-key-file", filepath.Join(dir, "prod.pub"),
		"--brokers", "127.0.0.1:1"} // nothing listens: the settings must stop it first
	for _, extra := range [][]string{{"--check-settings"}, nil} {
		code, out := aegis(t, append(append(append([]string{"sealer"}, keys...), "--session-timeout", "50ms"), extra...)...)
		if code != 1 || !strings.Contains(out, "--session-timeout (AEGIS_SESSION_TIMEOUT) 50ms is under 100ms") {
			t.Errorf("sealer --session-timeout 50ms %v: exit %d: %s", extra, code, out)
		}
	}
	if code, out := aegis(t, append(append([]string{"sealer"}, keys...), "--session-timeout", "100ms", "--check-settings")...); code != 0 {
		t.Errorf("sealer --session-timeout 100ms: exit %d: %s", code, out)
	}
}

// A flag another role reads, given to a command that does not read it,
// was accepted without a word (the README's AWS example gave the indexer
// --s3-profile: an outside trial). It is warned of; one the command reads,
// or a variable, is not.
func TestAFlagTheCommandDoesNotReadIsWarnedOf(t *testing.T) {
	code, out := aegis(t, "indexer", "--table", "t", "--brokers", "127.0.0.1:9092", "--s3-profile", "audit-storage", "--check-settings")
	if code != 0 || !strings.Contains(out, "warning: --s3-profile is not read by aegis indexer") || strings.Contains(out, "warning: --table") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	t.Setenv("AEGIS_S3_PROFILE", "audit-storage")
	if code, out := aegis(t, "indexer", "--table", "t", "--brokers", "127.0.0.1:9092", "--check-settings"); code != 0 || strings.Contains(out, "warning") {
		t.Fatalf("with the variable: exit %d:\n%s", code, out)
	}
}
