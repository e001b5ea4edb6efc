// Command aegis runs one role of the audit pipeline: `aegis sealer`,
// `aegis indexer`, `aegis verify`, `aegis index anomalies`, and `aegis
// keygen` for the checkpoint keys. Each flag can also be set by an environment variable AEGIS_<FLAG>
// (upper case, dashes as underscores). The main only turns flags into a
// Config and calls the role's New and Run.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/internal/platform/awsconn"
	"github.com/aegisai/audit/internal/platform/gctune"
	"github.com/aegisai/audit/internal/platform/kafkaconn"
	"github.com/aegisai/audit/internal/platform/serve"
	"github.com/aegisai/audit/internal/platform/setting"
	"github.com/aegisai/audit/internal/platform/shown"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

type common struct {
	brokers []string
	kafka   kafkaconn.Config
	// kafkaPasswordFile holds the SASL password (--kafka-sasl-password-file).
	kafkaPasswordFile string
	chain             string
	bucket            string
	prefix            string
	s3                awsconn.Config
	dynamo            awsconn.Config
	table             string
	topic             string
	sealed            string
	verifierKF        string
	// preflight holds, by command, checks the start-up validation
	// runs and reports with its own (validate).
	// preflight(false) is --check-settings': every value, no file read.
	preflight map[*cobra.Command]func(files bool) error
	// checkSettings: --check-settings, validate and exit.
	checkSettings bool
	logLevel      string
	logFormat     string
	metrics       string
	pprof         bool
	registry      *prometheus.Registry
	ready         atomic.Pointer[<-chan struct{}] // closed when the role is ready (/readyz)
	readyProbe    atomic.Pointer[func() error]    // or asked on each /readyz
	// stdout and stderr are what the command prints through for people
	// (shown.Writer); rawStdout takes bytes that must stay as they are.
	stdout    io.Writer
	stderr    io.Writer
	rawStdout io.Writer
	cmd       *cobra.Command // the command running
}

func (c *common) flags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&c.brokers, "brokers", []string{"127.0.0.1:9092"}, "Kafka seed brokers")
	kafkaFlags(fs, &c.kafka, &c.kafkaPasswordFile)
	fs.StringVar(&c.chain, "chain", "", "chain id: the environment sealed (for verify-proof: the chain the bundle must prove, as one key may sign several)")
	fs.StringVar(&c.bucket, "bucket", "aegis-audit", "S3 bucket with Object Lock enabled")
	fs.StringVar(&c.prefix, "prefix", "audit", "S3 key prefix")
	awsFlags(fs, &c.s3, "s3", "S3")
	awsFlags(fs, &c.dynamo, "dynamodb", "DynamoDB")
	fs.StringVar(&c.table, "table", "aegis-audit", "DynamoDB table")
	fs.StringVar(&c.topic, "topic", "", "decisions topic, one partition (default aegis.decisions.<chain>: each chain its own)")
	fs.StringVar(&c.sealed, "sealed-topic", "sealed", "sealed topic")
	fs.StringVar(&c.verifierKF, "verifier-key-file", "", "checkpoint verifier (public) key file, or the chain's keyset file after a key rotation (docs/FORMAT.md section 7.4)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "json", "json (one JSON object per line, for production log pipelines) or console (readable, for development)")
	fs.StringVar(&c.metrics, "metrics-addr", "", "serve /healthz, /readyz and Prometheus /metrics on this address (empty: off)")
	fs.BoolVar(&c.pprof, "pprof", false, "also serve Go's profiler at /debug/pprof/ on --metrics-addr (off by default: it shows every goroutine's stack to whoever reaches the address)")
}

// Exit statuses of aegis.
const (
	exitOK = 0
	// exitFailed: the command failed (for verify: the log does not verify).
	exitFailed = 1
	// exitUnsigned: verify found the log sound but with entries no
	// checkpoint signs yet (see --allow-unsigned).
	exitUnsigned = 2
	// exitLagging: index status found the index further behind S3 than
	// --max-lag.
	exitLagging = 3
	// exitUnavailable: S3 or DynamoDB could not be reached (or answered
	// server errors through every attempt): nothing was checked, which
	// is not a failure of what would have been (for verify: the log was
	// not read, not found broken).
	exitUnavailable = 4
)

