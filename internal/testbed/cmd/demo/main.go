// Command demo is `make run`: it starts the local stack with its state under
// -data, runs the sealer and two indexers, publishes a realistic workload,
// waits until every event is sealed and indexed, verifies the chain from S3
// and prints a summary. Run it again and the same chain continues.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/mod/sumdb/note"

	"github.com/aegisai/audit/internal/testbed/localstack"
	"github.com/aegisai/audit/internal/testbed/pipeline"
	"github.com/aegisai/audit/query"
	"github.com/aegisai/audit/sealer"
	"github.com/aegisai/audit/shared"
)

func main() {
	dataDir := flag.String("data", ".data", "state of the local stack (kept between runs)")
	decisions := flag.Int("decisions", 10000, "decisions to publish")
	overrides := flag.Int("overrides", 300, "overrides to publish")
	users := flag.Int("users", 800, "distinct users")
	verbose := flag.Bool("v", false, "log the services at info level")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up (exit 1) if the run has not finished by then")
	keep := flag.Bool("keep", false, "after the run, keep the stack up until Ctrl-C and print the settings to explore it with the aegis CLI (make explore)")
	flag.Parse()
	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sig, *timeout)
	defer cancel()
	hold := func(string) {
		fmt.Println("\nTo explore the chain with the aegis CLI and the auditor's page: make explore (another run like this one, then the stack stays up and the settings are printed)")
	}
	if *keep {
		hold = func(settings string) {
			fmt.Print(settings)
			<-sig.Done()
			fmt.Println("stopping the stack")
		}
	}
	if err := run(ctx, *dataDir, *decisions, *overrides, *users, *verbose, hold); err != nil {
		fmt.Fprintln(os.Stderr, "run failed:", err)
		if errors.Is(err, shared.ErrFirstBuildsCheckpoint) {
			fmt.Fprintf(os.Stderr, "the chain in %s was sealed by a build before 2026-11-29, which this build does not read: make clean-data starts a new one (README, Upgrading)\n", *dataDir)
		}
		os.Exit(1)
	}
}

