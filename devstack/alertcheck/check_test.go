package alertcheck

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
)

const (
	rulesFile = "../../deploy/prometheus/aegis-alerts.yml"
	repoRoot  = "../.."
)

// The repository's rules load as Prometheus loads them, read only metrics
// the roles export, and each has a severity, words and a runbook.
func TestRepositoryAlertRules(t *testing.T) {
	rep, err := Check(rulesFile, repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	// What the README and docs/COMPLIANCE.md tell operators to alert on
	// has an alert.
	for _, m := range []string{
		"aegis_sealer_last_sealed_timestamp_seconds", "aegis_sealer_lag_records", "aegis_sealer_forks_total",
		"aegis_sealer_rewritten_keys_total", "aegis_sealer_bad_checkpoints_total", "aegis_sealer_s3_retries_total",
		"aegis_indexer_anomalies_total", "aegis_indexer_consumer_lag", "aegis_ingest_requests_total",
		"aegis_producer_escalations_total", "aegis_producer_spool_dropped_total", "aegis_tls_certificate_expiry_timestamp_seconds",
	} {
		if !slices.Contains(rep.Metrics, m) {
			t.Errorf("no alert reads %s", m)
		}
	}
	t.Log(rep)
}

// Each mistake the checker exists for is found and named.
func TestMistakesAreFound(t *testing.T) {
	root := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(root, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("README.md", "# x\n\n## When things fail\n")
	write("metrics.go", `package x; var _ = CounterOpts{Name: "aegis_x_total"}`)
	rule := func(expr, severity, runbook string) string {
		return write("rules.yml", `groups:
  - name: g
    rules:
      - alert: A
        expr: '`+expr+`'
        labels: {severity: `+severity+`}
        annotations: {summary: s, description: d, runbook: `+runbook+`}
`)
	}
	for _, tc := range []struct {
		name, expr, severity, runbook, want string
	}{
		{"good", `rate(aegis_x_total[5m]) > 0`, "critical", "README.md#when-things-fail", ""},
		{"a histogram's series", `rate(aegis_x_total_count[5m]) > 0`, "critical", "README.md#when-things-fail", ""},
		{"an unknown histogram's series", `rate(aegis_y_count[5m]) > 0`, "critical", "README.md#when-things-fail", "reads aegis_y_count, which no role exports"},
		{"typo", `rate(aegis_y_total[5m]) > 0`, "critical", "README.md#when-things-fail", "reads aegis_y_total, which no role exports"},
		{"name by pattern", `{__name__=~"aegis_.*"} > 0`, "critical", "README.md#when-things-fail", "matches metric names by a pattern"},
		{"bad PromQL", `rate(aegis_x_total[5m] > 0`, "critical", "README.md#when-things-fail", "unclosed left parenthesis"},
		{"no severity", `aegis_x_total > 0`, `""`, "README.md#when-things-fail", `severity ""`},
		{"other severity", `aegis_x_total > 0`, "page", "README.md#when-things-fail", `severity "page"`},
		{"no such section", `aegis_x_total > 0`, "warning", "README.md#when-it-breaks", "no heading whose anchor is #when-it-breaks"},
		{"no such file", `aegis_x_total > 0`, "warning", "RUNBOOK.md#x", "no such file"},
		{"no anchor", `aegis_x_total > 0`, "warning", "README.md", "want FILE#anchor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Check(rule(tc.expr, tc.severity, tc.runbook), root)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	write("rules.yml", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n")
	if _, err := Check(filepath.Join(root, "rules.yml"), root); err == nil ||
		!strings.Contains(err.Error(), "no summary annotation") || !strings.Contains(err.Error(), "no runbook annotation") {
		t.Fatalf("a rule without annotations: %v", err)
	}
}

// A firing is one situation an alert must (fire) or must not (quiet) fire
// in: series loaded as Prometheus's own rule tests load them (one sample
// a minute from time 0; Unix time is seconds since then), the alert's
// expression evaluated at 10 minutes.
type firing struct {
	alert, why, load string
	fires            []string // label sets of the alerts, none when quiet
}

var firings = []firing{
	{"AegisSealerAbsent", "no sealer scraped", `aegis_build_info{role="indexer"} 1x20`, []string{"{}"}},
	{"AegisSealerAbsent", "a sealer scraped", `aegis_sealer_head_seq{chain="prod"} 5x20`, nil},

	// The only indexer hung (SIGSTOP) or dead: its scrapes fail, its series
	// go stale, and every other indexing alert, which reads them, is quiet
	// (an outside trial, 2026-12-01).
	{"AegisIndexerAbsent", "no indexer scraped", `aegis_build_info{role="sealer"} 1x20
		aegis_sealer_head_seq{chain="prod"} 5x20`, []string{"{}"}},
	{"AegisIndexerAbsent", "an indexer scraped", `aegis_indexer_records_total 5x20`, nil},

	{"AegisSealerNotSealing", "records wait, last batch at 1 min", `aegis_sealer_last_sealed_timestamp_seconds{chain="prod"} 60x20
		aegis_sealer_lag_records{chain="prod"} 5x20`, []string{`{chain="prod"}`}},
	{"AegisSealerNotSealing", "records wait, never sealed", `aegis_sealer_last_sealed_timestamp_seconds{chain="prod"} 0x20
		aegis_sealer_lag_records{chain="prod"} 5x20`, []string{`{chain="prod"}`}},
	{"AegisSealerNotSealing", "idle chain: nothing waits", `aegis_sealer_last_sealed_timestamp_seconds{chain="prod"} 60x20
		aegis_sealer_lag_records{chain="prod"} 0x20`, nil},
	{"AegisSealerNotSealing", "sealing, and a standby that never sealed", `aegis_sealer_last_sealed_timestamp_seconds{chain="prod",instance="a"} 0+60x20
		aegis_sealer_last_sealed_timestamp_seconds{chain="prod",instance="b"} 0x20
		aegis_sealer_lag_records{chain="prod",instance="a"} 5x20
		aegis_sealer_lag_records{chain="prod",instance="b"} 0x20`, nil},

	{"AegisSealerStalledWhileProducing", "producers publish, no batch since 1 min", `aegis_sealer_last_sealed_timestamp_seconds{chain="prod"} 60x20
		aegis_producer_events_total{chain="prod",outcome="durable"} 0+100x20`, []string{`{chain="prod"}`}},
	{"AegisSealerStalledWhileProducing", "nothing published", `aegis_sealer_last_sealed_timestamp_seconds{chain="prod"} 60x20
		aegis_producer_events_total{chain="prod",outcome="durable"} 500x20`, nil},
	{"AegisSealerStalledWhileProducing", "published and sealed", `aegis_sealer_last_sealed_timestamp_seconds{chain="prod"} 0+60x20
		aegis_producer_events_total{chain="prod",outcome="durable"} 0+100x20`, nil},

	{"AegisSealerBacklog", "a growing backlog", `aegis_sealer_lag_records{chain="prod"} 0+2000x20`, []string{`{chain="prod"}`}},
	{"AegisSealerBacklog", "a small backlog", `aegis_sealer_lag_records{chain="prod"} 500x20`, nil},

	{"AegisSealerS3Retrying", "retries", `aegis_sealer_s3_retries_total{chain="prod"} 0+3x20`, []string{`{chain="prod"}`}},
	{"AegisSealerS3Retrying", "none lately", `aegis_sealer_s3_retries_total{chain="prod"} 7x20`, nil},

	{"AegisSealerRestarting", "a restart a minute", `aegis_sealer_session_restarts_total{chain="prod"} 0+1x20`, []string{`{chain="prod"}`}},
	{"AegisSealerRestarting", "one restart", `aegis_sealer_session_restarts_total{chain="prod"} 0x5 1x15`, nil},

	{"AegisChainForkAttempt", "a fork at 8 min", `aegis_sealer_forks_total{chain="prod"} 0x8 1x12`, []string{`{chain="prod"}`}},
	{"AegisChainForkAttempt", "none", `aegis_sealer_forks_total{chain="prod"} 0x20`, nil},

	{"AegisSealedObjectRewritten", "one found at 9 min", `aegis_sealer_rewritten_keys_total{chain="prod"} 0x9 1x11`, []string{`{chain="prod"}`}},
	{"AegisSealedObjectRewritten", "none", `aegis_sealer_rewritten_keys_total{chain="prod"} 0x20`, nil},

	{"AegisForgedCheckpoint", "one found at 5 min", `aegis_sealer_bad_checkpoints_total{chain="prod"} 0x5 2x15`, []string{`{chain="prod"}`}},
	{"AegisForgedCheckpoint", "none", `aegis_sealer_bad_checkpoints_total{chain="prod"} 0x20`, nil},

	{"AegisIndexerNotProgressing", "records wait, none indexed", `aegis_indexer_consumer_lag{topic="sealed",partition="0"} 40x20
		aegis_indexer_records_total{instance="a"} 900x20`, []string{`{topic="sealed"}`}},
	{"AegisIndexerNotProgressing", "records wait, being indexed", `aegis_indexer_consumer_lag{topic="sealed",partition="0"} 40x20
		aegis_indexer_records_total{instance="a"} 0+300x20`, nil},
	{"AegisIndexerNotProgressing", "caught up", `aegis_indexer_consumer_lag{topic="sealed",partition="0"} 0x20
		aegis_indexer_records_total{instance="a"} 900x20`, nil},

	{"AegisIndexerLag", "two owners report one partition during a rebalance, not twice counted", `aegis_indexer_consumer_lag{topic="sealed",partition="0",instance="a"} 6000x20
		aegis_indexer_consumer_lag{topic="sealed",partition="0",instance="b"} 6000x20`, nil},
	{"AegisIndexerLag", "two partitions behind", `aegis_indexer_consumer_lag{topic="sealed",partition="0"} 6000x20
		aegis_indexer_consumer_lag{topic="sealed",partition="1"} 6000x20`, []string{`{topic="sealed"}`}},

	{"AegisIndexBehindChain", "far behind", `aegis_sealer_head_seq{chain="prod"} 50000x20
		aegis_indexer_high_water_seq{chain="prod",instance="a"} 1000x20`, []string{`{chain="prod"}`}},
	{"AegisIndexBehindChain", "close behind, on two indexers", `aegis_sealer_head_seq{chain="prod"} 50000x20
		aegis_indexer_high_water_seq{chain="prod",instance="a"} 1000x20
		aegis_indexer_high_water_seq{chain="prod",instance="b"} 49000x20`, nil},

	{"AegisIndexerRetrying", "throttled", `aegis_indexer_retries_total{instance="a"} 0+300x20`, []string{"{}"}},
	{"AegisIndexerRetrying", "a few retries", `aegis_indexer_retries_total{instance="a"} 0+6x20`, nil},

	{"AegisIndexAnomalies", "a reused event id", `aegis_indexer_anomalies_total{kind="event-id-reused"} 0x5 1x15`, []string{`{kind="event-id-reused"}`}},
	{"AegisIndexAnomalies", "none", `aegis_indexer_anomalies_total{kind="event-id-reused"} 3x20`, nil},

	{"AegisFailSafeAnswers", "503s", `aegis_ingest_requests_total{route="decisions",code="503"} 0+10x20
		aegis_ingest_requests_total{route="decisions",code="201"} 0+1000x20`, []string{`{route="decisions"}`}},
	{"AegisFailSafeAnswers", "201s and 400s", `aegis_ingest_requests_total{route="decisions",code="400"} 0+10x20
		aegis_ingest_requests_total{route="decisions",code="201"} 0+1000x20`, nil},

	{"AegisEscalations", "escalated", `aegis_producer_escalations_total{chain="prod",reason="unavailable"} 0+5x20`, []string{`{chain="prod", reason="unavailable"}`}},
	{"AegisEscalations", "none lately", `aegis_producer_escalations_total{chain="prod",reason="unavailable"} 9x20`, nil},

	{"AegisEscalationsNotRecorded", "dropped", `aegis_producer_spool_dropped_total{chain="prod"} 0x8 4x12`, []string{`{chain="prod"}`}},
	{"AegisEscalationsNotRecorded", "none", `aegis_producer_spool_dropped_total{chain="prod"} 0x20`, nil},

	{"AegisSpoolWaiting", "waiting", `aegis_producer_spool_records{chain="prod"} 3x20`, []string{`{chain="prod"}`}},
	{"AegisSpoolWaiting", "empty", `aegis_producer_spool_records{chain="prod"} 0x20`, nil},

	{"AegisEventsNotConfirmed", "failed", `aegis_producer_events_total{chain="prod",outcome="failed"} 0+2x20`, []string{`{chain="prod"}`}},
	{"AegisEventsNotConfirmed", "durable only", `aegis_producer_events_total{chain="prod",outcome="failed"} 4x20
		aegis_producer_events_total{chain="prod",outcome="durable"} 0+100x20`, nil},

	{"AegisTLSCertificateExpiresSoon", "10 days left", `aegis_tls_certificate_expiry_timestamp_seconds{instance="i"} 864600x20`, []string{`{instance="i"}`}},
	{"AegisTLSCertificateExpiresSoon", "30 days left", `aegis_tls_certificate_expiry_timestamp_seconds{instance="i"} 2592600x20`, nil},
	{"AegisTLSCertificateExpiring", "1 day left", `aegis_tls_certificate_expiry_timestamp_seconds{instance="i"} 87000x20`, []string{`{instance="i"}`}},
	{"AegisTLSCertificateExpiring", "10 days left", `aegis_tls_certificate_expiry_timestamp_seconds{instance="i"} 864600x20`, nil},

	{"AegisQueryErrors", "500s", `aegis_query_requests_total{route="decision",code="500"} 0+2x20`, []string{`{route="decision"}`}},
	{"AegisQueryErrors", "404s", `aegis_query_requests_total{route="decision",code="404"} 0+2x20`, nil},
}

// Every alert fires in a situation it is written for and stays quiet in
// one beside it (what an operator would otherwise be paged for).
func TestAlertsFireWhenTheyShould(t *testing.T) {
	rep, err := Check(rulesFile, repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	engine := promqltest.NewTestEngine(t, false, 0, 100000)
	fired, quiet := map[string]bool{}, map[string]bool{}
	for _, f := range firings {
		t.Run(f.alert+"/"+f.why, func(t *testing.T) {
			expr, ok := rep.Alerts[f.alert]
			if !ok {
				t.Fatalf("no alert %s in %s", f.alert, rulesFile)
			}
			st := promqltest.LoadedStorage(t, "load 1m\n\t"+f.load+"\n")
			q, err := engine.NewInstantQuery(context.Background(), st, nil, expr, time.Unix(600, 0))
			if err != nil {
				t.Fatal(err)
			}
			res := q.Exec(context.Background())
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			vec, err := res.Vector()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range vec {
				got = append(got, s.Metric.String())
			}
			slices.Sort(got)
			if !slices.Equal(got, f.fires) {
				t.Fatalf("%s: fires for %q, want %q\nexpr: %s", f.why, got, f.fires, expr)
			}
		})
		if len(f.fires) > 0 {
			fired[f.alert] = true
		} else {
			quiet[f.alert] = true
		}
	}
	for a := range rep.Alerts {
		if !fired[a] || !quiet[a] {
			t.Errorf("alert %s: no situation where it fires (%v) or none where it stays quiet (%v): add them to firings", a, fired[a], quiet[a])
		}
	}
}