// errUnavailable marks a check that could not be made: a service could
// not be reached (awsconn.Unavailable).
var errUnavailable = errors.New("could not check: a service could not be reached (not a verification failure; try again)")

// errUnsigned is returned by verify for a sound log with unsigned entries.
var errUnsigned = errors.New("entries after the latest checkpoint are not signed yet")

// errLagging is returned by index status when the index is too far behind.
var errLagging = errors.New("index behind S3")

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run executes aegis with args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	var c common
	root := &cobra.Command{
		Use:           "aegis",
		Short:         "AegisAI audit layer: seal, index and verify AI decisions",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       thisBuild().String(), // --version, as `aegis version`
	}
	root.SetVersionTemplate("{{.Version}}\n")
	c.flags(root.PersistentFlags())
	root.PersistentFlags().BoolVar(&c.checkSettings, checkSettingsFlag, false,
		"check the command's settings as it does at start (required ones set, every value well formed), not the files they name nor the servers, and exit: 0 and \"settings valid\" when they are; no variable sets it")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		c.cmd = cmd
		warnUnread(c.stderr, cmd)
		if err := envFlags(cmd.Flags()); err != nil {
			return err
		}
		if err := aliasEnv(cmd); err != nil {
			return err
		}
		pf := c.preflight[cmd]
		if c.checkSettings {
			// The form alone: the files the settings name are not read (a
			// deployment check has not got them), but every value the
			// start checks is (before, --check-settings said "settings
			// valid" of a --retention 1h or --fail-safe-action FOO the
			// start refused).
			var form func() error
			if pf != nil {
				form = func() error { return pf(false) }
			}
			if err := validate(cmd, form); err != nil {
				return err
			}
			return errSettingsChecked
		}
		var full func() error
		if pf != nil {
			full = func() error { return pf(true) }
		}
		return validate(cmd, full)
	}
	c.preflight = map[*cobra.Command]func(files bool) error{}

	var signerKF, nextSignerKF, sealerGroup, txnID, identity string
	var batchRecords, batchBytes, maxInFlight int
	var batchAge, retention, sessionTimeout time.Duration
	var createBucket bool
	var keys sealerKeys // read by the sealer's preflight
	sealCmd := &cobra.Command{
		Use:   "sealer",
		Short: "Seal the decisions topic into S3 and publish the sealed entries",
		RunE: c.run(func(ctx context.Context, log *zap.Logger) error {
			gctune.Set(gctune.Sealer)
			kafka, err := c.kafkaConnect(ctx)
			if err != nil {
				return err
			}
			s3c, err := c.s3Client(ctx)
			if err != nil {
				return err
			}
			s, err := sealer.New(ctx, sealer.Config{
				Brokers: c.brokers, KafkaOptions: kafka, Topic: c.topic, SealedTopic: c.sealed, Chain: c.chain,
				S3: s3c, Bucket: c.bucket, Prefix: c.prefix, Retention: retention, CreateBucket: createBucket,
				SignerKey: keys.signer, VerifierKey: keys.verifier, NextSignerKey: keys.next,
				BatchMaxRecords: batchRecords, BatchMaxBytes: batchBytes, BatchMaxAge: batchAge, Logger: log,
				Metrics: c.registry, Group: sealerGroup, TransactionalID: txnID, Identity: identity,
				SessionTimeout: sessionTimeout, MaxInFlight: maxInFlight,
				S3Settings: fmt.Sprintf("--s3-endpoint (AEGIS_S3_ENDPOINT) %s and the S3 credentials (--s3-access-key-id, --s3-profile, AWS_*)", endpointName(c.s3)),
			})
			if err != nil {
				return err
			}
			c.readyCheck(func() error { // recovered once, and still able to seal
				select {
				case <-s.Ready():
					return s.Healthy()
				default:
					return errors.New("recovering the head from S3")
				}
			})
			return s.Run(ctx)
		}),
	}
	// The key files and every value the sealer checks are checked with the
	// start-up validation, before any connection, and reported with it.
	c.preflight[sealCmd] = func(files bool) error {
		var errs []error
		if files {
			keys, errs = readSealerKeys(signerKF, nextSignerKF, c.verifierKF)
		}
		cfg := sealer.Config{Chain: c.chain, Bucket: c.bucket, SignerKey: keys.signer, NextSignerKey: keys.next, VerifierKey: keys.verifier,
			BatchMaxRecords: batchRecords, BatchMaxBytes: batchBytes, BatchMaxAge: batchAge, Retention: retention, SessionTimeout: sessionTimeout}
		for _, joined := range setting.Problems(cfg.Check()) {
			for _, p := range setting.Problems(joined) { // the key files' problems come joined
				if fs := setting.Fields(p); len(fs) == 1 && (keys.failed[fs[0].Field] || !files && sealerKeyFields[fs[0].Field]) {
					continue // its file could not be read (said once), or was not read
				}
				errs = append(errs, p)
			}
		}
		return errors.Join(errs...)
	}
	sealCmd.Flags().StringVar(&signerKF, "signer-key-file", "", "checkpoint signing (private) key file")
	sealCmd.Flags().StringVar(&nextSignerKF, "next-signer-key-file", "", "a staged checkpoint key (private): the sealer hands over to it when aegis rotate-key asks (docs/SECURITY.md, key rotation)")
	sealCmd.Flags().IntVar(&batchRecords, "batch-max-records", 0, "close a batch at this many entries (default 1000)")
	sealCmd.Flags().IntVar(&batchBytes, "batch-max-bytes", 0, "close a batch at this many bytes (default 4 MiB)")
	sealCmd.Flags().DurationVar(&batchAge, "batch-max-age", 0, "close a batch this long after its first entry (default 1s)")
	sealCmd.Flags().Var(retentionValue{&retention}, "retention", "Object Lock COMPLIANCE retention: days (2557d), years of 365.25 days (7y) or a Go duration, at least a day (default 7 years); never ends before the chain's newest checkpoint's, so a shorter one takes effect once those dates pass")
	sealCmd.Flags().BoolVar(&createBucket, "create-bucket", false, "create a missing bucket with Object Lock (development)")
	sealCmd.Flags().StringVar(&sealerGroup, "group", "", "consumer group of the chain's sealers (default aegis-sealer-<chain>)")
	sealCmd.Flags().StringVar(&txnID, "transactional-id", "", "Kafka transactional id shared by the chain's sealers (default aegis-sealer-<chain>)")
	sealCmd.Flags().StringVar(&identity, "identity", "", "this sealer among the chain's sealers; a restart with the same identity takes over at once (default: the host name)")
	sealCmd.Flags().DurationVar(&sessionTimeout, "session-timeout", 0, "how long a standby waits for a silent sealer before taking over (default 3s; brokers must allow it)")
	sealCmd.Flags().IntVar(&maxInFlight, "max-in-flight", 0, "batches sealed in S3 but not yet committed in Kafka at once (default 4)")

	var createTable bool
	var group string
	var indexerSession time.Duration
	var indexerIdentity string
	var indexerWorkers int
	indexCmd := &cobra.Command{
		Use:   "indexer",
		Short: "Index the sealed topic into DynamoDB (run as many as the sealed topic has partitions)",
		RunE: c.run(func(ctx context.Context, log *zap.Logger) error {
			kafka, err := c.kafkaConnect(ctx)
			if err != nil {
				return err
			}
			db, err := awsconn.DynamoDB(ctx, c.dynamo)
			if err != nil {
				return err
			}
			ix, err := indexer.New(ctx, indexer.Config{Brokers: c.brokers, KafkaOptions: kafka, SealedTopic: c.sealed, DynamoDB: db, Table: c.table,
				Group: group, CreateTable: createTable, Logger: log, Metrics: c.registry, SessionTimeout: indexerSession, Identity: indexerIdentity,
				Workers: indexerWorkers})
			if err != nil {
				return err
			}
			probe, err := kgo.NewClient(kafka...)
			if err != nil {
				return fmt.Errorf("kafka client: %w", err)
			}
			defer probe.Close()
			c.readyCheck(c.indexerReadiness(ix.Ready(), db, probe))
			return ix.Run(ctx)
		}),
	}

	var knownFile, saveFile string
	var allowUnsigned, asJSON, pruned bool
	verifyCmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify the chain in S3 under every rule of docs/FORMAT.md: hashes, links, keys, Object Lock, checkpoint signatures",
		Long: `Verify the chain in S3 under every rule of docs/FORMAT.md.

Exit status: 0 when the log verifies and every entry is signed by a
checkpoint; 2 when it verifies but the newest entries are not signed yet
(unless --allow-unsigned); 1 when it does not verify (the first broken
object, line and seq are named) or the command fails.

Keep the latest checkpoint (--save-checkpoint) and give it back next time
(--known-checkpoint): deleting the newest objects together with their
checkpoints cannot be seen from S3 alone, but fails against a kept one.`,
		RunE: c.run(func(ctx context.Context, log *zap.Logger) error {
			gctune.Set(gctune.Verifier)
			vkey, s3c, err := c.archive(ctx)
			if err != nil {
				return err
			}
			cfg := replayer.Config{S3: s3c, Bucket: c.bucket, Prefix: c.prefix, Chain: c.chain, VerifierKey: vkey, Logger: log, Pruned: pruned}
			if knownFile != "" {
				if cfg.KnownCheckpoint, err = os.ReadFile(knownFile); err != nil {
					return fmt.Errorf("--known-checkpoint: %w", err)
				}
				cfg.KnownCheckpointName = knownFile
			}
			progress := newProgress(os.Stderr, "verify "+c.chain)
			cfg.Progress = func(done, total int, entries uint64) { progress.update(done, total, entries) }
			started := time.Now()
			rep, err := replayer.Verify(ctx, cfg)
			progress.done()
			if errors.Is(err, replayer.ErrNoChain) {
				err = fmt.Errorf("%w: check --chain (AEGIS_CHAIN), --bucket (AEGIS_BUCKET) and --prefix (AEGIS_PREFIX)", err)
			}
			if asJSON {
				out := struct {
					OK bool `json:"ok"`
					shared.LogReport
					HeadSeq    uint64            `json:"head_seq"`
					HeadHash   string            `json:"head_hash"`
					PastRet    int               `json:"past_retention,omitempty"`
					Markers    int               `json:"pruned_markers,omitempty"`
					Seconds    float64           `json:"seconds"`
					Failure    *replayer.Failure `json:"failure,omitempty"`
					Error      string            `json:"error,omitempty"`
					ExitStatus int               `json:"exit_status"`
				}{OK: err == nil && (rep.Unsigned == 0 || allowUnsigned), LogReport: rep.LogReport, HeadSeq: rep.Head.Seq, HeadHash: rep.Head.Hash.String(),
					PastRet: rep.PastRetention, Markers: rep.PrunedMarkers, Seconds: time.Since(started).Seconds()}
				switch { // the command's own exit status, as the failures of other commands carry it
				case err != nil && awsconn.Unavailable(err):
					out.ExitStatus = exitUnavailable
				case err != nil:
					out.ExitStatus = exitFailed
				case !out.OK:
					out.ExitStatus = 2
				}
				var f *replayer.Failure
				if errors.As(err, &f) {
					out.Failure = f
				}
				if err != nil {
					out.Error = err.Error()
				}
				if jerr := json.NewEncoder(c.stdout).Encode(out); jerr != nil {
					return jerr
				}
			}
			var f *replayer.Failure
			if err != nil && !asJSON && errors.As(err, &f) && f.Keyset != "" {
				fmt.Fprintf(c.stdout, "The keyset that would trust this hand-over (check the new key's id out of band first, then save these lines as the keyset file):\n%s", f.Keyset)
			}
			if err != nil {
				return err
			}
			if saveFile != "" {
				if err := writeFileAtomic(saveFile, rep.LatestCheckpoint); err != nil {
					return fmt.Errorf("--save-checkpoint: %w", err)
				}
			}
			if asJSON {
				if rep.Unsigned > 0 && !allowUnsigned {
					return fmt.Errorf("%w: %d entries after seq %d", errUnsigned, rep.Unsigned, rep.CheckpointedSeq)
				}
				return nil
			}
			// The entries that are neither: the genesis and the key hand-overs.
			other := "the genesis"
			if n := rep.Entries - rep.Events - rep.Invalid; rep.StartSeq > 0 {
				other = counted(int(n), "key hand-over", "key hand-overs") // no genesis: pruned
			} else if n > 1 {
				other = "the genesis and " + counted(int(n-1), "key hand-over", "key hand-overs")
			}
			fmt.Fprintf(c.stdout, "OK chain %s: %d entries (%d events, %d invalid, %s) in %s, %s; head seq %d hash %s; signed to seq %d\n",
				c.chain, rep.Entries, rep.Events, rep.Invalid, other, counted(rep.Objects, "object", "objects"), counted(rep.Checkpoints, "checkpoint", "checkpoints"),
				rep.Head.Seq, rep.Head.Hash, rep.CheckpointedSeq)
			if rep.StartSeq > 0 {
				fmt.Fprintf(c.stdout, "pruned: the chain that remains starts at seq %d (%s, sealed at %s); seqs 0 to %d were deleted and are not verified: "+
					"compare that time with the retention (under Object Lock in COMPLIANCE mode nothing younger can have been deleted)\n",
					rep.StartSeq, rep.StartObject, shared.FormatTime(rep.StartSealedAt), rep.StartSeq-1)
			}
			if rep.PastRetention > 0 {
				fmt.Fprintf(c.stdout, "pruned: %s of the oldest that remain are past their Object Lock retention: the ones pruning deletes next\n",
					counted(rep.PastRetention, "object or checkpoint", "objects and checkpoints"))
			}
			if rep.PrunedMarkers > 0 {
				fmt.Fprintf(c.stdout, "pruned: %s under a delete marker over versions past their retention (an S3 lifecycle expiration at work) taken as deleted\n",
					counted(rep.PrunedMarkers, "key", "keys"))
			}
			if knownFile != "" {
				fmt.Fprintf(c.stdout, "the chain extends the known checkpoint %s (seq %d)\n", knownFile, rep.Known.Seq)
			}
			if saveFile != "" {
				fmt.Fprintf(c.stdout, "latest checkpoint (seq %d) saved to %s: pass it as --known-checkpoint next time\n", rep.CheckpointedSeq, saveFile)
			}
			if rep.Unsigned > 0 {
				msg := fmt.Sprintf("%d entries after seq %d (to seq %d) verify but are not signed by a checkpoint yet", rep.Unsigned, rep.CheckpointedSeq, rep.Head.Seq)
				if !allowUnsigned {
					return fmt.Errorf("%w: %s", errUnsigned, msg)
				}
				fmt.Fprintln(c.stdout, "note:", msg)
			}
			return nil
		}),
	}
	verifyCmd.Flags().StringVar(&knownFile, "known-checkpoint", "", "a checkpoint kept from an earlier verification: fail unless the chain extends it")
	verifyCmd.Flags().StringVar(&saveFile, "save-checkpoint", "", "write the latest verified checkpoint to this file")
	verifyCmd.Flags().BoolVar(&asJSON, "json", false, "print the report (or the failure) as one JSON object")
	verifyCmd.Flags().BoolVar(&allowUnsigned, "allow-unsigned", false, "exit 0 even when the newest entries are not signed by a checkpoint yet")
	verifyCmd.Flags().BoolVar(&pruned, "pruned", false, "accept a chain whose oldest objects were deleted after their retention: verify what remains, from its lowest object, and print where it starts (docs/FORMAT.md section 6.1)")

	indexCmd.Flags().StringVar(&group, "group", "aegis-indexer", "consumer group shared by the indexers of one table")
	indexCmd.Flags().StringVar(&indexerIdentity, "identity", "", "this indexer among the group's indexers, unique to each running indexer (a pod name; a host name only with one indexer on the host; AEGIS_IDENTITY also sets the sealer's); a restart with the same identity takes its partitions back at once (default: none, the restart waits for the session timeout)")
	indexCmd.Flags().DurationVar(&indexerSession, "session-timeout", 0, "how long the group waits for a silent indexer before giving its partitions to the others (default 45s; brokers must allow it)")
	indexCmd.Flags().IntVar(&indexerWorkers, "workers", 8, "DynamoDB calls each partition's batch makes at once (decisions indexed in parallel); raise it when DynamoDB's round trip, not its capacity, is what limits indexing")
	indexCmd.Flags().BoolVar(&createTable, "create-table", false, "create a missing table with its indexes (development); without it a missing table stops the indexer")

	var keyName, outPrefix string
	keygenCmd := &cobra.Command{
		Use:   "keygen",
		Short: "Create an Ed25519 checkpoint key pair: <out>.key (private) and <out>.pub",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !shared.ValidIdentifier(keyName) {
				return fmt.Errorf("--name %q: a key name is 1 to 128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit", keyName)
			}
			skey, vkey, err := note.GenerateKey(rand.Reader, keyName)
			if err != nil {
				return err
			}
			if err := os.WriteFile(outPrefix+".key", []byte(skey+"\n"), 0o600); err != nil {
				return err
			}
			if err := os.WriteFile(outPrefix+".pub", []byte(vkey+"\n"), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "wrote %s.key and %s.pub (verifier key %s)\n", outPrefix, outPrefix, vkey)
			return nil
		},
	}
	keygenCmd.Flags().StringVar(&keyName, "name", "aegis-audit", "key name")
	keygenCmd.Flags().StringVar(&outPrefix, "out", "checkpoint", "output path prefix")

	root.AddCommand(sealCmd, indexCmd, verifyCmd, keygenCmd, c.indexCommand())
	root.AddCommand(c.proveCommands()...)
	root.AddCommand(c.discoverCommand(), c.rebuildCommand())
	root.AddCommand(c.queryCommands()...)
	root.AddCommand(c.ingestCommand(), c.rotateKeyCommand(), c.rewindSealerCommand(), c.healthCommand())
	root.AddCommand(referenceCommand(root), c.versionCommand())
	scopeHelp(root)
	root.SetArgs(args)
	out := &countingWriter{w: stdout}
	shownOut, shownErr := &shown.Writer{W: out}, &shown.Writer{W: stderr}
	defer shownOut.Flush()
	defer shownErr.Flush()
	c.stdout, c.stderr, c.rawStdout = shownOut, shownErr, out
	root.SetOut(shownOut)
	root.SetErr(shownErr)
	warnMisspelt(shownErr, root, os.Environ())
	cmd, err := root.ExecuteC()
	err = c.withConnectionHint(cmd, renameFields(cmd, err))
	status := exitOK
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errSettingsChecked):
		fmt.Fprintf(shownOut, "settings valid: %s (their form; the files they name and the servers were not tried)\n", cmd.CommandPath())
		return exitOK
	case errors.Is(err, errUnsigned):
		status = exitUnsigned
	case errors.Is(err, errLagging):
		status = exitLagging
	case errors.Is(err, errUnavailable):
		status = exitUnavailable
	case checks(cmd) && awsconn.Unavailable(err):
		status = exitUnavailable
		err = fmt.Errorf("%w: %w", errUnavailable, err)
	default:
		status = exitFailed
	}
	fmt.Fprintln(shownErr, "aegis:", err)
	jsonFailure(cmd, shownOut, out, err, status)
	return status
}

