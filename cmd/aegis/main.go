// Command aegis runs one role of the audit pipeline: `aegis sealer`,
// `aegis indexer`, `aegis verify`, and `aegis keygen` for the checkpoint
// keys. Each flag can also be set by an environment variable AEGIS_<FLAG>
// (upper case, dashes as underscores). The main only turns flags into a
// Config and calls the role's New and Run.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/internal/awsconn"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/sealer"
)

type common struct {
	brokers    []string
	chain      string
	bucket     string
	prefix     string
	s3         awsconn.Config
	dynamo     awsconn.Config
	table      string
	topic      string
	sealed     string
	verifierKF string
	logLevel   string
	metrics    string
	registry   *prometheus.Registry
}

func (c *common) flags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&c.brokers, "brokers", []string{"127.0.0.1:9092"}, "Kafka seed brokers")
	fs.StringVar(&c.chain, "chain", "", "chain id: the environment sealed (required)")
	fs.StringVar(&c.bucket, "bucket", "aegis-audit", "S3 bucket with Object Lock enabled")
	fs.StringVar(&c.prefix, "prefix", "audit", "S3 key prefix")
	fs.StringVar(&c.s3.Endpoint, "s3-endpoint", "", "S3 endpoint URL for a local server (empty: AWS)")
	fs.StringVar(&c.dynamo.Endpoint, "dynamodb-endpoint", "", "DynamoDB endpoint URL for a local server (empty: AWS)")
	fs.StringVar(&c.table, "table", "aegis-audit", "DynamoDB table")
	fs.StringVar(&c.topic, "topic", "decisions", "decisions topic (one partition)")
	fs.StringVar(&c.sealed, "sealed-topic", "sealed", "sealed topic")
	fs.StringVar(&c.verifierKF, "verifier-key-file", "", "checkpoint verifier (public) key file")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.metrics, "metrics-addr", "", "serve Prometheus metrics on this address at /metrics (empty: off)")
}

func main() {
	var c common
	root := &cobra.Command{
		Use:           "aegis",
		Short:         "AegisAI audit layer: seal, index and verify AI decisions",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	c.flags(root.PersistentFlags())
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		return envFlags(cmd.Flags())
	}

	var signerKF string
	var batchRecords, batchBytes int
	var batchAge, retention time.Duration
	var createBucket bool
	sealCmd := &cobra.Command{
		Use:   "sealer",
		Short: "Seal the decisions topic into S3 and publish the sealed entries",
		RunE: c.run(func(ctx context.Context, log *zap.Logger) error {
			skey, err := readKey(signerKF)
			if err != nil {
				return err
			}
			vkey, s3c, err := c.archive(ctx)
			if err != nil {
				return err
			}
			s, err := sealer.New(ctx, sealer.Config{
				Brokers: c.brokers, Topic: c.topic, SealedTopic: c.sealed, Chain: c.chain,
				S3: s3c, Bucket: c.bucket, Prefix: c.prefix, Retention: retention, CreateBucket: createBucket,
				SignerKey: skey, VerifierKey: vkey,
				BatchMaxRecords: batchRecords, BatchMaxBytes: batchBytes, BatchMaxAge: batchAge, Logger: log,
				Metrics: c.registry,
			})
			if err != nil {
				return err
			}
			return s.Run(ctx)
		}),
	}
	sealCmd.Flags().StringVar(&signerKF, "signer-key-file", "", "checkpoint signing (private) key file")
	sealCmd.Flags().IntVar(&batchRecords, "batch-max-records", 0, "close a batch at this many entries (default 1000)")
	sealCmd.Flags().IntVar(&batchBytes, "batch-max-bytes", 0, "close a batch at this many bytes (default 4 MiB)")
	sealCmd.Flags().DurationVar(&batchAge, "batch-max-age", 0, "close a batch this long after its first entry (default 1s)")
	sealCmd.Flags().DurationVar(&retention, "retention", 0, "Object Lock COMPLIANCE retention (default 7 years)")
	sealCmd.Flags().BoolVar(&createBucket, "create-bucket", false, "create a missing bucket with Object Lock (development)")

	indexCmd := &cobra.Command{
		Use:   "indexer",
		Short: "Index the sealed topic into DynamoDB (run as many as the sealed topic has partitions)",
		RunE: c.run(func(ctx context.Context, log *zap.Logger) error {
			db, err := awsconn.DynamoDB(ctx, c.dynamo)
			if err != nil {
				return err
			}
			ix, err := indexer.New(ctx, indexer.Config{Brokers: c.brokers, SealedTopic: c.sealed, DynamoDB: db, Table: c.table, Logger: log, Metrics: c.registry})
			if err != nil {
				return err
			}
			return ix.Run(ctx)
		}),
	}

	verifyCmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify the chain in S3: hashes, links, Object Lock, checkpoint signatures",
		RunE: c.run(func(ctx context.Context, log *zap.Logger) error {
			vkey, s3c, err := c.archive(ctx)
			if err != nil {
				return err
			}
			rep, err := replayer.Verify(ctx, replayer.Config{S3: s3c, Bucket: c.bucket, Prefix: c.prefix, Chain: c.chain, VerifierKey: vkey, Logger: log})
			if err != nil {
				return err
			}
			fmt.Printf("OK chain %s: %d entries (%d events, %d invalid) in %d objects, %d checkpoints; head seq %d hash %s\n",
				c.chain, rep.Entries, rep.Events, rep.Invalid, rep.Objects, rep.Checkpoints, rep.Head.Seq, rep.Head.Hash)
			return nil
		}),
	}

	var keyName, outPrefix string
	keygenCmd := &cobra.Command{
		Use:   "keygen",
		Short: "Create an Ed25519 checkpoint key pair: <out>.key (private) and <out>.pub",
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			fmt.Printf("wrote %s.key and %s.pub (verifier key %s)\n", outPrefix, outPrefix, vkey)
			return nil
		},
	}
	keygenCmd.Flags().StringVar(&keyName, "name", "aegis-audit", "key name")
	keygenCmd.Flags().StringVar(&outPrefix, "out", "checkpoint", "output path prefix")

	root.AddCommand(sealCmd, indexCmd, verifyCmd, keygenCmd)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "aegis:", err)
		os.Exit(1)
	}
}