// run runs the demo; hold is called with the settings to explore the
// stack before it stops (it returns at once unless -keep).
func run(ctx context.Context, dataDir string, decisions, overrides, users int, verbose bool, hold func(settings string)) error {
	level := zapcore.WarnLevel
	if verbose {
		level = zapcore.InfoLevel
	}
	logCfg := zap.NewDevelopmentConfig()
	logCfg.Level = zap.NewAtomicLevelAt(level)
	// The Kafka client's retries (a group rejoin after the previous run,
	// a fetch the broker turned down) are warnings of the services at
	// work, not failures of the run: no stack trace under them.
	logCfg.DisableStacktrace = true
	log, err := logCfg.Build()
	if err != nil {
		return err
	}
	defer log.Sync()

	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	// One run at a time on a state folder: a second one (make run while
	// make explore is up) would start servers on the same files, and
	// dynalite's failure said nothing of why.
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(abs, "run.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("%s is in use by another make run or make explore (stop it first, or give -data another folder): %w", abs, err)
	}
	started := time.Now()
	st, err := localstack.Start(ctx, localstack.Options{Dir: abs})
	if err != nil {
		return fmt.Errorf("start local stack: %w", err)
	}
	defer st.Close()
	fmt.Printf("local stack up in %s: kafka %s, s3 %s, dynamodb %s (state in %s)\n",
		time.Since(started).Round(time.Millisecond), st.KafkaAddr, st.S3Endpoint, st.DynamoEndpoint, abs)

	skey, vkey, err := loadKeys(filepath.Join(abs, "keys"))
	if err != nil {
		return err
	}
	cfg := pipeline.Config{
		Chain: "demo", Bucket: "aegis-audit", Table: "aegis-audit", Topic: "decisions", SealedTopic: "sealed",
		SignerKey: skey, VerifierKey: vkey, Indexers: 2, Logger: log,
		Sealer: func(c *sealer.Config) { c.Retention = 30 * 24 * time.Hour; c.BatchMaxAge = 250 * time.Millisecond },
	}
	p, err := pipeline.Start(ctx, st, cfg)
	if err != nil {
		return err
	}
	defer p.Stop()

	// The head as recovered from S3 tells whether this run continues a chain.
	err = p.WaitFor(ctx, func() bool {
		select {
		case <-p.Sealer.Ready():
			return true
		default:
			return false
		}
	})
	if err != nil {
		return fmt.Errorf("sealer did not recover its head: %w", err)
	}
	before := p.Sealer.Head()
	runID := fmt.Sprintf("run%d", time.Now().Unix())
	w := pipeline.NewWorkload(cfg.Chain, runID, decisions, overrides, users, int(time.Now().UnixNano()%1e6), time.Now())
	fmt.Printf("chain %q starts this run at seq %d; publishing %d decisions and %d overrides\n",
		cfg.Chain, before.Seq, len(w.Decisions), len(w.Overrides))

	pubStart := time.Now()
	prod, err := p.Producer(ctx)
	if err != nil {
		return err
	}
	defer prod.Close()
	for events := w.Events; len(events) > 0; {
		n := min(len(events), 500)
		if err := prod.Publish(ctx, events[:n]...); err != nil {
			return err
		}
		events = events[n:]
	}
	published := time.Since(pubStart)

	want := before.Seq + uint64(len(w.Events))
	if err := p.WaitHead(ctx, want); err != nil {
		return fmt.Errorf("waiting for seq %d to be sealed: %w", want, err)
	}
	sealed := time.Since(pubStart)
	if err := p.WaitIndexed(ctx); err != nil {
		return fmt.Errorf("waiting for the index: %w", err)
	}
	indexed := time.Since(pubStart)

	verifyStart := time.Now()
	rep, verr := p.Verify(ctx)
	verifyTook := time.Since(verifyStart)
	stats := p.Sealer.Stats()

	fmt.Println()
	fmt.Println("== AegisAI audit run ==")
	fmt.Printf("events sealed this run : %d (published in %s, sealed after %s, indexed after %s)\n",
		len(w.Events), published.Round(time.Millisecond), sealed.Round(time.Millisecond), indexed.Round(time.Millisecond))
	fmt.Printf("objects written        : %d this run (%d adopted), %d batch objects in the chain\n", stats.Objects, stats.Adopted, rep.Objects)
	head := p.Sealer.Head()
	fmt.Printf("chain head             : seq %d hash %s\n", head.Seq, head.Hash)
	if verr != nil {
		fmt.Printf("verification           : FAILED: %v\n", verr)
	} else {
		fmt.Printf("verification           : OK: %d entries (%d events, %d invalid), %d objects, %d signed checkpoints, in %s\n",
			rep.Entries, rep.Events, rep.Invalid, rep.Objects, rep.Checkpoints, verifyTook.Round(time.Millisecond))
	}
	sample, err := printLookups(ctx, p, w)
	if err != nil {
		return err
	}
	if verr != nil {
		return verr
	}
	settings, err := exploreSettings(st, cfg, p.IndexerGroup(), abs, sample)
	if err != nil {
		return err
	}
	hold(settings)
	return p.Stop()
}

// exploreSettings writes a token file for the query service and returns
// what to type in another terminal to explore the running stack with the
// aegis CLI: the chain, the servers, the key, and a few commands.
func exploreSettings(st *localstack.Stack, cfg pipeline.Config, group, dir, decision string) (string, error) {
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return "", err
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, fmt.Appendf(nil, "demo %x %s read\n", token, cfg.Chain), 0o600); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nThe stack stays up until Ctrl-C. In another terminal, from this folder:\n\n")
	fmt.Fprintf(&b, "export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AEGIS_CHAIN=%s \\\n", localstack.AccessKey, localstack.SecretKey, cfg.Chain)
	fmt.Fprintf(&b, "  AEGIS_BROKERS=%s AEGIS_TOPIC=%s AEGIS_SEALED_TOPIC=%s \\\n", strings.Join(st.Brokers, ","), cfg.Topic, cfg.SealedTopic)
	fmt.Fprintf(&b, "  AEGIS_S3_ENDPOINT=%s AEGIS_BUCKET=%s \\\n", st.S3Endpoint, cfg.Bucket)
	fmt.Fprintf(&b, "  AEGIS_DYNAMODB_ENDPOINT=%s AEGIS_TABLE=%s \\\n", st.DynamoEndpoint, cfg.Table)
	fmt.Fprintf(&b, "  AEGIS_VERIFIER_KEY_FILE=%s\n", filepath.Join(dir, "keys", "verifier.pub"))
	fmt.Fprintf(&b, "bin/aegis verify\n")
	fmt.Fprintf(&b, "bin/aegis get %s --verify\n", decision)
	fmt.Fprintf(&b, "bin/aegis index status --group %s\n", group)
	fmt.Fprintf(&b, "bin/aegis query --addr 127.0.0.1:8081 --token-file %s   # the auditor's page: http://127.0.0.1:8081/ (token %x)\n", tokens, token)
	return b.String(), nil
}