// checks reports whether cmd reads the chain or the index to answer (a
// service out of reach is then exit 4, "could not check"); a role or a
// probe that cannot reach a service has failed (exit 1).
func checks(cmd *cobra.Command) bool {
	if cmd == nil {
		return false
	}
	switch cmd.Name() {
	case "verify", "discover", "prove", "verify-receipt", "get", "list", "check", "status", "anomalies", "rebuild":
		return true
	}
	return false
}

// run wraps a role's body: start (logger, signals, metrics), run, stop.
func (c *common) run(body func(ctx context.Context, log *zap.Logger) error) func(*cobra.Command, []string) error {
	return c.runArgs(func(ctx context.Context, log *zap.Logger, _ []string) error { return body(ctx, log) })
}

// runArgs is run for a body that takes the command's arguments.
func (c *common) runArgs(body func(ctx context.Context, log *zap.Logger, args []string) error) func(*cobra.Command, []string) error {
	return func(_ *cobra.Command, args []string) error {
		ctx, log, done, err := c.start()
		if err != nil {
			return err
		}
		defer done()
		return body(ctx, log, args)
	}
}

// readyWhen makes /readyz answer 200 once ch is closed.
func (c *common) readyWhen(ch <-chan struct{}) { c.ready.Store(&ch) }