// run wraps a role's body: start (logger, signals, metrics), run, stop.
func (c *common) run(body func(ctx context.Context, log *zap.Logger) error) func(*cobra.Command, []string) error {
	return func(*cobra.Command, []string) error {
		ctx, log, done, err := c.start()
		if err != nil {
			return err
		}
		defer done()
		return body(ctx, log)
	}
}

// start returns a context cancelled on SIGINT/SIGTERM and a logger.
func (c *common) start() (context.Context, *zap.Logger, func(), error) {
	if c.chain == "" {
		return nil, nil, nil, errors.New("--chain (AEGIS_CHAIN) is required")
	}
	cfg := zap.NewProductionConfig()
	if err := cfg.Level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, nil, nil, fmt.Errorf("--log-level: %w", err)
	}
	log, err := cfg.Build()
	if err != nil {
		return nil, nil, nil, err
	}
	// Local servers take static credentials from the standard AWS variables.
	for _, a := range []*awsconn.Config{&c.s3, &c.dynamo} {
		a.AccessKey, a.SecretKey = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	c.registry = prometheus.NewRegistry()
	c.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if c.metrics != "" {
		srv := &http.Server{Addr: c.metrics, Handler: promhttp.HandlerFor(c.registry, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server stopped", zap.String("addr", c.metrics), zap.Error(err))
			}
		}()
		return ctx, log, func() { stop(); _ = srv.Close(); _ = log.Sync() }, nil
	}
	return ctx, log, func() { stop(); _ = log.Sync() }, nil
}

// archive returns the trusted verifier key and an S3 client.
func (c *common) archive(ctx context.Context) (string, *s3.Client, error) {
	vkey, err := readKey(c.verifierKF)
	if err != nil {
		return "", nil, err
	}
	s3c, err := awsconn.S3(ctx, c.s3)
	return vkey, s3c, err
}

// envFlags sets every flag not given on the command line from AEGIS_<NAME>.
func envFlags(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		name := "AEGIS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && !f.Changed && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", name, serr)
			}
		}
	})
	return err
}

func readKey(path string) (string, error) {
	if path == "" {
		return "", errors.New("a key file is required (--signer-key-file / --verifier-key-file)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read key: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
