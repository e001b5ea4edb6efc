package main

import (
	"net"
	"strings"
	"testing"
	"time"
)

// --retention takes days and years as well as Go durations; a retention
// under a day is refused by the sealer's checks (settings_test).
func TestRetentionInDaysAndYears(t *testing.T) {
	for in, want := range map[string]time.Duration{"2557d": 2557 * 24 * time.Hour, "7y": 7 * 8766 * time.Hour, "24h": 24 * time.Hour, "1y": 8766 * time.Hour} {
		if got, err := parseRetention(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"7", "0d", "-1d", "1.5y", "d", "7 years"} {
		if got, err := parseRetention(in); err == nil {
			t.Errorf("%s: %v, want refused", in, got)
		}
	}
}

// A retention under a day is refused at start, named with its flag.
func TestRetentionUnderADayIsRefused(t *testing.T) {
	code, out := aegis(t, "sealer", "--chain", "prod", "--retention", "1s")
	if code != exitFailed || !strings.Contains(out, "--retention (AEGIS_RETENTION) 1s is under 24h") {
		t.Fatalf("exit %d: %s", code, out)
	}
	if code, out := aegis(t, "sealer", "--chain", "prod", "--retention", "7 years"); code != exitFailed || !strings.Contains(out, "want days (2557d), years (7y)") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

// Every AEGIS_ variable that does not parse is named, not the first alone.
func TestEveryBadVariableIsNamed(t *testing.T) {
	t.Setenv("AEGIS_BATCH_MAX_AGE", "x")
	t.Setenv("AEGIS_RETENTION", "7")
	code, out := aegis(t, "sealer")
	if code != exitFailed || !strings.Contains(out, "AEGIS_BATCH_MAX_AGE (--batch-max-age)") || !strings.Contains(out, "AEGIS_RETENTION (--retention)") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

// A reader run with a role's metrics address exported (port in use) warns
// and answers; a role still refuses to start without its metrics.
func TestReadersRunWhenTheMetricsPortIsTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	setStackEnv(t)
	t.Setenv("AEGIS_METRICS_ADDR", l.Addr().String())
	code, out := aegis(t, "get", "d1", "--chain", "prod", "--dynamodb-endpoint", "http://"+closedAddr(t), "--dynamodb-max-attempts", "1")
	if !strings.Contains(out, "warning: --metrics-addr (AEGIS_METRICS_ADDR) "+l.Addr().String()) || strings.Contains(out, "aegis: --metrics-addr") || code != exitUnavailable {
		t.Fatalf("get with the metrics port taken: exit %d: %s", code, out)
	}
	if code, out := aegis(t, "indexer", "--dynamodb-endpoint", "http://"+closedAddr(t)); code != exitFailed || !strings.Contains(out, "--metrics-addr") {
		t.Fatalf("the indexer with its metrics port taken: exit %d: %s", code, out)
	}
}

// ingest refuses a token file none of whose tokens may write its chain:
// it would answer every request 403 (found by the operators' trial).
func TestIngestRefusesTokensThatWriteNothingItServes(t *testing.T) {
	tokens := writeFile(t, "tokens", "svc 3f9c1d0e8b7a4c2f9e1d7b6a5c4f3e2d staging")
	code, out := aegis(t, "ingest", "--chain", "prod", "--tokens-file", tokens, "--listen", "127.0.0.1:0")
	if code != exitFailed || !strings.Contains(out, "no token may record into chain prod") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

// A number of days or years too large for a Go duration is refused, not
// wrapped round (outside trial h7: "585y" was taken as about 167 days,
// "600y" as about 15 years and "220000d" as about 18 years, each without
// a word, and "300y" was named as a negative duration).
func TestRetentionTooLongIsRefusedNotWrapped(t *testing.T) {
	for _, in := range []string{"300y", "585y", "600y", "220000d", "4294967295y", "106752d", "293y"} {
		if got, err := parseRetention(in); err == nil || !strings.Contains(err.Error(), "longer than") {
			t.Errorf("%s: %v %v, want refused as too long", in, got, err)
		}
	}
	for in, want := range map[string]time.Duration{"292y": 292 * 8766 * time.Hour, "106751d": 106751 * 24 * time.Hour} {
		if got, err := parseRetention(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
}