// readyCheck makes /readyz answer what check says.
func (c *common) readyCheck(check func() error) { c.readyProbe.Store(&check) }

// readiness is /readyz: ready once the role's channel is closed, or when
// its check passes.
func (c *common) readiness() error {
	if check := c.readyProbe.Load(); check != nil {
		return (*check)()
	}
	ch := c.ready.Load()
	if ch == nil {
		return errors.New("starting")
	}
	select {
	case <-*ch:
		return nil
	default:
		return errors.New("recovering and connecting")
	}
}

// start returns a context cancelled on SIGINT/SIGTERM and a logger.
func (c *common) start() (context.Context, *zap.Logger, func(), error) {
	log, err := newLogger(c.logLevel, c.logFormat)
	if err != nil {
		return nil, nil, nil, err
	}
	awsSecrets(&c.s3)
	awsSecrets(&c.dynamo)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	c.registry = prometheus.NewRegistry()
	c.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfo())
	if c.metrics != "" {
		// /healthz, /readyz, /metrics, and with --pprof Go's profiler for
		// an operator chasing CPU or memory (the address should be
		// reachable only from where operators are).
		srv, err := serve.Listen(serve.Options{Addr: c.metrics, Registry: c.registry, Ready: c.readiness, Profiling: c.pprof, Logger: log})
		if err != nil && checks(c.cmd) {
			// A one-shot reader run where a role's AEGIS_METRICS_ADDR is
			// exported: its metrics are a nicety, its answer is the job
			// (before, aegis index status failed on the port in use).
			fmt.Fprintf(c.stderr, "warning: --metrics-addr (AEGIS_METRICS_ADDR) %s: %v; serving no metrics for this run\n", c.metrics, err)
			return ctx, log, func() { stop(); _ = log.Sync() }, nil
		}
		if err != nil {
			stop()
			return nil, nil, nil, fmt.Errorf("--metrics-addr: %w", err)
		}
		go func() {
			if err := srv.Serve(); err != nil {
				log.Error("metrics server stopped", zap.String("addr", c.metrics), zap.Error(err))
			}
		}()
		c.logOperational(log, srv.Addr())
		return ctx, log, func() { stop(); _ = srv.Shutdown(context.Background()); _ = log.Sync() }, nil
	}
	if c.pprof {
		log.Warn("--pprof (AEGIS_PPROF) has no effect without --metrics-addr (AEGIS_METRICS_ADDR): the profiler is served there")
	}
	return ctx, log, func() { stop(); _ = log.Sync() }, nil
}

