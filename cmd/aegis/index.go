package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/aegisai/audit/indexer"
	"github.com/aegisai/audit/indexer/layout"
	"github.com/aegisai/audit/internal/platform/awsconn"
	"github.com/aegisai/audit/replayer"
	"github.com/aegisai/audit/shared"
)

// indexCommand is `aegis index`: looking at the DynamoDB index.
func (c *common) indexCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "index", Short: "Look at the DynamoDB index"}
	var asJSON bool
	anomalies := &cobra.Command{
		Use:         "anomalies",
		Annotations: map[string]string{jsonLines: "true"},
		Short:       "List where the index differs from a plain copy of S3: duplicate or conflicting events, unindexable records",
		RunE: c.run(func(ctx context.Context, _ *zap.Logger) error {
			db, err := awsconn.DynamoDB(ctx, c.dynamo)
			if err != nil {
				return err
			}
			x := &indexer.Index{DB: db, Table: c.table}
			var all []indexer.Anomaly
			for _, chain := range []string{c.chain, indexer.UnknownChain} {
				as, err := x.Anomalies(ctx, chain)
				if err != nil {
					return err
				}
				all = append(all, as...)
			}
			if asJSON {
				enc := json.NewEncoder(c.stdout)
				for _, a := range all {
					if err := enc.Encode(a); err != nil {
						return err
					}
				}
				return nil
			}
			if len(all) == 0 {
				fmt.Fprintf(c.stdout, "no anomalies recorded for chain %s\n", c.chain)
				return nil
			}
			w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KIND\tCHAIN\tSEQ\tOTHER SEQ\tOBJECT:LINE\tDETAIL")
			for _, a := range all {
				fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s:%d\t%s\n", a.Kind, a.Chain, a.Seq, a.OtherSeq, a.Object, a.Line, a.Detail)
			}
			return w.Flush()
		}),
	}
	anomalies.Flags().BoolVar(&asJSON, "json", false, "one JSON object per line")
	cmd.AddCommand(anomalies, c.indexStatusCommand(), c.indexCheckCommand())
	return cmd
}