// printLookups prints the three lookups of a decision of this run (one
// with an override when there is one) and returns its id.
func printLookups(ctx context.Context, p *pipeline.Pipeline, w *pipeline.Workload) (string, error) {
	sample := w.Decisions[0]
	if len(w.Overrides) > 0 {
		id := w.Overrides[0].Override.DecisionID
		for _, d := range w.Decisions {
			if d.Decision.DecisionID == id {
				sample = d
			}
		}
	}
	t := time.Now()
	d, err := p.Reader.Decision(ctx, sample.Decision.DecisionID)
	if err != nil {
		return "", fmt.Errorf("lookup by decision: %w", err)
	}
	took := time.Since(t)
	fmt.Printf("lookup by decision     : %s action %s, now %s after %d override(s); user %s session %s; proof seq %d in %s line %d (%s)\n",
		d.DecisionID, d.Action, d.CurrentAction, len(d.Overrides), d.UserID, d.SessionID, d.Proof.Seq, d.Proof.Object, d.Proof.Line, took.Round(time.Microsecond))
	t = time.Now()
	up, err := p.Reader.ByUser(ctx, d.UserID, query.Range{Limit: 5})
	if err != nil {
		return "", fmt.Errorf("lookup by user: %w", err)
	}
	fmt.Printf("lookup by user         : %s: newest %d decisions: %s (more: %v) (%s)\n",
		d.UserID, len(up.Decisions), decisionList(up), up.Next != "", time.Since(t).Round(time.Microsecond))
	t = time.Now()
	sp, err := p.Reader.BySession(ctx, d.SessionID, query.Range{Limit: 5})
	if err != nil {
		return "", fmt.Errorf("lookup by session: %w", err)
	}
	fmt.Printf("lookup by session      : %s: %d decisions: %s (%s)\n",
		d.SessionID, len(sp.Decisions), decisionList(sp), time.Since(t).Round(time.Microsecond))
	return d.DecisionID, nil
}

func decisionList(pg interface{ IDs() []string }) string { return strings.Join(pg.IDs(), ", ") }

// loadKeys reads the demo's checkpoint signing keys, creating them once.
func loadKeys(dir string) (skey, vkey string, err error) {
	sPath, vPath := filepath.Join(dir, "signer.key"), filepath.Join(dir, "verifier.pub")
	// A .data made before the public key was named .pub (as every other
	// public key is) has it as verifier.key.
	if _, err := os.Stat(vPath); errors.Is(err, os.ErrNotExist) {
		if err := os.Rename(filepath.Join(dir, "verifier.key"), vPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", "", err
		}
	}
	s, serr := os.ReadFile(sPath)
	v, verr := os.ReadFile(vPath)
	if serr == nil && verr == nil {
		return strings.TrimSpace(string(s)), strings.TrimSpace(string(v)), nil
	}
	if !errors.Is(serr, os.ErrNotExist) {
		return "", "", fmt.Errorf("read %s: %w", sPath, serr)
	}
	if skey, vkey, err = note.GenerateKey(rand.Reader, "aegis-demo"); err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(sPath, []byte(skey+"\n"), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(vPath, []byte(vkey+"\n"), 0o644); err != nil {
		return "", "", err
	}
	return skey, vkey, nil
}