// logOperational says what --metrics-addr serves, and warns when the
// profiler is served where other machines reach it: it shows every
// goroutine's stack, and needs no token.
func (c *common) logOperational(log *zap.Logger, addr string) {
	if c.cmd == nil || !checks(c.cmd) { // a one-shot reader's output is its answer
		log.Info("serving /healthz, /readyz and /metrics (no token)", zap.String("addr", addr), zap.Bool("pprof", c.pprof))
	}
	if c.pprof && !serve.Loopback(addr) {
		log.Warn("serving Go's profiler (--pprof) on an address other machines can reach: it shows every goroutine's stack "+
			"to whoever reaches it; keep --metrics-addr private, or serve the profiler only while profiling", zap.String("addr", addr))
	}
}

// archive returns the trusted verifier key and an S3 client.
func (c *common) archive(ctx context.Context) (string, *s3.Client, error) {
	vkey, err := c.verifierKey()
	if err != nil {
		return "", nil, err
	}
	s3c, err := c.s3Client(ctx)
	return vkey, s3c, err
}

// verifierKey reads and checks --verifier-key-file: a verifier key or a
// keyset.
func (c *common) verifierKey() (string, error) {
	vkey, err := readKey("--verifier-key-file", c.verifierKF)
	if err != nil {
		return "", err
	}
	if _, err := shared.ParseKeyset(vkey); err != nil {
		return "", fmt.Errorf("--verifier-key-file %s: %w", c.verifierKF, err)
	}
	return vkey, nil
}

