package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/aegisai/audit/ingest"
	"github.com/aegisai/audit/internal/platform/httpauth"
	"github.com/aegisai/audit/internal/platform/serve"
	"github.com/aegisai/audit/producer"
	"github.com/aegisai/audit/shared"
)

// ingestCommand is `aegis ingest`: the HTTP API of the producer.
func (c *common) ingestCommand() *cobra.Command {
	var listen, tokensFile, failSafe, spoolDir string
	var spoolMax int64
	var envs []string
	var maxBody int64
	var timeout, sealTimeout, shutdown time.Duration
	var tokens *httpauth.Tokens // read by the preflight
	var tlsFiles serve.TLSFiles
	var maxConns, maxReading, maxReadingPerToken int
	var cmd *cobra.Command
	cmd = &cobra.Command{
		Use:   "ingest",
		Short: "Serve the HTTP ingest API (POST /v1/decisions, /v1/overrides) for services not written in Go",
		Long: `Serve the HTTP ingest API: the producer's contract over HTTP, with bearer
tokens bound to environments, /healthz, /readyz, /metrics and /openapi.yaml
on the same address.

The --tokens-file has a token a line, fields separated by spaces:
<name> <token> <environments> <uses>, for example
  loginrisk 3f9c1d0e8b7a4c2f9e1d7b6a5c4f3e2d prod,staging record
  auditor   9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d *            read
The name is sealed with each event the token records (recorded_by
"token:<name>"; A-Z a-z 0-9 . _ - @ : / +, at most 128); "*" is every
environment; uses are record, read or record,read (ingest takes record
tokens, aegis query read ones); a token is at least 16 printable ASCII
characters; # starts a comment. The file is read again when it changes:
a token taken out of it is refused from then on.
Each environment is published to its own decisions topic (aegis.decisions.<env>,
or --topic when there is one environment). On SIGTERM it stops accepting,
answers the requests in flight, then flushes the producers.`,
		RunE: c.run(func(ctx context.Context, log *zap.Logger) error {
			defer log.Info("ingest stopped") // after the producers' flush (deferred below)
			topicSet := cmd.Flags().Changed("topic")
			action := shared.Action(failSafe)
			tlsCfg, err := c.serveTLS(tlsFiles, log)
			if err != nil {
				return err
			}
			warnTokens(log, tokens, tokensFile, "--tokens-file")
			go tokens.Watch(ctx, tokensFile, tokenReload, log, func(t *httpauth.Tokens) {
				warnTokens(log, t, tokensFile, "--tokens-file")
				for _, env := range envs {
					if !t.AnyMay(env, httpauth.Record) {
						log.Error("no token of the token file may record into this chain now: every request for it is refused", zap.String("environment", env))
					}
				}
			})
			// The client options are checked, not a connection: ingest starts
			// while Kafka is down and says so on /readyz.
			kafka, err := c.kafkaOptions()
			if err != nil {
				return err
			}
			recorders := map[string]ingest.Recorder{}
			for _, env := range envs {
				topic := ""
				if topicSet {
					topic = c.topic
				}
				spool := ""
				if spoolDir != "" {
					spool = filepath.Join(spoolDir, env) // a producer's spool is its own folder
				}
				p, err := producer.New(ctx, producer.Config{Brokers: c.brokers, Kafka: kafka, Environment: env, Topic: topic, SealedTopic: c.sealed,
					Timeout: timeout, SealTimeout: sealTimeout, SpoolDir: spool, SpoolMaxBytes: spoolMax, Metrics: c.registry, Logger: log.Named("producer").With(zap.String("environment", env))})
				if err != nil {
					return fmt.Errorf("--environments %s: %w", env, err)
				}
				defer p.Close() // after the server has drained: flushes what is in flight
				recorders[env] = p
			}
			svc, err := ingest.New(ingest.Config{Recorders: recorders, Tokens: tokens, MaxBodyBytes: maxBody, FailSafe: action,
				MaxReading: maxReading, MaxReadingPerToken: maxReadingPerToken,
				Metrics: c.registry, Logger: log})
			if err != nil {
				return err
			}
			c.readyCheck(svc.Ready) // --metrics-addr's /readyz answers as --listen's does
			srv, err := listenAPI(serve.Options{Addr: listen, Handler: svc.Handler(), Registry: c.registry, Ready: svc.Ready, TLS: tlsCfg,
				MaxConnections: maxConns, MetricsElsewhere: c.metrics != "", Logger: log}, "--listen", "", log)
			if err != nil {
				return err
			}
			log.Info("ingest serving", zap.String("addr", srv.Addr()), zap.String("url", srv.URL()), zap.Strings("environments", envs))
			served := make(chan error, 1)
			go func() { served <- srv.Serve() }()
			select {
			case err := <-served:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), shutdown)
			defer cancel()
			log.Info("ingest stopping: answering the requests in flight, then flushing")
			if err := srv.Shutdown(sctx); err != nil {
				return fmt.Errorf("shutdown: requests still in flight after %s: %w", shutdown, err)
			}
			return nil
		}),
	}
	// The token file, the fail-safe action and --topic are checked with
	// the start-up validation and reported with its problems.
	c.preflight[cmd] = func(files bool) error {
		if len(envs) == 0 { // the chain served by default, for the checks below and the run
			envs = []string{c.chain}
		}
		var errs []error
		if tokensFile != "" && files { // else the start-up validation says it is required
			var err error
			if tokens, err = httpauth.Load(tokensFile); err != nil {
				errs = append(errs, fmt.Errorf("--tokens-file (AEGIS_TOKENS_FILE): %w", err))
			}
			for _, env := range envs {
				if tokens != nil && env != "" && !tokens.AnyMay(env, httpauth.Record) {
					errs = append(errs, fmt.Errorf("--tokens-file (AEGIS_TOKENS_FILE) %s: no token may record into chain %s (a token's third field names the chains it may use, or *; its fourth, when there is one, record or read): every request would be refused", tokensFile, env))
				}
			}
		}
		if spoolMax <= 0 {
			errs = append(errs, fmt.Errorf("--spool-max-bytes (AEGIS_SPOOL_MAX_BYTES) %d: want a positive number of bytes", spoolMax))
		}
		if cmd.Flags().Changed("topic") && len(envs) > 1 {
			errs = append(errs, errors.New("--topic names one decisions topic; with several --environments each uses its own (aegis.decisions.<env>)"))
		}
		if files {
			if err := checkTLS(tlsFiles); err != nil {
				errs = append(errs, err)
			}
		}
		if !shared.Action(failSafe).Valid() {
			errs = append(errs, fmt.Errorf("--fail-safe-action (AEGIS_FAIL_SAFE_ACTION) %q: want ALLOW, CHALLENGE, BLOCK or REVIEW", failSafe))
		}
		return errors.Join(errs...)
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve the API and health on (and /metrics, unless --metrics-addr is set)")
	f.StringVar(&tokensFile, "tokens-file", "", "bearer tokens, each with the environments it may record into and, as a line's fourth field, record (required; format in the README)")
	aliasFlags(cmd, map[string]string{"addr": "listen", "token-file": "tokens-file"})
	apiFlags(f, &tlsFiles, &maxConns)
	f.StringSliceVar(&envs, "environments", nil, "environments (chains) recorded (default: --chain)")
	f.Int64Var(&maxBody, "max-body-bytes", 64<<10, "largest request body accepted (413 beyond)")
	f.IntVar(&maxReading, "max-reading", 1024, "request bodies read at once at most, every caller's together (429 beyond, nothing recorded)")
	f.IntVar(&maxReadingPerToken, "max-reading-per-token", 256, "request bodies of one token read at once at most (429 beyond, nothing recorded), so that one token's slow bodies hold a bounded share")
	f.StringVar(&failSafe, "fail-safe-action", "CHALLENGE", "the action a 503 tells callers to apply instead of the decision (the decision's own when stricter)")
	f.Int64Var(&spoolMax, "spool-max-bytes", 64<<20, "most bytes of escalations the spool of each environment holds; past it a 503 says escalation_spooled false (about 900 bytes an escalated decision without metadata: the decision and its escalation override; its metadata adds its size)")
	f.StringVar(&spoolDir, "spool-dir", "", "folder where the escalations of decisions answered 503 wait for the broker (a folder per environment; empty: not recorded, and the 503 says escalation_spooled false)")
	f.DurationVar(&timeout, "timeout", 10*time.Second, "how long a request waits for Kafka to confirm the event (503 after)")
	f.DurationVar(&sealTimeout, "seal-timeout", 30*time.Second, "how long a ?durability=sealed request waits for its receipt (503 after)")
	f.DurationVar(&shutdown, "shutdown-timeout", 30*time.Second, "how long shutdown waits for the requests in flight")
	return cmd
}