// indexStatusCommand is `aegis index status`.
func (c *common) indexStatusCommand() *cobra.Command {
	var group string
	var maxLag uint64
	var asJSON bool
	var cmd *cobra.Command
	cmd = &cobra.Command{
		Use:   "status",
		Short: "How far the index is behind S3: its contiguous high-water seq, S3's signed head, and the gap",
		Long: `How far the index is behind S3. The contiguous high-water seq is the seq
below which every entry published to the sealed topic is indexed (from the
indexer group's offsets and the per-partition marks in the table); S3's head
is the newest signed checkpoint. Exits 3 when the gap is larger than
--max-lag (not given: never); exits 1 when the index is past S3's head
(S3 lacks entries the index holds: a bucket restored from an older
backup, or another bucket).`,
		RunE: c.run(func(ctx context.Context, _ *zap.Logger) error {
			vkey, s3c, err := c.archive(ctx)
			if err != nil {
				return err
			}
			db, err := awsconn.DynamoDB(ctx, c.dynamo)
			if err != nil {
				return err
			}
			kafka, err := c.kafkaOptions()
			if err != nil {
				return err
			}
			st, err := (&indexer.Index{DB: db, Table: c.table, KafkaOptions: kafka}).Status(ctx, c.brokers, c.sealed, group, c.chain)
			if err != nil {
				return err
			}
			head, err := replayer.SignedHead(ctx, s3c, c.bucket, c.prefix, c.chain, vkey)
			if err != nil {
				return err
			}
			gap := uint64(0)
			if head.Seq > st.Contiguous {
				gap = head.Seq - st.Contiguous
			}
			// The sealer publishes an entry only once its checkpoint is in
			// S3, and S3's head is read after the index's: an index past
			// it holds entries S3 lacks (a bucket restored from an older
			// backup, or another bucket than the indexer's).
			ahead := uint64(0)
			if top := max(st.Contiguous, st.HighestSeen); top > head.Seq {
				ahead = top - head.Seq
			}
			if asJSON {
				if err := json.NewEncoder(c.stdout).Encode(struct {
					indexer.Status
					S3Head uint64 `json:"s3_head"`
					Gap    uint64 `json:"gap"`
					Ahead  uint64 `json:"ahead"`
				}{st, head.Seq, gap, ahead}); err != nil {
					return err
				}
			} else {
				// "gap 0" beside the error of an index past S3 read as
				// all well in the operators' trial.
				judged := fmt.Sprintf("gap %d", gap)
				if ahead > 0 {
					judged = fmt.Sprintf("the index is %d past it", ahead)
				}
				fmt.Fprintf(c.stdout, "chain %s: index contiguous to seq %d (highest seen %d); S3 signed head seq %d (%s); %s\n",
					c.chain, st.Contiguous, st.HighestSeen, head.Seq, shared.FormatTime(head.Time), judged)
				fmt.Fprintf(c.stdout, "  %s\n", groupLine(st.Group))
				for _, p := range st.Partitions {
					fmt.Fprintf(c.stdout, "  %s\n", partitionLine(p))
				}
			}
			// Without --max-lag the gap is reported, not judged: entries
			// in flight make it a few every moment (a cron job on the exit
			// status flapped 0 0 3 0 0 in the operators' trial).
			if ahead > 0 {
				return fmt.Errorf("the index holds entries up to seq %d, %d past S3's signed head (seq %d), yet the sealer publishes an entry only once its checkpoint is in S3: "+
					"S3 lacks entries the index holds (a bucket restored from an older backup, or not the indexer's bucket: check --bucket); aegis index check lists their items",
					max(st.Contiguous, st.HighestSeen), ahead, head.Seq)
			}
			if cmd.Flags().Changed("max-lag") && gap > maxLag {
				return fmt.Errorf("%w: the index is %d entries behind S3 (more than --max-lag %d)", errLagging, gap, maxLag)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&group, "group", "aegis-indexer", "the indexer group's consumer group")
	cmd.Flags().Uint64Var(&maxLag, "max-lag", 0, "exit 3 when the index is more than this many entries behind S3 (not given: the gap is printed, not judged)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object")
	return cmd
}

// indexCheckCommand is `aegis index check`.
func (c *common) indexCheckCommand() *cobra.Command {
	var from, to string
	var asJSON bool
	var reads readFlags
	var cmd *cobra.Command // its errors name its flags (renameFields)
	cmd = &cobra.Command{
		Use:         "check [--from T --to T]",
		Annotations: map[string]string{jsonLines: "true"},
		Short:       "Compare the index with S3 entry by entry and list every missing, different and extra item",
		Long: `Compare the index with S3 entry by entry (the whole chain, or the entries of
[--from, --to)) and list every item that is missing, differs, or is in the
index but not in S3, each as it is found (extra items after the pass over
S3). Exits 1 when there is any; aegis rebuild --only-missing mends them.
Finding extra items scans the whole table. Memory is bounded by
--keys-in-memory, not by the range: past it, the item keys are sorted into
runs in a private folder under --temp-dir, removed at the end.`,
		RunE: c.run(func(ctx context.Context, _ *zap.Logger) error {
			cfg, err := c.rebuildConfig(ctx, from, to, reads)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(c.stdout)
			cfg.OnDifference = func(d indexer.Difference) error {
				if asJSON {
					return enc.Encode(d)
				}
				_, err := fmt.Fprintf(c.stdout, "%-9s seq %d  %s | %s  %s:%d  %s\n", d.Kind, d.Seq, d.PK, d.SK, d.Object, d.Line, d.Detail)
				return err
			}
			rep, err := replayer.Check(ctx, cfg)
			if err != nil {
				return renameFields(cmd, err)
			}
			n := rep.DifferenceCount()
			printPruned(c.stderr, rep.StartObject, rep.StartSeq, rep.PastRetention)
			fmt.Fprintf(c.stderr, "checked %d entries in %d objects: %d differences\n", rep.Entries, rep.Done, n)
			if n > 0 {
				return fmt.Errorf("the index differs from S3 in %d items (aegis rebuild --only-missing mends them)", n)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&from, "from", "", "start of the range, inclusive (RFC 3339 or YYYY-MM-DD; default: the whole chain)")
	cmd.Flags().StringVar(&to, "to", "", "end of the range, exclusive")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per difference")
	reads.add(cmd.Flags())
	return cmd
}

// readFlags are how rebuild and index check read the chain: whether they
// accept a pruned one, and what bounds index check's memory (also read by
// rebuild --only-missing, which checks first).
type readFlags struct {
	keysInMemory int
	tempDir      string
	pruned       bool
}

func (s *readFlags) add(f *pflag.FlagSet) {
	f.IntVar(&s.keysInMemory, "keys-in-memory", replayer.DefaultKeysInMemory,
		"item keys index check holds in memory (about 18 bytes each for S3's entries, then 120 for the table's items) before it sorts them into runs in --temp-dir")
	f.StringVar(&s.tempDir, "temp-dir", "", "where index check makes its private scratch folder (mode 0700, removed at the end; default: $TMPDIR or /tmp)")
	f.BoolVar(&s.pruned, "pruned", false, prunedFlagHelp)
}

// prunedFlagHelp is --pruned's help in discover, rebuild and index check.
const prunedFlagHelp = "accept a chain whose oldest objects were deleted after their retention: start it at the object whose predecessor is gone when no older checkpoint signs an object that remains, read objects past their retention (what pruning deletes next), and print both (docs/FORMAT.md section 6.1)"

// rebuildCommand is `aegis rebuild`.
func (c *common) rebuildCommand() *cobra.Command {
	var from, to string
	var onlyMissing, createTable bool
	var workers int
	var reads readFlags
	var cmd *cobra.Command // its errors name its flags (renameFields)
	cmd = &cobra.Command{
		Use:   "rebuild [--from T --to T] [--only-missing] [--create-table]",
		Short: "Rebuild the DynamoDB index from S3 alone (the recovery job): idempotent, resumable",
		Long: `Rebuild the DynamoDB index from S3 alone, writing exactly the items the
indexer writes. Every object is verified before its entries are applied.
It is idempotent, and resumable: run it again after a kill and it goes on
after the last object it finished. --only-missing writes only what
aegis index check reports (missing, different and extra items), listing
each as it is mended; what the check finds waits in a file of its scratch
folder under --temp-dir, not in memory. The S3
listing is read as the objects are, after one pass that counts them for
the progress total: memory does not grow with the chain or the range.
--create-table creates the table (with its two indexes, on-demand) when it
does not exist: a rebuild into a new table, after a restore or beside the
live one.`,
		RunE: c.run(func(ctx context.Context, _ *zap.Logger) error {
			cfg, err := c.rebuildConfig(ctx, from, to, reads)
			if err != nil {
				return err
			}
			if createTable {
				db, ok := cfg.Index.DB.(layout.TableAPI)
				if !ok {
					return errors.New("--create-table: the DynamoDB client cannot create tables")
				}
				if err := layout.EnsureTable(ctx, db, c.table); err != nil {
					return err
				}
			}
			cfg.OnlyMissing, cfg.Workers = onlyMissing, workers
			progress := newProgress(os.Stderr, "rebuild "+c.chain)
			cfg.Progress = func(r replayer.RebuildReport) { progress.update(r.Done, r.Objects, r.Entries) }
			mending := false
			cfg.OnDifference = func(d indexer.Difference) error {
				if !mending {
					progress.done() // the check is over: the mending starts
					mending = true
				}
				return printMended(c.stdout, d)
			}
			rep, err := replayer.Rebuild(ctx, cfg)
			if !mending {
				progress.done()
			}
			if err != nil {
				return renameFields(cmd, err)
			}
			printPruned(c.stderr, rep.StartObject, rep.StartSeq, rep.PastRetention)
			printRebuild(c.stdout, c.chain, onlyMissing, rep)
			return nil
		}),
	}
	cmd.Flags().StringVar(&from, "from", "", "start of the range, inclusive (RFC 3339 or YYYY-MM-DD; default: the whole chain)")
	cmd.Flags().StringVar(&to, "to", "", "end of the range, exclusive")
	cmd.Flags().BoolVar(&onlyMissing, "only-missing", false, "write only what aegis index check finds")
	cmd.Flags().BoolVar(&createTable, "create-table", false, "create the table with its indexes if it does not exist (a rebuild into a new table)")
	cmd.Flags().IntVar(&workers, "workers", 8, "entries applied in parallel")
	reads.add(cmd.Flags())
	return cmd
}

// partitionLine is one sealed-topic partition of index status, as a
// sentence.
// groupLine says who indexes: the group's state and each member with the
// partitions it was assigned, and why nothing moves while it rebalances.
func groupLine(g indexer.GroupStatus) string {
	members := make([]string, 0, len(g.Members))
	for _, m := range g.Members {
		parts := "no partition"
		if len(m.Partitions) > 0 {
			ps := make([]string, len(m.Partitions))
			for i, p := range m.Partitions {
				ps[i] = strconv.Itoa(int(p))
			}
			parts = "partitions " + strings.Join(ps, ", ")
		}
		members = append(members, fmt.Sprintf("%s on %s (%s)", m.ClientID, m.Host, parts))
	}
	line := fmt.Sprintf("group %s: %s, %s", g.Name, g.State, counted(len(g.Members), "member", "members"))
	if len(members) > 0 {
		line += ": " + strings.Join(members, "; ")
	}
	switch g.State {
	case "Stable":
	case "Empty", "Dead":
		line += "; no indexer is running in it"
	default:
		line += "; rebalancing: no partition is indexed until it ends (a member killed without --identity holds it until its session times out)"
	}
	return line
}

func partitionLine(p indexer.PartitionStatus) string {
	// The mark is the indexer's own: a table rebuilt from S3 (aegis
	// rebuild) holds every item and no mark until the indexer writes one.
	last := "the table holds no mark of an entry indexed from it (none indexed yet, or the table was rebuilt since: a rebuild writes none)"
	if p.Indexed {
		last = fmt.Sprintf("the last entry indexed from it is seq %d", p.Seq)
	}
	state := "caught up"
	if !p.CaughtUp {
		state = "behind"
	}
	// The end offset counts transaction markers, which no consumer
	// receives: a caught-up group's offset can be below it.
	marker := ""
	if p.CaughtUp && p.Committed < p.End {
		marker = ": the offset after it is the sealer's transaction marker, which holds no entry"
	}
	return fmt.Sprintf("partition %d: %s; %s (the indexer group's offset %d, the partition's end %d%s)", p.Partition, state, last, p.Committed, p.End, marker)
}

// warn writes a warning line to standard error (replayer.ProveConfig.Warn).
func (c *common) warn(msg string) { fmt.Fprintln(c.stderr, "warning: "+msg) }

// warnRewritten warns of keys written again, or put under a delete
// marker, after they were sealed: what was read of each is the version the
// checkpoints sign (its current version when that one verifies, else the
// sealed version under it), but someone wrote over sealed keys, which
// verify names one by one.
func warnRewritten(w io.Writer, n int, first string) {
	if n > 0 {
		fmt.Fprintf(w, "warning: %d sealed keys of the scope were written again or deleted (a delete marker) after they were sealed (first: %s); "+
			"what was read of them is the version the checkpoints sign, but run aegis verify: it names every one\n", n, first)
	}
}

// printRebuild says what a rebuild read and what it wrote. Reading and
// writing are counted apart: --only-missing reads every entry of the scope
// and writes only the differences it mends (each listed as it is mended,
// before this summary: printMended).
func printRebuild(w io.Writer, chain string, onlyMissing bool, rep replayer.RebuildReport) {
	warnRewritten(w, rep.Rewritten, rep.FirstRewritten)
	keys := ""
	if rep.KeyChanges > 0 {
		keys = ", " + counted(int(rep.KeyChanges), "key hand-over", "key hand-overs")
	}
	read := fmt.Sprintf("%d entries read and verified in %d objects (%d decisions, %d overrides, %d invalid records%s, %d duplicates)",
		rep.Entries, rep.Objects, rep.Decisions, rep.Overrides, rep.Invalid, keys, rep.Duplicates)
	if rep.Unsigned > 0 {
		read += fmt.Sprintf("; %d entries not signed by a checkpoint yet, not indexed", rep.Unsigned)
	}
	if !onlyMissing {
		resumed := ""
		if rep.Resumed > 0 {
			resumed = fmt.Sprintf(" (%d objects done by an earlier run: read and verified again, not written)", rep.Resumed)
		}
		fmt.Fprintf(w, "rebuilt chain %s to seq %d: %s%s; %d items written\n", chain, rep.HeadSeq, read, resumed, rep.Applied)
		return
	}
	fmt.Fprintf(w, "rebuilt chain %s to seq %d (only what differed): %s; %d items mended: %d missing written, %d different rewritten, %d extra deleted\n",
		chain, rep.HeadSeq, read, rep.DifferenceCount(), rep.Missing, rep.Different, rep.Extra)
}

// printMended lists one item rebuild --only-missing mended.
func printMended(w io.Writer, d indexer.Difference) error {
	where := ""
	if d.Object != "" {
		where = fmt.Sprintf(" from %s:%d", d.Object, d.Line)
	}
	_, err := fmt.Fprintf(w, "  mended %s item of seq %d (%s | %s)%s %s\n", d.Kind, d.Seq, d.PK, d.SK, where, d.Detail)
	return err
}

// rebuildConfig is the config of rebuild and index check.
func (c *common) rebuildConfig(ctx context.Context, from, to string, reads readFlags) (replayer.RebuildConfig, error) {
	var cfg replayer.RebuildConfig
	vkey, s3c, err := c.archive(ctx)
	if err != nil {
		return cfg, err
	}
	db, err := awsconn.DynamoDB(ctx, c.dynamo)
	if err != nil {
		return cfg, err
	}
	cfg = replayer.RebuildConfig{S3: s3c, Bucket: c.bucket, Prefix: c.prefix, Chain: c.chain, VerifierKey: vkey, Index: &indexer.Index{DB: db, Table: c.table},
		KeysInMemory: reads.keysInMemory, TempDir: reads.tempDir, Pruned: reads.pruned, Warn: c.warn}
	if from != "" || to != "" {
		if cfg.From, err = parseWhen("--from", from); err != nil {
			return cfg, err
		}
		if cfg.To, err = parseWhen("--to", to); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}