// s3Client returns the S3 client of the --s3-* settings.
func (c *common) s3Client(ctx context.Context) (*s3.Client, error) {
	return awsconn.S3(ctx, c.s3)
}

// sealerKeys are the texts of the sealer's key files.
// sealerKeyFields are the sealer.Config fields read from key files: with
// --check-settings, which reads no file, their problems are not the form's.
var sealerKeyFields = map[string]bool{"SignerKey": true, "NextSignerKey": true, "VerifierKey": true}

type sealerKeys struct {
	signer, next, verifier string
	// failed are the Config fields whose file could not be read.
	failed map[string]bool
}

// readSealerKeys reads the sealer's key files (an empty path is skipped:
// the start-up validation says it is required); a file that cannot be read
// is a *setting.Error of its Config field. The keys themselves are checked
// by sealer.Config.Check.
func readSealerKeys(signer, next, verifier string) (sealerKeys, []error) {
	keys := sealerKeys{failed: map[string]bool{}}
	var errs []error
	read := func(field, path string) string {
		if path == "" {
			return ""
		}
		b, err := os.ReadFile(path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			keys.failed[field] = true
			errs = append(errs, setting.Errorf(field, "cannot be read: %v", err))
			return ""
		}
		return strings.Trim(string(b), shared.KeyFileSpace)
	}
	keys.signer = read("SignerKey", signer)
	keys.next = read("NextSignerKey", next)
	keys.verifier = read("VerifierKey", verifier)
	return keys, errs
}

// checkSettingsFlag makes any command check its settings and exit. No
// variable sets it: one left in a shared environment would make every
// role exit at start.
const checkSettingsFlag = "check-settings"

// hasVariable says whether AEGIS_<NAME> sets f (every flag but
// --check-settings): envFlags, the misspelt-variable warning and
// docs/CONFIG.md all ask it.
func hasVariable(f *pflag.Flag) bool { return f.Name != checkSettingsFlag }

// errSettingsChecked ends a command run with --check-settings whose
// settings are valid.
var errSettingsChecked = errors.New("settings checked")

// warnUnread warns of each flag given on the command line that cmd does
// not read (a shared one of another role's: the README's AWS example gave
// the indexer --s3-profile, accepted without a word and never read, found
// by an outside trial). A warning, not an error: a flag that does nothing
// changes nothing. Variables are not judged (one environment serves every
// role).
func warnUnread(w io.Writer, cmd *cobra.Command) {
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if !reads(cmd, f) {
			fmt.Fprintf(w, "warning: --%s is not read by %s: it does nothing here (docs/CONFIG.md lists what each command reads)\n", f.Name, cmd.CommandPath())
		}
	})
}

// envFlags sets every flag not given on the command line from AEGIS_<NAME>
// (--check-settings aside). Every variable that does not parse is
// reported, not the first alone.
func envFlags(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if !hasVariable(f) {
			return
		}
		name := "AEGIS_" + envName(f.Name)
		if v, ok := os.LookupEnv(name); ok && !f.Changed {
			if serr := fs.Set(f.Name, v); serr != nil {
				errs = append(errs, fmt.Errorf("%s (--%s): %w", name, f.Name, serr))
			}
		}
	})
	return errors.Join(errs...)
}

// envName is the environment spelling of a flag name: upper case, dashes
// as underscores.
func envName(flag string) string { return strings.ToUpper(strings.ReplaceAll(flag, "-", "_")) }

// readKey reads a key file given by flag.
func readKey(flag, path string) (string, error) {
	setting := fmt.Sprintf("%s (AEGIS_%s)", flag, envName(strings.TrimPrefix(flag, "--")))
	if path == "" {
		return "", fmt.Errorf("%s is required", setting)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", setting, err)
	}
	return strings.Trim(string(b), shared.KeyFileSpace), nil
}

// writeFileAtomic writes b to path through a temporary file and a rename.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// counted is n with the noun's singular or plural: "1 day", "2 days".
func counted(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
